"""What a run found, read from the marts (read-only) and the landing files, as data and as text.

The summary is scoped to the run's days: findings whose `partition_date` falls in
[first_day, last_day], settlements of jobs created on those days, spend and gateway errors of those
days. The same numbers feed the terminal table (`recon report`), the HTML header and the Dagster
metadata, so the three never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from orchestration import storage
from orchestration.config import ReconConfig
from orchestration.evidence import EVIDENCE_RECORDS, read_held
from orchestration.landing import partition_file
from orchestration.reports import marts, money
from schemas.canonical import MISMATCH_CODES, RECORDS, SETTLEMENT_STATUSES

ERROR_CLASSES = ("401", "402", "429", "5xx", "400", "403")


@dataclass
class Summary:
    first_day: date
    last_day: date
    records: dict[str, int] = field(default_factory=dict)
    mismatches: dict[str, tuple[int, float]] = field(default_factory=dict)  # code -> (count, usd)
    settlements: dict[str, int] = field(default_factory=dict)
    report_path: Path | None = None
    net_spend_usd: float = 0.0
    spend_anomaly_days: int = 0
    spend_by_channel: dict[str, float] = field(default_factory=dict)  # access channel -> net USD
    errors: dict[str, int] = field(default_factory=dict)  # error class -> count over the days
    error_alerts: int = 0
    missing_marts: list[str] = field(default_factory=list)
    # usage coverage per gateway and day that is not covered: (gateway, day, status, reason)
    uncovered: list[tuple[str, date, str, str]] = field(default_factory=list)
    covered_days: int = 0  # (gateway, day) pairs of usage held completely
    # direction -> USD, each job's dollars once per direction (largest amount, not the sum)
    money_by_direction: dict[str, float] = field(default_factory=lambda: dict.fromkeys(money.DIRECTIONS, 0.0))

    @property
    def total_findings(self) -> int:
        return sum(n for n, _ in self.mismatches.values())

    @property
    def money_at_risk(self) -> float:
        """The headline: per-direction totals added up, no dollar counted twice."""
        return sum(self.money_by_direction.values())


def landed_counts(cfg: ReconConfig, days: list[date]) -> dict[str, int]:
    """Rows held per record over `days` (gateway evidence: every row ever held, gone ones included)."""
    out = {}
    for record in RECORDS:
        n = 0
        for d in days:
            if record in EVIDENCE_RECORDS:
                held = read_held(cfg.warehouse.landing_dir, record, d)
                n += 0 if held is None else len(held)
                continue
            f = partition_file(cfg.warehouse.landing_dir, record, d)
            if f.exists():
                n += storage.num_rows(f)
        out[record] = n
    return out


def _coverage(s: Summary, warehouse: Path, days: list[date]) -> None:
    """Usage coverage of the run's days (fct_source_coverage): what is not covered, and why."""
    with marts.read_only(warehouse) as con:
        where, params = _in_days(con, marts.COVERAGE, "day", days)
        where = f"record = 'usage_records' and {where}" if where else "record = 'usage_records'"
        cols = ["gateway", "day", "coverage_status", "last_reason"]
        for r in marts.select(con, marts.COVERAGE, cols, where, params, order_by=["day", "gateway"]):
            if r["coverage_status"] == "covered":
                s.covered_days += 1
            else:
                s.uncovered.append((r["gateway"], r["day"], r["coverage_status"], r["last_reason"] or ""))


def _in_days(con, table: str, col: str, days: list[date] | None) -> tuple[str, list]:
    if not days or col not in marts.columns(con, table):
        return "", []
    return f'"{col}" between ? and ?', [days[0], days[-1]]


def read_marts(
    warehouse: Path, days: list[date] | None = None
) -> tuple[dict[str, tuple[int, float]], dict[str, int]]:
    """Findings (count, USD at risk) per code and settlement status counts, for `days` if given."""
    mismatches, settlements, _ = read_marts_by_direction(warehouse, days)
    return mismatches, settlements


def read_marts_by_direction(
    warehouse: Path, days: list[date] | None = None
) -> tuple[dict[str, tuple[int, float]], dict[str, int], dict[str, float]]:
    """read_marts plus the money at risk per direction (each job's dollars once per direction)."""
    mismatches = {code: (0, 0.0) for code in MISMATCH_CODES}
    settlements = {s: 0 for s in SETTLEMENT_STATUSES}
    with marts.read_only(warehouse) as con:
        where, params = _in_days(con, marts.MISMATCHES, "partition_date", days)

        def counted():  # one pass, streamed: per-code counts here, each dollar once per direction there
            for r in marts.stream(con, marts.MISMATCHES, money.ROW_COLUMNS, where, params):
                n, usd = mismatches.get(r["mismatch_type"], (0, 0.0))
                mismatches[r["mismatch_type"]] = (n + 1, usd + float(r["amount_usd"] or 0))
                yield r

        directions = money.by_direction(counted())
        where, params = _in_days(con, marts.SETTLEMENTS, "created_date", days)
        for r in marts.select(con, marts.SETTLEMENTS, ["settlement_status"], where, params):
            settlements[r["settlement_status"]] = settlements.get(r["settlement_status"], 0) + 1
    return mismatches, settlements, directions


