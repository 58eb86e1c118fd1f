-- Gateway days recon cannot judge money on: a UTC day with app jobs for which a gateway recon
-- reads (any gateway with an extraction manifest) has no complete usage extraction (DESIGN.md,
-- `coverage_gap`). Each is one coverage_gap finding; the money rules that conclude from absent
-- usage are withheld for that day's jobs (fct_reconciliation_mismatches).
with

coverage as (
    select * from {{ ref('fct_source_coverage') }}
    where record = 'usage_records'
),

gateways as (
    select distinct gateway from coverage
),

job_days as (
    select
        created_date as day,
        count(*) as jobs,
        sum(coalesce(expected_cost_usd, 0)) as expected_cost_usd
    from {{ ref('stg_raw__app_jobs') }}
    group by created_date
),

final as (
    select
        g.gateway,
        j.day,
        j.jobs,
        j.expected_cost_usd,
        coalesce(c.coverage_status, 'unavailable') as coverage_status,
        coalesce(c.last_reason, 'never extracted') as reason
    from job_days as j
    cross join gateways as g
    left join coverage as c
        on c.gateway = g.gateway and c.day = j.day
    where coalesce(c.coverage_status, 'unavailable') <> 'covered'
)

select * from final
