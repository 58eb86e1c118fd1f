-- The assets the app delivered, typed and deduplicated on asset_id (latest created_at wins).
with

source as (
    select * from {{ landed_source('app_assets') }}
),

renamed as {{ not_materialized() }} (
    select
        cast(asset_id as {{ t_string() }}) as asset_id,
        cast(job_id as {{ t_string() }}) as job_id,
        nullif(cast(kind as {{ t_string() }}), '') as kind,
        lower(cast(status as {{ t_string() }})) as status,
        cast(byte_size as bigint) as byte_size,
        cast(created_at as {{ t_timestamp() }}) as created_at
    from source
),

-- Most assets land once: only rows whose asset_id is duplicated go through the ordering window (the
-- same rows kept as a window over every row, without sorting every row on a big day).
duplicate_keys as (
    select asset_id
    from renamed
    group by asset_id
    having count(*) > 1
),

final as (
    select r.*
    from renamed as r
    anti join duplicate_keys as d on r.asset_id is not distinct from d.asset_id

    union all

    select *
    from (
        select r.*
        from renamed as r
        semi join duplicate_keys as d on r.asset_id is not distinct from d.asset_id
    )
    {{ qualify_first("partition by asset_id order by created_at desc") }}
)

select * from final
