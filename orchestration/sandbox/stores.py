"""The data behind the sandbox's endpoints: filtered, newest-first views over a scenario's rows.

A store answers each listing with a sequence (len + slicing) in the gateway's order, so the routes
page it with LIMIT/OFFSET semantics and the bulk store (bulk.py) can compute rows on demand instead
of holding them. Both bounds of new-api timestamps and TokenLab dates are inclusive.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from orchestration.sandbox.scenario import Scenario


@dataclass(frozen=True)
class LogFilter:
    type: int | None = None
    token_name: str | None = None
    model_name: str | None = None
    group: str | None = None
    request_id: str | None = None
    username: str | None = None
    start_ts: int | None = None  # inclusive, unix seconds
    end_ts: int | None = None  # inclusive, unix seconds


@dataclass(frozen=True)
class TaskFilter:
    platform: str | None = None
    task_id: str | None = None
    status: str | None = None
    action: str | None = None
    start_ts: int | None = None  # inclusive, on submit_time in seconds
    end_ts: int | None = None


@dataclass(frozen=True)
class UsageFilter:
    scene: str | None = None
    access_channel: str | None = None
    logical_model: str | None = None
    model_vendor: str | None = None
    start: datetime | None = None  # inclusive
    end: datetime | None = None  # inclusive


class Stores(Protocol):
    as_of: datetime

    def newapi_logs(self, f: LogFilter) -> Sequence[dict]: ...
    def newapi_token_logs(self, token_name: str, limit: int) -> list[dict]: ...
    def newapi_tasks(self, f: TaskFilter) -> Sequence[dict]: ...
    def lab_usage(self, f: UsageFilter) -> Sequence[dict]: ...
    def lab_task(self, task_id: str) -> dict | None: ...


def _secs(v: int) -> int:
    return v // 1000 if v >= 100_000_000_000 else v


class ScenarioStores:
    """List-backed views over a built Scenario (a few thousand rows; filtering is a scan)."""

    def __init__(self, sc: Scenario) -> None:
        self.as_of = sc.as_of
        self._logs = sorted(sc.newapi_logs, key=lambda r: r["id"])  # created_at non-decreasing
        self._log_times = [r["created_at"] for r in self._logs]
        self._tasks = sorted(sc.newapi_tasks, key=lambda r: r["id"])
        self._usage = sorted(sc.tokenlab_usage, key=lambda r: (r["created_at"], r["id"]), reverse=True)
        self._usage_times = [datetime.fromisoformat(r["created_at"]) for r in self._usage]
        self._lab_tasks = dict(sc.tokenlab_tasks)

    def newapi_logs(self, f: LogFilter) -> list[dict]:
        lo = 0 if f.start_ts is None else bisect.bisect_left(self._log_times, f.start_ts)
        hi = len(self._logs) if f.end_ts is None else bisect.bisect_right(self._log_times, f.end_ts)
        out = []
        for r in self._logs[lo:hi]:
            if f.type is not None and r["type"] != f.type:
                continue
            if f.token_name is not None and r["token_name"] != f.token_name:
                continue
            if f.model_name is not None and r["model_name"] != f.model_name:
                continue
            if f.group is not None and r["group"] != f.group:
                continue
            if f.request_id is not None and r.get("request_id") != f.request_id:
                continue
            if f.username is not None and r["username"] != f.username:
                continue
            out.append(r)
        out.reverse()  # id desc
        return out

    def newapi_token_logs(self, token_name: str, limit: int) -> list[dict]:
        out = []
        for r in reversed(self._logs):
            if r["token_name"] == token_name:
                out.append(r)
                if len(out) >= limit:
                    break
        return out

    def newapi_tasks(self, f: TaskFilter) -> list[dict]:
        out = []
        for r in self._tasks:
            sub = _secs(r["submit_time"])
            if f.start_ts is not None and sub < f.start_ts:
                continue
            if f.end_ts is not None and sub > f.end_ts:
                continue
            if f.platform is not None and r["platform"] != f.platform:
                continue
            if f.task_id is not None and r["task_id"] != f.task_id:
                continue
            if f.status is not None and r["status"] != f.status:
                continue
            if f.action is not None and r["action"] != f.action:
                continue
            out.append(r)
        out.reverse()
        return out

    def lab_usage(self, f: UsageFilter) -> list[dict]:
        out = []
        for r, t in zip(self._usage, self._usage_times, strict=False):
            if f.start is not None and t < f.start:
                continue
            if f.end is not None and t > f.end:
                continue
            if f.scene is not None and r["scene"] != f.scene:
                continue
            if f.access_channel is not None and r["access_channel"] != f.access_channel:
                continue
            if f.logical_model is not None and r["logical_model"] != f.logical_model:
                continue
            if f.model_vendor is not None and r["model_vendor"] != f.model_vendor:
                continue
            out.append(r)
        return out

    def lab_task(self, task_id: str) -> dict | None:
        return self._lab_tasks.get(task_id)
