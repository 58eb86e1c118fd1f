"""The reports people read: CSVs match the mart row for row, the HTML is self-contained, the summary adds up."""

import csv
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from orchestration.reports import charts
from orchestration.reports.money import format_usd
from orchestration.reports.render import (
    MISMATCH_COLUMNS,
    lag_by_day,
    markdown_preview,
    render_report,
)
from orchestration.reports.sample_marts import create_marts, sample_rows
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
    assert f"  {'total':<30}{s.total_findings:>6}{format_usd(s.money_at_risk):>14}" in table  # two decimals
    assert s.money_at_risk == pytest.approx(sum(s.money_by_direction.values()))
    for direction, usd in s.money_by_direction.items():
        assert re.search(rf"^  {direction}\s+{re.escape(format_usd(usd))}$", table, re.MULTILINE), direction
    for code in MISMATCH_CODES:
        assert re.search(rf"^  {code}\s+{s.mismatches[code][0]}\s", table, re.MULTILINE), code
    md = markdown_preview(s)
    assert f"**{s.total_findings} findings, {s.money_at_risk:,.6f} USD at risk**" in md


def test_html_is_self_contained(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert not re.search(r"""\b(src|href)\s*=""", html)
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", html))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls  # the SVG namespace is a name, not a fetch
    assert html.count("<svg") == 2


def test_html_shows_key_figures_ids_and_marks_anomalies(warehouse: Path, report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    s = summarize(warehouse, DAYS)
    assert f'id="total-findings">{s.total_findings}<' in html
    assert f'id="money-at-risk">{s.money_at_risk:,.6f}<' in html
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
    assert report_dir.name == setup.last.isoformat()
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
            tuple(as_mart_value(t, v) for t, v in zip(g, e, strict=True)) for g, e in zip(got, expected)
        ] == expected and len(got) == len(expected), code
        rows += len(got)
    assert rows == outcome.summary.total_findings > 0
    html = outcome.summary.report_path.read_text(encoding="utf-8")
    assert f'id="money-at-risk">{outcome.summary.money_at_risk:,.6f}<' in html


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
