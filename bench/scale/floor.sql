-- The floor: the reconciliation's findings and settlement statuses in ONE hand-written DuckDB query
-- over the landing Parquet: no dbt, no intermediate tables, no tests, no other marts, no detail text.
-- Same rules as the dbt models (DESIGN.md "Reconciliation semantics"): dedup, linking by task /
-- request / transaction id plus reached tasks, whose status decides, money, settlement window.
-- Not implemented (the benchmark data has none): the id-less fallback match by model and time.
-- Parameters (Python str.format): {landing} {as_of} {window_us} {late_us} {sla_us} {tol_usd} {tol_ratio}
-- {quota_tol}. Output columns: kind ('finding'|'settlement'), mismatch_type, job_id, task_id,
-- request_id, amount_usd (double, rounded to 6 places), settlement_status.
with

usage as (
    select
        gateway, record_key, lower(record_type) as record_type, nullif(request_id, '') as request_id,
        nullif(task_id, '') as task_id, nullif(billing_transaction_id, '') as btx,
        nullif(model, '') as model, quota, cast(cost_usd as decimal(20, 10)) as cost, created_at,
        prompt_tokens, completion_tokens, cache_tokens, model_ratio, completion_ratio, group_ratio,
        cache_ratio, model_price, pre_consumed_quota, actual_quota, quota_per_unit
    from read_parquet('{landing}/usage_records/date=*/usage_records.parquet')
    qualify row_number() over (
        partition by gateway, record_key
        order by (nullif(billing_transaction_id, '') is null), nullif(billing_transaction_id, ''), created_at desc
    ) = 1
),

jobs as (
    select
        job_id, nullif(request_id, '') as request_id, nullif(task_id, '') as task_id,
        nullif(billing_transaction_id, '') as btx, nullif(model, '') as model, lower(status) as status,
        cast(expected_cost_usd as decimal(20, 10)) as expected, created_at, terminal_at
    from read_parquet('{landing}/app_jobs/date=*/app_jobs.parquet')
    qualify row_number() over (
        partition by job_id
        order by case when lower(status) in ('succeeded', 'failed', 'cancelled') then 0 else 1 end,
            terminal_at desc nulls last, created_at desc
    ) = 1
),

tasks as (
    select
        gateway, task_id, lower(status) as status, coalesce(is_cancelled, false) as is_cancelled,
        submitted_at, finished_at, lower(status) in ('succeeded', 'failed') as is_terminal
    from read_parquet('{landing}/gateway_tasks/date=*/gateway_tasks.parquet')
    qualify row_number() over (
        partition by gateway, task_id
        order by case lower(status) when 'succeeded' then 0 when 'failed' then 0 when 'running' then 1
            when 'queued' then 2 else 3 end, finished_at desc nulls last
    ) = 1
),

available_assets as (
    select job_id, count(*) filter (where status = 'available') as available
    from (
        select job_id, lower(status) as status
        from read_parquet('{landing}/app_assets/date=*/app_assets.parquet')
        qualify row_number() over (partition by asset_id order by created_at desc) = 1
    )
    where job_id is not null
    group by job_id
),

direct_links as (
    select u.gateway, u.record_key, u.task_id, j.job_id, j.created_at as job_created_at, 1 as link_rank
    from usage as u inner join jobs as j on u.task_id = j.task_id
    union all
    select u.gateway, u.record_key, u.task_id, j.job_id, j.created_at, 2
    from usage as u inner join jobs as j on u.request_id = j.request_id
    union all
    select u.gateway, u.record_key, u.task_id, j.job_id, j.created_at, 3
    from usage as u inner join jobs as j on u.btx = j.btx
),

reached_tasks as (
    select distinct job_id, job_created_at, task_id from direct_links where task_id is not null
),

best_link as (
    select gateway, record_key, arg_min(job_id, (link_rank, job_created_at, job_id)) as job_id
    from (
        select gateway, record_key, job_id, job_created_at, link_rank from direct_links
        union all
        select u.gateway, u.record_key, r.job_id, r.job_created_at, 4
        from usage as u inner join reached_tasks as r on u.task_id = r.task_id
    )
    group by gateway, record_key
),

