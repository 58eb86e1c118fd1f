"""Operator checks: thresholds a person acts on, each with its own owner, as plain functions.

Every check is a function of a read-only DuckDB connection, the run's days and the thresholds that
returns a :class:`CheckOutcome` (a test calls it without Dagster). `orchestration.assets.mart_checks`
runs them as Dagster asset checks on the marts they read (`CHECK_MARTS`) and posts the failing ones
to the webhook (`orchestration.alerts`). Findings are data: a failing check warns or errors in the
UI, it never fails the run.

Thresholds are the config's `alerts:` block (:class:`orchestration.config.AlertsConfig`, the one
place their names and defaults live; dbt gets the same values as vars).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path

from orchestration.check_outcome import ERROR, WARN, CheckOutcome
from orchestration.config import AlertsConfig as Thresholds
from orchestration.reports import marts

__all__ = ["ERROR", "WARN", "CheckOutcome", "Thresholds", "Window", "evaluate", "quarantine_outcome"]

# Who acts on each gateway error class (the mart's `owner` column wins when present).
ERROR_OWNERS = {
    "401": "whoever owns the gateway token: rotate or fix the credentials",
    "402": "finance: top up the gateway balance",
    "429": "capacity: raise the gateway limits or lower max_concurrency",
    "5xx": "gateway ops: upstream outage, open a ticket with the gateway",
    "400": "app engineering: the gateway rejects what the app sends, fix the request",
    "403": "whoever owns the gateway token: the key may not use that model or group",
}
ERROR_SEVERITY = {"401": ERROR, "402": ERROR, "429": WARN, "5xx": WARN, "400": WARN, "403": ERROR}


@dataclass(frozen=True)
class Window:
    """The run's UTC days, and the instant the run counts as now."""

    first_day: date
    last_day: date
    as_of: datetime


def _days_where(con, table: str, col: str, w: Window) -> tuple[str, list]:
    if col in marts.columns(con, table):
        return f'"{col}" between ? and ?', [w.first_day, w.last_day]
    return "", []


def _missing(name: str, table: str, severity: str, owner: str) -> CheckOutcome:
    return CheckOutcome(
        name,
        False,
        severity,
        f"{table} is missing: the dbt build did not produce it",
        owner,
        [f"table {table} not found in the warehouse"],
    )


def check_money_at_risk(con, w: Window, t: Thresholds) -> CheckOutcome:
    name, owner = "money_at_risk", "finance + app engineering: work through the report's findings"
    if not marts.columns(con, marts.MISMATCHES):
        return _missing(name, marts.MISMATCHES, ERROR, owner)
    where, params = _days_where(con, marts.MISMATCHES, "partition_date", w)
    from orchestration.reports import money

    # streamed (a 2M-job day holds one batch at a time); each job's dollars once per direction (its
    # largest amount), never the sum of its findings
    by_direction = money.by_direction(marts.stream(con, marts.MISMATCHES, money.ROW_COLUMNS, where, params))
    total = sum(by_direction.values())
    findings = con.execute(
        f"select count(*) from {marts.MISMATCHES}" + (f" where {where}" if where else ""), params
    ).fetchone()[0]
    passed = total <= t.money_at_risk_usd
    top = sorted(by_direction.items(), key=lambda kv: -kv[1])
    failures = [] if passed else [f"{d}: {usd:.6f} USD" for d, usd in top if usd > 0]
    split = ", ".join(f"{d} {usd:.6f}" for d, usd in by_direction.items() if usd > 0)
    return CheckOutcome(
        name,
        passed,
        ERROR,
        f"money at risk {total:.6f} USD (limit {t.money_at_risk_usd:.2f})" + (f": {split}" if split else ""),
        owner,
        failures,
        {
            "money_at_risk_usd": float(round(total, 6)),
            "limit_usd": float(t.money_at_risk_usd),
            "findings": int(findings),
            **{f"{d}_usd": float(round(usd, 6)) for d, usd in by_direction.items()},
        },
    )


