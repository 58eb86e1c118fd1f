-- One row per app job with everything the rules need: the gateway task it maps to (the job's own
-- task id, else the first task reached through its linked usage), whose status decides, the money
-- of its linked ledger rows, how many charged tasks/requests it created, the models billed, the
-- assets the user got, and where it stands against the settlement window at as_of.
with

-- `not materialized`: read straight from the tables by each consumer, not copied first (bench/scale)
app_jobs as {{ not_materialized() }} (
    select * from {{ ref('stg_raw__app_jobs') }}
),

linked_usage as {{ not_materialized() }} (
    -- only the columns used here: this CTE has several consumers and is materialized
    select job_id, gateway, record_key, record_type, request_id, task_id, ledger_task_id, model, cost_usd,
        created_at, settled_at, is_reserved, job_model
    from {{ ref('int_usage_records_linked') }}
    where job_id is not null
),

gateway_tasks as (
    select * from {{ ref('stg_raw__gateway_tasks') }}
),

task_ledgers as (
    select * from {{ ref('int_task_ledgers_settled') }}
),

assets as (
    select * from {{ ref('int_assets_rolled_up') }}
),

-- Scenes that deliver assets: the configured list, else every scene for which the app's asset
-- records hold any asset (an app that stores chat answers as text assets gets chat jobs checked).
asset_scenes as (
    {%- set scenes = var('asset_scenes', none) %}
    {%- if scenes is none or scenes == '' %}
    select distinct j.scene
    from app_jobs as j
    inner join assets as a on j.job_id = a.job_id
    where a.asset_count > 0 and j.scene is not null
    {%- else %}
    select cast(scene as {{ t_string() }}) as scene
    from (values {% for s in scenes %}('{{ s }}'){% if not loop.last %}, {% endif %}{% endfor %}
        {%- if scenes | length == 0 %}(null){% endif %}) as configured(scene)
    where scene is not null
    {%- endif %}
),

job_task_ids as (
    select job_id, task_id, 0 as task_rank from app_jobs where task_id is not null
    union
    select job_id, task_id, 1 from linked_usage where task_id is not null
),

