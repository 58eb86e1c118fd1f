-- The gateways' own daily totals, typed: the latest extraction per gateway and day (every earlier
-- one stays landed as evidence), with how many times the day's total was read.
with

source as (
    select * from {{ landed_source('gateway_totals') }}
),

renamed as (
    select
        cast(gateway as varchar) as gateway,
        cast(day as date) as total_date,
        cast(quota as bigint) as quota,
        cast(rpm as bigint) as rpm,
        cast(tpm as bigint) as tpm,
        cast(quota_per_unit as double) as quota_per_unit,
        cast(endpoint as varchar) as endpoint,
        cast(filter as varchar) as filter,
        cast(window_start as timestamp with time zone) as window_start,
        cast(window_end as timestamp with time zone) as window_end,
        cast(extracted_at as timestamp with time zone) as extracted_at
    from source
)

select
    *,
    count(*) over (partition by gateway, total_date) as extractions
from renamed
qualify row_number() over (partition by gateway, total_date order by extracted_at desc) = 1
