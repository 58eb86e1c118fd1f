-- Every usage row with the app job it belongs to, and how it was linked.
-- Keys in priority order: the job's task_id, its request_id, its billing_transaction_id. A task id
-- reached through a row linked by request/transaction id brings that task's other rows (settlement
-- deltas and refunds carry only the task id). A row that several jobs could claim goes to the
-- strongest link, then the earliest job.
-- ledger_task_id: the task whose ledger the row belongs to. A linked row without a task id (on
-- current new-api the task pre-charge carries only the request id) belongs to its job's task, so
-- the pre-charge and the refund that carries only the task id end up in one ledger.
-- Older gateways log no request_id: a job with no id at all may link to a consume row with no id
-- by model, the token name and token counts the app recorded (optional app columns), and time: the
-- row created between the job's creation and fallback_match_minutes after it ended (the bound;
-- default 2 min). A row that fits exactly one job links to it (a job several rows fit takes the
-- nearest); link_method records how. A row that fits several jobs is not guessed: it stays unlinked
-- with ambiguous_job_ids and surfaces as ambiguous_match on each candidate job.
with

usage_records as {{ not_materialized() }} (
    select * from {{ ref('stg_raw__usage_records') }}
),

app_jobs as (
    select * from {{ ref('stg_raw__app_jobs') }}
),

direct_links as (
    -- u.task_id rides along so reached_tasks needs no second pass over the usage rows; the job's own
    -- task id too (reached_tasks skips it)
    select u.gateway, u.record_key, u.task_id, j.task_id as job_task_id, j.job_id, j.created_at as job_created_at,
        'task_id' as link_method, 1 as link_rank
    from usage_records as u
    inner join app_jobs as j on u.task_id = j.task_id

    union all

    select u.gateway, u.record_key, u.task_id, j.task_id, j.job_id, j.created_at, 'request_id', 2
    from usage_records as u
    inner join app_jobs as j on u.request_id = j.request_id

    union all

    select u.gateway, u.record_key, u.task_id, j.task_id, j.job_id, j.created_at, 'billing_transaction_id', 3
    from usage_records as u
    inner join app_jobs as j on u.billing_transaction_id = j.billing_transaction_id
),

reached_tasks as (
    -- not the job's own task: every row carrying that task id already links to the job directly by
    -- task_id (rank 1), so a reached_task_id link (rank 4) to the same job could never win; most
    -- tasks are the app's own, and this keeps their rows out of task_links and best_link's group-by
    select distinct job_id, job_created_at, task_id
    from direct_links
    where task_id is not null
      and (job_task_id is null or job_task_id <> task_id)
),

id_less_jobs as (
    select * from app_jobs
    where request_id is null and task_id is null and billing_transaction_id is null
),

id_less_rows as (
    select * from usage_records
    where record_type = 'consume'
      and request_id is null and task_id is null and billing_transaction_id is null
),

fallback_candidates as (
    -- same model, and the same token name and token counts wherever the app recorded them; the row
    -- created between the job's creation and fallback_match_minutes after it ended
    select u.gateway, u.record_key, u.created_at as row_created_at, j.job_id, j.created_at as job_created_at,
        j.token_name is not null or j.prompt_tokens is not null or j.completion_tokens is not null
            as is_token_match,
        abs({{ epoch_seconds('u.created_at') }} - {{ epoch_seconds('coalesce(j.terminal_at, j.created_at)') }}) as distance_seconds
    from id_less_rows as u
    inner join id_less_jobs as j
        on lower(u.model) = lower(j.model)
        and u.created_at >= j.created_at
        and u.created_at <= coalesce(j.terminal_at, j.created_at)
            + {{ interval_minutes('fallback_match_minutes') }}
        and (j.token_name is null or u.token_name = j.token_name)
        and (j.prompt_tokens is null or u.prompt_tokens = j.prompt_tokens)
        and (j.completion_tokens is null or u.completion_tokens = j.completion_tokens)
),

row_fits as (
    select gateway, record_key, count(*) as fit_count,
        {{ string_agg_sorted('job_id', ',') }} as fit_job_ids
    from fallback_candidates
    group by gateway, record_key
),

fallback_links as (
    -- a row that fits exactly one job links to it; a job that several such rows fit takes the one
    -- nearest its end (the others stay unlinked). A row that fits several jobs links to none of
    -- them: it is an ambiguous_match, never a guess.
    select gateway, record_key, job_id, job_created_at, link_method, link_rank
    from (
        select *
        from (
            select c.gateway, c.record_key, c.job_id, c.job_created_at,
                case when c.is_token_match then 'fallback_token_model_time' else 'fallback_model_time' end
                    as link_method,
                5 as link_rank,
                c.distance_seconds,
                c.row_created_at
            from fallback_candidates as c
            inner join row_fits as f on c.gateway = f.gateway and c.record_key = f.record_key
            where f.fit_count = 1
        ) as fits
        {{ qualify_first("
            partition by job_id order by distance_seconds, row_created_at, record_key
        ") }}
    ) as nearest
),

task_links as (
    select u.gateway, u.record_key, r.job_id, r.job_created_at,
        'reached_task_id' as link_method, 4 as link_rank
    from usage_records as u
    inner join reached_tasks as r on u.task_id = r.task_id
),

best_link as (
    -- per row, the link with the lowest (link_rank, job_created_at, job_id): an aggregate, not a
    -- window over every candidate link
    select gateway, record_key,
        {{ arg_min_by(struct_of([('job_id', 'job_id'), ('link_method', 'link_method')]),
            ['link_rank', 'job_created_at', 'job_id']) }} as best
    from (
        select gateway, record_key, job_id, job_created_at, link_method, link_rank from direct_links
        union all
        select * from task_links
        union all
        select * from fallback_links
    ) as all_links
    group by gateway, record_key
),

final as (
    -- only the usage columns something downstream reads (the rules, the trace, the quota check):
    -- this table is as long as the usage, and writing a column costs more than computing it
    -- (bench/scale); group_name, stream_status, access_channel, total_tokens, duration_ms, is_stream
    -- and is_task stay in stg_raw__usage_records
    select
        u.gateway, u.record_key, u.record_type, u.request_id, u.task_id, u.billing_transaction_id,
        u.model, u.scene, u.token_name, u.error_code, u.settled_at, u.is_reserved, u.is_in_scope,
        u.prompt_tokens, u.completion_tokens, u.cache_tokens, u.quota, u.cost_usd, u.status_code,
        u.model_ratio, u.completion_ratio, u.group_ratio, u.cache_ratio, u.model_price,
        u.pre_consumed_quota, u.actual_quota, u.quota_per_unit, u.created_at, u.version_seq, u.is_gone,
        u.gone_at, u.created_date,
        b.best.job_id as job_id,
        b.best.link_method as link_method,
        b.best.job_id is not null as is_linked,
        coalesce(u.task_id, j.task_id) as ledger_task_id,
        -- the linked job's model (int_jobs_reconciled's model_mismatch needs no second join)
        j.model as job_model,
        -- the jobs an id-less row fits when it fits more than one (comma-separated, sorted)
        case when f.fit_count > 1 and b.best.job_id is null then f.fit_job_ids end as ambiguous_job_ids
    from usage_records as u
    left join best_link as b
        on u.gateway = b.gateway and u.record_key = b.record_key
    left join app_jobs as j
        on b.best.job_id = j.job_id
    left join row_fits as f
        on u.gateway = f.gateway and u.record_key = f.record_key
)

select * from final