def check_new_mismatch_code(con, w: Window, t: Thresholds) -> CheckOutcome:
    """A code with findings first seen today while no finding of that code was open at the end of yesterday."""
    name, owner = "new_mismatch_code", "app engineering: a new kind of drift started, look at its first rows"
    need = {"mismatch_type", "first_seen_at", "resolved_at"}
    have = set(marts.columns(con, marts.HISTORY))
    if not need <= have:
        return _missing(name, marts.HISTORY, WARN, owner)
    now = (
        con.execute(f"select max(last_seen_at) from {marts.HISTORY}").fetchone()[0]
        if "last_seen_at" in have
        else None
    )
    now = now or w.as_of
    cutoff = datetime.combine(now.astimezone(UTC).date(), time.min, tzinfo=UTC)
    earlier = con.execute(
        f"select count(*) from {marts.HISTORY} where first_seen_at < ?", [cutoff]
    ).fetchone()[0]
    if not earlier:
        return CheckOutcome(
            name, True, WARN, "no run before today to compare with", owner, metadata={"new_codes": ""}
        )
    prev = {
        r[0]
        for r in con.execute(
            f"select distinct mismatch_type from {marts.HISTORY} where first_seen_at < ? "
            "and (resolved_at is null or resolved_at >= ?)",
            [cutoff, cutoff],
        ).fetchall()
    }
    fresh = con.execute(
        f"select mismatch_type, count(*) from {marts.HISTORY} where first_seen_at >= ? and resolved_at is null "
        "group by 1 order by 1",
        [cutoff],
    ).fetchall()
    new = [(code, n) for code, n in fresh if code not in prev]
    failures = [f"{code}: {n} finding(s), none open yesterday" for code, n in new]
    summary = (
        f"new today: {', '.join(c for c, _ in new)}"
        if new
        else "every code with findings today was already open yesterday"
    )
    return CheckOutcome(
        name,
        not new,
        WARN,
        summary,
        owner,
        failures,
        {"new_codes": ", ".join(c for c, _ in new), "compared_to_before": cutoff.isoformat()},
    )


def check_stuck_tasks(con, w: Window, t: Thresholds) -> CheckOutcome:
    name, owner = "stuck_tasks", "gateway ops: tasks past the SLA, poll or cancel them at the gateway"
    if not marts.columns(con, marts.MISMATCHES):
        return _missing(name, marts.MISMATCHES, WARN, owner)
    where, params = _days_where(con, marts.MISMATCHES, "partition_date", w)
    where = f"mismatch_type = 'stuck_task'{' and ' + where if where else ''}"
    rows = marts.select(
        con,
        marts.MISMATCHES,
        ["job_id", "task_id", "gateway", "detail"],
        where,
        params,
        ["task_id", "job_id"],
    )
    n = len(rows)
    severity = ERROR if n >= t.stuck_tasks_error else WARN
    failures = (
        [
            f"task {r['task_id'] or '-'} (job {r['job_id'] or '-'}, {r['gateway'] or '?'}): {r['detail']}"
            for r in rows[:20]
        ]
        if n >= t.stuck_tasks_warn
        else []
    )
    return CheckOutcome(
        name,
        n < t.stuck_tasks_warn,
        severity,
        f"{n} task(s) stuck past the SLA (warn at {t.stuck_tasks_warn}, error at {t.stuck_tasks_error})",
        owner,
        failures,
        {"stuck_tasks": n},
    )


def check_settlement_p95(con, w: Window, t: Thresholds) -> CheckOutcome:
    name, owner = "settlement_p95", "gateway ops: settlement is running late, ask the gateway"
    if not marts.columns(con, marts.LAG_DAILY):
        return _missing(name, marts.LAG_DAILY, WARN, owner)
    where, params = _days_where(con, marts.LAG_DAILY, "terminal_date", w)
    rows = marts.select(
        con,
        marts.LAG_DAILY,
        ["terminal_date", "scene", "model", "p95_lag_seconds"],
        where,
        params,
        ["terminal_date", "scene", "model"],
    )
    worst = max((float(r["p95_lag_seconds"]) for r in rows if r["p95_lag_seconds"] is not None), default=None)
    slow = [
        r
        for r in rows
        if r["p95_lag_seconds"] is not None and float(r["p95_lag_seconds"]) > t.settlement_p95_seconds
    ]
    failures = [
        f"{r['terminal_date']} {r['scene']}/{r['model']}: p95 {float(r['p95_lag_seconds']):.0f}s"
        for r in slow
    ]
    shown = "n/a" if worst is None else f"{worst:.0f}s"
    return CheckOutcome(
        name,
        not slow,
        WARN,
        f"worst settlement p95 {shown} (limit {t.settlement_p95_seconds:.0f}s)",
        owner,
        failures,
        {"worst_p95_seconds": worst if worst is not None else -1.0},
    )


