{{
  config(
    materialized='table' if target.type == 'spark' else 'incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    pre_hook="{{ delete_touched_days('spend_date') }}",
  )
}}
-- Net spend per UTC day, gateway and access channel: TokenLab's accessChannel tells spend on the
-- platform's provider keys (platform) from spend on the customer's own keys (byok); a gateway that
-- does not say lands as 'unspecified'. Same money rules as fct_spend_daily (consume + refund rows,
-- topups are credits, errors are not spend) and only this app's rows (is_in_scope).
with

usage_records as (
    select * from {{ ref('stg_raw__usage_records') }}
    where coalesce(is_in_scope, true) and record_type in ('consume', 'refund')
),

final as (
    select
        cast(created_date as date) as spend_date,
        cast(gateway as {{ t_string() }}) as gateway,
        cast(coalesce(access_channel, 'unspecified') as {{ t_string() }}) as access_channel,
        cast(round(coalesce(sum(cost_usd), 0), 8) as decimal(20, 8)) as net_spend_usd,
        cast(round(coalesce(sum(cost_usd) filter (where cost_usd > 0), 0), 8) as decimal(20, 8)) as charged_usd,
        cast(round(coalesce(-sum(cost_usd) filter (where cost_usd < 0), 0), 8) as decimal(20, 8)) as credited_usd,
        cast(count(*) filter (where record_type = 'consume') as bigint) as charge_count
    from usage_records
    where {{ incremental_day_filter('created_date') }}
    group by created_date, gateway, coalesce(access_channel, 'unspecified')
)

select * from final
