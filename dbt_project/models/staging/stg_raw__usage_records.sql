-- Gateway usage rows, typed: the current version of every row recon ever held. The landing is
-- append-only (docs/landing.md): each extraction adds a batch of what changed, so a row can have
-- several versions (TokenLab records gain their billing_transaction_id when they settle) and a row
-- the gateway no longer serves (retention) has a last version marked gone. record_key is the stable
-- key per gateway; the highest batch (version_seq) wins, then, within one batch, the settled copy.
-- Gone rows stay (is_gone, gone_at): a charge the gateway forgot still happened.
-- is_in_scope: inside the gateway's shared-account filter (token_names / groups, macro
-- in_gateway_scope); a row outside it is another app's and counts in neither spend nor orphan_usage.
with

-- not materialized: the three reads below each take only the columns they need from the Parquet
-- (materialized, every wide row of every version would be copied first, and spilled on a big day)
source as {{ not_materialized() }} (
    select * from {{ landed_source('usage_records') }}
),

renamed as {{ not_materialized() }} (
    select
        cast(gateway as {{ t_string() }}) as gateway,
        cast(record_key as {{ t_string() }}) as record_key,
        lower(cast(record_type as {{ t_string() }})) as record_type,
        nullif(cast(request_id as {{ t_string() }}), '') as request_id,
        nullif(cast(task_id as {{ t_string() }}), '') as task_id,
        nullif(cast(billing_transaction_id as {{ t_string() }}), '') as billing_transaction_id,
        nullif(cast(model as {{ t_string() }}), '') as model,
        nullif(cast(scene as {{ t_string() }}), '') as scene,
        nullif(cast(token_name as {{ t_string() }}), '') as token_name,
        nullif(cast(group_name as {{ t_string() }}), '') as group_name,
        nullif(cast(error_code as {{ t_string() }}), '') as error_code,
        nullif(cast(stream_status as {{ t_string() }}), '') as stream_status,
        lower(nullif(cast(access_channel as {{ t_string() }}), '')) as access_channel,
        -- the served total, else prompt + completion (a console export may carry only the total)
        coalesce(cast(total_tokens as bigint), cast(prompt_tokens as bigint) + cast(completion_tokens as bigint))
            as total_tokens,
        cast(settled_at as {{ t_timestamp() }}) as settled_at,
        -- TokenLab: a money record without billing_transaction_id is reserved, not settled
        coalesce(cast(is_reserved as boolean), false) as is_reserved,
        {{ in_gateway_scope() }} as is_in_scope,
        cast(prompt_tokens as bigint) as prompt_tokens,
        cast(completion_tokens as bigint) as completion_tokens,
        cast(cache_tokens as bigint) as cache_tokens,
        cast(quota as bigint) as quota,
        cast(cost_usd as decimal(20, 10)) as cost_usd,
        cast(duration_ms as bigint) as duration_ms,
        cast(status_code as bigint) as status_code,
        cast(model_ratio as double) as model_ratio,
        cast(completion_ratio as double) as completion_ratio,
        cast(group_ratio as double) as group_ratio,
        cast(cache_ratio as double) as cache_ratio,
        cast(model_price as double) as model_price,
        cast(pre_consumed_quota as bigint) as pre_consumed_quota,
        cast(actual_quota as bigint) as actual_quota,
        cast(quota_per_unit as double) as quota_per_unit,
        cast(is_stream as boolean) as is_stream,
        cast(is_task as boolean) as is_task,
        cast(created_at as {{ t_timestamp() }}) as created_at,
        cast(_seq as bigint) as version_seq,
        coalesce(cast(_change as {{ t_string() }}), 'new') = 'gone' as is_gone,
        cast(_gone_at as {{ t_timestamp() }}) as gone_at,
        _file,
        _row
    from source
),

-- Most keys land once: only the versions of keys held more than once are looked at, and the wide
-- rows are never sorted (choose_current_versions, macros/landed_source.sql).
{{ choose_current_versions('renamed', ['gateway', 'record_key'], ['billing_transaction_id', 'created_at'],
    "version_seq desc, (billing_transaction_id is null), billing_transaction_id, created_at desc") }},

final as (
    select
        *,
        cast(created_at as date) as created_date
    from {{ without_columns('deduplicated', ['_file', '_row']) }}
)

select * from final
