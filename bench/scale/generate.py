"""Write one realistic UTC day of landing data at a chosen scale, straight to Parquet, plus the truth.

    .venv/bin/python -m bench.scale.generate --jobs 1000000 --out /tmp/scale [--day 2026-11-20]

Everything is DuckDB SQL over `range(N)` (vectorized; no per-row Python): job i is a pure function
of (seed, i). Layout is the landing contract, `<out>/landing/<record>/date=YYYY-MM-DD/<record>.parquet`
(canonical columns and Arrow types of schemas/canonical.py); the truth goes to `<out>/truth/`.

The day's mix (the demo scenario's proportions, orchestration/sandbox/defects.py):
- scenes chat 50 % / image 20 % / video 15 % / music 15 %; gateways `main` (new-api: ratio-priced chat
  rows, fixed-price task pre-charges, settlement-delta rows) 60 % and `lab` (TokenLab: no pricing
  fields, reservation charge + refund) 40 %;
- clean work: 3 % of main chats have an uncharged error row before a retry; main tasks fail 15 %
  (a fifth of those refunded late), 5 % settle with no delta, 4 % settle late; lab tasks fail 12 %,
  are cancelled 3 %; one available asset per successful task (3 % also have a deleted one);
  top-ups and console rows as noise;
- defects in 8 % of the jobs created before 21:00 (≈ the demo's 38 injected jobs in ~470), with the
  demo's weights per shape, covering every mismatch code (see SHAPES), each with the findings it
  implies written to the truth;
- pending jobs (charge or refund not there yet) among the jobs created after 22:05, whose settlement
  window is still open at as_of.
`as_of` is day + 2 days 22:00: jobs that ended before 22:00 on the day are past the 48 h window.
Rows settle after their job: a task that ends near midnight lands its delta/refund in the next
day's partition (so the landing holds day and day + 1). Prior days (the lookback) are empty: on a
fresh warehouse the first build reads every landed day anyway, so the figures are for one day's data.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb

from schemas.canonical import OPTIONAL_COLUMNS, RECORDS

DEFAULT_DAY = date(2026, 11, 20)
DEFECT_RATE = 0.08  # of the jobs created before 21:00
PENDING_RATE = 0.05  # of the jobs created after 22:05
QPU = 500_000

# Defect shapes and their weights (the demo's injected jobs per shape).
SHAPES: list[tuple[str, int]] = [
    ("mu_task", 2),  # task succeeded, never charged            -> missing_usage + cost_mismatch
    ("mu_chat", 1),  # chat succeeded, no usage row             -> missing_usage + cost_mismatch
    ("cff", 4),  # failed/cancelled, pre-charge not refunded -> charged_for_failure
    ("over_ref", 3),  # failed, refunded twice / refund 2x       -> over_refunded
    ("missing_asset", 2),  # succeeded and charged, no available asset -> missing_asset
    ("aws", 2),  # failed + refunded, asset available       -> asset_without_success
    ("sm_a", 2),  # app done + asset, gateway failed, charged -> status_mismatch + cff + aws
    ("sm_b", 2),  # app failed, gateway succeeded, charged   -> status_mismatch + missing_asset
    ("cm", 3),  # billed differs from expected             -> cost_mismatch
    ("mm", 3),  # billed model differs from requested      -> model_mismatch
    ("dup", 3),  # two charged tasks for one job            -> duplicate_create + cost_mismatch
    ("orphan_chat", 3),  # consume row, no job                      -> orphan_usage
    ("orphan_task", 1),  # task pre-charge, no job                  -> orphan_usage
    ("stuck", 4),  # task running/queued for days             -> stuck_task
    ("qm_chat", 2),  # logged quota above the ratio formula     -> quota_mismatch
    ("qm_task", 1),  # fixed-price pre-charge above the formula -> quota_mismatch
]
FINDING_CODES = {
    "mu_task": ["missing_usage", "cost_mismatch"],
    "mu_chat": ["missing_usage", "cost_mismatch"],
    "cff": ["charged_for_failure"],
    "over_ref": ["over_refunded"],
    "missing_asset": ["missing_asset"],
    "aws": ["asset_without_success"],
    "sm_a": ["status_mismatch", "charged_for_failure", "asset_without_success"],
    "sm_b": ["status_mismatch", "missing_asset"],
    "cm": ["cost_mismatch"],
    "mm": ["model_mismatch"],
    "dup": ["duplicate_create", "cost_mismatch"],
    "orphan_chat": ["orphan_usage"],
    "orphan_task": ["orphan_usage"],
    "stuck": ["stuck_task"],
    "qm_chat": ["quota_mismatch"],
    "qm_task": ["quota_mismatch"],
}


def as_of_for(day: date) -> datetime:
    return datetime.fromisoformat(f"{(day + timedelta(days=2)).isoformat()}T22:00:00+00:00")


def dbt_vars_for(day: date) -> dict[str, str]:
    """The vars of the day's run (thresholds: dbt_project.yml defaults = recon.example.yaml)."""
    return {"start_date": day.isoformat(), "end_date": day.isoformat(), "as_of": as_of_for(day).isoformat()}


