{#-
  The `raw` sources read landing Parquet through dbt-duckdb `external_location`. DuckDB's
  read_parquet fails on a glob that matches nothing, so a fresh checkout (or a record type that has
  never landed) would break `dbt build`. `landed_source` checks the glob at run time and, when no
  file matches, yields an empty relation with the canonical columns and types instead.
  Unit tests replace the source with fixture rows, so they always get the source itself.
-#}

{% macro landing_dir() -%}
  {{ return(env_var('RECON_LANDING_DIR', '../data/landing')) }}
{%- endmacro %}

{% macro landing_glob(table) -%}
  {{ return(landing_dir() ~ '/' ~ table ~ '/date=*/' ~ table ~ '.parquet') }}
{%- endmacro %}

{% macro has_landed_files(table) -%}
  {%- set sql -%}
    select count(*) as n from glob('{{ landing_glob(table) | replace("'", "''") }}')
  {%- endset -%}
  {%- set result = run_query(sql) -%}
  {{ return(result.columns[0].values()[0] > 0) }}
{%- endmacro %}

{% macro empty_relation(table) -%}
  (select
  {%- for name, data_type in canonical_columns(table).items() %}
    cast(null as {{ data_type }}) as {{ name }}{{ "," if not loop.last }}
  {%- endfor %}
  where false)
{%- endmacro %}

{% macro landed_source(table) -%}
  {%- set rel = source('raw', table) -%}
  {%- if execute and model.resource_type != 'unit_test' and not has_landed_files(table) -%}
    {{ empty_relation(table) }}
  {%- else -%}
    {{ rel }}
  {%- endif -%}
{%- endmacro %}
