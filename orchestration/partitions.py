"""The daily UTC partitions every asset shares, and the small date helpers around them."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import dagster as dg

from orchestration import storage

FLOOR = "2025-01-01"  # without a config (tests, tools): far enough back for any backfill
DEFAULT_HISTORY_DAYS = 90  # a config with no start_date and nothing landed yet: this many days back
_DAY_DIR = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")


def first_landed_day(landing_dir: str | Path) -> date | None:
    """The oldest `date=YYYY-MM-DD` folder of any record under the landing dir (None when empty)."""
    days = []
    for p in storage.glob(storage.root(landing_dir), "*/date=*"):
        m = _DAY_DIR.match(p.name)
        if m and p.is_dir():
            days.append(date.fromisoformat(m.group(1)))
    return min(days, default=None)


def configured_start(cfg, today: date | None = None) -> date:
    """`reconciliation.start_date`, else the first day recon has data for, else 90 days back."""
    if cfg.reconciliation.start_date:
        return cfg.reconciliation.start_date
    landed = first_landed_day(cfg.warehouse.landing_dir)
    return landed or (today or datetime.now(UTC).date()) - timedelta(days=DEFAULT_HISTORY_DAYS)


def _process_start() -> str:
    """The partitions' start for this process, fixed when the definitions load: RECON_PARTITIONS_START
    (`recon run` sets it), else the config RECON_CONFIG names (`dagster dev` / `recon ui`), else FLOOR.
    A config that does not load leaves FLOOR: the run then fails on the config, with its message."""
    explicit = os.environ.get("RECON_PARTITIONS_START")
    if explicit:
        return date.fromisoformat(explicit).isoformat()
    config = os.environ.get("RECON_CONFIG")
    if config:
        from orchestration.config import ConfigError, load_config

        try:
            return configured_start(load_config(config)).isoformat()
        except (ConfigError, OSError):
            return FLOOR
    return FLOOR


# One partition = one UTC day, from the configured start (the Dagster UI shows no years of "missing").
PARTITIONS_START = _process_start()
DAILY = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, timezone="UTC", end_offset=0)
SINGLE_RUN = dg.BackfillPolicy.single_run()


def partitions_start() -> date:
    """The first day recon has a partition for in this process."""
    return date.fromisoformat(PARTITIONS_START)


def last_closed_day(now: datetime | None = None) -> date:
    """The newest day with a partition: a UTC day gets one once it has ended (``end_offset=0``)."""
    return (now or datetime.now(UTC)).astimezone(UTC).date() - timedelta(days=1)


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def days_between(first: date, last: date) -> list[date]:
    """Every day from `first` to `last`, inclusive."""
    if last < first:
        raise ValueError(f"date range is backwards: {first.isoformat()} .. {last.isoformat()}")
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def days_in_window(window: dg.TimeWindow) -> list[date]:
    """The UTC days a (possibly multi-day) partition time window covers (`RunWindow.from_partitions`)."""
    from orchestration.run_window import RunWindow

    return RunWindow.from_partitions(window, datetime.now(UTC), 0).days


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """Half-open UTC bounds [00:00, next 00:00) of a day."""
    start = day_start(day)
    return start, start + timedelta(days=1)


def iter_day_bounds(days: list[date]) -> Iterator[tuple[date, datetime, datetime]]:
    for d in days:
        yield (d, *day_bounds(d))
