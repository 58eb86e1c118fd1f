{{
  config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    pre_hook="{{ delete_touched_days('error_date') }}",
  )
}}
-- Gateway errors per UTC day, gateway and class, with the owner each class goes to:
--   401 -> platform (credentials), 402 -> finance (balance), 429 -> platform (capacity/rate limits),
--   5xx -> gateway vendor. The error-rate flag is raised only above error_min_volume requests.
with

usage_records as (
    select * from {{ ref('stg_raw__usage_records') }}
),

requests as (
    select gateway, created_date, count(*) as request_count
    from usage_records
    where record_type in ('consume', 'error')
    group by gateway, created_date
),

errors as (
    select
        gateway,
        created_date,
        case
            when status_code = 401 then '401'
            when status_code = 402 then '402'
            when status_code = 429 then '429'
            when status_code between 500 and 599 then '5xx'
        end as error_class,
        count(*) as error_count
    from usage_records
    where record_type = 'error'
      and (status_code in (401, 402, 429) or status_code between 500 and 599)
    group by all
),

classes as (
    select * from (values
        ('401', 'platform: rotate or fix the gateway credentials'),
        ('402', 'finance: top up the gateway balance'),
        ('429', 'platform: raise limits or lower concurrency'),
        ('5xx', 'gateway vendor: upstream outage, open a ticket')
    ) as c (error_class, owner)
),

final as (
    select
        cast(e.created_date as date) as error_date,
        cast(e.gateway as varchar) as gateway,
        cast(e.error_class as varchar) as error_class,
        cast(c.owner as varchar) as owner,
        cast(e.error_count as bigint) as error_count,
        cast(r.request_count as bigint) as request_count,
        cast(e.error_count / r.request_count as double) as error_rate,
        cast(r.request_count >= {{ var('error_min_volume') }}
            and e.error_count / r.request_count > {{ var('error_rate_threshold') }} as boolean) as is_alert
    from errors as e
    inner join requests as r on e.gateway = r.gateway and e.created_date = r.created_date
    inner join classes as c on e.error_class = c.error_class
    where {{ incremental_day_filter('e.created_date') }}
)

select * from final
