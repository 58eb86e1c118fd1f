{{
  config(
    materialized='table' if target.type == 'spark' else 'incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    pre_hook="{{ delete_touched_days('terminal_date', open_ended=true) }}",
  )
}}
-- How late settlement runs: per terminal day, scene and model, the lag distribution of the jobs
-- that settled (seconds from terminal to the last ledger row), and how many are still open.
-- A job can end days after the day it landed in, so an incremental run rewrites every terminal day
-- from rewrite_from (start_date - lookback_days) on.
with

settlements as (
    select * from {{ ref('int_jobs_reconciled') }}
),

jobs as (
    select
        cast(terminal_at as date) as terminal_date,
        coalesce(scene, 'other') as scene,
        coalesce(model, 'unknown') as model,
        case
            when is_settled and settled_candidate_at is not null
                then greatest({{ epoch_seconds('settled_candidate_at') }} - {{ epoch_seconds('terminal_at') }}, 0)
        end as lag_seconds,
        is_settled,
        is_window_passed
    from settlements
    where is_terminal and terminal_at is not null
),

final as (
    select
        cast(terminal_date as date) as terminal_date,
        cast(scene as {{ t_string() }}) as scene,
        cast(model as {{ t_string() }}) as model,
        cast(count(*) as bigint) as job_count,
        cast(count(lag_seconds) as bigint) as settled_count,
        cast(count(*) filter (where not is_settled and not is_window_passed) as bigint) as pending_count,
        cast(count(*) filter (where not is_settled and is_window_passed) as bigint) as unsettled_count,
        cast({{ quantile_cont('lag_seconds', 0.5) }} as double) as p50_lag_seconds,
        cast({{ quantile_cont('lag_seconds', 0.95) }} as double) as p95_lag_seconds,
        cast({{ quantile_cont('lag_seconds', 0.99) }} as double) as p99_lag_seconds,
        cast(max(lag_seconds) as double) as max_lag_seconds
    from jobs
    where {{ incremental_day_filter('terminal_date', open_ended=true) }}
    group by terminal_date, scene, model
)

select * from final
