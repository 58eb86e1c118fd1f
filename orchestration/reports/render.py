"""Render the report of a run under reports_dir/<last day>/: report.html (self-contained) + CSV per code.

The HTML has no script and loads nothing: inline CSS and inline SVG charts, so it opens offline,
from a mail attachment or a CI artifact. Each CSV holds the findings of one mismatch code, in the
same rows and order as the mart (`fct_reconciliation_mismatches`) for the report's days.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from orchestration.reports import analytics, charts, marts
from orchestration.reports.summary import MISMATCH_CODES, Summary

_env = Environment(
    loader=PackageLoader("orchestration.reports", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["usd"] = lambda v: f"{float(v or 0):,.6f}"
_env.filters["duration"] = charts.duration

# The columns a support ticket needs, in a fixed order (absent mart columns are left empty).
MISMATCH_COLUMNS = (
    "mismatch_type",
    "severity",
    "job_id",
    "task_id",
    "request_id",
    "gateway",
    "scene",
    "model",
    "amount_usd",
    "direction",
    "partition_date",
    "detected_at",
    "detail",
    "finding_id",
)
MISMATCH_ORDER = (
    "mismatch_type",
    "amount_usd desc nulls last",
    "job_id nulls last",
    "task_id nulls last",
    "request_id nulls last",
    "finding_id",
)
HISTORY_DAYS = 30  # how far back the spend and settlement-lag charts look from the report day
SEVERITY_RANK = {"error": 0, "warn": 1, "info": 2}


HTML_TOP_PER_CODE = 200  # findings per code shown in the HTML; the CSVs hold every one
# A spreadsheet runs a text cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _mismatch_query(con, days: list[date] | None) -> tuple[str, list]:
    if days and "partition_date" in marts.columns(con, marts.MISMATCHES):
        return "partition_date between ? and ?", [days[0], days[-1]]
    return "", []


def mismatch_rows(warehouse: Path, days: list[date] | None = None,
                  top_per_code: int | None = None) -> list[dict]:
    """The findings of `days` (all when None) in mart order: code, money at risk, ids.

    With `top_per_code`, only the first N of each code in mart order (largest money at risk first):
    what the HTML shows beside the totals, so a day of millions of findings renders in bounded memory.
    """
    with marts.read_only(warehouse) as con:
        where, params = _mismatch_query(con, days)
        qualify = ""
        if top_per_code is not None:
            have = set(marts.columns(con, marts.MISMATCHES))
            order = ", ".join(o for o in MISMATCH_ORDER if o.split()[0] in have)
            if "mismatch_type" in have:
                qualify = (f"row_number() over (partition by mismatch_type order by {order}) "
                           f"<= {int(top_per_code)}")
        return list(marts.stream(con, marts.MISMATCHES, MISMATCH_COLUMNS, where, params, MISMATCH_ORDER,
                                 qualify=qualify))


def spreadsheet_safe(text: str) -> str:
    """A text cell a spreadsheet will show, never run: one starting with = + - @ tab or CR gets a
    leading single quote (OWASP's advice). Only text: numbers are written as numbers."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return format(v, "f")
    if isinstance(v, int | float):
        return str(v)
    return spreadsheet_safe(str(v))


def _write_csv(path: Path, rows: Iterable[dict]) -> Path:
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(MISMATCH_COLUMNS)
        for r in rows:
            w.writerow([_cell(r.get(k)) for k in MISMATCH_COLUMNS])
    tmp.replace(path)
    return path


def write_csvs(rows: list[dict], out_dir: Path) -> list[Path]:
    """One CSV per mismatch code (header only when the code has no rows), in mart order."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [_write_csv(out_dir / f"mismatches_{code}.csv", (r for r in rows if r["mismatch_type"] == code))
            for code in MISMATCH_CODES]


def stream_csvs(warehouse: Path, days: list[date] | None, out_dir: Path) -> list[Path]:
    """:func:`write_csvs` straight from DuckDB, one code and one batch at a time: memory stays flat
    however many findings a day holds."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    with marts.read_only(warehouse) as con:
        where, params = _mismatch_query(con, days)
        for code in MISMATCH_CODES:
            code_where = f"({where}) and mismatch_type = ?" if where else "mismatch_type = ?"
            rows = marts.stream(con, marts.MISMATCHES, MISMATCH_COLUMNS, code_where, [*params, code],
                                MISMATCH_ORDER) if "mismatch_type" in marts.columns(con, marts.MISMATCHES) else ()
            paths.append(_write_csv(out_dir / f"mismatches_{code}.csv", rows))
    return paths


def _date_labels(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _recent_rows(
    warehouse: Path,
    table: str,
    date_col: str,
    columns: list[str],
    order_by: list[str],
    last_day: date,
    history_days: int,
) -> list[dict]:
    """The last `history_days` days of a daily mart up to `last_day` (all rows when the mart has no
    `date_col`, so an older warehouse still renders)."""
    first = last_day - timedelta(days=history_days - 1)
    with marts.read_only(warehouse) as con:
        dated = date_col in marts.columns(con, table)
        return marts.select(
            con,
            table,
            columns,
            f"{date_col} between ? and ?" if dated else "",
            [first, last_day] if dated else [],
            order_by,
        )


def lag_by_day(warehouse: Path, last_day: date, history_days: int = HISTORY_DAYS) -> list[dict]:
    """Per terminal day: settled-count-weighted p50 and the worst scene/model p95 (which one)."""
    rows = _recent_rows(
        warehouse,
        marts.LAG_DAILY,
        "terminal_date",
        [
            "terminal_date",
            "scene",
            "model",
            "job_count",
            "settled_count",
            "pending_count",
            "unsettled_count",
            "p50_lag_seconds",
            "p95_lag_seconds",
        ],
        ["terminal_date", "scene", "model"],
        last_day,
        history_days,
    )
    days: dict[date, dict] = {}
    for r in rows:
        d = days.setdefault(
            r["terminal_date"],
            {
                "day": r["terminal_date"],
                "jobs": 0,
                "settled": 0,
                "pending": 0,
                "unsettled": 0,
                "_w": 0.0,
                "p95": None,
                "worst": "",
            },
        )
        settled = int(r["settled_count"] or 0)
        d["jobs"] += int(r["job_count"] or 0)
        d["settled"] += settled
        d["pending"] += int(r["pending_count"] or 0)
        d["unsettled"] += int(r["unsettled_count"] or 0)
        if r["p50_lag_seconds"] is not None and settled:
            d["_w"] += float(r["p50_lag_seconds"]) * settled
        if r["p95_lag_seconds"] is not None and (d["p95"] is None or r["p95_lag_seconds"] > d["p95"]):
            d["p95"] = float(r["p95_lag_seconds"])
            d["worst"] = f"{r['scene']}/{r['model']}"
    out = []
    for d in sorted(days.values(), key=lambda x: x["day"]):
        d["p50"] = d.pop("_w") / d["settled"] if d["settled"] else None
        out.append(d)
    return out


def spend_by_day(warehouse: Path, last_day: date, history_days: int = HISTORY_DAYS) -> list[dict]:
    return _recent_rows(
        warehouse,
        marts.SPEND_DAILY,
        "spend_date",
        [
            "spend_date",
            "gateway",
            "net_spend_usd",
            "charged_usd",
            "credited_usd",
            "topup_usd",
            "charge_count",
            "error_count",
            "anomaly_threshold_usd",
            "is_anomaly",
        ],
        ["spend_date", "gateway"],
        last_day,
        history_days,
    )


def error_alerts(warehouse: Path, last_day: date, history_days: int = HISTORY_DAYS) -> list[dict]:
    return _recent_rows(
        warehouse,
        marts.ERROR_ALERTS,
        "error_date",
        [
            "error_date",
            "gateway",
            "error_class",
            "owner",
            "error_count",
            "request_count",
            "error_rate",
            "is_alert",
        ],
        ["error_date desc", "gateway", "error_class"],
        last_day,
        history_days,
    )


def _lag_chart(lag: list[dict], last_day: date) -> str:
    if not lag:
        return charts.line_chart("lag-chart", "settlement lag", [], [])
    labels = _date_labels(lag[0]["day"], last_day)
    by_day = {d["day"]: d for d in lag}
    p50 = [by_day[d]["p50"] if d in by_day else None for d in labels]
    p95 = [by_day[d]["p95"] if d in by_day else None for d in labels]
    return charts.line_chart(
        "lag-chart",
        "settlement lag by terminal day",
        [d.isoformat() for d in labels],
        [("p50", "#4a78b5", p50), ("p95 (worst model)", "#e07b00", p95)],
    )


def _spend_chart(spend: list[dict]) -> str:
    totals: dict[date, float] = defaultdict(float)
    flags: dict[date, bool] = defaultdict(bool)
    for r in spend:
        totals[r["spend_date"]] += float(r["net_spend_usd"] or 0)
        flags[r["spend_date"]] |= bool(r["is_anomaly"])
    days = sorted(totals)
    return charts.bar_chart(
        "spend-chart",
        "net spend per day (USD)",
        [d.isoformat() for d in days],
        [totals[d] for d in days],
        [flags[d] for d in days],
        fmt=lambda v: f"{v:,.2f}",
    )


def render_html(
    summary: Summary,
    rows: list[dict],
    lag: list[dict],
    spend: list[dict],
    errors: list[dict],
    as_of: datetime,
    analytics_html: str = "",
) -> str:
    by_severity = sorted(rows, key=lambda r: SEVERITY_RANK.get(r["severity"], 3))
    severity_of = {}
    for r in by_severity:
        severity_of.setdefault(r["mismatch_type"], r["severity"])
    return _env.get_template("report.html.j2").render(
        s=summary,
        rows=rows,
        rows_by_severity=by_severity,
        top_per_code=HTML_TOP_PER_CODE,
        shown_all=len(rows) >= summary.total_findings,
        as_of=as_of.isoformat(),
        severity_of=severity_of,
        lag=lag,
        spend=spend,
        errors=errors,
        lag_chart=Markup(_lag_chart(lag, summary.last_day)),
        spend_chart=Markup(_spend_chart(spend)),
        codes_with_money=sorted(
            ((c, n, usd) for c, (n, usd) in summary.mismatches.items() if n),
            key=lambda t: (-t[2], -t[1], t[0]),
        ),
        codes_without=[c for c, (n, _usd) in summary.mismatches.items() if not n],
        analytics_section=Markup(analytics_html),
    )


def render_report(summary: Summary, warehouse: Path, reports_dir: Path, as_of: datetime) -> Path:
    """Write report.html and the CSVs under reports_dir/<last day>/ (atomic per file); return the HTML path."""
    out_dir = Path(reports_dir) / summary.last_day.isoformat()
    out_dir.mkdir(parents=True, exist_ok=True)
    days = _date_labels(summary.first_day, summary.last_day)
    stream_csvs(warehouse, days, out_dir)
    rows = mismatch_rows(warehouse, days, top_per_code=HTML_TOP_PER_CODE)
    page = render_html(
        summary,
        rows,
        lag_by_day(warehouse, summary.last_day),
        spend_by_day(warehouse, summary.last_day),
        error_alerts(warehouse, summary.last_day),
        as_of,
        analytics.render(warehouse, days),
    )
    path = out_dir / "report.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path


def markdown_preview(summary: Summary) -> str:
    """The summary as Markdown for the Dagster UI (asset metadata)."""
    lines = [
        (
            f"**{summary.total_findings} findings, {summary.money_at_risk:,.6f} USD at risk** "
            f"({summary.first_day.isoformat()} .. {summary.last_day.isoformat()} UTC)"
        ),
        "",
        "| mismatch | count | at risk USD |",
        "|---|---:|---:|",
    ]
    lines += [f"| {c} | {n} | {usd:,.6f} |" for c, (n, usd) in summary.mismatches.items() if n]
    lines += [
        f"| **total** | **{summary.total_findings}** | **{summary.money_at_risk:,.6f}** |",
        "",
        "| direction (each job's dollars once) | at risk USD |",
        "|---|---:|",
        *[f"| {d} | {usd:,.6f} |" for d, usd in summary.money_by_direction.items()],
        "",
        "| settlement | jobs |",
        "|---|---:|",
    ]
    lines += [f"| {k} | {v} |" for k, v in summary.settlements.items()]
    lines += [
        "",
        (
            f"Net spend {summary.net_spend_usd:,.6f} USD, {summary.spend_anomaly_days} anomalous day(s); "
            f"gateway errors {', '.join(f'{k}: {v}' for k, v in summary.errors.items()) or 'none'}."
        ),
    ]
    if summary.report_path:
        lines += ["", f"Report: `{summary.report_path}`"]
    return "\n".join(lines)