def check_gateway_errors(error_class: str) -> Callable:
    """One check per error class: the owners differ (credentials, balance, capacity, upstream)."""

    def _check(con, w: Window, t: Thresholds) -> CheckOutcome:
        name = f"gateway_errors_{error_class.lower()}"
        owner = ERROR_OWNERS[error_class]
        severity = ERROR_SEVERITY[error_class]
        if not marts.columns(con, marts.ERROR_ALERTS):
            return _missing(name, marts.ERROR_ALERTS, severity, owner)
        where, params = _days_where(con, marts.ERROR_ALERTS, "error_date", w)
        where = f"error_class = '{error_class}'{' and ' + where if where else ''}"
        rows = marts.select(
            con,
            marts.ERROR_ALERTS,
            ["error_date", "gateway", "error_count", "request_count", "error_rate", "is_alert", "owner"],
            where,
            params,
            ["error_date", "gateway"],
        )
        limit = t.error_min(error_class)
        bad = [r for r in rows if r["is_alert"] or int(r["error_count"] or 0) >= limit]
        total = sum(int(r["error_count"] or 0) for r in rows)
        if rows and rows[0]["owner"]:
            owner = str(rows[0]["owner"])
        failures = [
            f"{r['error_date']} gateway {r['gateway']}: {r['error_count']} x {error_class} of "
            f"{r['request_count']} requests"
            + (
                f" (rate {float(r['error_rate'] or 0):.1%}, over the mart's alert rate)"
                if r["is_alert"]
                else ""
            )
            for r in bad
        ]
        return CheckOutcome(
            name,
            not bad,
            severity,
            f"{total} {error_class} error(s) (alert at {limit} a day per gateway or the mart's "
            "error-rate alert)",
            owner,
            failures,
            {"error_count": total},
        )

    _check.__name__ = f"check_gateway_errors_{error_class.lower()}"
    return _check


def check_gateway_error_rate(con, w: Window, t: Thresholds) -> CheckOutcome:
    """WARN when a gateway day's errors of every class together exceed alerts.error_rate_overall (the
    consoles' 10 %), even if no class crosses its own count: the gateway as a whole is failing."""
    name, owner = (
        "gateway_error_rate",
        "gateway ops: a large share of the day's requests failed, see the classes",
    )
    if not marts.columns(con, marts.ERROR_RATE):
        return _missing(name, marts.ERROR_RATE, WARN, owner)
    where, params = _days_where(con, marts.ERROR_RATE, "error_date", w)
    rows = marts.select(
        con,
        marts.ERROR_RATE,
        ["error_date", "gateway", "error_count", "request_count", "error_rate", "is_alert"],
        where,
        params,
        ["error_date", "gateway"],
    )
    bad = [r for r in rows if r["is_alert"]]
    failures = [
        f"{r['error_date']} gateway {r['gateway']}: {r['error_count']} error(s) of {r['request_count']} "
        f"requests ({float(r['error_rate'] or 0):.1%}, limit {t.error_rate_overall:.1%})"
        for r in bad
    ]
    worst = max((float(r["error_rate"] or 0) for r in rows), default=0.0)
    return CheckOutcome(
        name,
        not bad,
        WARN,
        f"{len(bad)} gateway day(s) above the {t.error_rate_overall:.1%} error rate (from {t.error_min_volume} requests); "
        f"worst {worst:.1%}",
        owner,
        failures,
        {"alert_days": len(bad), "worst_error_rate": worst},
    )


