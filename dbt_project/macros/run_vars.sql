{#- Run parameters (dbt vars) as SQL expressions, so every model reads them the same way. -#}

{#- The per-run values (start_date, end_date, as_of) are not --vars: a var that changes each run
    makes dbt re-parse the whole project ("Unable to do partial parsing because config vars have
    changed"). recon writes them to <warehouse>.run.json before its build; dbt reads that file when
    a node compiles (execute), never while parsing, so the parse stays the same from run to run.
    A hand `dbt build` reads the same file: it rebuilds the last run's window with the last run's
    clock. A var given with --vars (or a unit test's overrides) wins over the file. -#}
{% macro run_values_path() -%}
  {{ return(env_var('RECON_WAREHOUSE_PATH', '../data/warehouse.duckdb') ~ '.run.json') }}
{%- endmacro %}

{% macro last_run_values() -%}
  {{ return(adapter.dispatch('last_run_values', 'recon')()) }}
{%- endmacro %}

{#- Spark: the per-run values come as --vars (make spark-check passes them); no run file is read. -#}
{% macro spark__last_run_values() -%}
  {{ return({}) }}
{%- endmacro %}

{% macro default__last_run_values() -%}
  {%- set path = run_values_path() -%}
  {%- if not glob_matches(path) -%}
    {{ return({}) }}
  {%- endif -%}
  {%- set result = run_query("select content from read_text('" ~ (path | replace("'", "''")) ~ "')") -%}
  {{ return(fromjson(result.columns[0].values()[0])) }}
{%- endmacro %}

{% macro run_value(name) -%}
  {%- set given = var(name, '') -%}
  {%- if given not in (none, '') or not execute or model.resource_type == 'unit_test' -%}
    {{ return(given) }}
  {%- endif -%}
  {{ return(last_run_values().get(name, '')) }}
{%- endmacro %}

{% macro as_of() -%}
  {%- set value = run_value('as_of') -%}
  {%- if value in (none, '') -%}
    cast(current_timestamp as {{ t_timestamp() }})
  {%- else -%}
    cast('{{ value }}' as {{ t_timestamp() }})
  {%- endif -%}
{%- endmacro %}

{% macro interval_minutes(var_name) -%}
  {{ microseconds_interval('cast(round(cast(' ~ var(var_name) ~ ' as double) * 60000000) as bigint)') }}
{%- endmacro %}

{% macro settlement_window() -%}
  {{ microseconds_interval('cast(round(cast(' ~ var('settlement_window_hours') ~ ' as double) * 3600000000) as bigint)') }}
{%- endmacro %}

{#- The first and last UTC day an incremental run rewrites: rewrite_from .. end_date. recon derives
    rewrite_from once (orchestration/run_window.py RunWindow.rewrite_from: start_date minus the
    lookback, since records landed for the run's days can change findings dated before them); a
    build given only start_date (by hand) rewrites from start_date; pass rewrite_from to reach back. With neither the run touches
    every day. open_ended: no upper bound, for tables dated by an event that can happen after the
    day the record landed in (a job's terminal day). -#}
{% macro touched_days_filter(date_column, open_ended=false) -%}
  {%- set first = run_value('start_date') -%}
  {%- set start = run_value('rewrite_from') -%}
  {#- never later than start_date: a start_date given as --vars with the last run's rewrite_from -#}
  {%- if start in (none, '') or (first not in (none, '') and start > first) -%}
    {%- set start = first -%}
  {%- endif -%}
  {%- set end = run_value('end_date') -%}
  {%- if start in (none, '') and end in (none, '') -%}
    true
  {%- else -%}
    {%- if start not in (none, '') -%}
      {{ date_column }} >= cast('{{ start }}' as date)
    {%- else -%}
      true
    {%- endif %}
    and
    {%- if end not in (none, '') and not open_ended %}
      {{ date_column }} <= cast('{{ end }}' as date)
    {%- else %}
      true
    {%- endif -%}
  {%- endif -%}
{%- endmacro %}

{#- Incremental marts: on an incremental run, rebuild only the touched days (delete then append).
    A full refresh (or the first build) computes every day, so both give the same rows. -#}
{#- is_incremental() needs `this`: a unit test without a `this` input is a full build; one that
    gives `this` and overrides is_incremental tests the incremental branch. -#}
{% macro is_incremental_run() -%}
  {%- if model.resource_type == 'unit_test' -%}
    {{ return(this is not none and is_incremental()) }}
  {%- endif -%}
  {{ return(is_incremental()) }}
{%- endmacro %}

{% macro incremental_day_filter(date_column, open_ended=false) -%}
  {%- if is_incremental_run() -%}
    {{ touched_days_filter(date_column, open_ended) }}
  {%- else -%}
    true
  {%- endif -%}
{%- endmacro %}

{% macro delete_touched_days(date_column, open_ended=false) -%}
  {%- if is_incremental_run() -%}
    delete from {{ this }} where {{ touched_days_filter(date_column, open_ended) }}
  {%- else -%}
    select 1
  {%- endif -%}
{%- endmacro %}
