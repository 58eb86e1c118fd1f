"""Cutting a half-open UTC range into closed extraction windows, coarse first.

new-api pages newest-first with LIMIT/OFFSET, so a window still receiving rows shifts its own pages
while we read them. We only page windows whose end is at least `close_lag_seconds` in the past.
The range is cut on a grid of `window_minutes` cells (`cut`), the closed cells are kept (`closed`),
and consecutive closed cells are merged into probe windows of up to `probe_window_minutes`
(`coarse`, default a whole day): an empty or quiet day is then one probe, not one per cell. A probe
window that holds more than one window may page splits back onto the grid (`group`), and one cell
that still holds too much splits proportionally on whole seconds (`Window.split`).
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


def coarse(cells: list[Window], probe_minutes: int, cell_minutes: int) -> list[Window]:
    """Consecutive cells (as `cut` made them, in order) merged into windows of at most `probe_minutes`
    (never less than one cell): each is a union of whole cells, so splitting it back onto the grid
    gives exactly the cells it was made of. `probe_minutes <= cell_minutes` keeps every cell alone."""
    per = max(1, probe_minutes // max(1, cell_minutes))
    out: list[Window] = []
    run: list[Window] = []
    for c in cells:
        if run and (len(run) == per or run[-1].end != c.start):
            out.append(Window(run[0].start, run[-1].end))
            run = []
        run.append(c)
    if run:
        out.append(Window(run[0].start, run[-1].end))
    return out


def group(w: Window, cell_minutes: int, parts: int) -> list[Window]:
    """`w` split onto its `cell_minutes` grid (cells counted from `w.start`) into at most `parts`
    consecutive groups of whole cells, as equal in cell count as they can be."""
    cells = cut(w.start, w.end, cell_minutes)
    k = max(1, min(parts, len(cells)))
    edges = [round(i * len(cells) / k) for i in range(k + 1)]
    return [Window(cells[a].start, cells[b - 1].end) for a, b in itertools.pairwise(edges) if b > a]


def cells_in(w: Window, cell_minutes: int) -> int:
    """How many `cell_minutes` grid cells window `w` spans (1 for a cell or a part of one)."""
    return max(1, math.ceil((w.end - w.start) / timedelta(minutes=cell_minutes)))