def _shape_case(u: str) -> str:
    total = sum(w for _, w in SHAPES)
    parts, acc = [], 0
    for name, w in SHAPES:
        acc += w
        parts.append(f"when {u} < {acc / total!r} then '{name}'")
    return "case " + " ".join(parts[:-1]) + f" else '{SHAPES[-1][0]}' end"


def _base_sql(n: int, day: date, seed: int) -> str:
    d0 = f"timestamptz '{day.isoformat()} 00:00:00+00'"
    shape = _shape_case(f"(u1 / {DEFECT_RATE})")
    return f"""
create or replace view base as
with r as (
    select
        i,
        (i * 86400) // {n} as s,
        hash(i, {seed}) as h1, hash(i, {seed + 1}) as h2, hash(i, {seed + 2}) as h3
    from range({n}) as t(i)
),
u as (
    select *, (h1 % 1000000) / 1e6 as u1, (h2 % 1000000) / 1e6 as u2, cast(h3 % 1000 as bigint) as v
    from r
),
shaped as (
    select *,
        case
            when s < 21 * 3600 and u1 < {DEFECT_RATE} then {shape}
            when s >= 22 * 3600 + 300 and u1 < {PENDING_RATE}
                then case when u1 < {PENDING_RATE / 2} then 'p_chat' else 'p_fail' end
            else 'clean'
        end as shape
    from u
),
kinds as (
    select *,
        -- scene and gateway: drawn for clean jobs, fixed per variant for defects (the demo's mix)
        case shape
            when 'clean' then case when u2 < 0.5 then 'chat' when u2 < 0.7 then 'image'
                when u2 < 0.85 then 'video' else 'music' end
            when 'mu_task' then ['video', 'image'][1 + v % 2]
            when 'mu_chat' then 'chat'
            when 'cff' then ['video', 'music', 'video', 'image'][1 + v % 4]
            when 'over_ref' then ['video', 'image', 'music'][1 + v % 3]
            when 'missing_asset' then ['video', 'image'][1 + v % 2]
            when 'aws' then ['music', 'video'][1 + v % 2]
            when 'sm_a' then ['video', 'image'][1 + v % 2]
            when 'sm_b' then ['image', 'music'][1 + v % 2]
            when 'cm' then ['video', 'chat', 'image'][1 + v % 3]
            when 'mm' then ['chat', 'chat', 'video'][1 + v % 3]
            when 'dup' then ['video', 'music', 'image'][1 + v % 3]
            when 'orphan_chat' then 'chat'
            when 'orphan_task' then 'image'
            when 'stuck' then ['video', 'music', 'image', 'video'][1 + v % 4]
            when 'qm_chat' then 'chat'
            when 'qm_task' then 'image'
            when 'p_chat' then 'chat'
            when 'p_fail' then 'music'
        end as scene,
        case shape
            when 'clean' then case when v < 600 then 'main' else 'lab' end
            when 'mu_task' then ['main', 'lab'][1 + v % 2]
            when 'cff' then ['main', 'main', 'lab', 'lab'][1 + v % 4]
            when 'over_ref' then ['main', 'main', 'lab'][1 + v % 3]
            when 'missing_asset' then ['main', 'lab'][1 + v % 2]
            when 'aws' then ['main', 'lab'][1 + v % 2]
            when 'sm_a' then ['main', 'lab'][1 + v % 2]
            when 'sm_b' then ['main', 'lab'][1 + v % 2]
            when 'cm' then ['main', 'main', 'lab'][1 + v % 3]
            when 'mm' then ['main', 'lab', 'main'][1 + v % 3]
            when 'dup' then ['main', 'main', 'lab'][1 + v % 3]
            when 'orphan_chat' then ['main', 'main', 'lab'][1 + v % 3]
            when 'stuck' then ['main', 'main', 'main', 'lab'][1 + v % 4]
            else 'main'
        end as gw,
        cast((h2 >> 20) % 1000 as bigint) as w   -- a second draw for clean outcomes
    from shaped
),
plan as (
    select *,
        scene = 'chat' as is_chat,
        -- task outcome at the gateway
        case
            when scene = 'chat' then null
            when shape = 'clean' and gw = 'main' and w < 120 then 'failure'
            when shape = 'clean' and gw = 'main' and w < 150 then 'failure_late'
            when shape = 'clean' and gw = 'lab' and w < 120 then 'failure'
            when shape = 'clean' and gw = 'lab' and w < 150 then 'cancelled'
            when shape = 'clean' then 'success'
            when shape = 'cff' then case when v % 4 = 3 then 'cancelled' else 'failure' end
            when shape in ('over_ref', 'aws', 'sm_a', 'p_fail') then 'failure'
            when shape = 'stuck' then case when v % 4 = 1 then 'queued' else 'running' end
            else 'success'
        end as outcome,
        {d0} + to_microseconds(s * 1000000 + (i % 1000) * 1000) as t0,
        30 + (h3 >> 12) % 570 as dur,
        lpad(cast(i as varchar), 9, '0') as k
    from kinds
)
select
    *,
    'job-' || k as job_id,
    'req-' || k as request_id,
    case when not is_chat then 'task-' || k end as task_id,
    shape not in ('orphan_chat', 'orphan_task') as has_job,
    shape = 'clean' and is_chat and gw = 'main' and w < 30 as chat_retry,
    -- models and prices
    case
        when is_chat and gw = 'main' then ['gpt-4o-mini', 'deepseek-chat', 'gpt-4o'][1 + v % 3]
        when is_chat then ['claude-3-5-haiku', 'claude-3-7-sonnet'][1 + v % 2]
        when scene = 'image' then case when gw = 'main' then 'mj-imagine' else 'flux-pro' end
        when scene = 'video' then 'kling-v1-6'
        else 'suno-v4'
    end as model,
    case when is_chat then [1.5, 2.5, 7.5][1 + v % 3] end as model_ratio,
    case when is_chat and (h3 >> 30) % 5 = 0 then 0.5 else 1.0 end as group_ratio,
    4 * (50 + (h2 >> 30) % 700) as prompt_tokens,
    10 + (h2 >> 42) % 400 as completion_tokens,
    case scene when 'image' then 0.04 when 'video' then 0.3 when 'music' then 0.1 end as model_price,
    case scene when 'image' then 20000 when 'video' then 150000 when 'music' then 50000 end as pre_q
from plan
"""


