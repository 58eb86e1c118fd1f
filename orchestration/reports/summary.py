"""What a run found, read from the marts (read-only) and the landing files, as data and as text."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from orchestration.config import ReconConfig
from orchestration.landing import partition_file
from schemas.canonical import RECORDS

MISMATCH_CODES = (
    "missing_usage", "charged_for_failure", "over_refunded", "missing_asset", "asset_without_success",
    "status_mismatch", "cost_mismatch", "model_mismatch", "duplicate_create", "orphan_usage",
    "stuck_task", "quota_mismatch",
)
SETTLEMENT_STATUSES = ("on_time", "late", "pending", "unsettled")


@dataclass
class Summary:
    first_day: date
    last_day: date
    records: dict[str, int] = field(default_factory=dict)
    mismatches: dict[str, tuple[int, float]] = field(default_factory=dict)  # code -> (count, usd)
    settlements: dict[str, int] = field(default_factory=dict)
    report_path: Path | None = None

    @property
    def total_findings(self) -> int:
        return sum(n for n, _ in self.mismatches.values())

    @property
    def money_at_risk(self) -> float:
        return sum(usd for _, usd in self.mismatches.values())


def landed_counts(cfg: ReconConfig, days: list[date]) -> dict[str, int]:
    out = {}
    for record in RECORDS:
        n = 0
        for d in days:
            f = partition_file(cfg.warehouse.landing_dir, record, d)
            if f.exists():
                n += pq.ParquetFile(f).metadata.num_rows
        out[record] = n
    return out


def read_marts(warehouse: Path) -> tuple[dict[str, tuple[int, float]], dict[str, int]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(
            "select mismatch_type, count(*), coalesce(sum(amount_usd), 0) "
            "from fct_reconciliation_mismatches group by 1"
        ).fetchall()
        mismatches = {code: (0, 0.0) for code in MISMATCH_CODES}
        mismatches.update({code: (int(n), float(usd)) for code, n, usd in rows})
        st = con.execute("select settlement_status, count(*) from fct_settlements group by 1").fetchall()
        settlements = {s: 0 for s in SETTLEMENT_STATUSES}
        settlements.update({s: int(n) for s, n in st})
    finally:
        con.close()
    return mismatches, settlements


def collect_summary(cfg: ReconConfig, days: list[date]) -> Summary:
    mismatches, settlements = read_marts(cfg.warehouse.path)
    return Summary(days[0], days[-1], landed_counts(cfg, days), mismatches, settlements)


def format_summary(s: Summary) -> str:
    lines = [f"recon summary {s.first_day.isoformat()} .. {s.last_day.isoformat()} (UTC)", "",
             "records landed"]
    lines += [f"  {k:<22}{v:>10,}" for k, v in s.records.items()]
    lines += ["", f"mismatches{'':<22}{'count':>6}{'at risk USD':>14}"]
    lines += [f"  {code:<30}{n:>6}{usd:>14.6f}" for code, (n, usd) in s.mismatches.items()]
    lines += [f"  {'total':<30}{s.total_findings:>6}{s.money_at_risk:>14.6f}", "", "settlement status"]
    lines += [f"  {k:<22}{v:>10,}" for k, v in s.settlements.items()]
    if s.report_path:
        lines += ["", f"report: {s.report_path}"]
    return "\n".join(lines)
