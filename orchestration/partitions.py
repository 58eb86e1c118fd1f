"""The daily UTC partitions every asset shares, and the small date helpers around them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

import dagster as dg

# One partition = one UTC day. History starts far enough back for a year of backfill.
PARTITIONS_START = "2025-01-01"
DAILY = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, timezone="UTC", end_offset=0)
SINGLE_RUN = dg.BackfillPolicy.single_run()


def partitions_start() -> date:
    """The first day recon has a partition for (the one place to read it, so it can become config)."""
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
    """The UTC days a (possibly multi-day) partition time window covers."""
    first = window.start.astimezone(UTC).date()
    last = (window.end.astimezone(UTC) - timedelta(microseconds=1)).date()
    return days_between(first, last)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """Half-open UTC bounds [00:00, next 00:00) of a day."""
    start = day_start(day)
    return start, start + timedelta(days=1)


def iter_day_bounds(days: list[date]) -> Iterator[tuple[date, datetime, datetime]]:
    for d in days:
        yield (d, *day_bounds(d))