def check_spend_anomaly(con, w: Window, t: Thresholds) -> CheckOutcome:
    name, owner = "spend_anomaly", "finance: spend jumped above its recent history, confirm it is real usage"
    if not marts.columns(con, marts.SPEND_DAILY):
        return _missing(name, marts.SPEND_DAILY, WARN, owner)
    where, params = _days_where(con, marts.SPEND_DAILY, "spend_date", w)
    rows = marts.select(
        con,
        marts.SPEND_DAILY,
        ["spend_date", "gateway", "net_spend_usd", "anomaly_threshold_usd", "is_anomaly", "history_basis"],
        where,
        params,
        ["spend_date", "gateway"],
    )
    bad = [r for r in rows if r["is_anomaly"]]
    failures = [
        f"{r['spend_date']} gateway {r['gateway']}: {float(r['net_spend_usd'] or 0):.2f} USD "
        f"(above {float(r['anomaly_threshold_usd'] or 0):.2f}"
        + (f", compared with {r['history_basis']})" if r["history_basis"] else ")")
        for r in bad
    ]
    short = sorted(
        {
            f"{r['gateway']} {r['history_basis']}"
            for r in rows
            if r["history_basis"] and not str(r["history_basis"]).startswith("full")
        }
    )
    return CheckOutcome(
        name,
        len(bad) < t.spend_anomaly_days_warn,
        WARN,
        f"{len(bad)} anomalous spend day(s) (mean + {t.spend_sigma:g} sd of up to {t.spend_history_days} "
        f"previous days)" + (f"; short or no history: {'; '.join(short[:5])}" if short else ""),
        owner,
        failures,
        {"anomalous_days": len(bad)},
    )


def check_high_token_requests(con, w: Window, t: Thresholds) -> CheckOutcome:
    """WARN on requests far above their model's usual size (mean + alerts.request_tokens_sigma sd of
    the model's recent requests) or above the model's cap in alerts.request_tokens_max."""
    name = "high_token_requests"
    owner = "app engineering: a prompt or a loop grew far past its model's usual size, find the caller"
    if not marts.columns(con, marts.HIGH_TOKENS):
        return _missing(name, marts.HIGH_TOKENS, WARN, owner)
    where, params = _days_where(con, marts.HIGH_TOKENS, "request_date", w)
    rows = marts.select(
        con,
        marts.HIGH_TOKENS,
        [
            "request_date",
            "gateway",
            "model",
            "record_key",
            "request_id",
            "token_name",
            "total_tokens",
            "history_requests",
            "history_mean_tokens",
            "history_stddev_tokens",
            "threshold_tokens",
            "cap_tokens",
            "is_above_usual",
            "is_above_cap",
        ],
        where,
        params,
        ["request_date", "gateway", "model", "record_key"],
    )

    def why(r: dict) -> str:
        parts = []
        if r["is_above_usual"]:
            parts.append(
                f"above {float(r['threshold_tokens']):.0f} = mean {float(r['history_mean_tokens']):.0f} + "
                f"{t.request_tokens_sigma:g} sd {float(r['history_stddev_tokens'] or 0):.0f} of "
                f"{r['history_requests']} earlier request(s)"
            )
        if r["is_above_cap"]:
            parts.append(f"above the cap {r['cap_tokens']}")
        return "; ".join(parts)

    failures = [
        f"{r['request_date']} gateway {r['gateway']} model {r['model']}: request "
        f"{r['request_id'] or r['record_key']} (token {r['token_name'] or '-'}) {r['total_tokens']} tokens, "
        f"{why(r)}"
        for r in rows[:20]
    ]
    return CheckOutcome(
        name,
        len(rows) < t.high_token_requests_warn,
        WARN,
        f"{len(rows)} high-token request(s) (mean + {t.request_tokens_sigma:g} sd of the model's last "
        f"{t.request_tokens_history_days} days, from {t.request_tokens_min_history} requests"
        + (
            f"; caps: {', '.join(f'{m} {n}' for m, n in sorted(t.request_tokens_max.items()))}"
            if t.request_tokens_max
            else ""
        )
        + ")",
        owner,
        failures,
        {"high_token_requests": len(rows)},
    )


