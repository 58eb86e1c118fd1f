-- Usage analytics, the view every console offers: spend, requests, tokens, errors and soft failures
-- per UTC day by gateway x token name x model x group. A missing dimension is '(none)' so the grain
-- is a key. Requests are consume + error rows; spend is consume + refund cost (topups are credits).
with

usage_records as (
    select * from {{ ref('stg_raw__usage_records') }}
    where record_type in ('consume', 'refund', 'error')
),

final as (
    select
        cast(created_date as date) as usage_date,
        cast(gateway as {{ t_string() }}) as gateway,
        cast(coalesce(token_name, '(none)') as {{ t_string() }}) as token_name,
        cast(coalesce(model, '(none)') as {{ t_string() }}) as model,
        cast(coalesce(group_name, '(none)') as {{ t_string() }}) as group_name,
        cast(count(*) filter (where record_type in ('consume', 'error')) as bigint) as request_count,
        cast(count(*) filter (where record_type = 'error') as bigint) as error_count,
        cast(count(*) filter (where record_type = 'consume' and (
            (coalesce(quota, 0) = 0 and coalesce(prompt_tokens, 0) + coalesce(completion_tokens, 0) > 0)
            or lower(coalesce(stream_status, '')) = 'error')) as bigint) as soft_failure_count,
        cast(coalesce(sum(prompt_tokens) filter (where record_type = 'consume'), 0) as bigint) as prompt_tokens,
        cast(coalesce(sum(completion_tokens) filter (where record_type = 'consume'), 0) as bigint)
            as completion_tokens,
        cast(round(coalesce(sum(cost_usd) filter (where record_type in ('consume', 'refund')), 0), 8)
            as decimal(20, 8)) as spend_usd
    from usage_records
    group by all
)

select * from final
