"""Render the report of a run under reports_dir/<date>/: report.html (self-contained) + CSV per code."""

from __future__ import annotations

import csv
import html
from datetime import datetime
from pathlib import Path

import duckdb
from jinja2 import Environment, PackageLoader, select_autoescape

from orchestration.reports.summary import MISMATCH_CODES, Summary

_env = Environment(loader=PackageLoader("orchestration.reports", "templates"),
                   autoescape=select_autoescape(["html", "j2"]))

MISMATCH_COLUMNS = ("mismatch_type", "severity", "job_id", "task_id", "request_id", "amount_usd",
                    "detected_at", "detail")


def _mismatch_rows(warehouse: Path) -> list[dict]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        cur = con.execute(
            f"select {', '.join(MISMATCH_COLUMNS)} from fct_reconciliation_mismatches "
            "order by mismatch_type, amount_usd desc nulls last, job_id, task_id, request_id"
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]
    finally:
        con.close()


def write_csvs(rows: list[dict], out_dir: Path) -> list[Path]:
    """One CSV per mismatch code (header only when the code has no rows), in mart order."""
    paths = []
    for code in MISMATCH_CODES:
        path = out_dir / f"mismatches_{code}.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=MISMATCH_COLUMNS)
            w.writeheader()
            for r in rows:
                if r["mismatch_type"] == code:
                    w.writerow({k: ("" if r[k] is None else r[k]) for k in MISMATCH_COLUMNS})
        paths.append(path)
    return paths


def render_report(summary: Summary, warehouse: Path, reports_dir: Path, as_of: datetime) -> Path:
    out_dir = Path(reports_dir) / summary.last_day.isoformat()
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = _mismatch_rows(warehouse)
    write_csvs(rows, out_dir)
    page = _env.get_template("report.html.j2").render(s=summary, rows=rows, as_of=as_of.isoformat(),
                                                      esc=html.escape)
    path = out_dir / "report.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path


def markdown_preview(summary: Summary) -> str:
    lines = ["| mismatch | count | at risk USD |", "|---|---:|---:|"]
    lines += [f"| {c} | {n} | {usd:.6f} |" for c, (n, usd) in summary.mismatches.items() if n]
    lines += [f"| **total** | **{summary.total_findings}** | **{summary.money_at_risk:.6f}** |", "",
              "| settlement | jobs |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in summary.settlements.items()]
    return "\n".join(lines)