def _spend_and_errors(s: Summary, warehouse: Path, days: list[date]) -> None:
    with marts.read_only(warehouse) as con:
        s.missing_marts = [
            t
            for t in (
                marts.MISMATCHES,
                marts.SETTLEMENTS,
                marts.LAG_DAILY,
                marts.SPEND_DAILY,
                marts.ERROR_ALERTS,
                marts.HISTORY,
            )
            if not marts.columns(con, t)
        ]
        where, params = _in_days(con, marts.SPEND_DAILY, "spend_date", days)
        for r in marts.select(con, marts.SPEND_DAILY, ["net_spend_usd", "is_anomaly"], where, params):
            s.net_spend_usd += float(r["net_spend_usd"] or 0)
            s.spend_anomaly_days += bool(r["is_anomaly"])
        where, params = _in_days(con, marts.SPEND_BY_CHANNEL, "spend_date", days)
        for r in marts.select(
            con, marts.SPEND_BY_CHANNEL, ["access_channel", "net_spend_usd"], where, params
        ):
            ch = str(r["access_channel"] or "unspecified")
            s.spend_by_channel[ch] = s.spend_by_channel.get(ch, 0.0) + float(r["net_spend_usd"] or 0)
        s.errors = {c: 0 for c in ERROR_CLASSES}
        where, params = _in_days(con, marts.ERROR_ALERTS, "error_date", days)
        for r in marts.select(
            con, marts.ERROR_ALERTS, ["error_class", "error_count", "is_alert"], where, params
        ):
            s.errors[str(r["error_class"])] = s.errors.get(str(r["error_class"]), 0) + int(
                r["error_count"] or 0
            )
            s.error_alerts += bool(r["is_alert"])


def summarize(warehouse: Path, days: list[date], records: dict[str, int] | None = None) -> Summary:
    """The summary of `days` from the marts alone (records landed, when known, passed in)."""
    mismatches, settlements, directions = read_marts_by_direction(warehouse, days)
    s = Summary(days[0], days[-1], records or {}, mismatches, settlements)
    s.money_by_direction = directions
    _spend_and_errors(s, warehouse, days)
    _coverage(s, warehouse, days)
    return s


def collect_summary(cfg: ReconConfig, days: list[date]) -> Summary:
    return summarize(cfg.warehouse.path, days, landed_counts(cfg, days))


def format_summary(s: Summary) -> str:
    """The terminal table `recon run`/`recon report`/`recon demo` print."""
    lines = [
        f"recon summary {s.first_day.isoformat()} .. {s.last_day.isoformat()} (UTC)",
        "",
        "records landed",
    ]
    lines += [f"  {k:<22}{v:>10,}" for k, v in s.records.items()]
    lines += ["", f"{'mismatches':<32}{'count':>6}{'at risk USD':>14}"]
    lines += [f"  {code:<30}{n:>6}{usd:>14.6f}" for code, (n, usd) in s.mismatches.items()]
    lines += [f"  {'total':<30}{s.total_findings:>6}{s.money_at_risk:>14.6f}"]  # each dollar once
    lines += ["", "money at risk by direction (each job's largest amount once per direction)"]
    lines += [f"  {d:<22}{usd:>18.6f}" for d, usd in s.money_by_direction.items()]
    lines += ["", "settlement status"]
    lines += [f"  {k:<22}{v:>10,}" for k, v in s.settlements.items()]
    lines += ["", f"spend: {s.net_spend_usd:.6f} USD net, {s.spend_anomaly_days} anomalous day(s)"]
    if set(s.spend_by_channel) - {"unspecified"}:  # a gateway that says platform / byok (TokenLab)
        lines += [
            "spend by access channel: "
            + ", ".join(f"{ch} {usd:.6f}" for ch, usd in sorted(s.spend_by_channel.items()))
            + " USD net"
        ]
    if s.errors:
        errs = ", ".join(f"{k}: {v}" for k, v in s.errors.items())
        lines += [f"gateway errors: {errs} ({s.error_alerts} alert(s))"]
    if s.covered_days or s.uncovered:
        lines += [f"usage coverage: {s.covered_days} gateway day(s) covered, {len(s.uncovered)} not"]
        lines += [
            f"  {g} {d.isoformat()}: {st} ({why or 'no complete extraction'})"
            for g, d, st, why in s.uncovered
        ]
    if s.missing_marts:
        lines += [f"not built yet: {', '.join(s.missing_marts)}"]
    if s.report_path:
        lines += ["", f"report: {s.report_path}"]
    return "\n".join(lines)
