"""The seeded demo world: an app that buys chat, image, video and music work from two gateways.

`build_scenario` produces, deterministically from its arguments, everything the sandbox serves and
everything a correct reconciliation should conclude:
- gateway `main` (new-api dialect): log rows and task rows exactly as new-api's tables hold them;
- gateway `lab` (TokenLab dialect): usage records and tasks in the sandbox's TokenLab JSON shape;
- the app's own `generation_jobs` / `delivered_files` rows (its own names, status words, micro-USD);
- `truth`: the injected defects, each listed with every mismatch code its rows imply at `as_of`.

The data is the state of the world at `as_of` (the server's "now"): rows stamped later do not
exist yet, TokenLab records settled later carry no billing_transaction_id yet. See README.md for the
shapes and for how each defect is built (what the reconciliation rules must make of it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pandas as pd

from orchestration.sandbox.defects import (
    add_clean_jobs,
    add_day_edges,
    add_failover_jobs,
    add_pending_jobs,
    inject_defects,
)
from orchestration.sandbox.world import (
    MAX_AS_OF_HOURS,
    MISMATCH_CODES,
    QUOTA_PER_UNIT,
    SETTLEMENT_WINDOW_HOURS,
    STUCK_TASK_SLA_MINUTES,
)
from orchestration.sandbox.world_newapi import NewApiBuilder
from orchestration.sandbox.world_tokenlab import TokenLabBuilder


@dataclass
class Scenario:
    """Everything the sandbox serves and the reconciliation should find. See module docstring."""

    seed: int
    start: date
    end: date
    as_of: datetime
    quota_per_unit: int = QUOTA_PER_UNIT
    newapi_logs: list[dict] = field(default_factory=list)
    newapi_tasks: list[dict] = field(default_factory=list)
    tokenlab_usage: list[dict] = field(default_factory=list)
    tokenlab_tasks: dict[str, dict] = field(default_factory=dict)
    app_jobs: list[dict] = field(default_factory=list)
    app_assets: list[dict] = field(default_factory=list)
    truth: dict = field(default_factory=dict)

    @property
    def range_start(self) -> datetime:
        return datetime.combine(self.start, time(), UTC)

    @property
    def range_end(self) -> datetime:
        """Exclusive end of the last day."""
        return datetime.combine(self.end + timedelta(days=1), time(), UTC)

    def canonical(self) -> dict[str, pd.DataFrame]:
        """The frames a perfect extraction of both gateways and the app DB lands for [start, end]."""
        from orchestration.sandbox.expected import canonical_frames

        return canonical_frames(self)


class Builder(NewApiBuilder, TokenLabBuilder):
    """Both gateways' generators over one seeded rng (defects.py decides what to generate)."""


def build_scenario(
    seed: int = 7,
    end: date | None = None,
    days: int = 7,
    as_of: datetime | None = None,
    jobs_per_day: int = 60,
) -> Scenario:
    """The demo world for UTC days [end-days+1 .. end] as it stands at `as_of` (see module doc)."""
    if days < 1:
        raise ValueError("days must be >= 1")
    if end is None:
        end = datetime.now(UTC).date() - timedelta(days=1)
    start = end - timedelta(days=days - 1)
    if as_of is None:
        as_of = datetime.combine(end + timedelta(days=1), time(6), UTC)
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware UTC")
    as_of = as_of.astimezone(UTC)
    range_end = datetime.combine(end + timedelta(days=1), time(), UTC)
    if not range_end <= as_of <= range_end + timedelta(hours=MAX_AS_OF_HOURS):
        raise ValueError(
            f"as_of must be within {MAX_AS_OF_HOURS}h after the end of {end} (the next "
            f"morning's run): the truth is exact only there, got {as_of.isoformat()}"
        )
    b = Builder(seed, start, end, as_of, jobs_per_day)
    add_clean_jobs(b)
    add_day_edges(b)
    add_pending_jobs(b)
    inject_defects(b)
    add_failover_jobs(b)

    logs = [row for _, _, row in sorted(b._logs, key=lambda x: (x[0], x[1]))]
    for i, row in enumerate(logs, start=1):
        row["id"] = i
    tasks = [row for _, _, row in sorted(b._tasks, key=lambda x: (x[0], x[1]))]
    for i, row in enumerate(tasks, start=1):
        row["id"] = i
    usage = sorted(b.lab_usage, key=lambda r: (r["created_at"], r["id"]))
    jobs = sorted(b.jobs, key=lambda r: (r["created_ts"], r["id"]))
    assets = sorted(b.assets, key=lambda r: (r["uploaded_ts"], r["file_id"]))
    sc = Scenario(
        seed=seed,
        start=start,
        end=end,
        as_of=as_of,
        newapi_logs=logs,
        newapi_tasks=tasks,
        tokenlab_usage=usage,
        tokenlab_tasks=dict(sorted(b.lab_tasks.items())),
        app_jobs=jobs,
        app_assets=assets,
    )
    sc.truth = _truth(sc, b.findings)
    return sc


def _truth(sc: Scenario, findings: list[dict]) -> dict:
    frames = sc.canonical()
    usage = frames["usage_records"]
    with_task = usage[usage["task_id"].notna()]
    net = with_task.groupby("task_id")["cost_usd"].sum()
    # per ledger task: a consume/refund row without a task id (the current-main pre-charge) counts
    # for the task of the job whose request id it carries
    jobs = frames["app_jobs"]
    task_of_request = dict(
        zip(jobs["request_id"].dropna(), jobs.loc[jobs["request_id"].notna(), "task_id"], strict=False)
    )
    money = usage[usage["record_type"].isin(["consume", "refund"])]
    ledger_task = (
        money["task_id"]
        .astype(object)
        .where(money["task_id"].notna(), money["request_id"].map(lambda r: task_of_request.get(r)))
    )
    ledger_net = money["cost_usd"].groupby(ledger_task.to_numpy()).sum()
    counts = {name: len(df) for name, df in frames.items()}
    counts["usage_records_by_gateway"] = {
        str(k): int(v) for k, v in usage["gateway"].value_counts().sort_index().items()
    }
    counts["findings_by_code"] = {c: sum(f["mismatch_type"] == c for f in findings) for c in MISMATCH_CODES}
    ordered = sorted(
        findings,
        key=lambda f: (f["mismatch_type"], f["job_id"] or "", f["task_id"] or "", f["request_id"] or ""),
    )
    return {
        "as_of": sc.as_of.isoformat().replace("+00:00", "Z"),
        "start": sc.start.isoformat(),
        "end": sc.end.isoformat(),
        "seed": sc.seed,
        "settlement_window_hours": SETTLEMENT_WINDOW_HOURS,
        "stuck_task_sla_minutes": STUCK_TASK_SLA_MINUTES,
        "findings": ordered,
        "record_counts": counts,
        "net_cost_by_task": {str(k): round(float(v), 6) for k, v in sorted(net.items())},
        "net_cost_by_ledger_task": {
            str(k): round(float(v), 6) for k, v in sorted(ledger_net.items()) if not pd.isna(k)
        },
    }


def write_truth(scenario: Scenario, path: str | Path) -> Path:
    """Write `scenario.truth` as JSON (what the reconciliation of this scenario must find)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(scenario.truth, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return p
