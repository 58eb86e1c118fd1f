"""The report's usage analytics section (issue 21): the run's days only, aggregated over them,
largest first, bounded, and empty marts shown as empty tables."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from support.sample_marts import create_marts

from orchestration.reports import analytics
from orchestration.reports.render import render_report
from orchestration.reports.summary import summarize

D1, D2, BEFORE = date(2026, 3, 9), date(2026, 3, 10), date(2026, 3, 1)


def usage(day: date, token: str, spend: str, requests: int) -> dict:
    return {
        "usage_date": day,
        "gateway": "main",
        "token_name": token,
        "model": "gpt-4o",
        "group_name": "default",
        "request_count": requests,
        "error_count": 1,
        "soft_failure_count": 0,
        "prompt_tokens": 100,
        "completion_tokens": 50,
        "spend_usd": Decimal(spend),
    }


def test_usage_is_summed_over_the_runs_days_biggest_spend_first(tmp_path: Path) -> None:
    wh = create_marts(
        tmp_path / "wh.duckdb",
        {
            "fct_usage_daily": [
                usage(D1, "prod", "1.5", 10),
                usage(D2, "prod", "2.0", 5),
                usage(D2, "batch", "9.0", 1),
                usage(BEFORE, "old", "100", 1),
            ],
            "fct_gateway_totals_daily": [
                {
                    "total_date": D2,
                    "gateway": "main",
                    "gateway_quota": 1005,
                    "detail_quota": 1000,
                    "quota_difference": 5,
                    "is_disagreement": True,
                }
            ],
        },
    )
    a = analytics.collect(wh, [D1, D2])
    assert [(r["token_name"], r["requests"], r["errors"], r["tokens"], r["spend_usd"]) for r in a.usage] == [
        ("batch", 1, 1, 150, Decimal("9.0")),
        ("prod", 15, 2, 300, Decimal("3.5")),
    ]
    assert [(r["gateway_quota"], r["detail_quota"]) for r in a.totals] == [(1005, 1000)]
    assert a.users == [] and a.throughput == []


def test_the_report_html_carries_the_section(tmp_path: Path) -> None:
    wh = create_marts(
        tmp_path / "wh.duckdb",
        {
            "fct_usage_daily": [usage(D2, "prod-key", "2.0", 5)],
            "fct_latency_daily": [
                {
                    "usage_date": D2,
                    "gateway": "main",
                    "model": "gpt-4o",
                    "request_count": 4,
                    "p50_duration_ms": 250.0,
                    "p95_duration_ms": 385.0,
                    "max_duration_ms": 400,
                }
            ],
        },
    )
    html = render_report(
        summarize(wh, [D1, D2]), wh, tmp_path / "reports", datetime(2026, 3, 11, tzinfo=UTC)
    ).read_text()
    assert 'id="analytics"' in html and "prod-key" in html and '<td class="num">385</td>' in html
    assert 'class="empty" id="totals-table"' in html and "TokenLab documents no billing aggregate" in html


def test_a_fresh_warehouse_renders_empty_tables(tmp_path: Path) -> None:
    assert analytics.collect(tmp_path / "none.duckdb", [D2]) == analytics.Analytics()
    assert 'id="high-tokens-table"' in analytics.render(tmp_path / "none.duckdb", [D2])
