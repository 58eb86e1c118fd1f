-- A table, not a view: several models and data tests read it, and a view is recomputed by each (bench/scale).
{{ config(materialized='table') }}
-- The assets the app delivered, typed and deduplicated on asset_id (latest created_at wins).
with

source as (
    select * from {{ landed_source('app_assets') }}
),

renamed as (
    select
        cast(asset_id as varchar) as asset_id,
        cast(job_id as varchar) as job_id,
        nullif(cast(kind as varchar), '') as kind,
        lower(cast(status as varchar)) as status,
        cast(byte_size as bigint) as byte_size,
        cast(created_at as timestamp with time zone) as created_at
    from source
),

final as (
    select *
    from renamed
    qualify row_number() over (partition by asset_id order by created_at desc) = 1
)

select * from final