def _derived_sql() -> str:
    """Per-job money plan on top of `base`."""
    return """
create or replace view plan as
select
    *,
    case
        when shape = 'mm' and is_chat then case when gw = 'main' then 'gpt-4o' else 'claude-3-opus' end
        when shape = 'mm' then 'kling-v2-master'
        else model
    end as billed_model,
    case when shape = 'mm' and is_chat and gw = 'main' then 'gpt-4o-mini' else model end as job_model,
    -- chat quota by the ratio formula (completion_ratio 4; prompt tokens a multiple of 4: exact)
    cast((prompt_tokens + completion_tokens * 4) * model_ratio * group_ratio as bigint)
        + case when shape = 'qm_chat' then 3000 else 0 end as chat_q,
    pre_q + case when shape = 'qm_task' then 3000 when shape = 'cm' and gw = 'lab' then 20000 else 0 end
        as charge_q,
    -- does the task have a gateway pre-charge at submit?
    not is_chat and shape <> 'mu_task' as has_precharge,
    is_chat and shape not in ('mu_chat', 'p_chat') as has_chat_row,
    case
        when is_chat or gw <> 'main' or outcome <> 'success' then 'none'
        when shape = 'cm' then 'bump'
        when shape = 'clean' and w >= 950 then 'none'
        when shape = 'clean' and w >= 910 then 'late'
        when shape = 'clean' then 'normal'
        when shape in ('mu_task', 'mm', 'dup', 'qm_task', 'missing_asset', 'sm_b', 'orphan_task') then 'none'
        else 'normal'
    end as delta_kind,
    case
        when is_chat then 'none'
        when shape = 'clean' and outcome = 'failure_late' then 'late'
        when shape = 'clean' and outcome in ('failure', 'cancelled') then 'normal'
        when shape = 'over_ref' then case when v % 3 = 1 then 'excess' else 'double' end
        when shape = 'aws' then 'normal'
        else 'none'
    end as refund_kind,
    case
        when is_chat then 'none'
        when shape = 'missing_asset' then case when gw = 'main' then 'failed' else 'none' end
        when shape in ('aws', 'sm_a') then 'available'
        when shape = 'sm_b' then 'none'
        when outcome = 'success' then 'available'
        else 'none'
    end as asset_kind
from base
"""


