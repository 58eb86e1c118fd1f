-- The assets the app delivered, typed and deduplicated on asset_id (latest created_at wins).
with

source as (
    select * from {{ landed_source('app_assets') }}
),

renamed as (
    select
        cast(asset_id as {{ t_string() }}) as asset_id,
        cast(job_id as {{ t_string() }}) as job_id,
        nullif(cast(kind as {{ t_string() }}), '') as kind,
        lower(cast(status as {{ t_string() }})) as status,
        cast(byte_size as bigint) as byte_size,
        cast(created_at as {{ t_timestamp() }}) as created_at
    from source
),

final as (
    select *
    from renamed
    {{ qualify_first("partition by asset_id order by created_at desc") }}
)

select * from final
