"""TokenLab-style platform client: per-key usage from the management API, task status by id.

Usage: `GET /v1/management/api-keys/{key_id}/usage` (Bearer management token from `token_env`),
`page`/`limit` (≤100), `startDate`/`endDate` inclusive RFC 3339 — we send [start, end − 1 ms] and
filter client-side to the half-open window, so an edge record lands once. Paging fields are read
defensively (`normalize_tokenlab.find_records`). Tasks: `GET /v1/tasks/{id}` for the task ids the app
knows, concurrently; a 404 is counted and logged (the gateway does not know that task).
A record can appear unsettled and gain its `billing_transaction_id` later: within one extraction the
settled copy supersedes the unsettled one; any other difference is a conflicting duplicate.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from urllib.parse import quote

import pandas as pd
import pyarrow as pa

from orchestration.config import GatewayConfig, require_env
from orchestration.errors import ExtractionError, InvalidRecordError, RowError
from orchestration.gateways.base import GatewayClient, Log, ReadCoverage
from orchestration.gateways.http import HttpFetcher, HttpSettings, Stats, gather_all, run_sync
from orchestration.gateways.normalize import (
    UIDX,
    concat,
    empty_frame,
    table_from_rows,
    to_frame,
)
from orchestration.gateways.normalize_tokenlab import find_records, task_row, usage_row
from orchestration.gateways.pager import Pager, Source
from orchestration.gateways.reads import (
    KeyHashes,
    after_pager,
    check_cross_window,
    read_coverage,
    sorted_table,
)
from orchestration.gateways.windows import Window, closed, coarse, cut, now_utc, utc

_BTX = UIDX["billing_transaction_id"]
# what settling changes on a record: its transaction id, its settlement time, reserved -> settled
_SETTLING = {_BTX, UIDX["settled_at"], UIDX["is_reserved"]}


def _iso(t: datetime) -> str:
    return utc(t).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _ids(r: tuple) -> str:
    from orchestration.gateways.normalize import from_micros

    parts = [f"{c}={r[UIDX[c]]}" for c in ("request_id", "task_id", "billing_transaction_id") if r[UIDX[c]]]
    parts.append(f"created_at={from_micros(r[UIDX['created_at']]).isoformat()}")
    return " ".join(parts)


def _settles(old: tuple, new: tuple) -> bool:
    """True when the two copies differ only in what settling changes (billing_transaction_id gained,
    settled_at, is_reserved)."""
    diff = {i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b}
    return _BTX in diff and diff <= _SETTLING and (old[_BTX] is None or new[_BTX] is None)


class TokenLabClient(GatewayClient):
    def __init__(
        self,
        cfg: GatewayConfig,
        log: Log | None = None,
        *,
        now: datetime | None = None,
        backoff_base: float = 0.5,
        max_window_records: int | None = None,
    ) -> None:
        super().__init__(cfg, log)
        self.now = now
        self.backoff_base = backoff_base
        self.max_window_records = max_window_records or min(cfg.page_size, 100) * 100
        self.stats = Stats()

    def _fetcher(self, tasks: bool = False) -> HttpFetcher:
        """Usage: the management token. Tasks (`/v1/tasks/{id}`, an inference endpoint): the API key
        that created them (`api_key_env`) where configured, as TokenLab documents."""
        c = self.cfg
        env, key = ("api_key_env", c.api_key_env) if tasks and c.api_key_env else ("token_env", c.token_env)
        token = require_env(key or "", f"gateways.{c.name}.{env}")
        return HttpFetcher(
            gateway=c.name,
            base_url=c.base_url or "",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            log=self.log,
            stats=self.stats,
            settings=HttpSettings.from_config(c, self.backoff_base),
            auth_hint=f"check the environment variable {key} ({env}) and key_id {c.key_id}",
        )

    def usage(self, start: datetime, end: datetime) -> pd.DataFrame:
        c = self.cfg
        self.last_quarantine = None
        ws = cut(start, end, c.window_minutes)
        windows, still_open = closed(ws, utc(self.now) if self.now else now_utc(), c.close_lag_seconds)
        self.last_read = read_coverage(start, end, still_open, f"key_id={c.key_id}", c.close_lag_seconds)
        if still_open:
            self.log(
                f"{c.name} usage: {len(still_open)} window(s) not closed yet; skipped, a later run reads them"
            )
        if not windows:
            return empty_frame("usage_records")
        windows = coarse(windows, c.probe_window_minutes, c.window_minutes)
        partition = utc(start).date().isoformat()
        path = f"/v1/management/api-keys/{quote(c.key_id or '', safe='')}/usage"
        endpoint = "/v1/management/api-keys/{key_id}/usage"
        limit = min(c.page_size, 100)
        gw, qpu = c.name, c.quota_per_unit

        def params_for(w: Window, p: int, size: int) -> dict:
            return {
                "page": max(1, p),
                "limit": limit,
                "startDate": _iso(w.start),
                "endDate": _iso(w.end - timedelta(milliseconds=1)),
            }

        def parse(body: object, loc: str) -> tuple[list[dict], int | None]:
            recs, total, _more = find_records(body, loc)
            return recs, total

        src = Source(
            path=path,
            endpoint=endpoint,
            params={},
            normalize=lambda r: usage_row(r, gw, qpu),
            key_of=lambda r: r[1],
            time_of=lambda r: r[3],
            ids_of=_ids,
            partition=partition,
            params_for=params_for,
            parse=parse,
            zero_base_probe=False,
        )
        tables: list[tuple[int, pa.Table]] = []
        keys = KeyHashes()

        def sink(w: Window, rows: dict[str, tuple]) -> None:
            keys.add(rows)
            tables.append((w.start_us, sorted_table(rows)))

        async def go() -> None:
            async with self._fetcher() as f:
                pager = _SettlingPager(
                    f,
                    src,
                    gateway=gw,
                    page_size=limit,
                    max_window_records=self.max_window_records,
                    log=self.log,
                    label=f"{gw} usage {partition}",
                    max_pages_per_window=c.max_pages_per_window,
                    cell_minutes=c.window_minutes,
                )
                await pager.run(windows, in_flight=max(2, c.max_concurrency), sink=sink)
                after_pager(self, pager, "usage_records", f"{gw} usage {partition}")

        run_sync(go)
        table = concat([t for _, t in sorted(tables, key=lambda x: x[0])], "usage_records")
        tables.clear()
        table = check_cross_window(table, keys, gw, partition, endpoint, self.log)
        return to_frame(table)

    def tasks(self, start: datetime, end: datetime, known_task_ids: Sequence[str] = ()) -> pd.DataFrame:
        c = self.cfg
        # looked up one by one: complete for the ids asked, but a task not asked is not a task gone
        self.last_read = ReadCoverage(True, False, "", utc(start), utc(end), "task ids known to recon")
        ids = sorted({str(t) for t in known_task_ids if t and str(t).strip()})
        if not ids:
            return empty_frame("gateway_tasks")
        gw, qpu = c.name, c.quota_per_unit
        partition = utc(start).date().isoformat()
        lo, hi = utc(start), utc(end)
        endpoint = "/v1/tasks/{id}"

        async def go() -> list[tuple | None]:
            async with self._fetcher(tasks=True) as f:

                async def one(tid: str) -> tuple | None:
                    resp = await f.get(
                        f"/v1/tasks/{quote(tid, safe='')}",
                        {},
                        endpoint=endpoint,
                        window=f"task_id={tid}",
                        page=None,
                        ok_statuses=frozenset({200, 404}),
                    )
                    if resp.status == 404:
                        return None
                    if not isinstance(resp.body, dict):
                        raise ExtractionError(
                            f"gateway={gw} endpoint={endpoint} task_id={tid}: "
                            f"unexpected response shape ({type(resp.body).__name__})"
                        )
                    try:
                        return task_row(resp.body, gw, qpu, tid, resp.headers)
                    except RowError as exc:
                        raise InvalidRecordError(
                            f"gateway={gw} partition={partition} endpoint={endpoint}: invalid task: {exc}"
                        ) from None

                return await gather_all(one(t) for t in ids)

        got = run_sync(go)
        missing = sum(r is None for r in got)
        rows = [r for r in got if r is not None]
        inside = [r for r in rows if lo.timestamp() * 1e6 <= r[3] < hi.timestamp() * 1e6]
        if missing:  # 404 async_task_not_found (expired or unknown): coverage says so, not a failure
            self.last_read = ReadCoverage(
                True,
                False,
                f"{missing} task(s) unknown to the gateway (404 async_task_not_found)",
                utc(start),
                utc(end),
                "task ids known to recon",
            )
        self.log(
            f"{gw} tasks {partition}: {len(ids)} asked, {len(rows)} found, {missing} unknown to the "
            f"gateway (404), {len(rows) - len(inside)} submitted outside the day (left to their own day)"
        )
        table = table_from_rows(inside, "gateway_tasks").sort_by(
            [("submitted_at", "ascending"), ("task_id", "ascending")]
        )
        return to_frame(table)


class _SettlingPager(Pager):
    """A Pager whose merge lets a settled copy (billing_transaction_id gained) replace an unsettled one."""

    def _conflict(self, k: str, old: tuple, new: tuple) -> bool:
        """A settled copy (billing_transaction_id gained) replaces an unsettled one, never the reverse;
        any other difference is the base class's warning (the later copy wins)."""
        if _settles(old, new):
            return new[_BTX] is not None
        return super()._conflict(k, old, new)
