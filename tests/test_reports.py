"""The reports people read: CSVs match the mart row for row, the HTML is self-contained, the summary adds up."""

import csv
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from support.sample_marts import create_marts, sample_rows

from orchestration.reports import charts
from orchestration.reports.money import currency
from orchestration.reports.render import (
    MISMATCH_COLUMNS,
    lag_by_day,
    markdown_preview,
    render_report,
)
from orchestration.reports.summary import MISMATCH_CODES, format_summary, summarize

LAST = date(2026, 3, 10)
DAYS = [LAST - timedelta(days=6 - i) for i in range(7)]
AS_OF = datetime(2026, 3, 11, 6, tzinfo=UTC)


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    rows = sample_rows(LAST)
    # One finding a day before the report's days: it must stay out of the report and the CSVs.
    early = dict(
        rows["fct_reconciliation_mismatches"][0],
        finding_id="early",
        job_id="job_early",
        partition_date=DAYS[0] - timedelta(days=1),
        amount_usd=Decimal(99),
    )
    rows["fct_reconciliation_mismatches"].append(early)
    return create_marts(tmp_path / "wh.duckdb", rows)


@pytest.fixture
def report(warehouse: Path, tmp_path: Path) -> Path:
    return render_report(summarize(warehouse, DAYS), warehouse, tmp_path / "reports", AS_OF)


def mart(warehouse: Path, sql: str, params: list) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def as_mart_value(text: str, like: object) -> object:
    """A CSV cell back to the mart's Python type, to compare values rather than spellings."""
    if text == "":
        return None
    if isinstance(like, Decimal):
        return Decimal(text)
    if isinstance(like, datetime):
        return datetime.fromisoformat(text)
    if isinstance(like, date):
        return date.fromisoformat(text)
    return text


def test_each_code_csv_matches_the_mart_row_for_row(warehouse: Path, report: Path) -> None:
    total = 0
    for code in MISMATCH_CODES:
        expected = mart(
            warehouse,
            f"select {', '.join(MISMATCH_COLUMNS)} from fct_reconciliation_mismatches "
            "where mismatch_type = ? and partition_date between ? and ? "
            "order by amount_usd desc, job_id nulls last, task_id nulls last, request_id nulls last, "
            "finding_id",
            [code, DAYS[0], DAYS[-1]],
        )
        with (report.parent / f"mismatches_{code}.csv").open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            assert tuple(next(reader)) == MISMATCH_COLUMNS
            got = list(reader)
        assert len(got) == len(expected), code
        for g, e in zip(got, expected, strict=True):
            assert tuple(as_mart_value(t, v) for t, v in zip(g, e, strict=True)) == e
        total += len(got)
    (n,) = mart(
        warehouse,
        "select count(*) from fct_reconciliation_mismatches where partition_date between ? and ?",
        [DAYS[0], DAYS[-1]],
    )[0]
    assert total == n > 0
    assert "job_early" not in report.parent.joinpath("mismatches_missing_usage.csv").read_text()


def test_a_code_without_findings_gets_a_header_only_csv(tmp_path: Path) -> None:
    wh = create_marts(
        tmp_path / "wh.duckdb",
        {"fct_reconciliation_mismatches": [sample_rows(LAST)["fct_reconciliation_mismatches"][0]]},
    )
    path = render_report(summarize(wh, DAYS), wh, tmp_path / "r", AS_OF)
    lines = (path.parent / "mismatches_stuck_task.csv").read_text().splitlines()
    assert lines == [",".join(MISMATCH_COLUMNS)]


def test_summary_counts_and_money_come_from_the_runs_days(warehouse: Path) -> None:
    s = summarize(warehouse, DAYS)
    by_code = mart(
        warehouse,
        "select mismatch_type, count(*), sum(amount_usd) from fct_reconciliation_mismatches "
        "where partition_date between ? and ? group by 1",
        [DAYS[0], DAYS[-1]],
    )
    assert {c: (n, pytest.approx(float(usd))) for c, n, usd in by_code} == {
        c: v for c, v in s.mismatches.items() if v[0]
    }
    assert s.money_at_risk < 99  # the early finding is not in
    assert s.settlements == {"on_time": 30, "late": 5, "pending": 2, "unsettled": 3}
    assert s.spend_anomaly_days == 1 and s.error_alerts == 1 and s.errors["429"] == 12
    table = format_summary(s)
    assert f"  {'total':<30}{s.total_findings:>6}{s.money_at_risk:>14.6f}" in table
    assert s.money_at_risk == pytest.approx(sum(s.money_by_direction.values()))
    for direction, usd in s.money_by_direction.items():
        assert re.search(rf"^  {direction}\s+{usd:.6f}$", table, re.MULTILINE), direction
    for code in MISMATCH_CODES:
        assert re.search(rf"^  {code}\s+{s.mismatches[code][0]}\s", table, re.MULTILINE), code
    md = markdown_preview(s)
    assert f"**{s.total_findings} findings, {s.money_at_risk:,.6f} USD at risk**" in md


