"""new-api / one-api console client: usage logs and async tasks for closed windows of a day.

Endpoints: `/api/log/self` (default), `/api/log/` (`log_endpoint: admin`), `/api/log/token`
(opt-in, API key from `key_env` sent as `key=`; request log lines are redacted, our messages never
carry the query); tasks from `/api/task/self` (`/api/task/` for admin). Paging, windows, retries
and dedup: see `pager.py`, `windows.py`, `http.py`.

Variants handled (detected from the answers, nothing to configure):
- newer new-api: `data: {page, page_size, total, items}`, `request_id` on rows (the dedup key);
- older new-api / one-api: `data` is a bare list with no total; `p` may start at 0 (one-api) or 1 —
  `p=0` and `p=1` are compared to tell, then pages are read until a short or repeating page; rows
  without `request_id` are keyed by the content hash; settlement deltas written as consume rows with
  a negative quota keep their sign; refunds written as type-4 system rows (quota 0, amount only in
  text) land as record_type `other` with zero cost — money is never parsed out of free text;
- one-api's type 5 means "test", not "error"; it cannot be told apart from new-api's error type by
  the answer alone, so it lands as `error` (no money either way) — a known limitation;
- `/api/log/token` (latest 100 rows, unpaged, unfiltered): a window it does not reach back past is
  an ExtractionError, never a silent gap;
- `known_task_ids` is not needed here: `/api/task/self` lists tasks by submit time;
- a shared account (`token_names:` / `groups:`) is read with one query per token name x group
  (`token_name=`, `group=`) plus one for the system rows (`type=4`, which carry no token: an old
  build's task refunds); the tasks list has no such filter (it is read whole).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from datetime import datetime

import pandas as pd
import pyarrow as pa

from orchestration.config import GatewayConfig, require_env
from orchestration.gateways.base import GatewayClient, Log, ReadCoverage
from orchestration.gateways.http import HttpFetcher, HttpSettings, Stats, run_sync
from orchestration.gateways.messages import where
from orchestration.gateways.newapi.rows import task_row, usage_row
from orchestration.gateways.normalize import (
    UIDX,
    concat,
    empty_frame,
    from_micros,
    table_from_rows,
    to_frame,
)
from orchestration.gateways.pager import Pager, Source
from orchestration.gateways.reads import (
    KeyHashes,
    after_pager,
    check_cross_window,
    read_coverage,
    sorted_table_async,
)
from orchestration.gateways.totals import CONSUME_TYPE, STAT_PATHS, GatewayTotals, parse_stat_body
from orchestration.gateways.windows import Window, closed, coarse, cut, now_utc, utc

SYSTEM_TYPE = 4  # new-api's system log type: settlement / refund rows written without a token
LOG_PATHS = {"self": "/api/log/self", "admin": "/api/log/", "token": "/api/log/token"}
TASK_PATHS = {"self": "/api/task/self", "admin": "/api/task/", "token": "/api/task/self"}


def _usage_ids(r: tuple) -> str:
    parts = [f"request_id={r[UIDX['request_id']]}"] if r[UIDX["request_id"]] else []
    if r[UIDX["task_id"]]:
        parts.append(f"task_id={r[UIDX['task_id']]}")
    parts.append(f"created_at={from_micros(r[UIDX['created_at']]).isoformat()}")
    return " ".join(parts)


class NewApiClient(GatewayClient):
    """Reads a new-api (or one-api) console over its HTTP API."""

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
        self.max_window_records = max_window_records or cfg.page_size * 100
        self.stats = Stats()

    # -- wiring ---------------------------------------------------------------------------------
    def _auth_hint(self, usage: bool) -> str:
        c = self.cfg
        names = [f"{c.token_env} (token_env)"]
        if usage and c.log_endpoint == "token":
            names = [f"{c.key_env} (key_env)"]
        elif c.user_id_env:
            names.append(f"{c.user_id_env} (user_id_env)")
        return "check the environment variable(s) " + " and ".join(names)

    def _headers(self) -> dict[str, str]:
        c = self.cfg
        h = {"Accept": "application/json"}
        if c.token_env:
            h["Authorization"] = f"Bearer {require_env(c.token_env, f'gateways.{c.name}.token_env')}"
        if c.user_id_env:
            h["New-Api-User"] = require_env(c.user_id_env, f"gateways.{c.name}.user_id_env")
        return h

    def _fetcher(self) -> HttpFetcher:
        c = self.cfg
        return HttpFetcher(
            gateway=c.name,
            base_url=c.base_url or "",
            headers=self._headers(),
            auth_hint=self._auth_hint(True),
            log=self.log,
            stats=self.stats,
            settings=HttpSettings.from_config(c, self.backoff_base),
        )

    def _windows(self, start: datetime, end: datetime, what: str) -> list[Window]:
        ws = cut(start, end, self.cfg.window_minutes)
        done, still_open = closed(ws, utc(self.now) if self.now else now_utc(), self.cfg.close_lag_seconds)
        self.last_read = read_coverage(
            start, end, still_open, f"endpoint={self.cfg.log_endpoint}", self.cfg.close_lag_seconds
        )
        if still_open:
            self.log(
                f"{self.cfg.name} {what}: {len(still_open)} window(s) from {still_open[0].label} are not "
                f"closed yet (close_lag_seconds={self.cfg.close_lag_seconds}); skipped, a later run reads them"
            )
        return coarse(done, self.cfg.probe_window_minutes, self.cfg.window_minutes)

    # -- usage ----------------------------------------------------------------------------------
    def usage(self, start: datetime, end: datetime) -> pd.DataFrame:
        c = self.cfg
        self.last_quarantine = None
        windows = self._windows(start, end, "usage")
        if not windows:
            return empty_frame("usage_records")
        partition = utc(start).date().isoformat()
        params: dict = {}
        if c.log_endpoint == "token":
            params["key"] = require_env(c.key_env or "", f"gateways.{c.name}.key_env")
        qpu = c.quota_per_unit
        gw = c.name
        endpoint = LOG_PATHS[c.log_endpoint]
        normalize = functools.partial(usage_row, gateway=gw, qpu=qpu)
        src = Source(
            path=endpoint,
            endpoint=endpoint,
            params=params,
            normalize=normalize,
            key_of=lambda r: r[1],
            time_of=lambda r: r[3],
            ids_of=_usage_ids,
            auth_hint=self._auth_hint(True),
            partition=partition,
        )
        if c.log_endpoint == "token":
            self.log(f"{gw} usage: /api/log/token may return only the newest rows; coverage is checked")
        tables: list[tuple[int, pa.Table]] = []
        keys = KeyHashes()

        async def sink(w: Window, rows: dict[str, tuple]) -> None:
            keys.add(rows)
            tables.append((w.start_us, await sorted_table_async(rows)))

        async def system_sink(w: Window, rows: dict[str, tuple]) -> None:
            # the system rows the scoped queries did not already return (a system row that names one
            # of this app's tokens / groups came with them)
            await sink(w, {k: r for k, r in rows.items() if not self._matches_scope(r)})

        scopes = self._scope_params()
        for scope in scopes:  # a shared account: one query per token name / group (the API takes one)
            self._run(
                dataclasses.replace(src, params={**params, **scope}) if scope else src,
                windows,
                system_sink if scope.get("type") == SYSTEM_TYPE else sink,
                "usage",
                partition,
            )
        table = concat([t for _, t in sorted(tables, key=lambda x: x[0])], "usage_records")
        tables.clear()  # the frame below may then free each Arrow column as it converts it
        if len(scopes) > 1:
            table = table.sort_by([("created_at", "ascending"), ("record_key", "ascending")])
        table = check_cross_window(table, keys, gw, partition, src.endpoint, self.log)
        return to_frame(table)

    def _scope_params(self) -> list[dict[str, str]]:
        """The query params of each read: the configured token_names x groups (`token_name`, `group`:
        new-api filters by one value each), or one unfiltered read. `/api/log/token` serves one key's
        rows and takes no filter: staging applies it there (is_in_scope)."""
        c = self.cfg
        if c.log_endpoint == "token" or not (c.token_names or c.groups):
            return [{}]
        tokens: list[str | None] = list(c.token_names) or [None]
        groups: list[str | None] = list(c.groups) or [None]
        out: list[dict] = [
            {k: v for k, v in (("token_name", t), ("group", g)) if v is not None}
            for t in tokens
            for g in groups
        ]
        # system rows (type 4: an old build's task refunds) carry no token or group: read them whole
        return out + [{"type": SYSTEM_TYPE}]

    def _matches_scope(self, row: tuple) -> bool:
        """The row is one the token_names x groups queries return."""
        c = self.cfg
        return (not c.token_names or row[UIDX["token_name"]] in c.token_names) and (
            not c.groups or row[UIDX["group_name"]] in c.groups
        )

    # -- tasks ----------------------------------------------------------------------------------
    def tasks(self, start: datetime, end: datetime, known_task_ids: Sequence[str] = ()) -> pd.DataFrame:
        c = self.cfg
        self.last_quarantine = None
        if c.log_endpoint == "token" and not c.token_env:
            # key-only access: new-api serves task status only with the system token, so the tasks of
            # this gateway are unavailable, said in coverage (the manifest), never an empty complete day
            self.last_read = ReadCoverage(
                False,
                False,
                "task status unavailable: log_endpoint token with the API key alone (no token_env)",
                utc(start),
                utc(end),
                "endpoint=token",
            )
            self.log(
                f"{c.name} tasks: unavailable with the API key alone (set token_env to read /api/task/self)"
            )
            return empty_frame("gateway_tasks")
        windows = self._windows(start, end, "tasks")
        if not windows:
            return empty_frame("gateway_tasks")
        partition = utc(start).date().isoformat()
        qpu, gw = c.quota_per_unit, c.name
        endpoint = TASK_PATHS[c.log_endpoint]
        src = Source(
            path=endpoint,
            endpoint=endpoint,
            params={},
            normalize=lambda it: task_row(it, gw, qpu),
            key_of=lambda r: r[1],
            time_of=lambda r: r[3],
            ids_of=lambda r: f"task_id={r[1]}",
            mutable=True,
            auth_hint=self._auth_hint(False),
            partition=partition,
        )
        rows: dict[str, tuple] = {}

        def sink(w: Window, got: dict[str, tuple]) -> None:
            rows.update(got)

        self._run(src, windows, sink, "tasks", partition)
        table = table_from_rows(list(rows.values()), "gateway_tasks")
        table = table.sort_by([("submitted_at", "ascending"), ("task_id", "ascending")])
        return to_frame(table)

    # -- the gateway's own total -----------------------------------------------------------------
    def totals(self, start: datetime, end: datetime) -> GatewayTotals | None:
        """The day's `quota` from /api/log/self/stat (/api/log/stat for admin): the sum the console
        shows, compared later with the detail rows. None with the API key alone (the stat needs the
        system token) and while the day is not closed (a moving total would disagree by design)."""
        c = self.cfg
        if c.log_endpoint not in STAT_PATHS:
            self.log(f"{c.name} totals: no stat endpoint with log_endpoint {c.log_endpoint}; not compared")
            return None
        now = utc(self.now) if self.now else now_utc()
        if (now - utc(end)).total_seconds() < c.close_lag_seconds:
            return None
        lo, hi = Window(utc(start), utc(end)).inclusive_seconds()
        endpoint = STAT_PATHS[c.log_endpoint]
        params = {"type": CONSUME_TYPE, "start_timestamp": lo, "end_timestamp": hi}
        label = Window(utc(start), utc(end)).label

        # a shared account: one stat per token name x group, as the usage read (system rows are no consume)
        scopes = [sc for sc in self._scope_params() if sc.get("type") != SYSTEM_TYPE]

        async def go() -> list[tuple[int, int | None, int | None]] | None:
            out = []
            async with self._fetcher() as f:
                for scope in scopes:
                    resp = await f.get(
                        endpoint,
                        {**params, **scope},
                        endpoint=endpoint,
                        window=label,
                        page=None,
                        ok_statuses=frozenset({200, 404}),
                    )
                    if resp.status == 404:  # a build or fork without the stat route: nothing to compare
                        return None
                    out.append(
                        parse_stat_body(
                            resp.body, where(c.name, endpoint, label, None), self._auth_hint(False)
                        )
                    )
            return out

        got = run_sync(go)
        if got is None:
            self.log(
                f"WARNING {c.name} totals: {endpoint} answered 404; this gateway offers no total to compare"
            )
            return None
        quota = sum(q for q, _, _ in got)
        rpm = tpm = None  # the last 60 s at read time, not the day: never compared
        filt = "; ".join(
            f"type={CONSUME_TYPE}" + "".join(f" {k}={v}" for k, v in sorted(sc.items())) for sc in scopes
        )
        self.log(
            f"{c.name} totals {utc(start).date().isoformat()}: the gateway reports quota {quota} for its consume rows"
        )
        return GatewayTotals(c.name, quota, rpm, tpm, endpoint, filt, utc(start), utc(end), c.quota_per_unit)

    def _run(self, src: Source, windows: list[Window], sink, what: str, partition: str) -> None:
        c = self.cfg
        label = f"{c.name} {what} {partition}"

        async def go() -> None:
            async with self._fetcher() as f:
                pager = Pager(
                    f,
                    src,
                    gateway=c.name,
                    page_size=c.page_size,
                    max_window_records=self.max_window_records,
                    log=self.log,
                    label=label,
                    max_pages_per_window=c.max_pages_per_window,
                    cell_minutes=c.window_minutes,
                )
                await pager.run(windows, in_flight=max(2, c.max_concurrency), sink=sink)
                after_pager(self, pager, "usage_records" if what == "usage" else "gateway_tasks", label)

        run_sync(go)