def _tables_sql() -> str:
    return f"""
create or replace view plan2 as
select
    *,
    case when delta_kind = 'bump' then cast(pre_q * 0.6 as bigint)
        when delta_kind in ('normal', 'late') then 100 * (1 + (h1 >> 24) % 50) else 0 end as delta_q,
    t0 + interval 1 second as submitted_at,
    case when outcome in ('running', 'queued') then null
        else t0 + interval 1 second + to_seconds(dur) end as finished_at,
    case when shape = 'dup' then t0 + interval 61 second + to_seconds(dur) end as dup_finished_at
from plan;

create or replace table plan3 as
select
    *,
    case
        when is_chat then t0 + to_seconds(case when chat_retry then 3 else 2 end)
        when shape = 'dup' then dup_finished_at + interval 5 second
        else finished_at + interval 5 second
    end as terminal_at,
    case
        when delta_kind = 'late' then finished_at + to_seconds(1200 + (h1 >> 40) % 2400)
        else finished_at + interval 10 second
    end as delta_at,
    case
        when refund_kind = 'late' then finished_at + interval 1800 second
        when gw = 'lab' then finished_at + interval 20 second
        else finished_at + interval 30 second
    end as refund_at,
    case
        when shape in ('sm_a') then 'succeeded'
        when shape in ('sm_b') then 'failed'
        when is_chat then 'succeeded'
        when outcome = 'success' then 'succeeded'
        when outcome = 'cancelled' then 'cancelled'
        when outcome in ('failure', 'failure_late') then 'failed'
        else 'running'
    end as app_status
from plan2;

create or replace view usage as
-- chat consume rows
select gw as gateway, request_id as record_key, 'consume' as record_type,
    t0 + to_seconds(case when chat_retry then 3 else 2 end) as created_at,
    request_id, null as task_id, billed_model as model, scene, chat_q as quota,
    case when gw = 'main' then model_ratio end as model_ratio,
    case when gw = 'main' then group_ratio end as group_ratio,
    case when gw = 'main' then 4.0 end as completion_ratio,
    case when gw = 'main' then -1.0 end as model_price,
    prompt_tokens, completion_tokens, null::bigint as pre_consumed_quota, null::bigint as actual_quota,
    200 as status_code, null as error_code, false as is_task
from plan3 where has_chat_row
union all
-- the uncharged error row before a retry
select gw, 'err-' || k, 'error', t0 + interval 1 second, 'err-' || k, null, billed_model, scene, 0,
    null, null, null, null, 0, 0, null, null, 429, 'rate_limit', false
from plan3 where chat_retry
union all
-- task pre-charge (TokenLab: the reservation) at submit
select gw, request_id, 'consume', submitted_at, request_id, task_id, billed_model, scene, charge_q,
    null, case when gw = 'main' then 1.0 end, null, case when gw = 'main' then model_price end,
    null, null, null, null, 200, null, true
from plan3 where has_precharge
union all
-- the retry's second charged task of a duplicate create
select gw, request_id || '-r', 'consume', t0 + interval 61 second, request_id || '-r', task_id || '-r',
    billed_model, scene, charge_q, null, case when gw = 'main' then 1.0 end, null,
    case when gw = 'main' then model_price end, null, null, null, null, 200, null, true
from plan3 where shape = 'dup'
union all
-- new-api settlement delta
select gw, 'dl-' || k, 'consume', delta_at, null, task_id, billed_model, scene, delta_q,
    null, 1.0, null, null, null, null, charge_q, charge_q + delta_q, 200, null, true
from plan3 where delta_kind <> 'none'
union all
-- refunds (the double refund repeats the row 60 s later)
select gw, 'rf-' || k, 'refund', refund_at, null, task_id, billed_model, scene,
    -charge_q * case when refund_kind = 'excess' then 2 else 1 end,
    null, null, null, null, null, null, null, null, 200, null, true
from plan3 where refund_kind <> 'none'
union all
select gw, 'rf2-' || k, 'refund', refund_at + interval 60 second, null, task_id, billed_model, scene,
    -charge_q, null, null, null, null, null, null, null, null, 200, null, true
from plan3 where refund_kind = 'double'
union all
-- console noise: top-ups (credits, never spend)
select 'main', 'topup-' || k, 'topup', t0, null, null, null, null, 50000000,
    null, null, null, null, null, null, null, null, 200, null, false
from plan3 where i % 20000 = 7;

create or replace view tasks as
select gw as gateway, task_id,
    case outcome when 'success' then 'succeeded' when 'running' then 'running' when 'queued' then 'queued'
        else 'failed' end as status,
    submitted_at, finished_at,
    case when outcome like 'failure%' then 'upstream generation failed' end as fail_reason,
    charge_q as quota, charge_q / {QPU}.0 as cost_usd, outcome = 'cancelled' as is_cancelled,
    case when gw = 'main' then scene else 'tokenlab' end as platform, 'generate' as action
from plan3 where not is_chat
union all
select gw, task_id || '-r', 'succeeded', t0 + interval 61 second, dup_finished_at, null, charge_q,
    charge_q / {QPU}.0, false, case when gw = 'main' then scene else 'tokenlab' end, 'generate'
from plan3 where shape = 'dup';

create or replace view jobs as
select
    job_id, 'user-' || lpad(cast(h3 % 200000 as varchar), 6, '0') as user_id, t0 as created_at, scene,
    job_model as model, request_id,
    case when shape = 'dup' then task_id || '-r' else task_id end as task_id,
    case when shape = 'p_chat' then 'succeeded' else app_status end as status,
    case when app_status <> 'running' then terminal_at end as terminal_at,
    null as billing_transaction_id,
    case
        when shape in ('cff', 'over_ref', 'aws', 'p_fail') then null
        when shape = 'clean' and outcome <> 'success' and not is_chat then null
        when is_chat and shape = 'cm' then chat_q / {2 * QPU}.0
        when is_chat then chat_q / {QPU}.0
        when shape = 'cm' and gw = 'lab' then pre_q / {QPU}.0
        when shape in ('mu_task', 'cm', 'dup') then pre_q / {QPU}.0
        else (charge_q + delta_q) / {QPU}.0
    end as expected_cost_usd,
    case when chat_retry then 1 when shape = 'dup' then 1 else 0 end as retry_count,
    -- for the truth
    shape, gw, is_chat, charge_q, delta_q, chat_q, pre_q, delta_kind, refund_kind
from plan3 where has_job;

create or replace view assets as
select 'asset-' || k as asset_id, job_id, terminal_at as created_at, scene as kind,
    100000 + (h2 >> 8) % 5000000 as byte_size, asset_kind as status
from plan3 where has_job and asset_kind in ('available', 'failed')
union all
select 'asset-' || k || '-d', job_id, terminal_at + interval 1 minute, scene, 1000, 'deleted'
from plan3 where has_job and shape = 'clean' and asset_kind = 'available' and w % 33 = 0;
"""


