-- Soft failures per UTC day and gateway (GATEWAYS.md): consume rows that look like success but are
-- not — billed 0 although tokens were used (quota 0, tokens > 0: a stream disconnect billed
-- nothing while upstream charged), or a stream that ended in error (stream_status error). A row
-- with both counts once in soft_failure_count.
with

consumes as (
    select
        gateway,
        created_date,
        coalesce(quota, 0) = 0 and coalesce(prompt_tokens, 0) + coalesce(completion_tokens, 0) > 0 as zero_quota,
        lower(coalesce(stream_status, '')) = 'error' as stream_error
    from {{ ref('stg_raw__usage_records') }}
    where record_type = 'consume'
),

final as (
    select
        cast(created_date as date) as usage_date,
        cast(gateway as {{ t_string() }}) as gateway,
        cast(count(*) as bigint) as consume_count,
        cast(count(*) filter (where zero_quota) as bigint) as zero_quota_count,
        cast(count(*) filter (where stream_error) as bigint) as stream_error_count,
        cast(count(*) filter (where zero_quota or stream_error) as bigint) as soft_failure_count
    from consumes
    group by all
)

select * from final
