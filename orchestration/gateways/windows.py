"""Cutting a half-open UTC range into closed extraction windows.

new-api pages newest-first with LIMIT/OFFSET, so a window still receiving rows shifts its own pages
while we read them. We only page windows whose end is at least `close_lag_seconds` in the past, and
keep windows small (`window_minutes`, split further when a window's total is too large to page).
The gateway's bounds are inclusive Unix seconds, so [start, end) becomes [ceil(start), ceil(end)-1].
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from orchestration.gateways.messages import fmt_window


@dataclass(frozen=True)
class Window:
    start: datetime  # inclusive, tz-aware UTC
    end: datetime  # exclusive

    @property
    def label(self) -> str:
        return fmt_window(self.start, self.end)

    def inclusive_seconds(self) -> tuple[int, int]:
        """The gateway's inclusive [lo, hi] Unix-second bounds covering exactly [start, end)."""
        lo = math.ceil(self.start.timestamp())
        hi = math.ceil(self.end.timestamp()) - 1
        return lo, hi

    def split(self, parts: int) -> list[Window]:
        """Equal sub-windows on whole seconds (a window of one second cannot split)."""
        lo, hi = self.inclusive_seconds()
        span = hi - lo + 1
        parts = max(1, min(parts, span))
        if parts == 1:
            return [self]
        edges = [lo + (span * i) // parts for i in range(parts)] + [hi + 1]
        out = []
        for a, b in itertools.pairwise(edges):
            out.append(Window(_ts(a), _ts(b)))
        # keep the exact original outer edges (sub-second starts)
        out[0] = Window(self.start, out[0].end)
        out[-1] = Window(out[-1].start, self.end)
        return out

    @property
    def start_us(self) -> int:
        return _micros(self.start)

    @property
    def end_us(self) -> int:
        return _micros(self.end)

    def contains(self, t: datetime) -> bool:
        return self.start <= t < self.end


def _micros(t: datetime) -> int:
    d = t - _EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def now_utc() -> datetime:
    """The clock every dialect closes windows against (a client's `now` overrides it in tests)."""
    return datetime.now(UTC)


def _ts(sec: int) -> datetime:
    return datetime.fromtimestamp(sec, tz=UTC)


def utc(t: datetime) -> datetime:
    """Naive datetimes are UTC by our convention; aware ones are converted."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def cut(start: datetime, end: datetime, minutes: int) -> list[Window]:
    """Consecutive windows of `minutes` covering [start, end) exactly."""
    start, end = utc(start), utc(end)
    if end <= start:
        return []
    step = timedelta(minutes=minutes)
    out: list[Window] = []
    t = start
    while t < end:
        out.append(Window(t, min(t + step, end)))
        t += step
    return out


def closed(windows: list[Window], now: datetime, close_lag_seconds: int) -> tuple[list[Window], list[Window]]:
    """(closed, still_open): a window is closed once its end is `close_lag_seconds` before `now`."""
    limit = utc(now) - timedelta(seconds=close_lag_seconds)
    done = [w for w in windows if w.end <= limit]
    return done, [w for w in windows if w.end > limit]
