"""The schedule's run request covers yesterday + lookback in one run; dbt vars are built purely."""

from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg

from orchestration.assets.dbt import dbt_vars
from orchestration.config import load_config
from orchestration.partitions import days_between, days_in_window
from orchestration.run_window import RunWindow
from orchestration.schedules import RANGE_END, RANGE_START, partition_range_for_tick

EXAMPLE = Path(__file__).resolve().parents[1] / "recon.example.yaml"


def test_range_for_tick_is_yesterday_plus_lookback():
    tick = datetime(2026, 11, 22, 1, 30, tzinfo=UTC)
    assert partition_range_for_tick(tick, 3) == (date(2026, 11, 18), date(2026, 11, 21))
    assert partition_range_for_tick(tick, 0) == (date(2026, 11, 21), date(2026, 11, 21))


def test_schedule_run_request_tags(monkeypatch):
    monkeypatch.setenv("RECON_CONFIG", str(EXAMPLE))
    from orchestration.definitions import defs

    sched = defs.resolve_schedule_def("recon_daily_schedule")
    assert sched.default_status == dg.DefaultScheduleStatus.STOPPED
    ctx = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 22, 1, 30, tzinfo=UTC))
    req = sched.evaluate_tick(ctx).run_requests[0]
    assert req.tags[RANGE_START] == "2026-11-18" and req.tags[RANGE_END] == "2026-11-21"
    assert req.tags["dagster/max_retries"] == "2"


def test_days_in_window_is_inclusive_of_last_day():
    w = dg.TimeWindow(datetime(2026, 11, 15, tzinfo=UTC), datetime(2026, 11, 22, tzinfo=UTC))
    assert days_in_window(w) == days_between(date(2026, 11, 15), date(2026, 11, 21))
    assert len(days_in_window(w)) == 7


def test_dbt_vars_carry_range_clock_and_thresholds():
    cfg = load_config(EXAMPLE)
    v = dbt_vars(
        cfg, RunWindow(date(2026, 11, 20), date(2026, 11, 21), datetime(2026, 11, 22, 6, tzinfo=UTC), 3)
    )
    assert (
        v["start_date"] == "2026-11-20"
        and v["end_date"] == "2026-11-21"
        and v["rewrite_from"] == "2026-11-17"
    )
    assert v["as_of"] == "2026-11-22T06:00:00+00:00"
    assert v["settlement_window_hours"] == 48 and v["lookback_days"] == 3


def test_backwards_range_is_an_error():
    import pytest

    with pytest.raises(ValueError, match="backwards"):
        days_between(date(2026, 11, 21), date(2026, 11, 20))
