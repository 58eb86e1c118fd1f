{{
  config(
    materialized='table' if target.type == 'spark' else 'incremental',
    unique_key='finding_key',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
  )
}}
-- Every finding ever raised (one row per scoring key: mismatch_type + job/task/request id) with
-- when it was first seen, last seen, and when it resolved (it stopped appearing in a run that
-- covered its day, e.g. a late refund finally arrived). A finding that reappears reopens.
with

current_findings as (
    select
        finding_key,
        min(mismatch_type) as mismatch_type,
        max(severity) as severity,
        max(job_id) as job_id,
        max(task_id) as task_id,
        max(request_id) as request_id,
        max(gateway) as gateway,
        sum(amount_usd) as amount_usd,
        min(partition_date) as partition_date,
        min(detail) as detail,
        max(detected_at) as detected_at
    from {{ ref('fct_reconciliation_mismatches') }}
    where {{ incremental_day_filter('partition_date') }}
    group by finding_key
),

{% if is_incremental_run() %}
previous as (
    select * from {{ this }}
),

merged as (
    -- still open (or new)
    select
        c.finding_key, c.mismatch_type, c.severity, c.job_id, c.task_id, c.request_id, c.gateway,
        c.amount_usd, c.partition_date, c.detail,
        coalesce(p.first_seen_at, c.detected_at) as first_seen_at,
        c.detected_at as last_seen_at,
        cast(null as {{ t_timestamp() }}) as resolved_at
    from current_findings as c
    left join previous as p on c.finding_key = p.finding_key

    union all

    -- open before, gone now from a day this run covered: resolved
    select
        p.finding_key, p.mismatch_type, p.severity, p.job_id, p.task_id, p.request_id, p.gateway,
        p.amount_usd, p.partition_date, p.detail, p.first_seen_at, p.last_seen_at,
        {{ as_of() }} as resolved_at
    from previous as p
    where p.resolved_at is null
      and {{ touched_days_filter('p.partition_date') }}
      and p.finding_key not in (select finding_key from current_findings)
),
{% else %}
merged as (
    select
        finding_key, mismatch_type, severity, job_id, task_id, request_id, gateway, amount_usd,
        partition_date, detail,
        detected_at as first_seen_at,
        detected_at as last_seen_at,
        cast(null as {{ t_timestamp() }}) as resolved_at
    from current_findings
),
{% endif %}

final as (
    select
        cast(finding_key as {{ t_string() }}) as finding_key,
        cast(mismatch_type as {{ t_string() }}) as mismatch_type,
        cast(severity as {{ t_string() }}) as severity,
        cast(job_id as {{ t_string() }}) as job_id,
        cast(task_id as {{ t_string() }}) as task_id,
        cast(request_id as {{ t_string() }}) as request_id,
        cast(gateway as {{ t_string() }}) as gateway,
        cast(detail as {{ t_string() }}) as detail,
        cast(amount_usd as decimal(20, 8)) as amount_usd,
        cast(partition_date as date) as partition_date,
        cast(first_seen_at as {{ t_timestamp() }}) as first_seen_at,
        cast(last_seen_at as {{ t_timestamp() }}) as last_seen_at,
        cast(resolved_at as {{ t_timestamp() }}) as resolved_at,
        cast(resolved_at is null as boolean) as is_open
    from merged
)

select * from final
