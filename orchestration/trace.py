"""`recon trace`: everything recon holds about one job, request, task or billing transaction.

Reads the warehouse read-only (like the report) and, for every stored version of each usage row,
the landing's append-only batch files (read-only, with DuckDB). The support packet is built from an
allow-list of fields, so it is redacted by construction: no key, prompt, IP, channel, token name or
user id can reach it because none is ever copied into it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import duckdb

from orchestration import storage
from orchestration.landing import partition_dir
from orchestration.reports import marts

JOBS = "stg_raw__app_jobs"
USAGE = "int_usage_records_linked"
TASKS = "stg_raw__gateway_tasks"
ASSETS = "int_assets_rolled_up"
LEDGERS = "int_task_ledgers_settled"
JOB_IDS = ("job_id", "request_id", "task_id", "billing_transaction_id")
USAGE_IDS = ("request_id", "task_id", "billing_transaction_id")

JOB_COLS = [
    "job_id",
    "request_id",
    "task_id",
    "billing_transaction_id",
    "scene",
    "model",
    "status",
    "expected_cost_usd",
    "retry_count",
    "created_at",
    "terminal_at",
]
USAGE_COLS = [
    "gateway",
    "record_key",
    "record_type",
    "request_id",
    "task_id",
    "billing_transaction_id",
    "model",
    "error_code",
    "status_code",
    "prompt_tokens",
    "completion_tokens",
    "quota",
    "cost_usd",
    "created_at",
    "version_seq",
    "is_gone",
    "gone_at",
    "job_id",
    "link_method",
]
TASK_COLS = [
    "gateway",
    "task_id",
    "status",
    "fail_reason",
    "platform",
    "action",
    "quota",
    "cost_usd",
    "submitted_at",
    "finished_at",
    "version_seq",
    "is_gone",
    "gone_at",
    "poll_url",
]
# What each stored version of a usage row shows (landing batch columns; docs/landing.md).
VERSION_COLS = ["seq", "extracted_at", "change", "gone_at", "quota", "cost_usd", "status_code", "error_code"]
ASSET_COLS = [
    "asset_count",
    "available_asset_count",
    "deleted_asset_count",
    "failed_asset_count",
    "available_bytes",
    "first_available_at",
]
LEDGER_COLS = [
    "gateway",
    "task_id",
    "charged_usd",
    "credited_usd",
    "refunded_usd",
    "net_cost_usd",
    "charge_count",
    "refund_count",
    "first_charged_at",
    "settled_at",
]
SETTLEMENT_COLS = [
    "gateway",
    "settlement_status",
    "settlement_lag_seconds",
    "net_cost_usd",
    "expected_cost_usd",
    "first_charged_at",
    "settled_at",
    "settlement_window_ends_at",
]
FINDING_COLS = [
    "finding_id",
    "mismatch_type",
    "severity",
    "direction",
    "amount_usd",
    "detail",
    "partition_date",
    "detected_at",
]


class TraceNotFound(LookupError):
    """No job, usage row or task carries the id."""


class TraceAmbiguous(LookupError):
    """The id names several jobs; `matches` lists them so the caller can pick a narrower id."""

    def __init__(self, ident: str, matches: list[str]):
        super().__init__(f"{ident!r} matches {len(matches)} jobs: {', '.join(matches)}; trace one of them")
        self.matches = matches


@dataclass
class Trace:
    id: str
    matched_on: list[str]
    job: dict | None
    usage_rows: list[dict] = field(default_factory=list)
    tasks: list[dict] = field(default_factory=list)
    assets: dict | None = None
    ledgers: list[dict] = field(default_factory=list)
    ledger_total: dict = field(default_factory=dict)
    settlement: dict | None = None
    findings: list[dict] = field(default_factory=list)
    # record_key -> every stored version of that usage row, oldest first (empty without a landing dir)
    versions: dict[str, list[dict]] = field(default_factory=dict)


def _any_of(cols: tuple[str, ...], have: list[str]) -> tuple[str, list[str]]:
    used = [c for c in cols if c in have]
    return " or ".join(f'"{c}" = ?' for c in used), used


def _matches(con, table: str, cols: tuple[str, ...], ident: str, wanted: list[str]) -> list[tuple[str, dict]]:
    where, used = _any_of(cols, marts.columns(con, table))
    if not used:
        return []
    rows = marts.select(con, table, wanted + [c for c in used if c not in wanted], where, [ident] * len(used))
    return [(next(c for c in used if r.get(c) == ident), r) for r in rows]


def build_trace(warehouse: Path | str, ident: str, landing_dir: Path | str | None = None) -> Trace:
    """Resolve `ident` to one job (or to unlinked gateway rows) and gather its trail; with
    `landing_dir`, every stored version of each usage row too."""
    with marts.read_only(warehouse) as con:
        if con is None:
            raise TraceNotFound(f"no warehouse at {warehouse}: run `recon run` first")
        t = trace_in(con, ident)
    if landing_dir is not None:
        t.versions = stored_versions(landing_dir, t.usage_rows)
    return t


def trace_in(con: duckdb.DuckDBPyConnection, ident: str) -> Trace:
    """The warehouse part of a trace, on an open read-only connection (the report calls it per finding)."""
    jobs = _matches(con, JOBS, JOB_IDS, ident, JOB_COLS)
    usage = _matches(con, USAGE, USAGE_IDS, ident, USAGE_COLS)
    tasks = _matches(con, TASKS, ("task_id",), ident, TASK_COLS)
    job_ids = sorted({r["job_id"] for _, r in jobs} | {r["job_id"] for _, r in usage if r.get("job_id")})
    if len(job_ids) > 1:
        raise TraceAmbiguous(ident, job_ids)
    if not job_ids and not usage and not tasks:
        raise TraceNotFound(f"{ident!r} is no job, request, task or billing transaction id recon holds")
    matched = sorted(
        {f"app_jobs.{c}" for c, _ in jobs}
        | {f"usage_records.{c}" for c, _ in usage}
        | {f"gateway_tasks.{c}" for c, _ in tasks}
    )
    if not job_ids:  # gateway rows no app job claims: show them alone
        return Trace(ident, matched, None, [r for _, r in usage], [r for _, r in tasks])
    job_id = job_ids[0]
    job = marts.select(con, JOBS, JOB_COLS, '"job_id" = ?', [job_id])[0]
    usage_rows = marts.select(con, USAGE, USAGE_COLS, '"job_id" = ?', [job_id], ["created_at", "record_key"])
    task_ids = sorted({t for t in [job.get("task_id")] + [u.get("task_id") for u in usage_rows] if t})
    ph = ", ".join("?" for _ in task_ids)
    task_rows = (
        marts.select(con, TASKS, TASK_COLS, f'"task_id" in ({ph})', task_ids, ["gateway", "task_id"])
        if task_ids
        else []
    )
    assets = marts.select(con, ASSETS, ASSET_COLS, '"job_id" = ?', [job_id])
    ledgers = marts.select(con, LEDGERS, LEDGER_COLS, '"job_id" = ?', [job_id], ["gateway", "task_id"])
    settlement = marts.select(con, marts.SETTLEMENTS, SETTLEMENT_COLS, '"job_id" = ?', [job_id])
    findings = marts.select(
        con,
        marts.MISMATCHES,
        FINDING_COLS,
        '"job_id" = ?',
        [job_id],
        ["severity", "amount_usd desc", "mismatch_type"],
    )
    total = {
        k: sum((Decimal(str(x[k] or 0)) for x in ledgers), Decimal(0))
        for k in ("charged_usd", "credited_usd", "net_cost_usd")
    }
    return Trace(
        ident,
        matched,
        job,
        usage_rows,
        task_rows,
        assets[0] if assets else None,
        ledgers,
        total,
        settlement[0] if settlement else None,
        findings,
    )


def _batch_files(landing_dir: Path, days: set[date]) -> list[str]:
    """The usage batch files of `days` and their neighbours (a row lands in its UTC day's folder;
    the neighbours cover a created_at that the gateway and the app round differently)."""
    near = sorted({d + timedelta(days=k) for d in days for k in (-1, 0, 1)})
    return [
        str(p)
        for d in near
        for p in storage.glob(partition_dir(landing_dir, "usage_records", d), "batch-*.parquet")
    ]


def stored_versions(landing_dir: Path | str, usage_rows: list[dict]) -> dict[str, list[dict]]:
    """Every stored version of each usage row, oldest first, read read-only from the landing batches
    (DuckDB over the Parquet files): `seq`, `extracted_at`, `change` (new, changed, back, gone) and the
    money fields of that version. Rows whose batches are not found map to an empty list."""
    out: dict[str, list[dict]] = {u["record_key"]: [] for u in usage_rows if u.get("record_key")}
    days = {u["created_at"].astimezone(UTC).date() for u in usage_rows if u.get("created_at") is not None}
    root = storage.root(landing_dir)
    files = _batch_files(root, days) if out else []
    if not files:
        return out
    con = duckdb.connect(":memory:")
    try:
        con.execute("set TimeZone = 'UTC'")
        storage.duckdb_register(con, root)
        con.read_parquet(files, union_by_name=True).create_view("batches")
        have = {r[0] for r in con.execute("describe batches").fetchall()}
        wanted = {
            "seq": "_seq",
            "extracted_at": "_extracted_at",
            "change": "_change",
            "gone_at": "_gone_at",
            "quota": "quota",
            "cost_usd": "cost_usd",
            "status_code": "status_code",
            "error_code": "error_code",
        }
        exprs = ", ".join(f'"{c}" as "{k}"' if c in have else f'null as "{k}"' for k, c in wanted.items())
        ph = ", ".join("?" for _ in out)
        rows = con.execute(
            f'select "gateway", "record_key", {exprs} from batches where "record_key" in ({ph}) '
            f'order by "record_key", "_seq"',
            list(out),
        ).fetchall()
    finally:
        con.close()
    gateways = {u["record_key"]: u.get("gateway") for u in usage_rows}
    for gateway, key, *vals in rows:
        if gateways.get(key) in (None, gateway):
            out[key].append(dict(zip(VERSION_COLS, vals, strict=False)))
    return out


def _plain(v: object) -> object:
    if isinstance(v, Decimal):
        return format(v, "f")  # full precision, never exponent notation (0E-10)
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v


def to_json(t: Trace) -> str:
    """The documented JSON shape (docs/trace.md)."""

    def clean(x):
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, list):
            return [clean(v) for v in x]
        return _plain(x)

    usage = [{**u, "versions": t.versions.get(u["record_key"])} for u in t.usage_rows]
    doc = {
        "id": t.id,
        "matched_on": t.matched_on,
        "job": t.job,
        "usage_rows": usage,
        "tasks": t.tasks,
        "assets": t.assets,
        "ledger": {"tasks": t.ledgers, **t.ledger_total},
        "settlement": t.settlement,
        "findings": t.findings,
    }
    return json.dumps(clean(doc), indent=2, sort_keys=False)


def _s(v: object) -> str:
    return "-" if v is None else str(_plain(v))


def _kv(d: dict | None) -> str:
    return "  (none)" if not d else "\n".join(f"  {k}: {_plain(v)}" for k, v in d.items() if v is not None)


def to_text(t: Trace) -> str:
    """A human trail, section by section."""
    out = [
        f"trace {t.id} (matched on {', '.join(t.matched_on)})",
        "",
        "app job:",
        _kv(t.job),
        "",
        f"usage rows ({len(t.usage_rows)}):",
    ]
    for u in t.usage_rows:
        served = "gone from the gateway" if u.get("is_gone") else "still served"
        out.append(
            f"  {u['record_key']} {u['record_type']} {_s(u['created_at'])} cost {_s(u['cost_usd'])} "
            f"status {_s(u['status_code'])} version {_s(u['version_seq'])} ({served}), "
            f"linked by {_s(u['link_method'])}"
        )
        for v in t.versions.get(u["record_key"], []):
            out.append(
                f"    stored version {v['seq']} ({v['change']}) extracted {_s(v['extracted_at'])}: "
                f"cost {_s(v['cost_usd'])} status {_s(v['status_code'])}"
            )
    out += ["", f"gateway tasks ({len(t.tasks)}):"] + [
        f"  {x['gateway']} {x['task_id']} {x['status']} {_plain(x['finished_at'])}" for x in t.tasks
    ]
    out += ["", "assets:", _kv(t.assets), "", "ledger:"]
    out += [
        f"  {x['task_id']}: charged {_s(x['charged_usd'])} credited {_s(x['credited_usd'])} "
        f"net {_s(x['net_cost_usd'])}"
        for x in t.ledgers
    ]
    if t.ledger_total:
        out.append("  total: " + ", ".join(f"{k} {_s(v)}" for k, v in t.ledger_total.items()))
    out += ["", "settlement:", _kv(t.settlement), "", f"findings ({len(t.findings)}):"]
    out += [
        f"  {f['severity']} {f['mismatch_type']} {f['direction']} {_s(f['amount_usd'])} USD: {f['detail']}"
        for f in t.findings
    ]
    return "\n".join(out)


def to_packet(t: Trace, fallback: dict | None = None) -> str:
    """The support packet as Markdown, from an allow-list of non-secret fields only. `fallback`
    (a finding's request_id, task_id, gateway, model) stands in for a usage row when there is none."""
    job = t.job or {}
    first = (
        t.usage_rows[0]
        if t.usage_rows
        else {k: (fallback or {}).get(k) for k in ("request_id", "task_id", "gateway", "model")}
    )
    task = t.tasks[0] if t.tasks else {}
    rows = [
        ("request_id", job.get("request_id") or first.get("request_id")),
        ("task_id", job.get("task_id") or first.get("task_id") or task.get("task_id")),
        ("billing_transaction_id", job.get("billing_transaction_id") or first.get("billing_transaction_id")),
        ("gateway", first.get("gateway") or task.get("gateway")),
        ("endpoint", first.get("record_type") or task.get("action")),
        ("model", job.get("model") or first.get("model")),
        ("created_at", job.get("created_at") or first.get("created_at")),
        ("task status", task.get("status")),
        ("poll_url", public_url(task.get("poll_url"))),
        (
            "task submitted_at / finished_at",
            f"{_plain(task.get('submitted_at'))} / {_plain(task.get('finished_at'))}" if task else None,
        ),
        (
            "status codes",
            ", ".join(
                sorted({str(u["status_code"]) for u in t.usage_rows if u.get("status_code") is not None})
            )
            or None,
        ),
        (
            "public error",
            ", ".join(sorted({str(u["error_code"]) for u in t.usage_rows if u.get("error_code")}))
            or task.get("fail_reason"),
        ),
        ("expected cost (USD)", job.get("expected_cost_usd")),
        ("actual net charge (USD)", t.ledger_total.get("net_cost_usd") if t.ledger_total else None),
    ]
    lines = ["## Support packet", "", "| field | value |", "|---|---|"]
    lines += [f"| {k} | {_md(_plain(v))} |" for k, v in rows if v not in (None, "")]
    if t.findings:
        lines += ["", "### What recon found", ""]
        lines += [
            f"- {f['mismatch_type']} ({f['direction']}, {f['amount_usd']} USD): {_md(f['detail'])}"
            for f in t.findings
        ]
    return "\n".join(lines) + "\n"


def public_url(url: str | None) -> str | None:
    """A poll URL as a packet may carry it: scheme, host and path only (a query string or user info
    could hold a key, so neither is ever copied)."""
    if not url:
        return None
    parts = urlsplit(str(url))
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", "")) or None


def _md(v: object) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")
