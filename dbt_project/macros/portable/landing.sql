{#- Reading the landing Parquet (macros/landed_source.sql) on each engine. DuckDB lists a glob with
    glob() and reads files with read_parquet; Spark lists the landing folder through its binaryFile
    source (paths only, no content is read) and reads files with parquet.`glob`, merging the files'
    schemas (profiles.yml: spark.sql.parquet.mergeSchema). -#}

{#- The relation of `globs` (one or more patterns of one folder), every file's columns by name, with
    the file's path as `filename`. -#}
{% macro read_landed_files(globs) -%}
  {{ return(adapter.dispatch('read_landed_files', 'recon')(globs)) }}
{%- endmacro %}

{% macro default__read_landed_files(globs) -%}
read_parquet([{% for g in globs %}'{{ g | replace("'", "''") }}'{{ ", " if not loop.last }}{% endfor %}], union_by_name = true, filename = true, hive_partitioning = false)
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
(select *, _metadata.file_path as filename from parquet.`{{ path }}`)
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