def _codes_values() -> str:
    return ", ".join(f"('{shape}', '{code}')" for shape, codes in FINDING_CODES.items() for code in codes)


def _truth_sql() -> str:
    return f"""
create or replace table truth_findings as
with codes(shape, mismatch_type) as (values {_codes_values()}),
f as (
    select c.mismatch_type, j.*
    from jobs as j inner join codes as c on j.shape = c.shape
)
select
    mismatch_type, job_id, case when mismatch_type = 'quota_mismatch' and is_chat then null else task_id end
        as task_id, request_id,
    round(case mismatch_type
        when 'missing_usage' then expected_cost_usd
        when 'cost_mismatch' then case
            when shape in ('mu_task', 'mu_chat') then expected_cost_usd
            when shape = 'dup' then pre_q / {QPU}.0
            when is_chat then chat_q / {2 * QPU}.0
            when gw = 'lab' then (charge_q - pre_q) / {QPU}.0
            else delta_q / {QPU}.0 end
        when 'charged_for_failure' then charge_q / {QPU}.0
        when 'over_refunded' then charge_q / {QPU}.0
        when 'missing_asset' then charge_q / {QPU}.0
        when 'asset_without_success' then case when shape = 'sm_a' then charge_q / {QPU}.0 else 0 end
        when 'duplicate_create' then charge_q / {QPU}.0
        when 'quota_mismatch' then 3000 / {QPU}.0
        else 0 end, 6) as amount_usd
from f
union all
select 'orphan_usage', null, case when is_chat then null else task_id end, request_id,
    round(case when is_chat then chat_q else charge_q end / {QPU}.0, 6)
from plan3 where not has_job;

create or replace table truth_settlements as
select job_id,
    case
        when shape in ('mu_task', 'mu_chat', 'cff', 'over_ref', 'sm_a') then 'unsettled'
        when shape in ('p_chat', 'p_fail') then 'pending'
        when delta_kind = 'late' or refund_kind = 'late' then 'late'
        else 'on_time'
    end as settlement_status
from jobs where status <> 'running';
"""