primary_task as (
    -- the first task per job: the window orders by the query's own columns (task_rank rides along)
    select
        jt.job_id,
        jt.task_rank,
        t.gateway as task_gateway,
        t.task_id as gateway_task_id,
        t.status as gateway_status,
        t.is_cancelled as gateway_is_cancelled,
        t.is_terminal as is_gateway_terminal,
        t.submitted_at as gateway_submitted_at,
        t.finished_at as gateway_finished_at,
        t.fail_reason as gateway_fail_reason
    from job_task_ids as jt
    inner join gateway_tasks as t on jt.task_id = t.task_id
    {{ qualify_first("
        partition by job_id order by task_rank, gateway_submitted_at, gateway_task_id
    ") }}
),

ledger_rows as (
    select * from linked_usage where record_type in ('consume', 'refund')
),

{%- set charged_task_row = "record_type = 'consume' and cost_usd > 0 and ledger_task_id is not null" %}
{%- set charged_request_row = "record_type = 'consume' and cost_usd > 0 and ledger_task_id is null" %}

money as (
    select
        job_id,
        min(gateway) as usage_gateway,
        coalesce(sum(cost_usd), 0) as net_cost_usd,
        coalesce(sum(cost_usd) filter (where cost_usd > 0), 0) as charged_usd,
        coalesce(-sum(cost_usd) filter (where cost_usd < 0), 0) as credited_usd,
        count(*) filter (where record_type = 'consume') as charge_count,
        count(*) filter (where record_type = 'refund') as refund_count,
        min(created_at) filter (where record_type = 'consume' and cost_usd > 0) as first_charged_at,
        max(created_at) as last_ledger_at,
        -- when the money became final: a record's own settlement time where served, else its time
        max(coalesce(settled_at, created_at)) as last_settled_at,
        -- TokenLab rows without billing_transaction_id yet: reserved, so the job is not settled
        count(*) filter (where is_reserved) as reserved_count,
        -- the charged units (by ledger task: a pre-charge linked by request id without a task id is
        -- its job's task; else by request): their least and greatest key. Almost every job has
        -- one unit, so the distinct count is taken only where the two differ (multi_unit_counts):
        -- a list per job was most of this aggregate's cost (bench/scale)
        min(ledger_task_id) filter (where {{ charged_task_row }}) as min_charged_task,
        max(ledger_task_id) filter (where {{ charged_task_row }}) as max_charged_task,
        min(coalesce(request_id, record_key)) filter (where {{ charged_request_row }}) as min_charged_request,
        max(coalesce(request_id, record_key)) filter (where {{ charged_request_row }}) as max_charged_request
    from ledger_rows
    group by job_id
),

multi_unit_counts as (
    select
        job_id,
        {{ count_distinct_list('ledger_task_id', where=charged_task_row) }} as charged_task_count,
        {{ count_distinct_list('coalesce(request_id, record_key)', where=charged_request_row) }}
            as charged_request_count
    from ledger_rows
    where job_id in (
        select job_id from money
        where min_charged_task <> max_charged_task or min_charged_request <> max_charged_request
    )
    group by job_id
),

billed_models as (
    -- job_model: the linked job's model, carried by int_usage_records_linked (no second join)
    select
        job_id,
        {{ string_agg_distinct_sorted('model', ', ') }} as mismatched_models
    from linked_usage
    where record_type = 'consume'
      and model is not null
      and job_model is not null
      and lower(model) <> lower(job_model)
    group by job_id
),

task_nets as (
    select job_id, min(net_cost_usd) as min_task_net_usd, max(net_cost_usd) as max_task_net_usd
    from task_ledgers
    where job_id is not null
    group by job_id
),

joined as (
    select
        j.job_id,
        j.request_id,
        j.task_id,
        j.billing_transaction_id,
        j.user_id,
        j.scene,
        j.model,
        coalesce(p.task_gateway, m.usage_gateway) as gateway,
        j.status as app_status,
        p.gateway_task_id,
        p.gateway_status,
        p.gateway_fail_reason,
        coalesce(p.gateway_is_cancelled, false) as gateway_is_cancelled,
        p.gateway_task_id is not null as has_gateway_task,
        -- async work (a gateway task) produces an asset; a synchronous chat answer does not
        j.task_id is not null or p.gateway_task_id is not null as is_async,
        coalesce(p.is_gateway_terminal, false) as is_gateway_terminal,
        case
            when p.is_gateway_terminal and p.gateway_status = 'succeeded' then 'succeeded'
            when p.is_gateway_terminal and p.gateway_is_cancelled then 'cancelled'
            when p.is_gateway_terminal then 'failed'
            else j.status
        end as effective_status,
        bm.mismatched_models,
        j.expected_cost_usd,
        coalesce(m.net_cost_usd, 0) as net_cost_usd,
        coalesce(m.charged_usd, 0) as charged_usd,
        coalesce(m.credited_usd, 0) as credited_usd,
        tn.min_task_net_usd,
        tn.max_task_net_usd,
        coalesce(m.charge_count, 0) as charge_count,
        coalesce(m.refund_count, 0) as refund_count,
        case
            when m.min_charged_task is null then 0
            when m.min_charged_task = m.max_charged_task then 1
            else mu.charged_task_count
        end as charged_task_count,
        case
            when m.min_charged_request is null then 0
            when m.min_charged_request = m.max_charged_request then 1
            else mu.charged_request_count
        end as charged_request_count,
        j.retry_count,
        j.scene in (select scene from asset_scenes) as is_asset_scene,
        coalesce(a.asset_count, 0) as asset_count,
        coalesce(a.available_asset_count, 0) as available_asset_count,
        j.created_at,
        j.created_date,
        j.terminal_at as app_terminal_at,
        p.gateway_submitted_at,
        p.gateway_finished_at,
        m.first_charged_at,
        m.last_ledger_at,
        m.last_settled_at,
        coalesce(m.reserved_count, 0) as reserved_count
    from app_jobs as j
    left join primary_task as p on j.job_id = p.job_id
    left join money as m on j.job_id = m.job_id
    left join multi_unit_counts as mu on j.job_id = mu.job_id
    left join billed_models as bm on j.job_id = bm.job_id
    left join task_nets as tn on j.job_id = tn.job_id
    left join assets as a on j.job_id = a.job_id
),

judged as (
    select
        *,
        effective_status in ('succeeded', 'failed', 'cancelled') as is_terminal,
        case
            when effective_status in ('succeeded', 'failed', 'cancelled')
                then coalesce(app_terminal_at, gateway_finished_at)
        end as terminal_at,
        is_gateway_terminal
            and (case when app_status in ('failed', 'cancelled') then 'failed' else app_status end)
            <> (case when gateway_status = 'succeeded' then 'succeeded' else 'failed' end)
            as is_status_mismatch,
        charged_task_count > 1 or (charged_task_count = 0 and charged_request_count > 1)
            as is_duplicate_create,
        -- money beyond the single largest charged unit: what the extra creates cost
        case
            when charged_task_count > 1 then greatest(net_cost_usd - coalesce(max_task_net_usd, 0), 0)
            when charged_request_count > 1 then greatest(charged_usd / charged_request_count
                * (charged_request_count - 1), 0)
            else 0
        end as duplicate_cost_usd,
        case
            when has_gateway_task and not is_gateway_terminal then gateway_submitted_at
            when not has_gateway_task
                and effective_status not in ('succeeded', 'failed', 'cancelled') then created_at
        end as stuck_since_at
    from joined
),

final as (
    -- only the columns a mart or a rule's unit test reads: this table is as long as the jobs, and
    -- writing a column costs more than computing it (bench/scale). The ids, times and task facts
    -- a user digs with are in stg_raw__app_jobs, stg_raw__gateway_tasks and int_usage_records_linked
    -- (`recon trace`).
    select
        job_id, request_id, scene, model, gateway, app_status, gateway_task_id, gateway_status,
        gateway_fail_reason, gateway_is_cancelled, effective_status, mismatched_models,
        expected_cost_usd, net_cost_usd, charged_usd, credited_usd, charge_count, refund_count,
        charged_task_count, charged_request_count, retry_count, is_asset_scene, asset_count,
        available_asset_count, created_date, first_charged_at, reserved_count, is_terminal,
        terminal_at, is_status_mismatch, is_duplicate_create, duplicate_cost_usd, stuck_since_at,
        terminal_at + {{ settlement_window() }} as settlement_window_ends_at,
        coalesce(terminal_at + {{ settlement_window() }} <= {{ as_of() }}, false) as is_window_passed,
        -- the money is final (amount rules may judge it): a synchronous job once its charge row
        -- exists; a task once the gateway (where it has the task) reports it terminal and its
        -- settlement rows have had late_after_minutes to arrive; any job once the window passed
        coalesce(
            (not is_async and is_terminal and last_ledger_at is not null)
            or (is_async and is_terminal and (is_gateway_terminal or not has_gateway_task)
                and terminal_at + {{ interval_minutes('late_after_minutes') }} <= {{ as_of() }})
            or terminal_at + {{ settlement_window() }} <= {{ as_of() }},
            false
        ) as is_money_final,
        coalesce({{ as_of() }} - stuck_since_at > {{ interval_minutes('stuck_task_sla_minutes') }}, false)
            as is_stuck,
        -- a reserved row (no billing_transaction_id yet) is money not yet settled, whatever the sum
        reserved_count = 0 and case
            when effective_status = 'succeeded' then net_cost_usd > {{ var('cost_tolerance_usd') }}
            when effective_status in ('failed', 'cancelled')
                then abs(net_cost_usd) <= {{ var('cost_tolerance_usd') }}
            else false
        end as is_settled,
        case
            when effective_status in ('succeeded', 'failed', 'cancelled') and last_ledger_at is not null
                then last_settled_at
        end as settled_candidate_at
    from judged
)

select * from final
