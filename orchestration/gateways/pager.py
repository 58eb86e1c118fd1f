"""Exactly-once paging of a newest-first LIMIT/OFFSET list endpoint (new-api logs and tasks).

Per closed window: probe page 1 (its `total` and item count give the real page size, whatever the
server clamped `page_size` to); split the window when the total is too large to page (a probe window
of a whole day onto the `window_minutes` grid, a single grid cell proportionally); fetch the
remaining pages concurrently; every page carries `total`, so a total that moved between the first
and the last page (or a page of the wrong length) means rows were inserted or deleted mid-read: the
window is read again and the passes are merged. Rows are deduplicated on record_key (usage) or
task_id (tasks) and filtered client-side to the half-open window, so an edge row lands once.

A window whose total claims more than `max_pages_per_window` pages fails loudly before any of them
is requested (a lying `total: 10**9` must not plan millions of requests, and a window is never
silently truncated). Progress lines say pages done / pages known, the pace and an ETA.

Older new-api and one-api builds answer with a bare list (no total, maybe 0-based `p`): those are
paged sequentially until a short or repeating page, and `p=0` vs `p=1` tells the page base.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from orchestration.errors import ExtractionError, InvalidRecordError
from orchestration.gateways.base import Log
from orchestration.gateways.http import HttpFetcher, gather_all
from orchestration.gateways.normalize import differing
from orchestration.gateways.pages import normalize_items, parse_list_body
from orchestration.gateways.windows import Window, cells_in, group

MAX_PASSES = 5
LEGACY_MAX_PAGES = 100_000
NORMALIZE_CHUNK = 20  # rows normalized between two yields to the event loop


DEFAULT_MAX_PAGES_PER_WINDOW = 10_000
PROGRESS_EVERY_S = 5.0  # at most one progress line this often (and one when the run ends)
NEWEST_ONLY_LIMIT = 100  # /api/log/token upstream: the latest 100 rows, unpaged

Emit = Callable[[Window, dict[str, tuple]], Awaitable[None] | None]


async def _call(emit: Emit, w: Window, rows: dict[str, tuple]) -> None:
    out = emit(w, rows)
    if inspect.isawaitable(out):
        await out


def _bad_field(body: Any) -> str:
    """Which envelope field could not be read (`field total='12x'`), for the one-line error."""
    data = body.get("data") if isinstance(body, dict) else None
    for name in ("total", "page", "page_size"):
        v = data.get(name) if isinstance(data, dict) else None
        if v is not None and not (isinstance(v, int) and not isinstance(v, bool)):
            return f"field {name}={str(v)[:40]!r} is not an integer"
    return "a field is not of the expected type"


@dataclass
class Source:
    """One list endpoint: where it is, how a row is normalized and keyed, what a repeat means."""

    path: str
    endpoint: str  # for messages: never carries a secret
    params: dict[str, Any]
    normalize: Callable[[dict], tuple]  # raises RowError
    key_of: Callable[[tuple], str]
    time_of: Callable[[tuple], int]  # epoch micros used for the window filter
    ids_of: Callable[[tuple], str]  # public ids for messages
    mutable: bool = False  # tasks change status between reads: the newest read wins
    key_index: int = 1  # where key_of / time_of look in a row tuple (the hot loop indexes directly)
    time_index: int = 3
    auth_hint: str = ""
    partition: str = ""
    # dialect hooks: request params of page p of a window, and (items, total|None) from a body
    params_for: Callable[[Window, int, int], dict[str, Any]] | None = None
    parse: Callable[[Any, str], tuple[list[dict], int | None]] | None = None
    zero_base_probe: bool = True  # bare-list answers may page from 0 (older new-api, one-api)


@dataclass
class Progress:
    """Counters of one extraction. Windows grow as they split: a probe window whose total is too
    large to page is replaced by its parts, so `windows_total` (windows to read) rises and the
    ETA firms up as windows are probed."""

    windows_total: int = 0  # windows to read: the probe windows, each split one replaced by its parts
    windows_done: int = 0  # windows read and handed on
    pages: int = 0
    records: int = 0
    unprobed: int = 0  # windows whose first page has not arrived yet (one page each, as far as known)
    pages_planned: int = 0  # pages of the probed windows (probe included), re-reads added
    splits: int = 0  # windows split because they held too much to page whole
    last_log: float = field(default_factory=time.monotonic)
    started: float = field(default_factory=time.monotonic)

    @property
    def pages_known(self) -> int:
        """Pages planned so far, plus one probe for each window not probed yet."""
        return max(self.pages, self.pages_planned + self.unprobed)

    def line(self, stats: object) -> str:
        """`pages 40/200, 55.0 pages/min, ETA 2m54s` plus windows, records, retries and waits."""
        elapsed = max(1e-6, time.monotonic() - self.started)
        pace = self.pages / elapsed * 60
        left = self.pages_known - self.pages
        secs = round(left / (pace / 60)) if pace > 0 and left > 0 else 0
        eta = f"{secs // 60}m{secs % 60:02d}s" if secs >= 60 else f"{secs}s"
        out = (
            f"pages {self.pages}/{self.pages_known}, {pace:.1f} pages/min, ETA {eta}, "
            f"windows {self.windows_done}/{self.windows_total}"
            + (f" ({self.splits} split)" if self.splits else "")
            + f", records {self.records}, "
            f"retries {getattr(stats, 'retries', 0)}"
        )
        limited = getattr(stats, "rate_limited", 0)
        if limited:
            out += (
                f", rate limited {limited}x (waited {getattr(stats, 'waited_seconds', 0.0):.0f}s "
                "for the gateway's window)"
            )
        return out + f", {elapsed:.1f}s"


class Pager:
    def __init__(
        self,
        fetcher: HttpFetcher,
        src: Source,
        *,
        gateway: str,
        page_size: int,
        max_window_records: int,
        log: Log,
        label: str,
        max_pages_per_window: int = DEFAULT_MAX_PAGES_PER_WINDOW,
        cell_minutes: int | None = None,
    ) -> None:
        self.f = fetcher
        self.src = src
        self.gateway = gateway
        self.page_size = page_size
        self.max_window_records = max_window_records
        self.log = log
        self.label = label
        self.progress = Progress()
        self.outside = 0
        self.conflicts = 0
        self.outside_rows: dict[str, tuple[str, tuple]] = {}  # key -> (window label, row): quarantined
        self.partial: list[str] = []  # why a window read is not a complete answer (rows vanished)
        self.big_window_rows = page_size * 32
        self._big = asyncio.Semaphore(2)
        self.max_pages_per_window = max_pages_per_window
        self.cell_minutes = cell_minutes  # the grid (`window_minutes`) a probe window splits onto

    # -- one page -------------------------------------------------------------------------------
    def _params(self, w: Window, p: int) -> dict[str, Any]:
        params = dict(self.src.params)
        if self.src.params_for is not None:
            params.update(self.src.params_for(w, p, self.page_size))
        else:
            lo, hi = w.inclusive_seconds()
            params.update({"p": p, "page_size": self.page_size, "start_timestamp": lo, "end_timestamp": hi})
        return params

    async def _page(self, w: Window, p: int) -> tuple[list[dict], int | None]:
        params = self._params(w, p)
        resp = await self.f.get(self.src.path, params, endpoint=self.src.endpoint, window=w.label, page=p)
        self.progress.pages += 1
        self._tick()
        loc = f"gateway={self.gateway} endpoint={self.src.endpoint} window={w.label} page={p}"
        try:
            if self.src.parse is not None:
                return self.src.parse(resp.body, loc)
            return self._parse(resp.body, loc)
        except (ValueError, TypeError, OverflowError):  # the same bytes again next time: not retried
            raise ExtractionError(
                f"{loc}: malformed page envelope ({_bad_field(resp.body)}); not retried"
            ) from None

    def _parse(self, body: Any, loc: str) -> tuple[list[dict], int | None]:
        return parse_list_body(body, loc, self.src.auth_hint)

    async def _page_rows(self, w: Window, p: int) -> tuple[list[tuple], int, int | None]:
        """A page normalized as soon as it arrives, in chunks, so its raw JSON objects are freed at once."""
        items, total = await self._page(w, p)
        out: list[tuple] = []
        for i in range(0, len(items), NORMALIZE_CHUNK):
            if i:
                # hand the loop back between chunks: responses that arrived meanwhile are read and the
                # next requests sent at once, so normalization fills the latency instead of adding to it
                await asyncio.sleep(0)
            out += self._normalize(items[i : i + NORMALIZE_CHUNK], w, p)
        return out, len(items), total

    def _normalize(self, items: list[dict], w: Window, p: int) -> list[tuple]:
        src = self.src
        try:
            return normalize_items(
                items, src.normalize, self.gateway, src.partition, src.endpoint, w.label, p
            )
        except (OverflowError, ValueError, TypeError) as exc:  # e.g. a quota of 1e400 via the json fallback
            raise InvalidRecordError(
                f"gateway={self.gateway} partition={src.partition} endpoint={src.endpoint} "
                f"window={w.label} page={p}: invalid row: {type(exc).__name__}: "
                f"{str(exc)[:120]}"
            ) from None

    def _tick(self, final: bool = False) -> None:
        """One progress line at most every PROGRESS_EVERY_S (and at the end): a slow, paced backfill
        shows it is alive, how fast it goes and when it will be done."""
        pr = self.progress
        now = time.monotonic()
        if final or now - pr.last_log >= PROGRESS_EVERY_S:
            pr.last_log = now
            self.log(f"{self.label}: {pr.line(self.f.stats)}")

    def _check_pages(self, w: Window, total: int, per_page: int, cells: int = 1) -> int:
        """Pages the window's total needs; more than `max_pages_per_window` for each grid cell the
        window spans fails loudly, before any of them is requested (a lying total must not plan
        millions of requests; a probe window of a day may hold what its cells may hold together)."""
        pages = math.ceil(total / max(1, per_page))
        if pages > self.max_pages_per_window * cells:
            cap = f"max_pages_per_window={self.max_pages_per_window}" + (
                f" x {cells} windows of window_minutes" if cells > 1 else ""
            )
            raise ExtractionError(
                f"gateway={self.gateway} endpoint={self.src.endpoint} window={w.label} page=1: total {total} "
                f"means {pages} pages of {per_page}, over {cap}; "
                "not read (a wrong total, or set window_minutes smaller / max_pages_per_window larger)"
            )
        return pages

    def _cells(self, w: Window) -> int:
        """Grid cells (`window_minutes`) window `w` spans: more than one for a probe window."""
        return cells_in(w, self.cell_minutes) if self.cell_minutes else 1

    # -- merging --------------------------------------------------------------------------------
    def merge(self, into: dict[str, tuple], rows: list[tuple], w: Window | None) -> None:
        src = self.src
        ki, ti = src.key_index, src.time_index
        lo, hi = (w.start_us, w.end_us) if w is not None else (-(2**62), 2**62)
        get = into.get
        for r in rows:
            if not lo <= r[ti] < hi:
                self.outside += 1
                if w is not None:  # a row outside the window it was served for: quarantined, not dropped
                    self.outside_rows.setdefault(r[ki], (w.label, r))
                continue
            k = r[ki]
            old = get(k)
            if old is None or src.mutable or (old != r and self._conflict(k, old, r)):
                into[k] = r

    def _conflict(self, k: str, old: tuple, new: tuple) -> bool:
        """A key served twice with different content: a warning naming both copies, never a failed run.
        True: the later copy becomes the current version (versions held from earlier runs stay held)."""
        src = self.src
        self.conflicts += 1
        self.log(
            f"WARNING gateway={self.gateway} partition={src.partition} endpoint={src.endpoint}: "
            f"record_key {k} arrived with different content: [{src.ids_of(old)}] vs [{src.ids_of(new)}]; "
            f"differing fields: {differing(old, new)}; the later copy is kept as the current version"
        )
        return True

    # -- a window ---------------------------------------------------------------------------------
    async def window(self, w: Window, emit: Emit, depth: int = 0) -> int:
        """Read window `w` completely and hand its rows to `emit` (leaf windows each emit once, so a
        split window never holds all its sub-windows' rows at once). Returns the rows emitted.

        Coarse to fine: a probe window spanning several grid cells (`window_minutes`) is paged whole
        when its total fits one window's budget (`max_window_records` rows and `max_pages_per_window`
        pages); otherwise it splits onto the grid, into groups of whole cells sized from its total
        (each group probed and split again if it still holds too much). A single cell that holds too
        much splits proportionally on whole seconds, as before."""
        pr = self.progress
        items, total = await self._page(w, 1)
        pr.unprobed -= 1
        cells = self._cells(w)
        if total is None:
            if items and cells > 1:
                # a bare-list answer (no total) with rows: more may follow and the list is paged one
                # page after the other, so read the cells side by side instead of the whole at once
                return await self._split(w, self._group(w, cells), emit, depth, None)
            merged: dict[str, tuple] = {}
            await self._legacy(w, items, merged)
            return await self._emit(w, merged, emit)
        per_page = len(items) or self.page_size
        pages = self._check_pages(w, total, per_page, cells)
        lo, hi = w.inclusive_seconds()
        if cells > 1 and (total > self.max_window_records or pages > self.max_pages_per_window):
            # grid groups of about half a window's budget each, so a group rarely needs splitting again
            want = math.ceil(
                2 * total / max(1, min(self.max_window_records, self.max_pages_per_window * per_page))
            )
            return await self._split(w, self._group(w, max(2, want)), emit, depth, total)
        if total > self.max_window_records and hi > lo and depth < 16:
            return await self._split(
                w, w.split(max(2, math.ceil(total / self.max_window_records))), emit, depth, total
            )
        pr.pages_planned += 2 if total <= len(items) else pages  # a single page is read twice
        # at most two big windows hold their rows at a time; small ones need no budget
        budget = self._big if total > self.big_window_rows else contextlib.nullcontext()
        async with budget:
            merged = await self._read(w, items, total)
            return await self._emit(w, merged, emit)

    def _group(self, w: Window, parts: int) -> list[Window]:
        return group(w, self.cell_minutes or 1, parts)

    async def _split(self, w: Window, subs: list[Window], emit: Emit, depth: int, total: int | None) -> int:
        """Read `subs` (the parts of `w`) side by side; the progress counts them instead of `w`."""
        pr = self.progress
        pr.pages_planned += 1  # the probe just spent
        pr.unprobed += len(subs)
        pr.windows_total += len(subs) - 1
        pr.splits += 1
        held = "no total" if total is None else f"{total} rows"
        self.log(f"{self.label}: window {w.label} holds {held}; split into {len(subs)}")
        counts = await gather_all(self.window(s, emit, depth + 1) for s in subs)
        return sum(counts)

    async def _emit(self, w: Window, merged: dict[str, tuple], emit: Emit) -> int:
        await _call(emit, w, merged)
        self.progress.windows_done += 1
        self._tick()
        return len(merged)

    async def _read(self, w: Window, items: list[dict], total: int) -> dict[str, tuple]:
        """Read a window until one pass proves it: every page consistent with the first's `total` and
        the pass's distinct rows exactly `total` (a server that ignores `p` and serves the same rows on
        every page never proves it: re-read, then a loud error). Rows of earlier passes stay merged
        (they were served); when some vanished between passes (cleaned while paged) the window is
        recorded partial, never complete."""
        merged: dict[str, tuple] = {}
        short = ""
        most = total  # the largest total any page of this extraction reported
        for n_pass in range(1, MAX_PASSES + 1):
            if n_pass > 1:
                items, total_or_none = await self._page(w, 1)
                total = total_or_none or 0
            first_rows = self._normalize(items, w, 1)
            n = len(items)
            moved = False
            this_pass: set[str] = {r[self.src.key_index] for r in first_rows}
            if total > n:
                if n == 0:
                    moved = True
                else:
                    pages = self._check_pages(w, total, n)
                    rest = await gather_all(self._page_rows(w, p) for p in range(2, pages + 1))
                    for p, (rows, n_items, tot) in enumerate(rest, start=2):
                        expect = n if p < pages else total - n * (pages - 1)
                        if tot != total or n_items != expect:
                            moved = True
                        most = max(most, tot or 0)
                        this_pass.update(r[self.src.key_index] for r in rows)
                        self.merge(merged, rows, w)
            elif n > total:
                moved = True
            else:
                # one page: its own total is the "before"; read it once more for the "after"
                its, tot = await self._page(w, 1)
                if tot != total or len(its) != n:
                    moved = True
                again = self._normalize(its, w, 1)
                this_pass.update(r[self.src.key_index] for r in again)
                self.merge(merged, again, w)
            self.merge(merged, first_rows, w)
            if not moved and len(this_pass) != total:
                moved = True
                short = f"served {len(this_pass)} distinct rows for a total of {total}"
                self.log(f"{self.label}: window {w.label} {short} (does the server ignore p?); re-reading it")
            elif moved:
                short = ""
            most = max(most, total)
            if not moved:
                held = len(merged) + sum(1 for lbl, _ in self.outside_rows.values() if lbl == w.label)
                if held > total or most > total:
                    self.partial.append(
                        f"window {w.label}: its total dropped from {most} to {total} while it "
                        f"was paged ({held} distinct rows served): cleaned by the gateway?"
                    )
                return merged
            if n_pass == MAX_PASSES:
                why = short or "total kept moving"
                raise ExtractionError(
                    f"gateway={self.gateway} endpoint={self.src.endpoint} window={w.label} page=-: "
                    f"{why} over {MAX_PASSES} passes; the window is not a complete answer, nothing lands"
                )
            if not short:
                self.log(
                    f"{self.label}: window {w.label} changed while paging (total {total}); re-reading it"
                )
        return merged

    async def _legacy(self, w: Window, p1_items: list[dict], merged: dict[str, tuple]) -> None:
        """Bare-list answers: detect the page base from p=0 vs p=1, then page until short/repeating."""
        r1 = self._normalize(p1_items, w, 1)
        keys1 = [self.src.key_of(r) for r in r1]
        if self.src.zero_base_probe:
            p0_items, _ = await self._page(w, 0)
            r0 = self._normalize(p0_items, w, 0)
        else:
            r0 = r1
        keys0 = [self.src.key_of(r) for r in r0]
        one_based = keys0 == keys1
        seen: set[str] = set()
        pages = [r1] if one_based else [r0, r1]
        full = len(r0) if not one_based else len(r1)
        for rows in pages:
            seen.update(self.src.key_of(r) for r in rows)
            self.merge(merged, rows, w)
        p = 2
        last = r1
        seen_pages = list(pages)
        while full and len(last) >= full and p < LEGACY_MAX_PAGES:
            its, _ = await self._page(w, p)
            rows = self._normalize(its, w, p)
            fresh = [r for r in rows if self.src.key_of(r) not in seen]
            if not fresh:
                break  # server ignores paging (e.g. /api/log/token returns the latest rows only)
            seen.update(self.src.key_of(r) for r in rows)
            self.merge(merged, rows, w)
            seen_pages.append(rows)
            last = rows
            p += 1
        self._check_coverage(w, merged, seen_rows=seen_pages)

    def _check_coverage(self, w: Window, merged: dict[str, tuple], seen_rows: list[list[tuple]]) -> None:
        """An endpoint that ignores the time bounds and returns only its newest N rows (new-api's
        `/api/log/token`: the latest 100) covers a window only if it reached back past the window's
        start, or returned fewer than N rows (its whole history). Otherwise rows would be lost
        silently, so the window fails loudly instead."""
        times = {self.src.key_of(r): self.src.time_of(r) for rows in seen_rows for r in rows}
        if not times:
            return
        ignores_bounds = any(not (w.start_us <= t < w.end_us) for t in times.values())
        if not ignores_bounds or min(times.values()) < w.start_us or len(times) < NEWEST_ONLY_LIMIT:
            return
        raise ExtractionError(
            f"gateway={self.gateway} endpoint={self.src.endpoint} window={w.label} page=-: the endpoint "
            f"returns only its newest {len(times)} rows and does not reach back to this window's start; "
            "use log_endpoint self or admin for past days"
        )

    # -- many windows -----------------------------------------------------------------------------
    async def run(self, windows: list[Window], in_flight: int, sink: Emit) -> None:
        """All windows, at most `in_flight` at a time; each finished window goes to `sink` at once so
        its rows can be columnarized and freed. A sink may be a coroutine function (columnarizing a
        big window is tens of milliseconds: an async sink can yield to the loop meanwhile, so the
        responses of the requests in flight are not left waiting)."""
        self.progress.windows_total = self.progress.unprobed = len(windows)
        sem = asyncio.Semaphore(max(1, in_flight))

        def emit(w: Window, rows: dict[str, tuple]) -> Awaitable[None] | None:
            self.progress.records += len(rows)
            return sink(w, rows)

        async def one(w: Window) -> None:
            async with sem:
                await self.window(w, emit)

        await gather_all(one(w) for w in windows)
        self._tick(final=True)
