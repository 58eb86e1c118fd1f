"""App and gateway values outside sane bounds (issue 17): quarantined with the bound's name, never
landed into money at risk or settlement lag. Bounds are documented in schemas/checks.py."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from orchestration.app_sources import extract_app_records
from orchestration.config import AppConfig
from schemas.checks import MAX_RECORD_USD
from schemas.validate import validate_frame

try:  # tests/ is a rootdir-importable folder, not a package
    from test_schemas import _typed, good_task, good_usage
except ImportError:  # pragma: no cover
    from tests.test_schemas import _typed, good_task, good_usage

DAY = date(2026, 11, 20)
START = datetime(2026, 11, 20, tzinfo=UTC)
JOBS = """
select id as job_id, 'u' as user_id, created as created_at, 'image' as scene, 'flux' as model,
       id || '-req' as request_id, null as task_id, 'succeeded' as status, done as terminal_at,
       null as billing_transaction_id, cost as expected_cost_usd, 0 as retry_count
from jobs where created >= :start and created < :end
"""
ASSETS = (
    "select 1 as asset_id, 1 as job_id, 1 as created_at, 1 as kind, 1 as byte_size, 1 as status "
    "where :start < :end and 0"
)


def test_absurd_app_cost_and_terminal_time_are_quarantined(tmp_path: Path, monkeypatch) -> None:
    url = f"sqlite:///{tmp_path / 'app.sqlite'}"
    eng = create_engine(url)
    with eng.begin() as c:
        c.execute(text("create table jobs (id text, created text, done text, cost real)"))
        c.execute(
            text(
                "insert into jobs values ('ok', '2026-11-20 01:00:00', '2026-11-20 01:00:30', 0.04),"
                "('rich', '2026-11-20 02:00:00', '2026-11-20 02:00:30', 1e300),"
                "('never', '2026-11-20 03:00:00', '9999-12-31 00:00:00', 0.04),"
                "('refund', '2026-11-20 04:00:00', '2026-11-20 04:00:30', -1e12)"
            )
        )
    eng.dispose()
    monkeypatch.setenv("HV_APP_DB", url)
    app = AppConfig(database_url_env="HV_APP_DB", jobs_query=JOBS, assets_query=ASSETS)
    df = extract_app_records(app, "app_jobs", START, START + timedelta(days=1), key=b"k")
    result = validate_frame("app_jobs", df, source="app:app_jobs", partition=DAY.isoformat())
    assert sorted(result.lines()) == [
        "app:app_jobs 2026-11-20: column expected_cost_usd failed greater_than_or_equal_to(0) in 1 row",
        "app:app_jobs 2026-11-20: column expected_cost_usd failed sane_money in 2 rows",
        "app:app_jobs 2026-11-20: column terminal_at failed sane_timestamp in 1 row",
    ]
    assert list(result.valid["job_id"]) == ["ok"]
    assert sorted(result.quarantine["job_id"]) == ["never", "refund", "rich"]


@pytest.mark.parametrize(
    ("record", "good", "change", "reason"),
    [
        ("usage_records", good_usage, {"cost_usd": 1e300}, "cost_usd sane_money"),
        (
            "usage_records",
            good_usage,
            {"record_type": "refund", "cost_usd": -MAX_RECORD_USD * 2},
            "cost_usd sane_money",
        ),
        (
            "usage_records",
            good_usage,
            {"created_at": pd.Timestamp("9999-12-31", tz="UTC")},
            "created_at sane_timestamp",
        ),
        (
            "usage_records",
            good_usage,
            {"created_at": pd.Timestamp("1970-01-01", tz="UTC")},
            "created_at sane_timestamp",
        ),
        ("gateway_tasks", good_task, {"cost_usd": 5e12}, "cost_usd sane_money"),
        (
            "gateway_tasks",
            good_task,
            {"finished_at": pd.Timestamp("9999-12-31", tz="UTC")},
            "finished_at sane_timestamp",
        ),
    ],
)
def test_absurd_gateway_values_are_quarantined(record, good, change, reason) -> None:
    df = _typed(record, [good(1), {**good(2), **change}])
    result = validate_frame(record, df, source="gateways:main", partition=DAY.isoformat())
    assert len(result.valid) == 1 and len(result.quarantine) == 1
    assert reason in set(result.quarantine["quarantine_reason"].str.split("; ").explode())


def test_a_large_topup_is_not_an_absurd_charge() -> None:
    df = _typed("usage_records", [{**good_usage(1), "record_type": "topup", "cost_usd": -MAX_RECORD_USD * 3}])
    assert validate_frame("usage_records", df, source="gateways:main", partition=DAY.isoformat()).ok
