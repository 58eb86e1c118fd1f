-- The gateways' own daily totals, typed: the latest extraction per gateway and day (every earlier
-- one stays landed as evidence), with how many times the day's total was read.
with

source as (
    select * from {{ landed_source('gateway_totals') }}
),

renamed as (
    select
        cast(gateway as {{ t_string() }}) as gateway,
        cast(day as date) as total_date,
        cast(quota as bigint) as quota,
        cast(rpm as bigint) as rpm,
        cast(tpm as bigint) as tpm,
        cast(quota_per_unit as double) as quota_per_unit,
        cast(endpoint as {{ t_string() }}) as endpoint,
        cast(filter as {{ t_string() }}) as filter,
        cast(window_start as {{ t_timestamp() }}) as window_start,
        cast(window_end as {{ t_timestamp() }}) as window_end,
        cast(extracted_at as {{ t_timestamp() }}) as extracted_at
    from source
)

select
    *,
    count(*) over (partition by gateway, total_date) as extractions
from renamed
{{ qualify_first("partition by gateway, total_date order by extracted_at desc") }}
