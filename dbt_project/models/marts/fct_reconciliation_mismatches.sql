{{
  config(
    materialized='table' if target.type == 'spark' else 'incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    pre_hook="{{ delete_touched_days('partition_date') }}",
  )
}}
-- One row per finding (DESIGN.md mismatch codes). Amount rules (cost, model, quota, missing asset)
-- judge a job once its money is final (int_jobs_reconciled.is_money_final); rules about money that
-- never came (missing_usage, charged_for_failure) wait for the settlement window. A finding carries job_id whenever its records
-- link to an app job, else the gateway task id, else the request id. partition_date is the UTC day
-- the finding belongs to (the job's created day, else the row's / task's day); an incremental run
-- rewrites only the days it touches plus the lookback window.
-- The input CTEs are `not materialized`: each finding reads just its columns from the tables. Used by
-- a dozen findings, a materialized CTE would first copy every column of every job (bench/scale: at
-- 10M jobs that copy spilled to disk and dominated the build).
with

jobs as {{ not_materialized() }} (
    select * from {{ ref('int_jobs_reconciled') }}
),

linked_usage as {{ not_materialized() }} (
    select * from {{ ref('int_usage_records_linked') }}
),

task_ledgers as {{ not_materialized() }} (
    select * from {{ ref('int_task_ledgers_settled') }}
),

quota_checked as {{ not_materialized() }} (
    select * from {{ ref('int_usage_records_quota_checked') }}
),

gateway_tasks as {{ not_materialized() }} (
    select * from {{ ref('stg_raw__gateway_tasks') }}
),

app_jobs as {{ not_materialized() }} (
    select * from {{ ref('stg_raw__app_jobs') }}
),

tolerances as (
    select
        cast({{ var('cost_tolerance_usd') }} as double) as tol_usd,
        cast({{ var('cost_tolerance_ratio') }} as double) as tol_ratio
),

missing_usage as (
    select
        'missing_usage' as mismatch_type, job_id, gateway_task_id as task_id, request_id, gateway,
        scene, model, job_id as subject_key, coalesce(expected_cost_usd, 0) as amount_usd,
        created_date as partition_date,
        'job succeeded at ' || {{ iso_utc('terminal_at') }}
            || ', settlement window passed at ' || {{ iso_utc('settlement_window_ends_at') }}
            || ', net charge ' || {{ fixed6('net_cost_usd') }} || ' USD (expected '
            || coalesce({{ fixed6('expected_cost_usd') }}, 'n/a') || ' USD): ask the gateway why it was never billed'
            as detail
    from jobs, tolerances
    where effective_status = 'succeeded'
      and is_window_passed
      and net_cost_usd <= tol_usd
),

charged_for_failure as (
    select
        'charged_for_failure' as mismatch_type, job_id, gateway_task_id as task_id, request_id, gateway,
        scene, model, job_id as subject_key,
        net_cost_usd as amount_usd, created_date as partition_date,
        'task ' || effective_status || coalesce(' (' || gateway_fail_reason || ')', '')
            || ' and still charged ' || {{ fixed6('net_cost_usd') }} || ' USD net after the settlement window ('
            || {{ iso_utc('settlement_window_ends_at') }} || '): claim the refund' as detail
    from jobs, tolerances
    where effective_status in ('failed', 'cancelled')
      and is_window_passed
      and net_cost_usd > tol_usd
),

over_refunded_jobs as (
    -- judged on the job's whole ledger (every row linked by request id or task id): a refund that
    -- carries only the task id is weighed against the pre-charge that carries only the request id
    select
        'over_refunded' as mismatch_type, job_id, gateway_task_id as task_id, request_id, gateway, scene,
        model, job_id as subject_key,
        -net_cost_usd as amount_usd, created_date as partition_date,
        'refunds exceed charges: charged ' || {{ fixed6('charged_usd') }} || ' USD, credited '
            || {{ fixed6('credited_usd') }} || ' USD (' || refund_count || ' refund rows)' as detail
    from jobs, tolerances
    where net_cost_usd < -tol_usd
),

over_refunded_tasks as (
    select
        'over_refunded' as mismatch_type, cast(null as {{ t_string() }}) as job_id, l.task_id,
        cast(null as {{ t_string() }}) as request_id, l.gateway,
        cast(null as {{ t_string() }}) as scene, cast(null as {{ t_string() }}) as model, l.task_id as subject_key,
        -l.net_cost_usd as amount_usd,
        cast(l.first_ledger_at as date) as partition_date,
        'refunds exceed charges on a task no app job links to: charged ' || {{ fixed6('l.charged_usd') }}
            || ' USD, credited ' || {{ fixed6('l.credited_usd') }} || ' USD' as detail
    from task_ledgers as l, tolerances
    where l.job_id is null
      and l.net_cost_usd < -tol_usd
),

missing_asset as (
    select
        'missing_asset' as mismatch_type, job_id, gateway_task_id as task_id, request_id, gateway, scene,
        model, job_id as subject_key,
        net_cost_usd as amount_usd, created_date as partition_date,
        'task succeeded and was charged ' || {{ fixed6('net_cost_usd') }}
            || ' USD but the user has no available asset (' || asset_count || ' asset rows): redeliver or refund' as detail
    from jobs, tolerances
    where effective_status = 'succeeded'
      and is_asset_scene
      and is_money_final
      and net_cost_usd > tol_usd
      and available_asset_count = 0
),

asset_without_success as (
    select
        'asset_without_success' as mismatch_type, job_id, gateway_task_id as task_id, request_id, gateway,
        scene, model, job_id as subject_key,
        greatest(net_cost_usd, 0) as amount_usd, created_date as partition_date,
        'user has ' || available_asset_count || ' available asset(s) but the task '
            || effective_status || coalesce(' (' || gateway_fail_reason || ')', '') || ': check what was delivered' as detail
    from jobs
    where available_asset_count > 0
      and effective_status <> 'succeeded'
),

status_mismatch as (
    select
        'status_mismatch' as mismatch_type, job_id, gateway_task_id as task_id, request_id, gateway, scene,
        model, job_id as subject_key,
        0.0 as amount_usd, created_date as partition_date,
        'app says ' || app_status || ', gateway says ' || gateway_status
            || case when gateway_is_cancelled then ' (cancelled)' else '' end
            || ': the app missed the final poll' as detail
    from jobs
    where is_status_mismatch
),

cost_mismatch as (
    select
        'cost_mismatch' as mismatch_type, job_id, gateway_task_id as task_id, request_id, gateway, scene,
        model, job_id as subject_key,
        abs(net_cost_usd - expected_cost_usd) as amount_usd, created_date as partition_date,
        'net billed ' || {{ fixed6('net_cost_usd') }} || ' USD, app expected '
            || {{ fixed6('expected_cost_usd') }} || ' USD (diff ' || {{ fixed6('net_cost_usd - expected_cost_usd') }}
            || ' USD beyond tolerance)' as detail
    from jobs, tolerances
    where is_money_final
      and expected_cost_usd is not null
      and abs(net_cost_usd - expected_cost_usd) > greatest(tol_usd, tol_ratio * abs(expected_cost_usd))
),

model_mismatch as (
    select
        'model_mismatch' as mismatch_type, job_id, gateway_task_id as task_id, request_id, gateway, scene,
        model, job_id as subject_key,
        0.0 as amount_usd, created_date as partition_date,
        'requested ' || model || ', billed ' || mismatched_models as detail
    from jobs
    where mismatched_models is not null
      and is_money_final
),

duplicate_create as (
    select
        'duplicate_create' as mismatch_type, job_id, gateway_task_id as task_id, request_id, gateway,
        scene, model, job_id as subject_key,
        duplicate_cost_usd as amount_usd, created_date as partition_date,
        'one job created ' || case when charged_task_count > 1
            then charged_task_count || ' charged gateway tasks'
            else charged_request_count || ' charged requests' end
            || ' (retry_count ' || retry_count || '): refund the extra ' || {{ fixed6('duplicate_cost_usd') }} || ' USD' as detail
    from jobs
    where is_duplicate_create
),

orphan_usage as (
    select
        'orphan_usage' as mismatch_type, cast(null as {{ t_string() }}) as job_id, task_id, request_id,
        gateway, scene, model, record_key as subject_key,
        abs(coalesce(cost_usd, 0)) as amount_usd, created_date as partition_date,
        'charge of ' || {{ fixed6('coalesce(cost_usd, 0)') }} || ' USD (quota ' || coalesce(quota, 0)
            || ', token ' || coalesce(token_name, 'n/a') || ') at '
            || {{ iso_utc('created_at') }} || ' links to no app job by task, request or transaction id' as detail
    from linked_usage
    where record_type = 'consume'
      and not is_linked
      and ambiguous_job_ids is null  -- fits several jobs: an ambiguous_match, not an orphan
      and coalesce(is_in_scope, true)  -- another app's row on a shared account (token_names / groups) is not ours
),

ambiguous_pairs as (
    select {{ explode_split('ambiguous_job_ids', ',') }} as candidate_job_id, gateway, record_key,
        cost_usd, ambiguous_job_ids
    from linked_usage
    where ambiguous_job_ids is not null
),

ambiguous_match as (
    -- one finding per candidate job: the id-less rows that fit it and other jobs are linked to none
    select
        'ambiguous_match' as mismatch_type, j.job_id, j.gateway_task_id as task_id, j.request_id,
        min(p.gateway) as gateway, j.scene, j.model, j.job_id as subject_key,
        0.0 as amount_usd, j.created_date as partition_date,
        count(*) || ' id-less usage row(s) of ' || {{ fixed6('sum(coalesce(p.cost_usd, 0))') }}
            || ' USD fit this job and others (candidates ' || replace(min(p.ambiguous_job_ids), ',', ', ')
            || '; rows ' || {{ string_agg_sorted('p.record_key', ', ') }}
            || '): not linked to any of them, match them by hand' as detail
    from ambiguous_pairs as p
    inner join jobs as j on p.candidate_job_id = j.job_id
    group by j.job_id, j.gateway_task_id, j.request_id, j.scene, j.model, j.created_date
),

stuck_jobs as (
    select
        'stuck_task' as mismatch_type, job_id, gateway_task_id as task_id, request_id, gateway, scene,
        model, job_id as subject_key,
        0.0 as amount_usd, created_date as partition_date,
        coalesce('gateway task ' || gateway_status, 'job ' || app_status) || ' since '
            || {{ iso_utc('stuck_since_at') }} || ', longer than the '
            || {{ var('stuck_task_sla_minutes') }} || ' minute SLA' as detail
    from jobs
    where is_stuck
),

job_task_ids as (
    select task_id from app_jobs where task_id is not null
    union
    select task_id from task_ledgers where job_id is not null
),

stuck_tasks as (
    select
        'stuck_task' as mismatch_type, cast(null as {{ t_string() }}) as job_id, t.task_id,
        cast(null as {{ t_string() }}) as request_id, t.gateway,
        cast(null as {{ t_string() }}) as scene, cast(null as {{ t_string() }}) as model, t.task_id as subject_key,
        0.0 as amount_usd, t.submitted_date as partition_date,
        'gateway task ' || t.status || ' since ' || {{ iso_utc('t.submitted_at') }}
            || ' with no app job, longer than the ' || {{ var('stuck_task_sla_minutes') }} || ' minute SLA' as detail
    from gateway_tasks as t
    where not t.is_terminal
      and t.task_id not in (select task_id from job_task_ids)
      and {{ as_of() }} - t.submitted_at > {{ interval_minutes('stuck_task_sla_minutes') }}
),

quota_mismatch as (
    select
        'quota_mismatch' as mismatch_type, job_id, task_id, request_id, gateway, scene, model,
        record_key as subject_key,
        abs(quota_diff) / coalesce(quota_per_unit, 500000) as amount_usd, created_date as partition_date,
        quota_formula || ' row logged quota ' || checked_quota || ', formula gives ' || expected_quota
            || ' (' || quota_diff || ' units off)' as detail
    from quota_checked
    where is_quota_mismatch
      -- a linked row is judged once its job's money is final; a row no job links to at once
      and (job_id is null or job_id in (select job_id from jobs where is_money_final))
),

-- coverage (issue 14): a gateway day with app jobs and no complete usage extraction is one finding;
-- the money rules that conclude from absent usage are withheld for that day's jobs (filter in final)
coverage_gaps as (
    select
        'coverage_gap' as mismatch_type, cast(null as {{ t_string() }}) as job_id,
        cast(null as {{ t_string() }}) as task_id, cast(null as {{ t_string() }}) as request_id, gateway,
        cast(null as {{ t_string() }}) as scene, cast(null as {{ t_string() }}) as model,
        gateway || '|' || cast(day as {{ t_string() }}) as subject_key, 0.0 as amount_usd, day as partition_date,
        'gateway ' || gateway || ' holds no complete usage extraction of ' || cast(day as {{ t_string() }}) || ' ('
            || coverage_status || ': ' || reason || '); ' || cast(jobs as {{ t_string() }})
            || ' app job(s) of that day are not judged on money: export the day from the console into a files gateway' as detail
    from {{ ref('int_coverage_gaps') }}
),

withheld_days as (
    select distinct day from {{ ref('int_coverage_gaps') }}
),

unioned as (
    -- each rule names its columns: unioned by name
    {{ union_by_name(['missing_usage', 'charged_for_failure', 'over_refunded_jobs', 'over_refunded_tasks',
        'missing_asset', 'asset_without_success', 'status_mismatch', 'cost_mismatch', 'model_mismatch',
        'duplicate_create', 'orphan_usage', 'stuck_jobs', 'stuck_tasks', 'quota_mismatch', 'coverage_gaps',
        'ambiguous_match'],
        ['mismatch_type', 'job_id', 'task_id', 'request_id', 'gateway', 'scene', 'model', 'subject_key',
        'amount_usd', 'partition_date', 'detail']) }}
),

-- direction: who owes whom (recoverable: the gateway owes you; owed: you may owe the gateway;
-- customer: a user is owed; none). cost and quota findings take it from the sign of the difference.
cost_signs as (
    select job_id as signed_job_id, net_cost_usd > expected_cost_usd as is_billed_above
    from jobs
    where expected_cost_usd is not null
),

quota_signs as (
    select gateway as signed_gateway, record_key as signed_record_key, quota_diff > 0 as is_logged_above
    from quota_checked
    where is_quota_mismatch
),

directed as (
    select
        u.*,
        case
            when u.mismatch_type in ('charged_for_failure', 'duplicate_create', 'orphan_usage') then 'recoverable'
            when u.mismatch_type in ('missing_usage', 'over_refunded') then 'owed'
            when u.mismatch_type = 'missing_asset' then 'customer'
            when u.mismatch_type = 'cost_mismatch' then
                case when c.is_billed_above then 'recoverable' else 'owed' end
            when u.mismatch_type = 'quota_mismatch' then
                case when q.is_logged_above then 'recoverable' else 'owed' end
            else 'none'
        end as direction
    from unioned as u
    left join cost_signs as c
        on u.mismatch_type = 'cost_mismatch' and u.job_id = c.signed_job_id
    left join quota_signs as q
        on u.mismatch_type = 'quota_mismatch' and u.gateway = q.signed_gateway
        and u.subject_key = q.signed_record_key
),

final as (
    select
        cast(md5(mismatch_type || '|' || coalesce(job_id, '') || '|' || coalesce(task_id, '') || '|'
            || coalesce(request_id, '') || '|' || coalesce(subject_key, '')) as {{ t_string() }}) as finding_id,
        cast(mismatch_type || ':' || coalesce(job_id, task_id, request_id, subject_key) as {{ t_string() }}) as finding_key,
        cast(mismatch_type as {{ t_string() }}) as mismatch_type,
        cast(case
            when mismatch_type in ('charged_for_failure', 'over_refunded', 'duplicate_create',
                'orphan_usage', 'missing_asset') then 'error'
            when mismatch_type in ('model_mismatch') then 'info'
            else 'warn'
        end as {{ t_string() }}) as severity,
        cast(job_id as {{ t_string() }}) as job_id,
        cast(task_id as {{ t_string() }}) as task_id,
        cast(request_id as {{ t_string() }}) as request_id,
        cast(gateway as {{ t_string() }}) as gateway,
        cast(scene as {{ t_string() }}) as scene,
        cast(model as {{ t_string() }}) as model,
        cast(subject_key as {{ t_string() }}) as subject_key,
        cast(detail as {{ t_string() }}) as detail,
        cast(round(greatest(coalesce(amount_usd, 0), 0), 8) as decimal(20, 8)) as amount_usd,
        cast(partition_date as date) as partition_date,
        cast({{ as_of() }} as {{ t_timestamp() }}) as detected_at,
        cast(direction as {{ t_string() }}) as direction
    from directed
    where {{ incremental_day_filter('partition_date') }}
      and not (mismatch_type in ('missing_usage', 'charged_for_failure', 'over_refunded', 'cost_mismatch')
               and job_id is not null and partition_date in (select day from withheld_days))
)

select * from final
