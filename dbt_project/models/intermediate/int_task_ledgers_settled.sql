-- The settlement ledger of every gateway task: the pre-charge at submit, the settlement deltas
-- (consume rows after the first, and difference rows carrying pre_consumed/actual quota), the
-- refunds, the net cost (cost_usd is signed, so net = Σ consume − Σ refund), when it was first
-- charged and when its last ledger row landed. Topups, errors and other rows are not ledger rows.
-- A task's rows are those with its ledger_task_id: its own task id, or a row linked to the job of
-- that task by request id (the current new-api pre-charge carries no task id).
with

linked_usage as (
    select * from {{ ref('int_usage_records_linked') }}
),

ledger_rows as (
    select
        *,
        record_type = 'refund'
            and not (pre_consumed_quota is not null and actual_quota is not null) as is_refund
    from linked_usage
    where ledger_task_id is not null
      and record_type in ('consume', 'refund')
),

final as (
    -- the pre-charge is the task's first consume row by (created_at, record_key): taken with an
    -- aggregate (arg_min) instead of numbering every ledger row with a window
    select
        gateway,
        ledger_task_id as task_id,
        -- (no count of the linked jobs: nothing reads it, and a list per task was a third of this
        -- aggregate's cost; int_usage_records_linked holds every row's job)
        max(job_id) as job_id,
        coalesce({{ arg_min_by('cost_usd', ['created_at', 'record_key']) }} filter (where record_type = 'consume'), 0)
            as precharge_usd,
        coalesce(sum(cost_usd) filter (where not is_refund), 0)
            - coalesce({{ arg_min_by('cost_usd', ['created_at', 'record_key']) }} filter (where record_type = 'consume'), 0)
            as settlement_delta_usd,
        coalesce(-sum(cost_usd) filter (where is_refund), 0) as refunded_usd,
        coalesce(sum(cost_usd) filter (where cost_usd > 0), 0) as charged_usd,
        coalesce(-sum(cost_usd) filter (where cost_usd < 0), 0) as credited_usd,
        coalesce(sum(cost_usd), 0) as net_cost_usd,
        coalesce(sum(quota), 0) as net_quota,
        count(*) filter (where record_type = 'consume') as charge_count,
        count(*) filter (where record_type = 'refund') as refund_count,
        min(created_at) filter (where record_type = 'consume' and cost_usd > 0) as first_charged_at,
        -- a record's own settlement time where served (TokenLab settled_at); none while any row is
        -- reserved (no billing_transaction_id yet): reserved money is not settled
        case when count(*) filter (where is_reserved) = 0 then max(coalesce(settled_at, created_at)) end
            as settled_at,
        min(created_at) as first_ledger_at
    from ledger_rows
    group by gateway, ledger_task_id
)

select * from final