def _copy_by_day(
    con: duckdb.DuckDBPyConnection, select: str, record: str, ts_col: str, landing: Path
) -> dict:
    """One COPY per UTC day the rows fall in (cheaper than COPY ... PARTITION_BY here), each to
    `<landing>/<record>/date=YYYY-MM-DD/<record>.parquet`. Returns rows per day."""
    days = con.execute(
        f"select cast({ts_col} as date) as d, count(*) from ({select}) group by 1 order by 1"
    ).fetchall()
    counts = {}
    for day, rows in days:
        target = landing / record / f"date={day.isoformat()}" / f"{record}.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        con.execute(
            f"copy (select * from ({select}) where cast({ts_col} as date) = date '{day.isoformat()}') "
            f"to '{target}' (format parquet, compression zstd)"
        )
        counts[day.isoformat()] = rows
    return counts


USAGE_FILL = {
    "billing_transaction_id": "null",
    "token_name": "case when gateway = 'main' then 'prod-key' else 'lab-key' end",
    "group_name": "case when gateway = 'main' then 'default' end",
    "cache_tokens": "null",
    "cost_usd": f"quota / {QPU}.0",
    "duration_ms": "case when record_type = 'consume' then 1200 end",
    "is_stream": "false",
    "cache_ratio": "null",
    "stream_status": "null",
    "quota_per_unit": f"case when gateway = 'main' then {QPU}.0 end",
    # issue 18 columns: the generated gateways serve none of them
    "total_tokens": "null",
    "settled_at": "null",
    "is_reserved": "null",
    "access_channel": "null",
}
TASK_FILL = {"poll_url": "null", "x_task_id": "null", "x_billing_transaction_id": "null"}


