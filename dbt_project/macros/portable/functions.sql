{#- Scalar and aggregate functions DuckDB names otherwise than Spark (docs/beyond-one-machine.md).
    default__ is DuckDB's spelling, kept as it was written (the scale benchmark's SQL). -#}

{#- Seconds since 1970 (a double, fractional) of a timestamp. -#}
{% macro epoch_seconds(expr) -%}{{ return(adapter.dispatch('epoch_seconds', 'recon')(expr)) }}{%- endmacro %}
{% macro default__epoch_seconds(expr) -%}epoch({{ expr }}){%- endmacro %}
{% macro spark__epoch_seconds(expr) -%}(cast(unix_micros({{ expr }}) as double) / 1e6){%- endmacro %}

{#- An interval of `expr` (a bigint) microseconds, to add to a timestamp or compare with a difference. -#}
{% macro microseconds_interval(expr) -%}
  {{ return(adapter.dispatch('microseconds_interval', 'recon')(expr)) }}
{%- endmacro %}
{% macro default__microseconds_interval(expr) -%}to_microseconds({{ expr }}){%- endmacro %}
{% macro spark__microseconds_interval(expr) -%}
make_dt_interval(0, 0, 0, cast(({{ expr }}) / 1000000.0 as decimal(18, 6)))
{%- endmacro %}

{#- Days since 1970-01-01 of a date: a number a `range between n preceding` window can order by. -#}
{% macro day_number(expr) -%}{{ return(adapter.dispatch('day_number', 'recon')(expr)) }}{%- endmacro %}
{% macro default__day_number(expr) -%}({{ expr }} - date '1970-01-01'){%- endmacro %}
{% macro spark__day_number(expr) -%}unix_date({{ expr }}){%- endmacro %}

{#- A UTC timestamp as ISO 8601 text to the second: 2026-11-16T06:00:00Z. -#}
{% macro iso_utc(expr) -%}{{ return(adapter.dispatch('iso_utc', 'recon')(expr)) }}{%- endmacro %}
{% macro default__iso_utc(expr) -%}strftime({{ expr }}, '%Y-%m-%dT%H:%M:%SZ'){%- endmacro %}
{% macro spark__iso_utc(expr) -%}date_format({{ expr }}, "yyyy-MM-dd'T'HH:mm:ss'Z'"){%- endmacro %}

{#- A number as text with six decimals (money in finding details). Spark's printf takes no decimal. -#}
{% macro fixed6(expr) -%}{{ return(adapter.dispatch('fixed6', 'recon')(expr)) }}{%- endmacro %}
{% macro default__fixed6(expr) -%}printf('%.6f', {{ expr }}){%- endmacro %}
{% macro spark__fixed6(expr) -%}printf('%.6f', cast({{ expr }} as double)){%- endmacro %}

{#- Continuous (interpolated) quantile of a group. -#}
{% macro quantile_cont(expr, q) -%}{{ return(adapter.dispatch('quantile_cont', 'recon')(expr, q)) }}{%- endmacro %}
{% macro default__quantile_cont(expr, q) -%}quantile_cont({{ expr }}, {{ q }}){%- endmacro %}
{% macro spark__quantile_cont(expr, q) -%}percentile({{ expr }}, {{ q }}){%- endmacro %}

{#- The value of the row with the smallest key (a list of expressions, compared in order). -#}
{% macro arg_min_by(value, keys) -%}{{ return(adapter.dispatch('arg_min_by', 'recon')(value, keys)) }}{%- endmacro %}
{% macro default__arg_min_by(value, keys) -%}arg_min({{ value }}, ({{ keys | join(', ') }})){%- endmacro %}
{% macro spark__arg_min_by(value, keys) -%}min_by({{ value }}, struct({{ keys | join(', ') }})){%- endmacro %}

{#- The value of the row with the largest `top` (ties: the smallest `then`). -#}
{% macro first_by_max(value, top, then) -%}
  {{ return(adapter.dispatch('first_by_max', 'recon')(value, top, then)) }}
{%- endmacro %}
{% macro default__first_by_max(value, top, then) -%}first({{ value }} order by {{ top }} desc, {{ then }}){%- endmacro %}
{% macro spark__first_by_max(value, top, then) -%}min_by({{ value }}, struct(-({{ top }}), {{ then }})){%- endmacro %}

{#- count(distinct expr) [filter (where ...)] as the length of a deduplicated list (cheaper in
    DuckDB than a DISTINCT aggregate); 0 for a group with no such row. -#}
{% macro count_distinct_list(expr, where=none) -%}
  {{ return(adapter.dispatch('count_distinct_list', 'recon')(expr, where)) }}
{%- endmacro %}
{% macro default__count_distinct_list(expr, where=none) -%}
coalesce(len(list_distinct(list({{ expr }}){% if where %} filter (where {{ where }}){% endif %})), 0)
{%- endmacro %}
{% macro spark__count_distinct_list(expr, where=none) -%}
coalesce(size(collect_set({{ expr }}){% if where %} filter (where {{ where }}){% endif %}), 0)
{%- endmacro %}

{#- The distinct non-null values of a group, sorted, joined with `sep` (without a DISTINCT aggregate
    on DuckDB); '' for a group with none. -#}
{% macro distinct_sorted_joined(expr, sep) -%}
  {{ return(adapter.dispatch('distinct_sorted_joined', 'recon')(expr, sep)) }}
{%- endmacro %}
{% macro default__distinct_sorted_joined(expr, sep) -%}
array_to_string(list_sort(list_distinct(list({{ expr }}))), '{{ sep }}')
{%- endmacro %}
{% macro spark__distinct_sorted_joined(expr, sep) -%}
array_join(array_sort(collect_set({{ expr }})), '{{ sep }}')
{%- endmacro %}

{#- string_agg(distinct expr, sep order by expr): null for a group with no non-null value. -#}
{% macro string_agg_distinct_sorted(expr, sep) -%}
  {{ return(adapter.dispatch('string_agg_distinct_sorted', 'recon')(expr, sep)) }}
{%- endmacro %}
{% macro default__string_agg_distinct_sorted(expr, sep) -%}
string_agg(distinct {{ expr }}, '{{ sep }}' order by {{ expr }})
{%- endmacro %}
{% macro spark__string_agg_distinct_sorted(expr, sep) -%}
nullif(array_join(array_sort(collect_set({{ expr }})), '{{ sep }}'), '')
{%- endmacro %}

{#- string_agg(expr, sep order by expr), duplicates kept: null for a group with no non-null value. -#}
{% macro string_agg_sorted(expr, sep) -%}
  {{ return(adapter.dispatch('string_agg_sorted', 'recon')(expr, sep)) }}
{%- endmacro %}
{% macro default__string_agg_sorted(expr, sep) -%}string_agg({{ expr }}, '{{ sep }}' order by {{ expr }}){%- endmacro %}
{% macro spark__string_agg_sorted(expr, sep) -%}
nullif(array_join(array_sort(collect_list({{ expr }})), '{{ sep }}'), '')
{%- endmacro %}
