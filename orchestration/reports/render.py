"""Render the report of a run under reports_dir/<its days>/ (see :func:`report_dir`): report.html
(self-contained), one CSV per code, and trails/<finding_id>.html, one page per finding shown.

The HTML has no script and loads nothing: inline CSS and inline SVG charts, so it opens offline,
from a mail attachment or a CI artifact. Each CSV holds the findings of one mismatch code, in the
same rows and order as the mart (`fct_reconciliation_mismatches`) for the report's days. Money is
shown as currency with two decimals (money.currency); the CSVs keep full precision. Everything is
read from the warehouse alone, never from the landing or a gateway.
"""

from __future__ import annotations

import csv
import re
import string
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from orchestration import trace
from orchestration.reports import analytics, charts, marts, money
from orchestration.reports.summary import MISMATCH_CODES, Summary

_env = Environment(
    loader=PackageLoader("orchestration.reports", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["usd"] = lambda v: money.currency(v or 0)
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
TREND_WEEKS = 8  # the weekly trend of money at risk and spend
SINCE_LAST_SHOWN = 50  # findings listed per "since the last report" group (largest first)
SEVERITY_RANK = {"error": 0, "warn": 1, "info": 2}
DIRECTION_LABELS = {
    "recoverable": "recoverable from the gateway",
    "owed": "owed to the gateway",
    "customer": "owed to users",
    "none": "no money either way",
}


HTML_TOP_PER_CODE = 200  # findings per code shown in the HTML; the CSVs hold every one
# A spreadsheet runs a text cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _mismatch_query(con, days: list[date] | None) -> tuple[str, list]:
    if days and "partition_date" in marts.columns(con, marts.MISMATCHES):
        return "partition_date between ? and ?", [days[0], days[-1]]
    return "", []


def mismatch_rows(
    warehouse: Path, days: list[date] | None = None, top_per_code: int | None = None
) -> list[dict]:
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
                qualify = (
                    f"row_number() over (partition by mismatch_type order by {order}) <= {int(top_per_code)}"
                )
        return list(
            marts.stream(
                con, marts.MISMATCHES, MISMATCH_COLUMNS, where, params, MISMATCH_ORDER, qualify=qualify
            )
        )


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
    return [
        _write_csv(out_dir / f"mismatches_{code}.csv", (r for r in rows if r["mismatch_type"] == code))
        for code in MISMATCH_CODES
    ]


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
            rows = (
                marts.stream(
                    con, marts.MISMATCHES, MISMATCH_COLUMNS, code_where, [*params, code], MISMATCH_ORDER
                )
                if "mismatch_type" in marts.columns(con, marts.MISMATCHES)
                else ()
            )
            paths.append(_write_csv(out_dir / f"mismatches_{code}.csv", rows))
    return paths


def report_dir(reports_dir: Path | str, first: date, last: date) -> Path:
    """Where the report of days first..last goes: reports_dir/<day>/ for one day,
    reports_dir/<first>_<last>/ for a range, so a report of other days (a `recon report --date D`
    with its lookback, a backfill) never replaces this one."""
    name = last.isoformat() if first == last else f"{first.isoformat()}_{last.isoformat()}"
    return Path(reports_dir) / name


def fill_url(template: str | None, row: Mapping) -> str | None:
    """A config link template (report.gateway_console_url / app_job_url) filled from a finding;
    None when the template is unset or the finding lacks one of the ids it names."""
    if not template:
        return None
    names = [f for _, f, _, _ in string.Formatter().parse(template) if f]
    values = {n: row.get(n) for n in names}
    if any(v in (None, "") for v in values.values()):
        return None
    return template.format(**{n: quote(str(v), safe="") for n, v in values.items()})


def _trail_name(row: Mapping) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", str(row.get("finding_id") or "finding")) + ".html"


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


def gateway_money(warehouse: Path, days: list[date]) -> dict[str, dict[str, float]]:
    """Money at risk per gateway and direction over `days` (each subject's dollars once)."""
    with marts.read_only(warehouse) as con:
        where, params = _mismatch_query(con, days)
        return money.by_gateway(
            marts.stream(con, marts.MISMATCHES, [*money.ROW_COLUMNS, "gateway"], where, params)
        )


HISTORY_COLUMNS = [
    "finding_key",
    "mismatch_type",
    "severity",
    "job_id",
    "task_id",
    "request_id",
    "gateway",
    "amount_usd",
    "partition_date",
    "detail",
    "first_seen_at",
    "last_seen_at",
    "resolved_at",
    "is_open",
]


def since_last_report(warehouse: Path, days: list[date], as_of: datetime) -> dict:
    """What changed since the build before the latest one, from `fct_mismatch_history` (findings of
    the report's days): `new` (first seen in the latest build), `resolved` (resolved by it) and
    `open` (seen before and still open, with their age at `as_of`). The builds are told apart by the
    history's own stamps (each build stamps first/last seen and resolved with its as-of time), so
    this needs nothing but the warehouse. `previous` is None on the first build."""
    with marts.read_only(warehouse) as con:
        where, params = ("", [])
        if days and "partition_date" in marts.columns(con, marts.HISTORY):
            where, params = "partition_date between ? and ?", [days[0], days[-1]]
        rows = marts.select(
            con,
            marts.HISTORY,
            HISTORY_COLUMNS,
            where,
            params,
            ["amount_usd desc", "mismatch_type", "finding_key"],
        )
    stamps = sorted({r[k] for r in rows for k in ("first_seen_at", "last_seen_at", "resolved_at") if r[k]})
    out = {
        "built_at": stamps[-1] if stamps else None,
        "previous": stamps[-2] if len(stamps) > 1 else None,
        "new": [],
        "resolved": [],
        "open": [],
        "shown": SINCE_LAST_SHOWN,
    }
    if not stamps:
        return out
    latest, previous = out["built_at"], out["previous"]
    for r in rows:
        if r["resolved_at"] is not None:
            if r["resolved_at"] == latest:
                out["resolved"].append(r)
        elif previous is None or r["first_seen_at"] > previous:
            out["new"].append(r)
        else:
            r["age_seconds"] = max((as_of - r["first_seen_at"]).total_seconds(), 0.0)
            out["open"].append(r)
    return out


def weekly_trend(warehouse: Path, last_day: date, weeks: int = TREND_WEEKS) -> list[dict]:
    """Money at risk (each dollar once per direction, per week) and net spend per ISO week (weeks
    start on Monday), the last `weeks` weeks up to the report's last day."""
    last_monday = last_day - timedelta(days=last_day.weekday())
    starts = [last_monday - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]
    rows_by_week: dict[date, list[dict]] = defaultdict(list)
    spend: dict[date, float] = defaultdict(float)
    with marts.read_only(warehouse) as con:
        if "partition_date" in marts.columns(con, marts.MISMATCHES):
            for r in marts.stream(
                con,
                marts.MISMATCHES,
                [*money.ROW_COLUMNS, "partition_date"],
                "partition_date between ? and ?",
                [starts[0], last_day],
            ):
                d = r["partition_date"]
                rows_by_week[d - timedelta(days=d.weekday())].append(r)
        if "spend_date" in marts.columns(con, marts.SPEND_DAILY):
            for r in marts.select(
                con,
                marts.SPEND_DAILY,
                ["spend_date", "net_spend_usd"],
                "spend_date between ? and ?",
                [starts[0], last_day],
            ):
                d = r["spend_date"]
                spend[d - timedelta(days=d.weekday())] += float(r["net_spend_usd"] or 0)
    held = [w for w in starts if w in rows_by_week or w in spend]
    first = held[0] if held else last_monday
    return [
        {"week": w, "money_at_risk": money.total(rows_by_week.get(w, [])), "net_spend": spend.get(w, 0.0)}
        for w in starts
        if w >= first
    ]


def _lag_chart(lag: list[dict], last_day: date) -> str:
    if not lag:
        return charts.line_chart("lag-chart", "settlement lag", [], [])
    labels = _date_labels(lag[0]["day"], last_day)
    by_day = {d["day"]: d for d in lag}
    p50 = [by_day[d]["p50"] if d in by_day else None for d in labels]
    p95 = [by_day[d]["p95"] if d in by_day else None for d in labels]
    return charts.line_chart(
        "lag-chart",
        "settlement lag by terminal day (log scale)",
        [d.isoformat() for d in labels],
        [("p50", "#4a78b5", p50), ("p95 (worst model)", "#e07b00", p95)],
        log=True,
        unit="lag (log scale)",
        xunit="terminal day (UTC)",
    )


def _spend_chart(spend: list[dict], last_day: date) -> str:
    if not spend:
        return charts.bar_chart("spend-chart", "net spend per day (USD)", [], [])
    gateways = sorted({r["gateway"] or "(none)" for r in spend})
    days = _date_labels(min(r["spend_date"] for r in spend), last_day)
    by = {(r["spend_date"], r["gateway"] or "(none)"): float(r["net_spend_usd"] or 0) for r in spend}
    flags = {r["spend_date"] for r in spend if r["is_anomaly"]}
    stacks = [
        (g, charts.PALETTE[k % len(charts.PALETTE)], [by.get((d, g), 0.0) for d in days])
        for k, g in enumerate(gateways)
    ]
    return charts.bar_chart(
        "spend-chart",
        "net spend per day, stacked by gateway (USD)",
        [d.isoformat() for d in days],
        stacks,
        [d in flags for d in days],
        fmt=money.currency,
        unit="USD per day",
        xunit="day (UTC)",
    )


def _trend_chart(trend: list[dict]) -> str:
    return charts.line_chart(
        "trend-chart",
        "money at risk and net spend per week (USD)",
        [t["week"].isoformat() for t in trend],
        [
            ("money at risk", "#c62828", [t["money_at_risk"] for t in trend]),
            ("net spend", "#4a78b5", [t["net_spend"] for t in trend]),
        ],
        fmt=money.currency,
        unit="USD per week",
        xunit="week starting (Monday, UTC)",
    )


def _number_rows(rows: list[dict]) -> list[dict]:
    """Each row with its CSV row (1-based data row of mismatches_<code>.csv: the HTML rows are the
    CSV's first rows in the same mart order) and its trail page name."""
    seen: dict[str, int] = defaultdict(int)
    out = []
    for r in rows:
        seen[r["mismatch_type"]] += 1
        out.append(
            {
                **r,
                "csv_row": seen[r["mismatch_type"]],
                "csv_file": f"mismatches_{r['mismatch_type']}.csv",
                "trail": f"trails/{_trail_name(r)}",
            }
        )
    return out


def by_severity_then_amount(rows: list[dict]) -> list[dict]:
    """Errors, then warnings, then info; the largest money at risk first within a severity."""
    return sorted(rows, key=lambda r: (SEVERITY_RANK.get(r["severity"], 3), -float(r.get("amount_usd") or 0)))


def _links(row: Mapping, links: Mapping[str, str | None]) -> dict[str, str | None]:
    return {
        "console": fill_url(links.get("gateway_console_url"), row),
        "app": fill_url(links.get("app_job_url"), row),
    }


def _finding_packet(row: Mapping) -> str:
    """A packet for a finding no job, request or task of the warehouse explains (e.g. coverage_gap)."""
    t = trace.Trace(
        str(row.get("finding_id")), [], None, findings=[{k: row.get(k) for k in trace.FINDING_COLS}]
    )
    return trace.to_packet(t, fallback=dict(row))


def _ids(t: trace.Trace | None, row: Mapping) -> dict:
    """The finding's ids, completed by its job's (a billing transaction id only the job holds)."""
    job = (t.job or {}) if t else {}
    return {**job, **{k: v for k, v in row.items() if v not in (None, "")}}


def write_trails(
    warehouse: Path,
    rows: list[dict],
    out_dir: Path,
    links: Mapping[str, str | None],
    as_of: datetime,
    report_title: str,
) -> list[Path]:
    """One page per finding under out_dir/trails/: the finding, its links, its trail from the
    warehouse marts (trace's warehouse part, one read-only connection for all) and its support packet
    ready to copy. Stored versions need the landing, which a report never reads: the page says to run
    `recon trace` for them."""
    trail_dir = Path(out_dir) / "trails"
    trail_dir.mkdir(parents=True, exist_ok=True)
    template = _env.get_template("trail.html.j2")
    paths = []
    with marts.read_only(warehouse) as con:
        for r in rows:
            ident = r.get("job_id") or r.get("task_id") or r.get("request_id")
            t, why = None, None
            if ident and con is not None:
                try:
                    t = trace.trace_in(con, str(ident))
                except trace.TraceNotFound:
                    t = None
                except trace.TraceAmbiguous as exc:
                    why = str(exc)
            page = template.render(
                f=r,
                t=t,
                ident=ident,
                packet=trace.to_packet(t) if t else _finding_packet(r),
                links=_links(_ids(t, r), links),
                as_of=as_of.isoformat(),
                report_title=report_title,
                plain=trace._plain,
                direction_label=DIRECTION_LABELS.get(str(r.get("direction"))),
                why=why,
            )
            path = trail_dir / _trail_name(r)
            tmp = path.with_suffix(".html.tmp")
            tmp.write_text(page, encoding="utf-8")
            tmp.replace(path)
            paths.append(path)
    return paths


def render_html(
    summary: Summary,
    rows: list[dict],
    lag: list[dict],
    spend: list[dict],
    errors: list[dict],
    as_of: datetime,
    gateways: dict[str, dict[str, float]] | None = None,
    since: dict | None = None,
    trend: list[dict] | None = None,
    links: Mapping[str, str | None] | None = None,
    analytics_html: str = "",
) -> str:
    rows = _number_rows(rows)
    by_severity = by_severity_then_amount(rows)
    severity_of = {}
    for r in by_severity:
        severity_of.setdefault(r["mismatch_type"], r["severity"])
    links = links or {}
    return _env.get_template("report.html.j2").render(
        s=summary,
        rows=rows,
        rows_by_severity=[{**r, "links": _links(r, links)} for r in by_severity],
        top_per_code=HTML_TOP_PER_CODE,
        shown_all=len(rows) >= summary.total_findings,
        as_of=as_of.isoformat(),
        severity_of=severity_of,
        lag=lag,
        spend=spend,
        spend_has_history=any(r.get("anomaly_threshold_usd") is not None for r in spend),
        errors=errors,
        lag_chart=Markup(_lag_chart(lag, summary.last_day)),
        spend_chart=Markup(_spend_chart(spend, summary.last_day)),
        trend=trend or [],
        trend_chart=Markup(_trend_chart(trend or [])),
        gateways=gateways or {},
        directions=money.DIRECTIONS,
        direction_labels=DIRECTION_LABELS,
        since=since
        or {
            "new": [],
            "resolved": [],
            "open": [],
            "previous": None,
            "built_at": None,
            "shown": SINCE_LAST_SHOWN,
        },
        duration=charts.duration,
        codes_with_money=sorted(
            ((c, n, usd) for c, (n, usd) in summary.mismatches.items() if n),
            key=lambda t: (-t[2], -t[1], t[0]),
        ),
        codes_without=[c for c, (n, _usd) in summary.mismatches.items() if not n],
        analytics_section=Markup(analytics_html),
    )


def render_report(
    summary: Summary,
    warehouse: Path,
    reports_dir: Path,
    as_of: datetime,
    links: Mapping[str, str | None] | None = None,
) -> Path:
    """Write report.html, the CSVs and a trail page per shown finding under
    :func:`report_dir` (atomic per file); return the HTML path. `links`: the config's `report:` URL
    templates (gateway_console_url, app_job_url), or None."""
    out_dir = report_dir(reports_dir, summary.first_day, summary.last_day)
    out_dir.mkdir(parents=True, exist_ok=True)
    days = _date_labels(summary.first_day, summary.last_day)
    stream_csvs(warehouse, days, out_dir)
    rows = mismatch_rows(warehouse, days, top_per_code=HTML_TOP_PER_CODE)
    links = dict(links or {})
    title = f"recon report {summary.first_day.isoformat()} .. {summary.last_day.isoformat()}"
    write_trails(warehouse, _number_rows(rows), out_dir, links, as_of, title)
    page = render_html(
        summary,
        rows,
        lag_by_day(warehouse, summary.last_day),
        spend_by_day(warehouse, summary.last_day),
        error_alerts(warehouse, summary.last_day),
        as_of,
        gateways=gateway_money(warehouse, days),
        since=since_last_report(warehouse, days, as_of),
        trend=weekly_trend(warehouse, summary.last_day),
        links=links,
        analytics_html=analytics.render(warehouse, days),
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
