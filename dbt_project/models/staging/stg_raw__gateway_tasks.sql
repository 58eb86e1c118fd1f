-- Gateway async tasks, typed: the current version of every task recon ever held, on (gateway,
-- task_id). A task lands in the day of its submitted_at; the landing is append-only (docs/landing.md),
-- so each extraction that saw the task change added a version: the highest batch (version_seq) wins,
-- then the most advanced state (terminal over running over queued, then the latest finish). A task
-- the gateway no longer serves keeps its last version, marked gone (is_gone, gone_at).
with

-- not materialized: each read below takes only the columns it needs from the Parquet
source as {{ not_materialized() }} (
    select * from {{ landed_source('gateway_tasks') }}
),

renamed as {{ not_materialized() }} (
    select
        cast(gateway as {{ t_string() }}) as gateway,
        cast(task_id as {{ t_string() }}) as task_id,
        lower(cast(status as {{ t_string() }})) as status,
        nullif(cast(fail_reason as {{ t_string() }}), '') as fail_reason,
        nullif(cast(platform as {{ t_string() }}), '') as platform,
        nullif(cast(action as {{ t_string() }}), '') as action,
        nullif(cast(poll_url as {{ t_string() }}), '') as poll_url,
        nullif(cast(x_task_id as {{ t_string() }}), '') as x_task_id,
        nullif(cast(x_billing_transaction_id as {{ t_string() }}), '') as x_billing_transaction_id,
        cast(quota as bigint) as quota,
        cast(cost_usd as decimal(20, 10)) as cost_usd,
        coalesce(cast(is_cancelled as boolean), false) as is_cancelled,
        cast(submitted_at as {{ t_timestamp() }}) as submitted_at,
        cast(finished_at as {{ t_timestamp() }}) as finished_at,
        cast(_seq as bigint) as version_seq,
        coalesce(cast(_change as {{ t_string() }}), 'new') = 'gone' as is_gone,
        cast(_gone_at as {{ t_timestamp() }}) as gone_at,
        _file,
        _row
    from source
),

-- Most keys land once: only the versions of keys held more than once are looked at, and the wide
-- rows are never sorted (choose_current_versions, macros/landed_source.sql).
{{ choose_current_versions('renamed', ['gateway', 'task_id'], ['status', 'finished_at'],
    "version_seq desc, case status when 'succeeded' then 0 when 'failed' then 0 when 'running' then 1 when 'queued' then 2 else 3 end, finished_at desc nulls last") }},

final as (
    select
        *,
        status in ('succeeded', 'failed') as is_terminal,
        cast(submitted_at as date) as submitted_date
    from {{ without_columns('deduplicated', ['_file', '_row']) }}
)

select * from final
