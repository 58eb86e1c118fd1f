{#- How int_usage_records_linked links a usage row to a job (its link_method values; the
    accepted_values test on that column lists the same). -#}
{% macro link_methods() -%}
  {{ return(['task_id', 'request_id', 'billing_transaction_id', 'reached_task_id', 'fallback_model_time',
    'fallback_token_model_time']) }}
{%- endmacro %}

{#- = string_agg(distinct expr, sep order by expr) over a column whose values are link_methods(),
    null for a group with none: one bool_or flag per method instead of a list per group (bench/scale:
    the list was most of the per-job aggregate's cost). Plain SQL on DuckDB and Spark. -#}
{% macro link_methods_joined(expr, sep) -%}
nullif(concat_ws('{{ sep }}'
  {%- for m in link_methods() | sort %}, case when bool_or({{ expr }} = '{{ m }}') then '{{ m }}' end{% endfor -%}
), '')
{%- endmacro %}
