{{
  config(
    materialized='table' if target.type == 'spark' else 'incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    pre_hook="{{ delete_touched_days('error_date') }}",
  )
}}
-- Gateway errors per UTC day, gateway and class, with the owner each class goes to (the TokenLab
-- guide's troubleshooting matrix): 400 -> app engineering (the request is wrong), 401 -> platform
-- (credentials), 402 -> finance (balance), 403 -> platform (the key may not use that model/group),
-- 429 -> platform (capacity/rate limits), 5xx -> gateway vendor. A row's status code decides its
-- class; a row that carries only an error code (no status) is classed by error_code_classes, the
-- one mapping table of the codes gateways send. The error-rate flag is raised only above
-- error_min_volume requests.
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

error_code_classes as (
    -- lower-cased error codes of new-api / one-api / OpenAI-style / TokenLab error bodies
    select * from (values
        ('invalid_api_key', '401'), ('invalid_token', '401'), ('unauthorized', '401'),
        ('authentication_error', '401'), ('token_expired', '401'), ('invalid_authentication', '401'),
        ('insufficient_balance', '402'), ('insufficient_quota', '402'), ('quota_exceeded', '402'),
        ('insufficient_user_quota', '402'), ('pre_consume_token_quota_failed', '402'),
        ('payment_required', '402'), ('billing_hard_limit_reached', '402'),
        ('permission_denied', '403'), ('forbidden', '403'), ('access_denied', '403'),
        ('model_not_allowed', '403'), ('group_not_allowed', '403'), ('token_model_forbidden', '403'),
        ('rate_limit_exceeded', '429'), ('rate_limited', '429'), ('too_many_requests', '429'),
        ('concurrency_limit_exceeded', '429'),
        ('invalid_request', '400'), ('invalid_request_error', '400'), ('bad_request', '400'),
        ('invalid_parameter', '400'), ('context_length_exceeded', '400'), ('invalid_model', '400'),
        ('upstream_error', '5xx'), ('server_error', '5xx'), ('internal_error', '5xx'),
        ('internal_server_error', '5xx'), ('bad_gateway', '5xx'), ('service_unavailable', '5xx'),
        ('gateway_timeout', '5xx'), ('do_request_failed', '5xx'), ('upstream_timeout', '5xx')
    ) as m (error_code, error_class)
),

classified as (
    select
        u.gateway,
        u.created_date,
        case
            when u.status_code = 400 then '400'
            when u.status_code = 401 then '401'
            when u.status_code = 402 then '402'
            when u.status_code = 403 then '403'
            when u.status_code = 429 then '429'
            when u.status_code between 500 and 599 then '5xx'
            when u.status_code is null then m.error_class
        end as error_class
    from usage_records as u
    left join error_code_classes as m on lower(u.error_code) = m.error_code
    where u.record_type = 'error'
),

errors as (
    select gateway, created_date, error_class, count(*) as error_count
    from classified
    where error_class is not null
    group by all
),

classes as (
    select * from (values
        ('400', 'app engineering: the request is invalid, fix what the app sends'),
        ('401', 'platform: rotate or fix the gateway credentials'),
        ('402', 'finance: top up the gateway balance'),
        ('403', 'platform: the key may not use that model or group, fix its permissions'),
        ('429', 'platform: raise limits or lower concurrency'),
        ('5xx', 'gateway vendor: upstream outage, open a ticket')
    ) as c (error_class, owner)
),

final as (
    select
        cast(e.created_date as date) as error_date,
        cast(e.gateway as {{ t_string() }}) as gateway,
        cast(e.error_class as {{ t_string() }}) as error_class,
        cast(c.owner as {{ t_string() }}) as owner,
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
