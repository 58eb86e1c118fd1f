-- Peak requests per minute and tokens per minute per UTC day and gateway (the consoles' RPM/TPM),
-- from the rows recon holds: requests are consume + error rows, tokens the consume rows' prompt +
-- completion tokens, per wall-clock UTC minute. The earliest minute wins a tie.
with

per_minute as (
    select
        gateway,
        created_date,
        date_trunc('minute', created_at) as minute_at,
        count(*) as requests,
        coalesce(sum(coalesce(prompt_tokens, 0) + coalesce(completion_tokens, 0))
            filter (where record_type = 'consume'), 0) as tokens
    from {{ ref('stg_raw__usage_records') }}
    where record_type in ('consume', 'error')
    group by all
),

final as (
    select
        cast(created_date as date) as usage_date,
        cast(gateway as {{ t_string() }}) as gateway,
        cast(sum(requests) as bigint) as request_count,
        cast(max(requests) as bigint) as peak_rpm,
        cast({{ first_by_max('minute_at', 'requests', 'minute_at') }} as {{ t_timestamp() }}) as peak_rpm_minute,
        cast(max(tokens) as bigint) as peak_tpm,
        cast({{ first_by_max('minute_at', 'tokens', 'minute_at') }} as {{ t_timestamp() }}) as peak_tpm_minute
    from per_minute
    group by all
)

select * from final
