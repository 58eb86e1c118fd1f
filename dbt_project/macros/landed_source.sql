{#-
  The `raw` sources read landing Parquet through dbt-duckdb `external_location`. DuckDB's
  read_parquet fails on a glob that matches nothing, so a fresh checkout (or a record type that has
  never landed) would break `dbt build`. `landed_source` checks the glob at run time and, when no
  file matches, yields an empty relation with the canonical columns and types instead.
  Unit tests replace the source with fixture rows, so they always get the source itself.

  Gateway evidence (usage_records, gateway_tasks) is append-only (docs/landing.md): every batch
  file of every day is read, with its sequence number taken from the file name, plus a day file of
  the old single-file layout not migrated yet (sequence 0). Staging picks each row's current version.
  Each row also carries its identity in the landing, `_file` + `_row` (its file and its position in
  it): staging ranks the versions of a key on a few narrow columns and keeps the current one by that
  identity, instead of sorting every wide row (bench/README.md, "What append-only landing costs").
-#}

{% macro landing_dir() -%}
  {{ return(env_var('RECON_LANDING_DIR', '../data/landing')) }}
{%- endmacro %}

{% macro evidence_tables() -%}
  {{ return(['usage_records', 'gateway_tasks']) }}
{%- endmacro %}

{% macro landing_glob(table) -%}
  {%- if table == 'extraction_manifests' -%}
    {{ return(landing_dir() ~ '/*/date=*/manifest-*.parquet') }}
  {%- elif table in evidence_tables() -%}
    {{ return(landing_dir() ~ '/' ~ table ~ '/date=*/batch-*.parquet') }}
  {%- elif table == 'gateway_totals' -%}
    {{ return(landing_dir() ~ '/gateway_totals/date=*/totals-*.parquet') }}
  {%- endif -%}
  {{ return(landing_dir() ~ '/' ~ table ~ '/date=*/' ~ table ~ '.parquet') }}
{%- endmacro %}

{% macro legacy_glob(table) -%}
  {{ return(landing_dir() ~ '/' ~ table ~ '/date=*/' ~ table ~ '.parquet') }}
{%- endmacro %}

{% macro glob_matches(pattern) -%}
  {{ return(adapter.dispatch('glob_matches', 'recon')(pattern)) }}
{%- endmacro %}

{% macro default__glob_matches(pattern) -%}
  {%- set sql -%}
    select count(*) as n from glob('{{ pattern | replace("'", "''") }}')
  {%- endset -%}
  {%- set result = run_query(sql) -%}
  {{ return(result.columns[0].values()[0] > 0) }}
{%- endmacro %}

{#- True when some file of the glob carries `column` (a migrated day file, batch 0, has no batch columns). -#}
{% macro glob_has_column(pattern, column) -%}
  {{ return(adapter.dispatch('glob_has_column', 'recon')(pattern, column)) }}
{%- endmacro %}

{% macro default__glob_has_column(pattern, column) -%}
  {%- set sql -%}
    select count(*) as n from parquet_schema('{{ pattern | replace("'", "''") }}') where name = '{{ column }}'
  {%- endset -%}
  {%- set result = run_query(sql) -%}
  {{ return(result.columns[0].values()[0] > 0) }}
{%- endmacro %}

{% macro has_landed_files(table) -%}
  {{ return(glob_matches(landing_glob(table))) }}
{%- endmacro %}

{% macro empty_relation(table) -%}
  {#- every declared column of the source (an evidence table's batch columns too), typed as declared -#}
  {%- set cols = source_columns(table) -%}
  {%- set items = [] -%}
  {%- for name, data_type in cols.items() -%}
    {%- do items.append('cast(null as ' ~ sql_type(data_type) ~ ') as ' ~ name) -%}
  {%- endfor -%}
  {%- if table in evidence_tables() -%}
    {%- do items.append('cast(null as ' ~ t_string() ~ ') as _file') -%}
    {%- do items.append('cast(null as bigint) as _row') -%}
  {%- endif %}
  (select
    {{ items | join(',\n    ') }}
  where false)
{%- endmacro %}

{% macro evidence_relation(table) -%}
  {%- set globs = [] -%}
  {%- set batched = glob_matches(landing_glob(table)) and glob_has_column(landing_glob(table), '_extracted_at') -%}
  {%- for g in [landing_glob(table), legacy_glob(table)] -%}
    {%- if glob_matches(g) -%}{%- do globs.append(g) -%}{%- endif -%}
  {%- endfor -%}
  {%- if not globs -%}
    {{ return(empty_relation(table)) }}
  {%- endif -%}
  {%- set cols = canonical_columns(table) -%}
  {%- set absent = [] -%}
  {%- for name in late_columns(table) -%}
    {%- set ns = namespace(found=false) -%}
    {%- for g in [landing_glob(table), legacy_glob(table)] -%}
      {%- if not ns.found and glob_matches(g) and glob_has_column(g, name) -%}{%- set ns.found = true -%}{%- endif -%}
    {%- endfor -%}
    {%- if not ns.found -%}{%- do absent.append(name) -%}{%- endif -%}
  {%- endfor -%}
  {%- set sql -%}
  (select
  {%- for name, data_type in cols.items() %}
    {%- if name in absent %}
    cast(null as {{ sql_type(data_type) }}) as {{ name }},
    {%- else %}
    cast({{ name }} as {{ sql_type(data_type) }}) as {{ name }},
    {%- endif %}
  {%- endfor %}
    coalesce(cast(nullif(regexp_extract(filename, 'batch-([0-9]+)[.]parquet$', 1), '') as bigint), 0) as _seq,
  {%- if batched %}
    cast(_extracted_at as {{ t_timestamp() }}) as _extracted_at,
    coalesce(cast(_change as {{ t_string() }}), 'new') as _change,
    cast(_gone_at as {{ t_timestamp() }}) as _gone_at,
  {%- else %}
    cast(null as {{ t_timestamp() }}) as _extracted_at,
    'new' as _change,
    cast(null as {{ t_timestamp() }}) as _gone_at,
  {%- endif %}
    filename as _file,
    cast(file_row_number as bigint) as _row
  from {{ read_landed_files(globs) }})
  {%- endset -%}
  {{ return(sql) }}
{%- endmacro %}

{% macro landed_source(table) -%}
  {%- set rel = source('raw', table) -%}
  {%- if execute and model.resource_type != 'unit_test' and table in evidence_tables() -%}
    {{ evidence_relation(table) }}
  {%- elif execute and model.resource_type != 'unit_test' and not has_landed_files(table) -%}
    {{ empty_relation(table) }}
  {%- elif execute and model.resource_type != 'unit_test' -%}
    {{ landed_files_relation(table, rel) }}
  {%- elif execute and table in evidence_tables() -%}
    {{ fixture_with_identity(table, rel) }}
  {%- else -%}
    {{ rel }}
  {%- endif -%}
{%- endmacro %}

{#- Columns added to the contract after evidence was first landed (issue 18): a landing whose batches
    all predate them reads them as null instead of failing. -#}
{% macro late_columns(table) -%}
  {{ return({
    'usage_records': ['total_tokens', 'settled_at', 'is_reserved', 'access_channel'],
    'gateway_tasks': ['poll_url', 'x_task_id', 'x_billing_transaction_id'],
  }.get(table, [])) }}
{%- endmacro %}

{#- A unit test's fixture rows of an evidence table, with the `_file` + `_row` identity the landing
    gives every row: numbered in the order of all their columns (DuckDB reads the alias as the whole
    row), so that every read of the fixture numbers the same rows alike (rows that tie are identical,
    so either may take either number). Unit tests run on DuckDB only. -#}
{% macro fixture_with_identity(table, rel) -%}
  (select
    *,
    cast('fixture' as {{ t_string() }}) as _file,
    row_number() over (order by _recon_fixture) as _row
  from {{ rel }} as _recon_fixture)
{%- endmacro %}

{#- The CTEs that pick an evidence row's current version in staging (docs/landing.md), ending in
    `deduplicated`: the rows of `relation` that are current, every column of them. Only keys held
    more than once are looked at, on `key` plus the few `choice_columns` the choice reads. A version
    in an older batch than its key's newest is dropped outright (no sort): the wide rows are joined
    to the duplicated keys' newest batch number (a narrow build side) and kept where they are in it.
    Only a key held more than once in its newest batch (a legacy day file, copies in one batch) is
    ranked, by `order_by` (newest first), and its losers, by landing identity (_file, _row), are
    anti-joined. The wide rows are never sorted, and no join is built on the identity of every
    superseded version (at 10M jobs x 4 versions that build side, 39M rows, spilled and took 162 of
    the model's 289 operator-seconds: bench/README.md, "What append-only landing costs staging").
    `relation`: a CTE with the key, version_seq (never null), the choice columns, _file and _row. -#}
{% macro choose_current_versions(relation, key, choice_columns, order_by) -%}
{%- set keys = key | join(', ') -%}
{%- set same_key = [] -%}
{%- for k in key %}{% do same_key.append('{a}.' ~ k ~ ' is not distinct from {b}.' ~ k) %}{% endfor -%}
duplicate_keys as (
    select {{ keys }}, max(version_seq) as current_seq
    from {{ relation }}
    group by {{ keys }}
    having count(*) > 1
),

current_versions as (
    select
        {% for c in key + ['version_seq'] + choice_columns %}r.{{ c }}, {% endfor %}r._file, r._row
    from {{ relation }} as r
    inner join duplicate_keys as d
        on {{ same_key | join(' and ') | replace('{a}', 'r') | replace('{b}', 'd') }}
        and r.version_seq = d.current_seq
),

tied_keys as (
    select {{ keys }}
    from current_versions
    group by {{ keys }}
    having count(*) > 1
),

tie_losers as (
    select _file, _row
    from (
        select c.*
        from current_versions as c
        semi join tied_keys as t
            on {{ same_key | join(' and ') | replace('{a}', 'c') | replace('{b}', 't') }}
        {{ qualify_not_first("partition by " ~ keys ~ " order by " ~ order_by) }}
    )
),

deduplicated as (
    select r.*
    from {{ relation }} as r
    left join duplicate_keys as d
        on {{ same_key | join(' and ') | replace('{a}', 'r') | replace('{b}', 'd') }}
    anti join tie_losers as s on r._file = s._file and r._row = s._row
    where d.current_seq is null or r.version_seq = d.current_seq
)
{%- endmacro %}
