{#- Query shapes DuckDB has and Spark spells otherwise (docs/beyond-one-machine.md). -#}

{#- `with x as not materialized (...)`: DuckDB's hint to inline a CTE read by several consumers
    instead of copying it first (bench/scale). Other engines decide for themselves: no hint. -#}
{% macro not_materialized() -%}
  {{ return(adapter.dispatch('not_materialized', 'recon')()) }}
{%- endmacro %}

{% macro default__not_materialized() -%}not materialized{%- endmacro %}

{% macro spark__not_materialized() -%}{%- endmacro %}

{#- Keep the first row per window: written after a query's last clause (where, or from). DuckDB's
    `qualify`; Spark (4.0+) numbers the rows with a pipe step, keeps the first, drops the number.
    `over` is the window body: "partition by ... order by ...", over the query's output columns. -#}
{% macro qualify_first(over) -%}
  {{ return(adapter.dispatch('qualify_first', 'recon')(over)) }}
{%- endmacro %}

{% macro default__qualify_first(over) -%}
qualify row_number() over ({{ over }}) = 1
{%- endmacro %}

{% macro spark__qualify_first(over) -%}
|> extend row_number() over ({{ over }}) as _recon_row_number
    |> where _recon_row_number = 1
    |> drop _recon_row_number
{%- endmacro %}

{#- One row per day from first_day to last_day (inclusive) for every row of `ranges`, a relation
    with columns `key`, `first_day` and `last_day`: columns `key` and `day`. -#}
{% macro day_spine(ranges, key) -%}
  {{ return(adapter.dispatch('day_spine', 'recon')(ranges, key)) }}
{%- endmacro %}

{% macro default__day_spine(ranges, key) -%}
select g.{{ key }}, cast(d.day as date) as day
    from {{ ranges }} as g,
        lateral (select unnest(generate_series(g.first_day, g.last_day, interval 1 day)) as day) as d
{%- endmacro %}

{% macro spark__day_spine(ranges, key) -%}
select g.{{ key }}, cast(d.day as date) as day
    from {{ ranges }} as g
    lateral view explode(sequence(g.first_day, g.last_day, interval 1 day)) d as day
{%- endmacro %}

{#- One output row per element of a delimited string (a select-list item). -#}
{% macro explode_split(expr, sep) -%}
  {{ return(adapter.dispatch('explode_split', 'recon')(expr, sep)) }}
{%- endmacro %}

{% macro default__explode_split(expr, sep) -%}unnest(string_split({{ expr }}, '{{ sep }}')){%- endmacro %}

{% macro spark__explode_split(expr, sep) -%}explode(split({{ expr }}, '{{ sep }}')){%- endmacro %}

{#- A struct value from (name, expression) pairs; read a field with `value.name` on both engines. -#}
{% macro struct_of(pairs) -%}
  {{ return(adapter.dispatch('struct_of', 'recon')(pairs)) }}
{%- endmacro %}

{% macro default__struct_of(pairs) -%}
{ {%- for name, expr in pairs %}'{{ name }}': {{ expr }}{{ ", " if not loop.last }}{% endfor -%} }
{%- endmacro %}

{% macro spark__struct_of(pairs) -%}
named_struct({%- for name, expr in pairs %}'{{ name }}', {{ expr }}{{ ", " if not loop.last }}{% endfor -%})
{%- endmacro %}

{#- The rows of several relations whose columns have the same names (in any order). DuckDB matches
    them by name (`union all by name`); Spark's SQL has no such union: each side lists `columns`. -#}
{% macro union_by_name(relations, columns) -%}
  {{ return(adapter.dispatch('union_by_name', 'recon')(relations, columns)) }}
{%- endmacro %}

{% macro default__union_by_name(relations, columns) -%}
  {%- for r in relations %}
    {% if not loop.first %}union all by name {% endif %}select * from {{ r }}
  {%- endfor %}
{%- endmacro %}

{% macro spark__union_by_name(relations, columns) -%}
  {%- for r in relations %}
    {% if not loop.first %}union all {% endif %}select {{ columns | join(', ') }} from {{ r }}
  {%- endfor %}
{%- endmacro %}
