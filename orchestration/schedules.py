"""The daily schedule: after the UTC day closes, one run for yesterday plus the lookback window."""

from __future__ import annotations

import os
from datetime import date, datetime

import dagster as dg

from orchestration.config import ConfigError, load_config
from orchestration.run_window import RunWindow

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
DEFAULT_LOOKBACK_DAYS = 3
SCHEDULE_CRON = "30 1 * * *"  # 01:30 UTC: the day is closed and most late rows have arrived
# A deployment whose gateways settle later (or a test of the scheduler) sets another cron, read once when
# the code location loads; the run's range still comes from the tick's date.
SCHEDULE_CRON_ENV = "RECON_SCHEDULE_CRON"


def partition_range_for_tick(tick: datetime, lookback_days: int) -> tuple[date, date]:
    """Yesterday (UTC, relative to the tick) and the `lookback_days` days before it (`RunWindow.for_tick`)."""
    window = RunWindow.for_tick(tick, lookback_days)
    return window.first_day, window.last_day


def range_tags(first: date, last: date) -> dict[str, str]:
    return {RANGE_START: first.isoformat(), RANGE_END: last.isoformat()}


def _lookback_days() -> int:
    path = os.environ.get("RECON_CONFIG")
    if not path:
        return DEFAULT_LOOKBACK_DAYS
    try:
        return load_config(path).reconciliation.lookback_days
    except ConfigError:
        return DEFAULT_LOOKBACK_DAYS  # the run itself will fail with the clear config error


def daily_schedule(job: dg.UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    @dg.schedule(
        job=job,
        cron_schedule=os.environ.get(SCHEDULE_CRON_ENV) or SCHEDULE_CRON,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
        name="recon_daily_schedule",
        description="Yesterday (UTC) plus the lookback window, in one run; switch it on in the UI.",
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        first, last = partition_range_for_tick(context.scheduled_execution_time, _lookback_days())
        return dg.RunRequest(
            run_key=f"recon-{last.isoformat()}",
            tags={**range_tags(first, last), "dagster/max_retries": "2"},
        )

    return _schedule
