-- A view (dbt_project.yml): only the mismatch mart and one test read it, and as a table it would
-- copy every consume row (bench/scale).
-- Recompute each billable row's quota from the pricing fields the gateway logged in `other`.
--   text rows (model_price -1 or absent, ratios present):
--     round((prompt - cache + cache * cache_ratio + completion * completion_ratio) * model_ratio * group_ratio)
--   fixed-price rows (model_price >= 0): model_price * quota_per_unit * group_ratio, rounded or
--     truncated (new-api truncates a task pre-charge with int(): 27999.99... logs as 27999)
--   settlement delta rows (pre_consumed_quota and actual_quota present): |quota| = |actual - pre|
-- Refunds, errors, topups are not formula rows. A difference beyond quota_tolerance_units is a finding.
with

linked_usage as (
    select * from {{ ref('int_usage_records_linked') }}
),

classified as (
    select
        *,
        case
            when record_type <> 'consume' then null
            when pre_consumed_quota is not null and actual_quota is not null then 'settlement_delta'
            when model_price is not null and model_price >= 0 then 'fixed_price'
            when model_ratio is not null then 'ratio'
        end as quota_formula
    from linked_usage
),

computed as (
    select
        *,
        case quota_formula
            when 'settlement_delta' then abs(actual_quota - pre_consumed_quota)
            when 'fixed_price' then case
                when quota = cast(floor(model_price * coalesce(quota_per_unit, 500000) * coalesce(group_ratio, 1))
                    as bigint)
                    then quota  -- truncated, as the pre-charge is: exact
                else cast(round(
                    model_price * coalesce(quota_per_unit, 500000) * coalesce(group_ratio, 1)) as bigint)
            end
            when 'ratio' then cast(round(
                (coalesce(prompt_tokens, 0) - coalesce(cache_tokens, 0)
                    + coalesce(cache_tokens, 0) * coalesce(cache_ratio, 1)
                    + coalesce(completion_tokens, 0) * coalesce(completion_ratio, 1))
                * model_ratio * coalesce(group_ratio, 1)) as bigint)
        end as expected_quota,
        case when quota_formula = 'settlement_delta' then abs(quota) else quota end as checked_quota
    from classified
),

final as (
    select
        *,
        checked_quota - expected_quota as quota_diff,
        coalesce(abs(checked_quota - expected_quota) > {{ var('quota_tolerance_units') }}, false)
            as is_quota_mismatch
    from computed
    where quota_formula is not null
)

select * from final
