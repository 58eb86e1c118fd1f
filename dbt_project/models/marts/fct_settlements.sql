{{
  config(
    materialized='table' if target.type == 'spark' else 'incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    pre_hook="{{ delete_touched_days('created_date') }}",
  )
}}
-- One row per app job that reached a terminal state, with when it was charged and settled.
-- A job is settled when its ledger is in its final shape: a success has a net charge, a failure
-- nets to zero. settled_at is the time of its last linked ledger row (null for a failure that was
-- never charged: nothing to settle). on_time: settled within late_after_minutes of terminal (or
-- before it); late: after that; pending: not settled, window still open at as_of; unsettled: the
-- window passed without settlement. Partitioned by the job's created day (the day it landed in).
with

jobs as (
    select * from {{ ref('int_jobs_reconciled') }}
    where is_terminal and terminal_at is not null
),

judged as (
    select
        *,
        case when is_settled then settled_candidate_at end as settled_at
    from jobs
),

final as (
    select
        cast(job_id as {{ t_string() }}) as job_id,
        cast(gateway_task_id as {{ t_string() }}) as task_id,
        cast(request_id as {{ t_string() }}) as request_id,
        cast(gateway as {{ t_string() }}) as gateway,
        cast(scene as {{ t_string() }}) as scene,
        cast(model as {{ t_string() }}) as model,
        cast(effective_status as {{ t_string() }}) as job_status,
        cast(case
            when is_settled and (settled_at is null
                or settled_at <= terminal_at + {{ interval_minutes('late_after_minutes') }}) then 'on_time'
            when is_settled then 'late'
            when is_window_passed then 'unsettled'
            else 'pending'
        end as {{ t_string() }}) as settlement_status,
        cast(case
            when settled_at is not null then greatest({{ epoch_seconds('settled_at') }} - {{ epoch_seconds('terminal_at') }}, 0)
        end as double) as settlement_lag_seconds,
        cast(round(net_cost_usd, 8) as decimal(20, 8)) as net_cost_usd,
        cast(round(expected_cost_usd, 8) as decimal(20, 8)) as expected_cost_usd,
        cast(charge_count as bigint) as charge_count,
        cast(refund_count as bigint) as refund_count,
        cast(created_date as date) as created_date,
        cast(terminal_at as date) as terminal_date,
        cast(terminal_at as {{ t_timestamp() }}) as terminal_at,
        cast(first_charged_at as {{ t_timestamp() }}) as first_charged_at,
        cast(settled_at as {{ t_timestamp() }}) as settled_at,
        cast(settlement_window_ends_at as {{ t_timestamp() }}) as settlement_window_ends_at
    from judged
    where {{ incremental_day_filter('created_date') }}
)

select * from final