linked as (
    select u.*, b.job_id
    from usage as u left join best_link as b on u.gateway = b.gateway and u.record_key = b.record_key
),

task_ledgers as (
    select gateway, task_id, max(job_id) as job_id, sum(cost) as net, min(created_at) as first_ledger_at
    from linked
    where task_id is not null and record_type in ('consume', 'refund')
    group by gateway, task_id
),

money as (
    select
        job_id,
        min(gateway) as gateway,
        sum(cost) as net,
        coalesce(sum(cost) filter (where cost > 0), 0) as charged,
        max(created_at) as last_ledger_at,
        count(distinct task_id) filter (where record_type = 'consume' and cost > 0 and task_id is not null)
            as charged_tasks,
        count(distinct coalesce(request_id, record_key)) filter (
            where record_type = 'consume' and cost > 0 and task_id is null) as charged_requests
    from linked
    where job_id is not null and record_type in ('consume', 'refund')
    group by job_id
),

task_nets as (
    select job_id, min(net) as min_task_net, max(net) as max_task_net
    from task_ledgers where job_id is not null group by job_id
),

billed_other_model as (
    select distinct u.job_id
    from linked as u inner join jobs as j on u.job_id = j.job_id
    where u.record_type = 'consume' and u.model is not null and j.model is not null
      and lower(u.model) <> lower(j.model)
),

primary_task as (
    select job_id, arg_min(t, (task_rank, t.submitted_at, t.task_id)) as t
    from (
        select job_id, task_id, 0 as task_rank from jobs where task_id is not null
        union
        select job_id, task_id, 1 from linked where job_id is not null and task_id is not null
    ) as jt
    inner join tasks as t using (task_id)
    group by job_id
),

judged as (
    select
        j.job_id, j.request_id, j.status as app_status, j.expected, j.created_at,
        p.t.task_id as gtask, p.t.status as gstatus, coalesce(p.t.is_terminal, false) as gterminal,
        p.t.submitted_at as gsubmitted, p.t.finished_at as gfinished,
        coalesce(p.t.is_cancelled, false) as gcancelled,
        j.task_id is not null or p.t.task_id is not null as is_async,
        case
            when p.t.is_terminal and p.t.status = 'succeeded' then 'succeeded'
            when p.t.is_terminal and p.t.is_cancelled then 'cancelled'
            when p.t.is_terminal then 'failed'
            else j.status
        end as eff,
        coalesce(m.net, 0) as net, coalesce(m.charged, 0) as charged, m.last_ledger_at,
        coalesce(m.charged_tasks, 0) as charged_tasks, coalesce(m.charged_requests, 0) as charged_requests,
        tn.min_task_net, tn.max_task_net, b.job_id is not null as model_differs,
        coalesce(a.available, 0) as available, j.terminal_at as app_terminal_at
    from jobs as j
    left join primary_task as p on j.job_id = p.job_id
    left join money as m on j.job_id = m.job_id
    left join task_nets as tn on j.job_id = tn.job_id
    left join billed_other_model as b on j.job_id = b.job_id
    left join available_assets as a on j.job_id = a.job_id
),

per_job as (
    select
        *,
        eff in ('succeeded', 'failed', 'cancelled') as is_terminal,
        case when eff in ('succeeded', 'failed', 'cancelled') then coalesce(app_terminal_at, gfinished) end
            as terminal_at,
        coalesce(case when eff in ('succeeded', 'failed', 'cancelled') then coalesce(app_terminal_at, gfinished) end
            + to_microseconds({window_us}) <= timestamptz '{as_of}', false) as window_passed,
        case
            when eff = 'succeeded' then net > {tol_usd}
            when eff in ('failed', 'cancelled') then abs(net) <= {tol_usd}
            else false
        end as is_settled,
        case
            when gtask is not null and not gterminal then gsubmitted
            when gtask is null and eff not in ('succeeded', 'failed', 'cancelled') then created_at
        end as stuck_since
    from judged
),