def test_html_is_self_contained(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert not re.search(r"""\bsrc\s*=""", html)
    # Links only to the files written beside it (trail pages, CSVs): nothing is fetched or left.
    hrefs = set(re.findall(r'href="([^"]*)"', html))
    assert hrefs and all(
        re.fullmatch(r"trails/[A-Za-z0-9_-]+\.html|mismatches_[a-z_]+\.csv", h) for h in hrefs
    ), hrefs
    assert all((report.parent / h).exists() for h in hrefs)
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", html))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls  # the SVG namespace is a name, not a fetch
    assert html.count("<svg") == 3  # settlement lag, spend, the weekly trend


def test_html_shows_key_figures_ids_and_marks_anomalies(warehouse: Path, report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    s = summarize(warehouse, DAYS)
    assert f'id="total-findings">{s.total_findings}<' in html
    assert f'id="money-at-risk">{currency(s.money_at_risk)}<' in html
    for job_id, task_id, request_id in mart(
        warehouse,
        "select job_id, task_id, request_id from fct_reconciliation_mismatches where partition_date >= ?",
        [DAYS[0]],
    ):
        for ident in (job_id, task_id, request_id):
            if ident:
                assert f">{ident}<" in html
    assert html.count('class="anomaly"') == 1  # one anomalous day in the spend chart
    assert "ANOMALY" in html and "ALERT" in html
    lag_svg = html[html.index('<svg id="lag-chart"') :]
    assert lag_svg[: lag_svg.index("</svg>")].count("<circle") == 2 * len(DAYS)  # p50 + p95 per day


def test_lag_by_day_takes_the_worst_p95_and_a_weighted_p50(tmp_path: Path) -> None:
    base = {
        "job_count": 10,
        "pending_count": 0,
        "unsettled_count": 0,
        "p99_lag_seconds": None,
        "max_lag_seconds": None,
    }
    wh = create_marts(
        tmp_path / "w.duckdb",
        {
            "fct_settlement_lag_daily": [
                {
                    **base,
                    "terminal_date": LAST,
                    "scene": "chat",
                    "model": "a",
                    "settled_count": 3,
                    "p50_lag_seconds": 10.0,
                    "p95_lag_seconds": 20.0,
                },
                {
                    **base,
                    "terminal_date": LAST,
                    "scene": "video",
                    "model": "b",
                    "settled_count": 1,
                    "p50_lag_seconds": 50.0,
                    "p95_lag_seconds": 900.0,
                },
            ]
        },
    )
    (d,) = lag_by_day(wh, LAST)
    assert d["p50"] == pytest.approx((3 * 10 + 50) / 4) and d["p95"] == 900.0 and d["worst"] == "video/b"
    assert d["jobs"] == 20 and d["settled"] == 4


def test_a_fresh_warehouse_renders_an_empty_report(tmp_path: Path) -> None:
    missing = tmp_path / "none.duckdb"
    s = summarize(missing, DAYS)
    assert s.total_findings == 0 and s.missing_marts
    html = render_report(s, missing, tmp_path / "r", AS_OF).read_text()
    assert "No findings for these days." in html and "No data for settlement lag" in html


def test_durations_read_in_human_units() -> None:
    assert [charts.duration(v) for v in (45, 750, 3 * 3600, 3 * 86400, None)] == [
        "45s",
        "12.5m",
        "3.0h",
        "3.0d",
        "n/a",
    ]


@pytest.mark.slow
def test_demo_run_report_csvs_match_the_real_mart(tmp_path: Path) -> None:
    """The whole job on the demo scenario (sandbox gateway, SQLite, dbt): CSVs == dbt's mart rows."""
    from orchestration.demo import demo_environment
    from orchestration.runner import run_range

    with demo_environment(tmp_path, days=3, seed=11) as setup:
        outcome = run_range(
            setup.config_path, setup.first, setup.last, setup.as_of, full_refresh=True, quiet=True
        )
    wh, report_dir = outcome.cfg.warehouse.path, outcome.summary.report_path.parent
    assert report_dir.name == f"{setup.first.isoformat()}_{setup.last.isoformat()}"
    rows = 0
    for code in MISMATCH_CODES:
        expected = mart(
            wh,
            f"select {', '.join(MISMATCH_COLUMNS)} from fct_reconciliation_mismatches "
            "where mismatch_type = ? and partition_date between ? and ? order by amount_usd desc, "
            "job_id nulls last, task_id nulls last, request_id nulls last, finding_id",
            [code, setup.first, setup.last],
        )
        with (report_dir / f"mismatches_{code}.csv").open(newline="", encoding="utf-8") as fh:
            got = list(csv.reader(fh))[1:]
        assert [
            tuple(as_mart_value(t, v) for t, v in zip(g, e, strict=True))
            for g, e in zip(got, expected, strict=False)
        ] == expected and len(got) == len(expected), code
        rows += len(got)
    assert rows == outcome.summary.total_findings > 0
    html = outcome.summary.report_path.read_text(encoding="utf-8")
    assert f'id="money-at-risk">{currency(outcome.summary.money_at_risk)}<' in html


def test_csv_timestamps_are_utc_whatever_the_local_zone(warehouse: Path, tmp_path: Path, monkeypatch) -> None:
    import time

    monkeypatch.setenv("TZ", "Asia/Kathmandu")
    time.tzset()
    try:
        path = render_report(summarize(warehouse, DAYS), warehouse, tmp_path / "tz", AS_OF)
    finally:
        monkeypatch.undo()
        time.tzset()
    text = (path.parent / "mismatches_charged_for_failure.csv").read_text()
    assert "2026-03-11T06:00:00+00:00" in text and "+05:45" not in text


def test_summary_splits_spend_by_access_channel_only_where_a_gateway_says() -> None:
    from datetime import date

    from orchestration.reports.summary import Summary, format_summary

    s = Summary(
        date(2026, 11, 1),
        date(2026, 11, 1),
        spend_by_channel={"platform": 1.25, "byok": 0.5, "unspecified": 2.0},
    )
    assert (
        "spend by access channel: byok 0.500000, platform 1.250000, unspecified 2.000000 USD net"
        in format_summary(s)
    )
    quiet = Summary(date(2026, 11, 1), date(2026, 11, 1), spend_by_channel={"unspecified": 2.0})
    assert "access channel" not in format_summary(quiet)


def test_currency_has_two_decimals_and_never_shows_a_cent_fraction_as_zero() -> None:
    assert [currency(v) for v in (0, Decimal("1234.565"), "-3.1", Decimal("0.004"), None, 1e6)] == [
        "$0.00",
        "$1,234.57",
        "-$3.10",
        "<$0.01",
        "",
        "$1,000,000.00",
    ]


def _table(html: str, ident: str) -> str:
    return html.split(f'<table id="{ident}"', 1)[1].split("</table>", 1)[0]


def test_cards_and_tables_show_currency_and_csvs_keep_full_precision(warehouse: Path, report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    findings = _table(html, "findings")
    assert not re.search(r"\d\.\d{3,}", findings.split("</tr>", 1)[1].replace("0.12000000", ""))
    text = (report.parent / "mismatches_missing_asset.csv").read_text()
    assert re.search(r",\d+\.\d{8},", text)  # the CSV keeps the mart's eight decimals


def test_findings_are_sorted_by_amount_within_severity(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    rows = re.findall(
        r'<td class="sev-(\w+)">\w+</td>.*?<td class="num">(-?(?:&lt;)?\$[\d,.]+)</td>',
        _table(html, "findings"),
    )
    rank = {"error": 0, "warn": 1, "info": 2}
    keys = [
        (rank[sev], -float(usd.replace("$", "").replace(",", "").replace("&lt;", ""))) for sev, usd in rows
    ]
    assert len(keys) == 16 and keys == sorted(keys)


def test_money_per_direction_and_per_gateway_add_up(warehouse: Path, report: Path) -> None:
    from orchestration.reports import money
    from orchestration.reports.render import gateway_money

    html = report.read_text(encoding="utf-8")
    s = summarize(warehouse, DAYS)
    per_gateway = gateway_money(warehouse, DAYS)
    rows = [
        dict(zip([*money.ROW_COLUMNS, "gateway"], r, strict=False))
        for r in mart(
            warehouse,
            f"select {', '.join([*money.ROW_COLUMNS, 'gateway'])} from fct_reconciliation_mismatches "
            "where partition_date between ? and ?",
            [DAYS[0], DAYS[-1]],
        )
    ]
    for g in {r["gateway"] for r in rows}:
        assert per_gateway[g] == money.by_direction(r for r in rows if r["gateway"] == g)
    table = _table(html, "money-by-gateway")
    for g, per in per_gateway.items():
        assert f"<td>{g}</td>" in table and currency(sum(per.values())) in table
    directions = _table(html, "money-by-direction")
    assert "owed to users" in directions and "recoverable from the gateway" in directions
    for d, usd in s.money_by_direction.items():
        assert f"<td>{d}</td>" in directions and currency(usd) in directions


def test_each_finding_links_to_its_trail_page_and_its_csv_row(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    links = re.findall(r'<a class="trail" href="(trails/[^"]+)">', html)
    assert len(links) == 16 and len(set(links)) == 16
    for href, csv_file, n in re.findall(
        r'<a href="(trails/[^"]+)">trail</a><br><a class="csv" href="([^"]+)"'
        r' title="[^"]*">CSV row (\d+)</a>',
        html,
    ):
        with (report.parent / csv_file).open(newline="") as fh:
            row = list(csv.DictReader(fh))[int(n) - 1]
        page = (report.parent / href).read_text(encoding="utf-8")
        assert row["finding_id"] in page and "## Support packet" in page
        assert f'href="../{csv_file}">CSV row {n} of' in page and 'href="../report.html"' in page


def test_url_templates_link_each_finding_to_the_console_and_the_app(warehouse: Path, tmp_path: Path) -> None:
    links = {
        "gateway_console_url": "https://gw.example.com/log?request_id={request_id}",
        "app_job_url": "https://admin.example.com/jobs/{job_id}",
    }
    page = render_report(summarize(warehouse, DAYS), warehouse, tmp_path / "r", AS_OF, links=links)
    html = page.read_text(encoding="utf-8")
    assert 'href="https://gw.example.com/log?request_id=req_0000"' in html
    assert 'href="https://admin.example.com/jobs/job_0000"' in html
    # a finding with no request id gets no console link rather than a broken one
    assert "request_id=None" not in html and 'request_id="' not in html
    trails = [p.read_text(encoding="utf-8") for p in (page.parent / "trails").glob("*.html")]
    with_job = mart(
        warehouse,
        "select count(*) from fct_reconciliation_mismatches where job_id is not null "
        "and partition_date between ? and ?",
        [DAYS[0], DAYS[-1]],
    )[0][0]
    assert sum('id="app-link" href="https://admin.example.com/jobs/' in t for t in trails) == with_job > 0


def test_url_template_values_are_quoted() -> None:
    from orchestration.reports.render import fill_url

    assert (
        fill_url("https://a.example/j/{job_id}", {"job_id": "a/b c?d"}) == "https://a.example/j/a%2Fb%20c%3Fd"
    )
    assert fill_url("https://a.example/j/{job_id}", {"job_id": None}) is None
    assert fill_url(None, {"job_id": "x"}) is None


def test_a_report_of_another_range_gets_its_own_folder(warehouse: Path, tmp_path: Path) -> None:
    from orchestration.reports.render import report_dir

    week = render_report(summarize(warehouse, DAYS), warehouse, tmp_path / "r", AS_OF)
    day = render_report(summarize(warehouse, DAYS[-1:]), warehouse, tmp_path / "r", AS_OF)
    three = render_report(summarize(warehouse, DAYS[-3:]), warehouse, tmp_path / "r", AS_OF)
    assert len({week.parent, day.parent, three.parent}) == 3
    assert day.parent == report_dir(tmp_path / "r", LAST, LAST) == tmp_path / "r" / LAST.isoformat()
    assert week.parent.name == f"{DAYS[0].isoformat()}_{LAST.isoformat()}"
    assert "2026-03-04 .. 2026-03-10" in week.read_text()  # the week's report is still the week's
    assert "2026-03-08 .. 2026-03-10" in three.read_text()


def _history(key: str, first: datetime, last: datetime, resolved: datetime | None, usd: str = "1") -> dict:
    return {
        "finding_key": key,
        "mismatch_type": "missing_usage",
        "severity": "warn",
        "job_id": key,
        "task_id": None,
        "request_id": None,
        "gateway": "main",
        "detail": "d",
        "amount_usd": Decimal(usd),
        "partition_date": LAST,
        "first_seen_at": first,
        "last_seen_at": last,
        "resolved_at": resolved,
        "is_open": resolved is None,
    }


def test_since_the_last_report_splits_new_resolved_and_still_open(tmp_path: Path) -> None:
    from orchestration.reports.render import since_last_report

    b1, b2 = AS_OF - timedelta(days=1), AS_OF
    wh = create_marts(
        tmp_path / "h.duckdb",
        {
            "fct_mismatch_history": [
                _history("old_open", b1, b2, None, "2"),
                _history("fixed", b1, b1, b2),
                _history("fresh", b2, b2, None),
                _history("long_fixed", b1 - timedelta(days=3), b1 - timedelta(days=3), b1),
            ]
        },
    )
    since = since_last_report(wh, DAYS, AS_OF + timedelta(hours=2))
    assert since["previous"] == b1 and since["built_at"] == b2
    assert [r["finding_key"] for r in since["new"]] == ["fresh"]
    assert [r["finding_key"] for r in since["resolved"]] == ["fixed"]  # resolved before b2 is old news
    assert [(r["finding_key"], r["age_seconds"]) for r in since["open"]] == [("old_open", 26 * 3600.0)]
    html = render_report(summarize(wh, DAYS), wh, tmp_path / "r", AS_OF).read_text()
    assert "1 new, 1 resolved, 1 still open." in html and "24.0h" in _table(html, "since-open")


def test_the_first_build_says_every_finding_is_new(tmp_path: Path) -> None:
    from orchestration.reports.render import since_last_report

    wh = create_marts(tmp_path / "h.duckdb", {"fct_mismatch_history": [_history("a", AS_OF, AS_OF, None)]})
    since = since_last_report(wh, DAYS, AS_OF)
    assert since["previous"] is None and [r["finding_key"] for r in since["new"]] == ["a"]


def test_axes_have_round_ticks_and_units(report: Path) -> None:
    assert charts.nice_ticks(13.2) == [0, 5, 10, 15] and charts.nice_ticks(0.37)[-1] == pytest.approx(0.4)
    assert charts.log_ticks([30, 6 * 3600]) == [10, 60, 600, 3600, 21600]
    html = report.read_text(encoding="utf-8")
    lag = html[html.index('<svg id="lag-chart"') :].split("</svg>", 1)[0]
    ticks = re.findall(r'<text class="tick"[^>]*>([^<]+)</text>', lag)
    assert ticks and set(ticks) <= {"1s", "10s", "1m", "10m", "1h", "6h", "1d", "7d", "30d"}
    assert "log scale" in lag and "terminal day (UTC)" in lag
    spend = html[html.index('<svg id="spend-chart"') :].split("</svg>", 1)[0]
    money_ticks = re.findall(r'<text class="tick"[^>]*>([^<]+)</text>', spend)
    assert (
        all(re.fullmatch(r"\$\d+\.00", t) for t in money_ticks)
        and "USD per day" in spend
        and "day (UTC)" in spend
    )
    # stacked by gateway: one legend entry and one bar part per gateway and day
    assert re.findall(r'class="legend"[^>]*>([^<]+)<', spend) == ["lab", "main"]
    assert spend.count('<rect class="bar"') == 2 * len(DAYS)


def test_the_anomaly_columns_wait_for_history(tmp_path: Path) -> None:
    rows = sample_rows(LAST)
    for r in rows["fct_spend_daily"]:
        r.update(anomaly_threshold_usd=None, is_anomaly=False)
    wh = create_marts(tmp_path / "w.duckdb", rows)
    html = render_report(summarize(wh, DAYS), wh, tmp_path / "r", AS_OF).read_text()
    assert "anomaly above" not in _table(html, "spend-table") and 'id="anomaly-pending"' in html


def test_the_weekly_trend_counts_money_at_risk_and_spend_per_week(warehouse: Path) -> None:
    from orchestration.reports import money
    from orchestration.reports.render import weekly_trend

    trend = weekly_trend(warehouse, LAST)
    assert all(t["week"].weekday() == 0 for t in trend) and trend[-1]["week"] <= LAST
    for t in trend:
        end = t["week"] + timedelta(days=6)
        rows = [
            dict(zip(money.ROW_COLUMNS, r, strict=False))
            for r in mart(
                warehouse,
                f"select {', '.join(money.ROW_COLUMNS)} from fct_reconciliation_mismatches "
                "where partition_date between ? and ?",
                [t["week"], min(end, LAST)],
            )
        ]
        spend = mart(
            warehouse,
            "select coalesce(sum(net_spend_usd), 0) from fct_spend_daily where spend_date between ? and ?",
            [t["week"], min(end, LAST)],
        )[0][0]
        assert t["money_at_risk"] == pytest.approx(money.total(rows)) and t["net_spend"] == pytest.approx(
            float(spend)
        )
    assert sum(t["net_spend"] for t in trend) > 0


def test_recon_report_writes_each_range_to_its_own_folder(warehouse: Path, tmp_path: Path) -> None:
    """`recon report --date D` (D and its lookback), `--start/--end` and a one-day report: three
    folders, and writing one never changes another's files."""
    import subprocess
    import sys

    import yaml

    cfg = {
        "warehouse": {
            "path": str(warehouse),
            "landing_dir": str(tmp_path / "landing"),
            "reports_dir": str(tmp_path / "reports"),
        },
        "gateways": [{"name": "main", "dialect": "files", "path": str(tmp_path)}],
        "app": {"database_url_env": "RECON_TEST_APP_DB", "jobs_query": "q", "assets_query": "q"},
        "reconciliation": {"lookback_days": 3},
    }
    (tmp_path / "recon.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")

    def report(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "orchestration.cli",
                "report",
                "--config",
                str(tmp_path / "recon.yaml"),
                "--as-of",
                AS_OF.isoformat(),
                *args,
            ],
            capture_output=True,
            text=True,
            check=False,
        )

    assert report("--date", LAST.isoformat()).returncode == 0
    lookback = tmp_path / "reports" / f"{(LAST - timedelta(days=3)).isoformat()}_{LAST.isoformat()}"
    before = (lookback / "report.html").read_bytes()
    assert report("--start", DAYS[0].isoformat(), "--end", LAST.isoformat()).returncode == 0
    assert report("--start", LAST.isoformat()).returncode == 0
    folders = sorted(p.name for p in (tmp_path / "reports").iterdir())
    assert folders == sorted([lookback.name, f"{DAYS[0].isoformat()}_{LAST.isoformat()}", LAST.isoformat()])
    assert (lookback / "report.html").read_bytes() == before
    both = report("--date", LAST.isoformat(), "--start", LAST.isoformat())
    assert both.returncode == 2 and "either --date or --start" in both.stderr
    backwards = report("--start", LAST.isoformat(), "--end", DAYS[0].isoformat())
    assert backwards.returncode == 2 and "backwards" in backwards.stderr


def test_a_finding_whose_id_names_two_jobs_says_so_on_its_trail(tmp_path: Path) -> None:
    rows = sample_rows(LAST)
    base = rows["fct_reconciliation_mismatches"][0]
    rows["fct_reconciliation_mismatches"] = [
        dict(
            base,
            finding_id="amb",
            job_id=None,
            task_id=None,
            request_id="req_shared",
            mismatch_type="orphan_usage",
        )
    ]
    wh = create_marts(tmp_path / "w.duckdb", rows)
    con = duckdb.connect(str(wh))
    try:
        con.execute(
            "create table stg_raw__app_jobs as select * from (values ('job_a', 'req_shared'), "
            "('job_b', 'req_shared')) t(job_id, request_id)"
        )
    finally:
        con.close()
    page = render_report(summarize(wh, DAYS), wh, tmp_path / "r", AS_OF)
    trail = (page.parent / "trails" / "amb.html").read_text(encoding="utf-8")
    assert "matches 2 jobs: job_a, job_b" in trail and "## Support packet" in trail and "req_shared" in trail
