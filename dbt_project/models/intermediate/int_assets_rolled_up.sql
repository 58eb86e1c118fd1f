-- What each job's user actually received: asset counts by status.
with

app_assets as (
    select * from {{ ref('stg_raw__app_assets') }}
),

final as (
    select
        job_id,
        count(*) as asset_count,
        count(*) filter (where status = 'available') as available_asset_count,
        count(*) filter (where status = 'deleted') as deleted_asset_count,
        count(*) filter (where status = 'failed') as failed_asset_count,
        coalesce(sum(byte_size) filter (where status = 'available'), 0) as available_bytes,
        min(created_at) filter (where status = 'available') as first_available_at
    from app_assets
    where job_id is not null
    group by job_id
)

select * from final
