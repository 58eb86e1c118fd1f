{#- The landed columns and DuckDB types of a `raw` source, read from the one place they are declared:
    the columns' `data_type` in models/staging/_staging__sources.yml (tests/test_source_contract.py
    keeps it equal to schemas/canonical.py, the contract). Only available while executing (`graph`). -#}
{% macro source_columns(table) -%}
  {%- set cols = {} -%}
  {%- for src in graph.sources.values() if src.source_name == 'raw' and src.name == table -%}
    {%- for name, col in src.columns.items() -%}
      {%- if not col.data_type -%}
        {{ exceptions.raise_compiler_error("source raw." ~ table ~ ": column " ~ name ~ " has no data_type in _staging__sources.yml") }}
      {%- endif -%}
      {%- do cols.update({name: col.data_type}) -%}
    {%- endfor -%}
  {%- endfor -%}
  {%- if not cols -%}
    {{ exceptions.raise_compiler_error("source raw." ~ table ~ " declares no columns in _staging__sources.yml") }}
  {%- endif -%}
  {{ return(cols) }}
{%- endmacro %}

{#- The canonical columns of a source: its declared columns without the batch columns (`_seq`, ...). -#}
{% macro canonical_columns(table) -%}
  {%- set cols = {} -%}
  {%- for name, data_type in source_columns(table).items() if not name.startswith('_') -%}
    {%- do cols.update({name: data_type}) -%}
  {%- endfor -%}
  {{ return(cols) }}
{%- endmacro %}
