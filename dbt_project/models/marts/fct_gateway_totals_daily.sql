-- The gateway's own total for a day (new-api's stat: quota of its consume rows in the day's range)
-- next to the sum of the consume rows recon holds for the same range ("summary != detail rows",
-- new-api #7105, one-api #506). Rows the gateway deleted after the total was read still count (they
-- were there when it summed); rows gone before it are left out. A difference of more than
-- gateway_totals_tolerance_quota units is a disagreement, the gateway_totals operator check.
with

totals as (
    select * from {{ ref('stg_raw__gateway_totals') }}
),

consumes as (
    select gateway, created_at, quota, is_gone, gone_at
    from {{ ref('stg_raw__usage_records') }}
    where record_type = 'consume'
),

detail as (
    select
        t.gateway,
        t.total_date,
        count(c.created_at) as detail_rows,
        coalesce(sum(c.quota), 0) as detail_quota
    from totals as t
    left join consumes as c
        on c.gateway = t.gateway
        and c.created_at >= t.window_start and c.created_at < t.window_end
        and (not c.is_gone or c.gone_at > t.extracted_at)
    group by t.gateway, t.total_date
),

final as (
    select
        cast(t.total_date as date) as total_date,
        cast(t.gateway as {{ t_string() }}) as gateway,
        cast(t.quota as bigint) as gateway_quota,
        cast(d.detail_quota as bigint) as detail_quota,
        cast(t.quota - d.detail_quota as bigint) as quota_difference,
        cast(round(t.quota / t.quota_per_unit, 8) as decimal(20, 8)) as gateway_usd,
        cast(round(d.detail_quota / t.quota_per_unit, 8) as decimal(20, 8)) as detail_usd,
        cast(d.detail_rows as bigint) as detail_rows,
        cast(t.endpoint as {{ t_string() }}) as endpoint,
        cast(t.extracted_at as {{ t_timestamp() }}) as extracted_at,
        cast(t.extractions as bigint) as extractions,
        cast(abs(t.quota - d.detail_quota) > {{ var('gateway_totals_tolerance_quota') }} as boolean) as is_disagreement
    from totals as t
    inner join detail as d on t.gateway = d.gateway and t.total_date = d.total_date
)

select * from final
