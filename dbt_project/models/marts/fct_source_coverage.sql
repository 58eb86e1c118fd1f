-- What recon holds of every gateway, record and UTC day, derived from the extraction manifests
-- alone (docs/landing.md): a manifest row is written for every extraction recon ran and for every
-- one it declined (past retention_days, day not closed yet), so a day recon never read completely
-- is visible as data. covered: at least one complete extraction (taken while the gateway still had
-- the day: past retention recon does not re-read); partial: read, never completely; unavailable:
-- never read. A full table (small: one row per gateway, record and day).
with

manifests as (
    select * from {{ landed_source('extraction_manifests') }}
),

latest as (
    select
        gateway, record, day, rows_held, rows_held_gone, reason, filter,
        row_number() over (partition by gateway, record, day order by seq desc, extracted_at desc) as rn
    from manifests
),

summed as (
    select
        gateway,
        record,
        day,
        sum(case when extracted then 1 else 0 end) as extractions,
        sum(case when complete then 1 else 0 end) as complete_extractions,
        max(case when extracted then extracted_at end) as last_extracted_at,
        max(case when complete then extracted_at end) as last_complete_extraction_at
    from manifests
    group by gateway, record, day
),

final as (
    select
        cast(s.gateway as {{ t_string() }}) as gateway,
        cast(s.record as {{ t_string() }}) as record,
        cast(s.day as date) as day,
        cast(s.extractions as bigint) as extractions,
        cast(s.complete_extractions as bigint) as complete_extractions,
        cast(coalesce(l.rows_held, 0) as bigint) as rows_held,
        cast(coalesce(l.rows_held_gone, 0) as bigint) as rows_gone,
        cast(s.last_extracted_at as {{ t_timestamp() }}) as last_extracted_at,
        cast(s.last_complete_extraction_at as {{ t_timestamp() }}) as last_complete_extraction_at,
        cast(case
            when s.complete_extractions > 0 then 'covered'
            when s.extractions > 0 then 'partial'
            else 'unavailable'
        end as {{ t_string() }}) as coverage_status,
        cast(nullif(l.reason, '') as {{ t_string() }}) as last_reason,
        -- what the latest extraction read: key, endpoint, and a shared account's token_names / groups
        cast(nullif(l.filter, '') as {{ t_string() }}) as last_filter
    from summed as s
    inner join latest as l
        on l.gateway = s.gateway and l.record = s.record and l.day = s.day and l.rn = 1
)

select * from final