def _select(record: str, table: str, fill: dict[str, str] | None = None) -> str:
    fill = fill or {}
    types = {
        "string": "varchar",
        "int64": "bigint",
        "double": "double",
        "bool": "boolean",
        "timestamp[us, tz=UTC]": "timestamptz",
    }
    cols = []
    for name, typ in RECORDS[record].items():
        expr = fill.get(name, name)
        cols.append(f"cast({expr} as {types[str(typ)]}) as {name}")
    return f"select {', '.join(cols)} from {table}"


def generate(
    n: int,
    out: Path,
    day: date = DEFAULT_DAY,
    seed: int = 1,
    memory_limit: str = "6GB",
    threads: int | None = None,
) -> dict:
    """Write landing + truth for `n` app jobs (plus orphan rows) under `out`; return a summary."""
    out = Path(out)
    landing, truth = out / "landing", out / "truth"
    for p in (landing, truth):
        if p.exists():
            shutil.rmtree(p)
        p.mkdir(parents=True)
    started = time.perf_counter()
    tmp = out / "gen.tmp"
    con = duckdb.connect()
    try:
        con.execute("set TimeZone = 'UTC'")
        con.execute(f"set memory_limit = '{memory_limit}'")
        con.execute(f"set temp_directory = '{tmp}'")
        con.execute("set preserve_insertion_order = false")
        if threads:
            con.execute(f"set threads = {threads}")
        con.execute(_base_sql(n, day, seed))
        con.execute(_derived_sql())
        con.execute(_tables_sql())
        con.execute(_truth_sql())
        files = {
            "usage_records": _copy_by_day(
                con, _select("usage_records", "usage", USAGE_FILL), "usage_records", "created_at", landing
            ),
            "gateway_tasks": _copy_by_day(
                con, _select("gateway_tasks", "tasks", TASK_FILL), "gateway_tasks", "submitted_at", landing
            ),
            "app_jobs": _copy_by_day(
                con,
                _select("app_jobs", "jobs", {c: "null" for c in OPTIONAL_COLUMNS["app_jobs"]}),
                "app_jobs",
                "created_at",
                landing,
            ),
            "app_assets": _copy_by_day(
                con, _select("app_assets", "assets"), "app_assets", "created_at", landing
            ),
        }
        con.execute(
            f"copy (select * from truth_findings order by all) to '{truth / 'findings.parquet'}' (format parquet)"
        )
        con.execute(f"copy truth_settlements to '{truth / 'settlements.parquet'}' (format parquet)")
        findings_by_type = dict(
            con.execute("select mismatch_type, count(*) from truth_findings group by 1 order by 1").fetchall()
        )
        statuses = dict(
            con.execute(
                "select settlement_status, count(*) from truth_settlements group by 1 order by 1"
            ).fetchall()
        )
    finally:
        con.close()
        shutil.rmtree(tmp, ignore_errors=True)
    summary = {
        "jobs": n,
        "day": day.isoformat(),
        "seed": seed,
        "vars": dbt_vars_for(day),
        "rows": {rec: sum(c.values()) for rec, c in files.items()},
        "files": files,
        "truth_findings": findings_by_type,
        "truth_settlements": statuses,
        "seconds": round(time.perf_counter() - started, 2),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.scale.generate", description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=100_000)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--day", type=date.fromisoformat, default=DEFAULT_DAY)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    print(json.dumps(generate(args.jobs, args.out, args.day, args.seed), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
