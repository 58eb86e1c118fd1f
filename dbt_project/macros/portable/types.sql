{#- Engine types (docs/beyond-one-machine.md). The models and canonical_columns() speak DuckDB's type
    names; `sql_type` renders one for the target: Spark has no `varchar` without a length and no
    `timestamp with time zone` (its `timestamp` is an instant shown in the session time zone, UTC). -#}
{% macro sql_type(data_type) -%}
  {{ return(adapter.dispatch('sql_type', 'recon')(data_type)) }}
{%- endmacro %}

{% macro default__sql_type(data_type) -%}
  {{ return(data_type) }}
{%- endmacro %}

{% macro spark__sql_type(data_type) -%}
  {{ return({'varchar': 'string', 'timestamp with time zone': 'timestamp'}.get(data_type, data_type)) }}
{%- endmacro %}

{% macro t_string() -%}{{ sql_type('varchar') }}{%- endmacro %}

{% macro t_timestamp() -%}{{ sql_type('timestamp with time zone') }}{%- endmacro %}
