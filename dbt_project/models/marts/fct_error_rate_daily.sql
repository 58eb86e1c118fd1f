{{
  config(
    materialized='table' if target.type == 'spark' else 'incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    pre_hook="{{ delete_touched_days('error_date') }}",
  )
}}
-- The overall error rate per UTC day and gateway: every error row (whatever its class, classed or
-- not) over the day's requests (consume + error rows). The consoles advise an alert above 10 %;
-- fct_error_alerts_daily says which class and owner, this says the gateway day as a whole is bad
-- even when no single class crosses its own line. The flag needs error_min_volume requests.
with

usage_records as (
    select * from {{ ref('stg_raw__usage_records') }}
),

daily as (
    select
        gateway,
        created_date,
        count(*) filter (where record_type in ('consume', 'error')) as request_count,
        count(*) filter (where record_type = 'error') as error_count
    from usage_records
    group by gateway, created_date
),

final as (
    select
        cast(created_date as date) as error_date,
        cast(gateway as {{ t_string() }}) as gateway,
        cast(request_count as bigint) as request_count,
        cast(error_count as bigint) as error_count,
        cast(error_count / request_count as double) as error_rate,
        cast(request_count >= {{ var('error_min_volume') }}
            and error_count / request_count > {{ var('error_rate_overall_threshold') }} as boolean) as is_alert
    from daily
    where request_count > 0 and {{ incremental_day_filter('created_date') }}
)

select * from final