job_findings as (
    select job_id, gtask, request_id, unnest([
        case when eff = 'succeeded' and window_passed and net <= {tol_usd}
            then {{'t': 'missing_usage', 'a': coalesce(expected, 0)}} end,
        case when eff in ('failed', 'cancelled') and window_passed and net > {tol_usd}
            then {{'t': 'charged_for_failure', 'a': net}} end,
        case when net < -{tol_usd} or coalesce(min_task_net, 0) < -{tol_usd}
            then {{'t': 'over_refunded', 'a': greatest(-least(net, coalesce(min_task_net, net)), 0)}} end,
        case when eff = 'succeeded' and is_async and net > {tol_usd} and available = 0
            then {{'t': 'missing_asset', 'a': net}} end,
        case when available > 0 and eff <> 'succeeded'
            then {{'t': 'asset_without_success', 'a': greatest(net, 0)}} end,
        case when gterminal and (case when app_status in ('failed', 'cancelled') then 'failed' else app_status end)
                <> (case when gstatus = 'succeeded' then 'succeeded' else 'failed' end)
            then {{'t': 'status_mismatch', 'a': 0}} end,
        case when window_passed and expected is not null
                and abs(net - expected) > greatest({tol_usd}, {tol_ratio} * abs(expected))
            then {{'t': 'cost_mismatch', 'a': abs(net - expected)}} end,
        case when model_differs then {{'t': 'model_mismatch', 'a': 0}} end,
        case when charged_tasks > 1 or (charged_tasks = 0 and charged_requests > 1)
            then {{'t': 'duplicate_create', 'a': case
                when charged_tasks > 1 then greatest(net - coalesce(max_task_net, 0), 0)
                else greatest(charged / charged_requests * (charged_requests - 1), 0) end}} end,
        case when coalesce(timestamptz '{as_of}' - stuck_since > to_microseconds({sla_us}), false)
            then {{'t': 'stuck_task', 'a': 0}} end
    ]) as f
    from per_job
),

quota_rows as (
    select
        job_id, task_id, request_id, quota_per_unit,
        case when pre_consumed_quota is not null and actual_quota is not null then abs(quota) else quota end
            - case
                when pre_consumed_quota is not null and actual_quota is not null
                    then abs(actual_quota - pre_consumed_quota)
                when model_price is not null and model_price >= 0 then cast(round(
                    model_price * coalesce(quota_per_unit, 500000) * coalesce(group_ratio, 1)) as bigint)
                when model_ratio is not null then cast(round(
                    (coalesce(prompt_tokens, 0) - coalesce(cache_tokens, 0)
                        + coalesce(cache_tokens, 0) * coalesce(cache_ratio, 1)
                        + coalesce(completion_tokens, 0) * coalesce(completion_ratio, 1))
                    * model_ratio * coalesce(group_ratio, 1)) as bigint)
            end as diff
    from linked
    where record_type = 'consume'
),

findings as (
    select f.t as mismatch_type, job_id, gtask as task_id, request_id, cast(f.a as double) as amount_usd
    from job_findings where f is not null
    union all
    select 'over_refunded', null, task_id, null, cast(-net as double)
    from task_ledgers where job_id is null and net < -{tol_usd}
    union all
    select 'orphan_usage', null, task_id, request_id, abs(coalesce(cast(cost as double), 0))
    from linked where record_type = 'consume' and job_id is null
    union all
    select 'stuck_task', null, task_id, null, 0
    from tasks
    where not is_terminal
      and task_id not in (
          select task_id from jobs where task_id is not null
          union select task_id from task_ledgers where job_id is not null)
      and timestamptz '{as_of}' - submitted_at > to_microseconds({sla_us})
    union all
    select 'quota_mismatch', job_id, task_id, request_id, abs(diff) / coalesce(quota_per_unit, 500000)
    from quota_rows where abs(diff) > {quota_tol}
)

select 'finding' as kind, mismatch_type, job_id, task_id, request_id,
    round(greatest(coalesce(amount_usd, 0), 0), 6) as amount_usd, cast(null as varchar) as settlement_status
from findings
union all
select 'settlement', null, job_id, null, null, null,
    case
        when is_settled and (last_ledger_at is null
            or last_ledger_at <= terminal_at + to_microseconds({late_us})) then 'on_time'
        when is_settled then 'late'
        when window_passed then 'unsettled'
        else 'pending'
    end
from per_job
where is_terminal and terminal_at is not null