def check_gateway_totals(con, w: Window, t: Thresholds) -> CheckOutcome:
    """ERROR when a gateway's own total for a day (new-api's stat endpoint) and the consume rows recon
    holds for that day differ by more than alerts.gateway_totals_tolerance_quota: rows are missing
    from the log or the summary is wrong (new-api #7105), either way the bill is not the rows."""
    name = "gateway_totals"
    owner = "gateway ops + finance: the gateway's summary and its log rows disagree, ask the gateway which is right"
    if not marts.columns(con, marts.GATEWAY_TOTALS):
        return _missing(name, marts.GATEWAY_TOTALS, ERROR, owner)
    where, params = _days_where(con, marts.GATEWAY_TOTALS, "total_date", w)
    rows = marts.select(
        con,
        marts.GATEWAY_TOTALS,
        [
            "total_date",
            "gateway",
            "gateway_quota",
            "detail_quota",
            "quota_difference",
            "gateway_usd",
            "detail_usd",
            "detail_rows",
            "endpoint",
            "is_disagreement",
        ],
        where,
        params,
        ["total_date", "gateway"],
    )
    bad = [r for r in rows if r["is_disagreement"]]
    failures = [
        f"{r['total_date']} gateway {r['gateway']}: {r['endpoint']} reports quota {r['gateway_quota']} "
        f"({float(r['gateway_usd'] or 0):.6f} USD), the {r['detail_rows']} consume row(s) recon holds sum to "
        f"{r['detail_quota']} ({float(r['detail_usd'] or 0):.6f} USD): {r['quota_difference']:+d} units "
        f"(tolerance {t.gateway_totals_tolerance_quota})"
        for r in bad
    ]
    return CheckOutcome(
        name,
        not bad,
        ERROR,
        f"{len(bad)} of {len(rows)} gateway day(s) whose own total disagrees with the detail rows"
        + ("" if rows else " (no gateway total in the run's days: none offered, or not read yet)"),
        owner,
        failures,
        {"disagreeing_days": len(bad), "compared_days": len(rows)},
    )


def check_usage_coverage(con, w: Window, t: Thresholds) -> CheckOutcome:
    """ERROR when a gateway day the run needs (it has app jobs) holds no complete usage extraction:
    its jobs are not judged on money (coverage_gap findings)."""
    name = "usage_coverage"
    owner = "recon operator: re-run the day while the gateway still has it, or land its console export"
    if not marts.columns(con, marts.MISMATCHES):
        return _missing(name, marts.MISMATCHES, ERROR, owner)
    where, params = _days_where(con, marts.MISMATCHES, "partition_date", w)
    where = f"mismatch_type = 'coverage_gap' and {where}" if where else "mismatch_type = 'coverage_gap'"
    rows = marts.select(
        con,
        marts.MISMATCHES,
        ["gateway", "partition_date", "detail"],
        where,
        params,
        ["partition_date", "gateway"],
    )
    failures = [f"{r['partition_date']} gateway {r['gateway']}: {r['detail']}" for r in rows]
    return CheckOutcome(
        name,
        not rows,
        ERROR,
        f"{len(rows)} gateway day(s) with app jobs and no complete usage extraction",
        owner,
        failures,
        {"uncovered_days": len(rows)},
    )


CHECKS: dict[str, Callable] = {
    "money_at_risk": check_money_at_risk,
    "new_mismatch_code": check_new_mismatch_code,
    "stuck_tasks": check_stuck_tasks,
    "settlement_p95": check_settlement_p95,
    "gateway_errors_401": check_gateway_errors("401"),
    "gateway_errors_402": check_gateway_errors("402"),
    "gateway_errors_429": check_gateway_errors("429"),
    "gateway_errors_5xx": check_gateway_errors("5xx"),
    "gateway_errors_400": check_gateway_errors("400"),
    "gateway_errors_403": check_gateway_errors("403"),
    "gateway_error_rate": check_gateway_error_rate,
    "spend_anomaly": check_spend_anomaly,
    "usage_coverage": check_usage_coverage,
    "high_token_requests": check_high_token_requests,
    "gateway_totals": check_gateway_totals,
}

