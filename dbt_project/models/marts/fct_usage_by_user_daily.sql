-- Usage by app user (the pseudonymized user_id the app DB query returns; never a raw identity):
-- jobs, outcomes, tokens, the app's expected cost and the gateway's net cost recon settled for
-- them, per UTC day of the job's creation.
with

jobs as (
    select * from {{ ref('stg_raw__app_jobs') }}
),

settled as (
    select job_id, net_cost_usd from {{ ref('fct_settlements') }}
),

final as (
    select
        cast(j.created_date as date) as usage_date,
        cast(j.user_id as {{ t_string() }}) as user_id,
        cast(count(*) as bigint) as job_count,
        cast(count(*) filter (where j.status = 'succeeded') as bigint) as succeeded_count,
        cast(count(*) filter (where j.status in ('failed', 'cancelled')) as bigint) as failed_count,
        cast(coalesce(sum(j.prompt_tokens), 0) + coalesce(sum(j.completion_tokens), 0) as bigint)
            as total_tokens,
        cast(round(coalesce(sum(j.expected_cost_usd), 0), 8) as decimal(20, 8)) as expected_cost_usd,
        cast(round(coalesce(sum(s.net_cost_usd), 0), 8) as decimal(20, 8)) as net_cost_usd
    from jobs as j
    left join settled as s on j.job_id = s.job_id
    group by all
)

select * from final
