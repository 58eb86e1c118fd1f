"""A plain-pandas reading of DESIGN.md's reconciliation rules, used to check the sandbox's truth.

Not the product (dbt owns the product's joins): this exists so the scenario's test can prove that
the injected defects imply exactly the codes the truth lists and that the clean noise implies none,
under rules written out explicitly here (README.md, "Rules the truth assumes").
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

TERMINAL = ("succeeded", "failed")


def _s(v: object) -> str | None:
    return None if v is None or pd.isna(v) else str(v)


def reconcile(
    frames: dict[str, pd.DataFrame],
    as_of: datetime,
    window_hours: float = 48,
    sla_minutes: float = 60,
    tol_usd: float = 0.000002,
    tol_ratio: float = 0.01,
    late_after_minutes: float = 15,
    asset_scenes: list[str] | None = None,
    fallback_minutes: float = 2,
) -> list[dict]:
    """Findings as dicts (mismatch_type, job_id, task_id, request_id) for the landed frames."""
    usage = frames["usage_records"].copy()
    tasks = frames["gateway_tasks"]
    jobs = frames["app_jobs"]
    assets = frames["app_assets"]
    out: list[dict] = []
    window = timedelta(hours=window_hours)
    money = usage[usage["record_type"].isin(["consume", "refund"])]

    def add(code: str, job_id: object = None, task_id: object = None, request_id: object = None) -> None:
        out.append(
            {
                "mismatch_type": code,
                "job_id": _s(job_id),
                "task_id": _s(task_id),
                "request_id": _s(request_id),
            }
        )

    task_by_id = {r.task_id: r for r in tasks.itertuples()}
    available = set(assets.loc[assets["status"] == "available", "job_id"].dropna())
    if asset_scenes is None:  # learned: the scenes for which the app's asset records hold any asset
        asset_scenes = sorted(
            set(jobs.loc[jobs["job_id"].isin(set(assets["job_id"].dropna())), "scene"].dropna())
        )
    late = timedelta(minutes=late_after_minutes)
    linked_keys: set[str] = set()
    linked_tasks_all: set[str] = set()
    task_of_job: dict[str, str] = {}
    fallback_rows, ambiguous_keys = _fallback_match(money, jobs, fallback_minutes)
    for job_id in sorted(ambiguous_keys):
        add("ambiguous_match", job_id)

    for j in jobs.itertuples():
        rid, tid = _s(j.request_id), _s(j.task_id)
        by_req = money[money["request_id"] == rid] if rid else money.iloc[0:0]
        task_ids = set(by_req["task_id"].dropna())
        if tid:
            task_ids.add(tid)
        rows = (
            money[(money["request_id"] == rid) | money["task_id"].isin(task_ids)]
            if rid
            else money[
                money["task_id"].isin(task_ids) | money["record_key"].isin(fallback_rows.get(j.job_id, ()))
            ]
        )
        linked_keys |= set(rows["record_key"])
        linked_tasks_all |= task_ids
        if tid:
            task_of_job[tid] = j.job_id
        net = float(rows["cost_usd"].sum()) if len(rows) else 0.0
        gt = task_by_id.get(tid) if tid else None
        gstatus = None
        if gt is not None and gt.status in TERMINAL:
            gstatus = (
                "cancelled"
                if (gt.status == "failed" and bool(gt.is_cancelled is not pd.NA and gt.is_cancelled))
                else gt.status
            )
        eff = gstatus or j.status
        terminal_at = (
            j.terminal_at
            if not pd.isna(j.terminal_at)
            else (gt.finished_at if gt is not None and not pd.isna(gt.finished_at) else None)
        )
        past = (
            terminal_at is not None
            and terminal_at + window <= as_of
            and eff in ("succeeded", "failed", "cancelled")
        )
        # money final: a sync job once its row exists, a task once the gateway (where it has the
        # task) is terminal and late_after_minutes passed, any job once the window passed
        terminal = terminal_at is not None and eff in ("succeeded", "failed", "cancelled")
        if tid:
            final = terminal and (gt is None or gstatus is not None) and terminal_at + late <= as_of
        else:
            final = terminal and len(rows) > 0
        final = final or past
        if past and eff == "succeeded" and net <= tol_usd:
            add("missing_usage", j.job_id)
        if past and eff in ("failed", "cancelled") and net > tol_usd:
            add("charged_for_failure", j.job_id)
        # a row without a task id (the current-main pre-charge) belongs to the job's own task
        ledger_task = rows["task_id"].astype(object).where(rows["task_id"].notna(), tid)
        per_task = rows["cost_usd"].groupby(ledger_task.to_numpy()).sum() if len(rows) else rows["cost_usd"]
        if net < -tol_usd:  # the job's whole ledger, whichever id linked each row
            add("over_refunded", j.job_id)
        if (
            final
            and eff == "succeeded"
            and j.scene in asset_scenes
            and net > tol_usd
            and j.job_id not in available
        ):
            add("missing_asset", j.job_id)
        if j.job_id in available and eff != "succeeded":
            add("asset_without_success", j.job_id)
        if gstatus is not None and gstatus != j.status:
            add("status_mismatch", j.job_id)
        exp = j.expected_cost_usd
        if final and not pd.isna(exp) and abs(net - exp) > max(tol_usd, tol_ratio * abs(exp)):
            add("cost_mismatch", j.job_id)
        consumes = rows[rows["record_type"] == "consume"]
        if final and (consumes["model"].dropna() != j.model).any():
            add("model_mismatch", j.job_id)
        charged = [t for t, v in per_task.items() if v > tol_usd]
        if len(charged) > 1:
            add("duplicate_create", j.job_id)
        for r in rows.itertuples():
            if final and _quota_off(r):
                add("quota_mismatch", j.job_id)

    ambiguous_rows = {k for keys in ambiguous_keys.values() for k in keys}
    orphans = money[
        (money["record_type"] == "consume")
        & ~money["record_key"].isin(linked_keys)
        & ~money["record_key"].isin(ambiguous_rows)
        & ~money["task_id"].isin(linked_tasks_all)
    ]
    for r in orphans.itertuples():
        add("orphan_usage", None, r.task_id, r.request_id)
    for t in tasks.itertuples():
        if (
            t.status in ("queued", "running", "unknown")
            and t.submitted_at + timedelta(minutes=sla_minutes) <= as_of
        ):
            add("stuck_task", task_of_job.get(t.task_id), t.task_id)
    return out


def _fallback_match(
    money: pd.DataFrame, jobs: pd.DataFrame, minutes: float
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """DESIGN's fallback for id-less rows: a consume row without ids fits an id-less job of the same
    model whose token name and token counts (where the app kept them) agree, created between the
    job's creation and `minutes` after its end. ({job: [linked row keys]}, {job: [ambiguous row keys]}):
    a row fitting one job links to it (a job with several takes the nearest to its end), a row
    fitting several links to none and is ambiguous for each."""
    rows = money[
        (money["record_type"] == "consume")
        & money["request_id"].isna()
        & money["task_id"].isna()
        & money["billing_transaction_id"].isna()
    ]
    idless = jobs[jobs["request_id"].isna() & jobs["task_id"].isna() & jobs["billing_transaction_id"].isna()]
    fits: dict[str, list[tuple[str, float]]] = {}
    for r in rows.itertuples():
        for j in idless.itertuples():
            end = j.terminal_at if not pd.isna(j.terminal_at) else j.created_at
            ok = (
                _s(r.model) is not None
                and _s(j.model) is not None
                and str(r.model).lower() == str(j.model).lower()
                and j.created_at <= r.created_at <= end + timedelta(minutes=minutes)
                and all(
                    pd.isna(getattr(j, c)) or getattr(r, c) == getattr(j, c)
                    for c in ("token_name", "prompt_tokens", "completion_tokens")
                )
            )
            if ok:
                fits.setdefault(r.record_key, []).append(
                    (j.job_id, abs((r.created_at - end).total_seconds()))
                )
    linked: dict[str, list[str]] = {}
    ambiguous: dict[str, list[str]] = {}
    nearest: dict[str, tuple[float, str]] = {}
    for key, cands in fits.items():
        if len(cands) > 1:
            for job_id, _ in cands:
                ambiguous.setdefault(job_id, []).append(key)
        else:
            job_id, dist = cands[0]
            if job_id not in nearest or (dist, key) < nearest[job_id]:
                nearest[job_id] = (dist, key)
    for job_id, (_, key) in nearest.items():
        linked[job_id] = [key]
    return linked, ambiguous


def _quota_off(r: object) -> bool:
    """DESIGN.md's quota check on one new-api row (±1 unit for rounding)."""
    if r.record_type not in ("consume",) or pd.isna(r.quota) or pd.isna(r.quota_per_unit):
        return False
    if not pd.isna(r.pre_consumed_quota) and not pd.isna(r.actual_quota):
        return abs(abs(r.quota) - abs(r.actual_quota - r.pre_consumed_quota)) > 1
    if not pd.isna(r.model_price) and r.model_price > 0:
        gr = 1.0 if pd.isna(r.group_ratio) else r.group_ratio
        return abs(r.quota - r.model_price * r.quota_per_unit * gr) > 1
    if not pd.isna(r.model_ratio):
        cache = 0 if pd.isna(r.cache_tokens) else r.cache_tokens
        cr = 1.0 if pd.isna(r.cache_ratio) else r.cache_ratio
        comp = 1.0 if pd.isna(r.completion_ratio) else r.completion_ratio
        gr = 1.0 if pd.isna(r.group_ratio) else r.group_ratio
        want = (r.prompt_tokens - cache + cache * cr + r.completion_tokens * comp) * r.model_ratio * gr
        return abs(r.quota - want) > 1
    return False
