-- Request latency per UTC day, gateway and model from the gateways' duration_ms (new-api's
-- use_time), consume rows only: p50 and p95 (continuous quantiles, interpolated) and the maximum.
with

timed as (
    select gateway, created_date, coalesce(model, '(none)') as model, duration_ms
    from {{ ref('stg_raw__usage_records') }}
    where record_type = 'consume' and duration_ms is not null
),

final as (
    select
        cast(created_date as date) as usage_date,
        cast(gateway as {{ t_string() }}) as gateway,
        cast(model as {{ t_string() }}) as model,
        cast(count(*) as bigint) as request_count,
        cast({{ quantile_cont('duration_ms', 0.5) }} as double) as p50_duration_ms,
        cast({{ quantile_cont('duration_ms', 0.95) }} as double) as p95_duration_ms,
        cast(max(duration_ms) as bigint) as max_duration_ms
    from timed
    group by all
)

select * from final
