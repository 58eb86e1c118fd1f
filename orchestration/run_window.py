"""The set of days a run covers, derived once: `RunWindow(first_day, last_day, as_of, lookback)`.

Every consumer reads the window from here instead of deriving its own: the schedule (yesterday and
the lookback days before it), the assets (the partition range of the run), the dbt run values
(`start_date`, `end_date`, `as_of`, `rewrite_from`), the report and `recon report --date/--start/--end`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import dagster as dg


@dataclass(frozen=True)
class RunWindow:
    """The UTC days `first_day..last_day` (inclusive), the instant that counts as "now", and the
    config's `reconciliation.lookback_days`.

    `rewrite_from` is what the lookback means to the incremental marts: records landed for the run's
    days can change findings dated before them (a job created earlier whose usage row, refund or task
    end arrives now), so a build rewrites the marts from `lookback` days before `first_day`.
    """

    first_day: date
    last_day: date
    as_of: datetime
    lookback: int

    def __post_init__(self) -> None:
        if self.last_day < self.first_day:
            raise ValueError(
                f"date range is backwards: {self.first_day.isoformat()} .. {self.last_day.isoformat()}"
            )
        if self.lookback < 0:
            raise ValueError(f"lookback must be >= 0, got {self.lookback}")
        if self.as_of.tzinfo is None:
            raise ValueError(f"as_of must carry a time zone, got {self.as_of.isoformat()}")

    @classmethod
    def for_day(cls, day: date, as_of: datetime, lookback: int) -> RunWindow:
        """What a daily run for `day` covers: the day and the `lookback` days before it."""
        return cls(day - timedelta(days=lookback), day, as_of, lookback)

    @classmethod
    def for_tick(cls, tick: datetime, lookback: int) -> RunWindow:
        """The scheduled run of a tick: yesterday (UTC, relative to the tick) and its lookback."""
        tick = tick.astimezone(UTC)
        return cls.for_day(tick.date() - timedelta(days=1), tick, lookback)

    @classmethod
    def from_partitions(cls, window: dg.TimeWindow, as_of: datetime, lookback: int) -> RunWindow:
        """The days of a (possibly multi-day) partition time window: [start, end) in UTC."""
        first = window.start.astimezone(UTC).date()
        last = (window.end.astimezone(UTC) - timedelta(microseconds=1)).date()
        return cls(first, last, as_of, lookback)

    @property
    def days(self) -> list[date]:
        """Every day of the window, oldest first."""
        return [self.first_day + timedelta(days=i) for i in range((self.last_day - self.first_day).days + 1)]

    @property
    def rewrite_from(self) -> date:
        """The first day an incremental dbt build deletes and rebuilds (run_vars.sql `touched_days_filter`)."""
        return self.first_day - timedelta(days=self.lookback)

    def run_values(self) -> dict[str, str]:
        """The per-run dbt values (orchestration/run_values.py): never --vars, they change every run."""
        return {
            "start_date": self.first_day.isoformat(),
            "end_date": self.last_day.isoformat(),
            "as_of": self.as_of.isoformat(),
            "rewrite_from": self.rewrite_from.isoformat(),
        }
