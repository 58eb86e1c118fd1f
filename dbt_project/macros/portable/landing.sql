{#- Reading the landing Parquet (macros/landed_source.sql) on each engine. DuckDB lists a glob with
    glob() and reads files with read_parquet; Spark lists the landing folder through its binaryFile
    source (paths only, no content is read) and reads files with parquet.`glob`, merging the files'
    schemas (profiles.yml: spark.sql.parquet.mergeSchema). -#}

{#- The relation of `globs` (one or more patterns of one folder), every file's columns by name, with
    the file's path as `filename` and the row's position in its file as `file_row_number`. -#}
{% macro read_landed_files(globs) -%}
  {{ return(adapter.dispatch('read_landed_files', 'recon')(globs)) }}
{%- endmacro %}

{% macro default__read_landed_files(globs) -%}
read_parquet([{% for g in globs %}'{{ g | replace("'", "''") }}'{{ ", " if not loop.last }}{% endfor %}], union_by_name = true, filename = true, file_row_number = true, hive_partitioning = false)
{%- endmacro %}

{% macro spark__read_landed_files(globs) -%}
  {%- set folders = [] -%}
  {%- set names = [] -%}
  {%- for g in globs -%}
    {%- set parts = g.rsplit('/', 1) -%}
    {%- if parts[0] not in folders -%}{%- do folders.append(parts[0]) -%}{%- endif -%}
    {%- do names.append(parts[1]) -%}
  {%- endfor -%}
  {%- if folders | length != 1 -%}
    {{ exceptions.raise_compiler_error("read_landed_files: Spark reads globs of one folder, got " ~ globs) }}
  {%- endif -%}
  {%- set path = folders[0] ~ '/' ~ (names[0] if names | length == 1 else '{' ~ names | join(',') ~ '}') -%}
(select *, _metadata.file_path as filename, _metadata.row_index as file_row_number from parquet.`{{ path }}`)
{%- endmacro %}

{#- A landed non-evidence table (app records, totals, manifests): the source on DuckDB (its
    external_location reads the files), the files themselves on Spark. -#}
{% macro landed_files_relation(table, rel) -%}
  {{ return(adapter.dispatch('landed_files_relation', 'recon')(table, rel)) }}
{%- endmacro %}

{% macro default__landed_files_relation(table, rel) -%}{{ rel }}{%- endmacro %}

{% macro spark__landed_files_relation(table, rel) -%}
(select * from parquet.`{{ landing_glob(table) }}`)
{%- endmacro %}

{#- Spark: whether a landing glob matches a file. The glob is matched as a regular expression
    against the landing folder's file paths (`*` stays within one path part). -#}
{% macro spark__glob_matches(pattern) -%}
  {%- set root = landing_dir() -%}
  {%- if not pattern.startswith(root ~ '/') -%}
    {{ exceptions.raise_compiler_error("glob_matches: on Spark only landing globs are listed, got " ~ pattern) }}
  {%- endif -%}
  {%- set rest = pattern[root | length:] -%}
  {%- set regex = rest | replace('.', '[.]') | replace('*', '[^/]*') -%}
  {%- do run_query("create or replace temporary view recon_landing_files using binaryFile options (path '"
      ~ (root | replace("'", "\\'")) ~ "', recursiveFileLookup 'true')") -%}
  {%- set result = run_query("select count(*) as n from recon_landing_files where path rlike '"
      ~ regex ~ "$'") -%}
  {{ return(result.columns[0].values()[0] > 0) }}
{%- endmacro %}

{#- Spark: whether some file of the glob carries `column` (the merged schema of its files). -#}
{% macro spark__glob_has_column(pattern, column) -%}
  {%- set result = run_query("select * from parquet.`" ~ pattern ~ "` limit 0") -%}
  {{ return(column in result.column_names) }}
{%- endmacro %}

{#- Picking a row's current version in staging (models/staging): the rows a window ranks after the
    first, written after a query's last clause like qualify_first (macros/portable/query_shape.sql). -#}
{% macro qualify_not_first(over) -%}
  {{ return(adapter.dispatch('qualify_not_first', 'recon')(over)) }}
{%- endmacro %}

{% macro default__qualify_not_first(over) -%}
qualify row_number() over ({{ over }}) > 1
{%- endmacro %}

{% macro spark__qualify_not_first(over) -%}
|> extend row_number() over ({{ over }}) as _recon_row_number
    |> where _recon_row_number > 1
    |> drop _recon_row_number
{%- endmacro %}

{#- `relation` (a CTE's name) without `columns`: the landing identity (_file, _row) staging drops. -#}
{% macro without_columns(relation, columns) -%}
  {{ return(adapter.dispatch('without_columns', 'recon')(relation, columns)) }}
{%- endmacro %}

{% macro default__without_columns(relation, columns) -%}
(select * exclude ({{ columns | join(', ') }}) from {{ relation }})
{%- endmacro %}

{% macro spark__without_columns(relation, columns) -%}
(from {{ relation }} |> drop {{ columns | join(', ') }})
{%- endmacro %}