DESCRIPTIONS = {
    "money_at_risk": "ERROR when the money at risk of the run's findings exceeds alerts.money_at_risk_usd.",
    "new_mismatch_code": "WARN when a mismatch code has findings today and none was open yesterday.",
    "stuck_tasks": "WARN from alerts.stuck_tasks_warn stuck tasks past the SLA, ERROR from alerts.stuck_tasks_error.",
    "settlement_p95": "WARN when a day's settlement p95 (any scene/model) exceeds alerts.settlement_p95_seconds.",
    "gateway_errors_401": "ERROR on repeated 401s: the gateway token is wrong or revoked.",
    "gateway_errors_402": "ERROR on 402s: the gateway balance ran out.",
    "gateway_errors_429": "WARN on repeated 429s: rate limits; capacity must grow or concurrency drop.",
    "gateway_errors_5xx": "WARN on repeated 5xx: the gateway or its upstream is failing.",
    "gateway_errors_400": "WARN on a burst of 400s: the gateway rejects what the app sends.",
    "gateway_errors_403": "ERROR on repeated 403s: the key is not allowed that model or group.",
    "gateway_error_rate": "WARN when a gateway day's errors of all classes exceed alerts.error_rate_overall of its requests.",
    "spend_anomaly": "WARN when a day's net spend is above mean + alerts.spend_sigma x stddev of recent days.",
    "usage_coverage": "ERROR when a day with app jobs holds no complete usage extraction (coverage_gap).",
    "high_token_requests": "WARN when a request's tokens exceed its model's mean + alerts.request_tokens_sigma x sd "
    "(or alerts.request_tokens_max).",
    "gateway_totals": "ERROR when a gateway's own daily total (new-api stat) and the detail rows recon holds differ by "
    "more than alerts.gateway_totals_tolerance_quota.",
}

# The mart each check reads: its asset check hangs on that mart's asset (orchestration.assets.mart_checks).
CHECK_MARTS = {
    "money_at_risk": marts.MISMATCHES,
    "new_mismatch_code": marts.HISTORY,
    "stuck_tasks": marts.MISMATCHES,
    "settlement_p95": marts.LAG_DAILY,
    **{f"gateway_errors_{c.lower()}": marts.ERROR_ALERTS for c in ERROR_OWNERS},
    "gateway_error_rate": marts.ERROR_RATE,
    "spend_anomaly": marts.SPEND_DAILY,
    "usage_coverage": marts.MISMATCHES,
    "high_token_requests": marts.HIGH_TOKENS,
    "gateway_totals": marts.GATEWAY_TOTALS,
}


def evaluate(
    warehouse: Path | str, window: Window, thresholds: Thresholds | None = None
) -> list[CheckOutcome]:
    """Every operator check on the warehouse, read-only. A check that crashes fails itself, not the run."""
    t = thresholds or Thresholds()
    out = []
    with marts.read_only(warehouse) as con:
        for name, fn in CHECKS.items():
            if con is None:
                out.append(
                    CheckOutcome(
                        name,
                        False,
                        WARN,
                        f"no warehouse at {warehouse}",
                        "recon operator",
                        ["the warehouse file does not exist yet"],
                    )
                )
                continue
            try:
                out.append(fn(con, window, t))
            except Exception as exc:  # noqa: BLE001 - reported as this check's failure
                out.append(
                    CheckOutcome(
                        name,
                        False,
                        WARN,
                        f"could not evaluate: {type(exc).__name__}: {exc}",
                        "recon maintainers",
                        [f"{type(exc).__name__}: {exc}"],
                    )
                )
    return out


def quarantine_outcome(landing_dir: Path, days: list[date]) -> CheckOutcome:
    """Rows pandera quarantined on the run's days, per record and day (the raw assets' own
    `schema_valid` checks say the same in the UI; this puts it in the webhook summary too)."""
    from orchestration import storage
    from orchestration.landing import quarantine_file
    from schemas.canonical import RECORDS

    lines = []
    for record in RECORDS:
        for day in days:
            f = quarantine_file(landing_dir, record, day)
            if f.exists():
                lines.append(f"{record} {day.isoformat()}: {storage.num_rows(f)} row(s) quarantined ({f})")
    return CheckOutcome(
        name="schema_quarantine",
        passed=not lines,
        severity=WARN,
        summary=f"{len(lines)} partition(s) with quarantined rows" if lines else "no quarantined rows",
        owner="app engineering / gateway integration: fix the source or the mapping query",
        failures=lines,
    )
