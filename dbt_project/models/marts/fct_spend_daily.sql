{{
  config(
    materialized='table' if target.type == 'spark' else 'incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    pre_hook="{{ delete_touched_days('spend_date') }}",
  )
}}
-- Net spend per UTC day and gateway (consume + refund rows; topups are credits, never spend) with
-- an anomaly flag: spend above mean + spend_anomaly_sigma x stddev of the previous days (up to
-- spend_anomaly_history_days), only once at least spend_anomaly_min_history_days of history exist.
-- Days without usage count as zero spend so a quiet week is history too. A gateway younger than the
-- full history is compared with the days it has (the short-history fallback); history_basis says
-- which: full, short (n of the full days) or none (too few days to compare).
with

usage_records as (
    select * from {{ ref('stg_raw__usage_records') }}
    where coalesce(is_in_scope, true)  -- another app's rows on a shared account are not this app's spend
),

daily as (
    select
        gateway,
        created_date as spend_date,
        sum(cost_usd) filter (where record_type in ('consume', 'refund')) as net_spend_usd,
        sum(cost_usd) filter (where record_type = 'consume' and cost_usd > 0) as charged_usd,
        -sum(cost_usd) filter (where record_type in ('consume', 'refund') and cost_usd < 0) as credited_usd,
        sum(cost_usd) filter (where record_type = 'topup') as topup_usd,
        count(*) filter (where record_type = 'consume') as charge_count,
        count(*) filter (where record_type = 'error') as error_count
    from usage_records
    group by gateway, created_date
),

spine as (
    select gateway, day as spend_date
    from ({{ day_spine('(select gateway, min(spend_date) as first_day, max(spend_date) as last_day
          from daily group by gateway)', 'gateway') }}) as days
),

filled as (
    select
        s.gateway,
        s.spend_date,
        coalesce(d.net_spend_usd, 0) as net_spend_usd,
        coalesce(d.charged_usd, 0) as charged_usd,
        coalesce(d.credited_usd, 0) as credited_usd,
        coalesce(d.topup_usd, 0) as topup_usd,
        coalesce(d.charge_count, 0) as charge_count,
        coalesce(d.error_count, 0) as error_count
    from spine as s
    left join daily as d on s.gateway = d.gateway and s.spend_date = d.spend_date
),

with_history as (
    select
        *,
        count(*) over history as history_days,
        avg(net_spend_usd) over history as history_mean_usd,
        stddev_samp(net_spend_usd) over history as history_stddev_usd
    from filled
    window history as (
        partition by gateway order by spend_date
        rows between {{ var('spend_anomaly_history_days') }} preceding and 1 preceding
    )
),

final as (
    select
        cast(spend_date as date) as spend_date,
        cast(gateway as {{ t_string() }}) as gateway,
        cast(round(net_spend_usd, 8) as decimal(20, 8)) as net_spend_usd,
        cast(round(charged_usd, 8) as decimal(20, 8)) as charged_usd,
        cast(round(credited_usd, 8) as decimal(20, 8)) as credited_usd,
        cast(round(topup_usd, 8) as decimal(20, 8)) as topup_usd,
        cast(charge_count as bigint) as charge_count,
        cast(error_count as bigint) as error_count,
        cast(history_days as bigint) as history_days,
        cast(history_mean_usd as double) as history_mean_usd,
        cast(history_stddev_usd as double) as history_stddev_usd,
        cast(case when history_days >= {{ var('spend_anomaly_min_history_days') }}
            then history_mean_usd + {{ var('spend_anomaly_sigma') }} * coalesce(history_stddev_usd, 0)
        end as double) as anomaly_threshold_usd,
        cast(coalesce(history_days >= {{ var('spend_anomaly_min_history_days') }}
            and net_spend_usd > history_mean_usd
                + {{ var('spend_anomaly_sigma') }} * coalesce(history_stddev_usd, 0), false) as boolean)
            as is_anomaly,
        cast(case
            when history_days >= {{ var('spend_anomaly_history_days') }}
                then 'full: ' || history_days || ' previous days'
            when history_days >= {{ var('spend_anomaly_min_history_days') }}
                then 'short: ' || history_days || ' of {{ var('spend_anomaly_history_days') }} previous days'
            else 'none: ' || history_days || ' previous days, fewer than {{ var('spend_anomaly_min_history_days') }}'
        end as {{ t_string() }}) as history_basis
    from with_history
    where {{ incremental_day_filter('spend_date') }}
)

select * from final
