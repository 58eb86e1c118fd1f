"""Synthetic bulk mode for benchmarks: N new-api log rows in one UTC day, computed on demand.

Row i (0-based, db id i+1) is a pure function of (seed, i): its time is `day + floor(i·86400/N)` s
(non-decreasing in id, so a time window is an id range found by bisection), its fields come from a
64-bit mix of (seed, i). The server holds no lists, so a million rows cost no memory; only time
filters are honoured (other filters are ignored), which is all an extractor uses.

    with serve(bulk_scenario(1_000_000, date(2026, 11, 20), seed=1)) as url: ...

Mix: ~98.9 % chat consume rows with a unique request_id, 1 % error rows (type 5, own request_id),
0.1 % top-ups (type 1, no request_id: exercise the content-hash key).
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property, lru_cache
from typing import overload

from orchestration.sandbox.stores import LogFilter, TaskFilter, UsageFilter

MASK = (1 << 64) - 1
MODELS = (("gpt-4o-mini", 0.075, 4.0), ("deepseek-chat", 0.135, 4.0), ("claude-3-5-haiku-20241022", 0.4, 5.0))
GROUPS = (("default", 1.0), ("vip", 0.8))


# `other` JSON per (model, group), up to the `frt` value (string building is the hot path here)
_OTHER = [
    [
        json.dumps(
            {
                "model_ratio": mr,
                "group_ratio": gr,
                "completion_ratio": cr,
                "model_price": -1,
                "request_path": "/v1/chat/completions",
                "admin_info": {"use_channel": ["3"]},
            },
            separators=(",", ":"),
        )[:-1]
        + ',"frt":'
        for _, gr in GROUPS
    ]
    for _, mr, cr in MODELS
]


_CONTENT = [f"model ratio {mr}" for _, mr, _ in MODELS]


@lru_cache(maxsize=4096)
def _stamp(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y%m%d%H%M%S")


def _mix(x: int) -> int:
    """splitmix64 finalizer: a cheap, well-spread 64-bit hash."""
    x = (x + 0x9E3779B97F4A7C15) & MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


@dataclass(frozen=True)
class BulkScenario:
    n: int
    day: date
    seed: int = 1
    quota_per_unit: int = 500_000

    @cached_property
    def day_start(self) -> int:
        return int(datetime.combine(self.day, time(), UTC).timestamp())

    @property
    def as_of(self) -> datetime:
        return datetime.combine(self.day + timedelta(days=1), time(6), UTC)

    def created_at(self, i: int) -> int:
        return self.day_start + (i * 86_400) // self.n

    def row(self, i: int) -> dict:
        """The new-api log row with db id i+1, as the database holds it."""
        h = _mix((self.seed << 32) ^ i)
        ts = self.created_at(i)
        stamp = _stamp(ts)
        mi, gi = h % len(MODELS), (h >> 8) & 1
        model, mr, cr = MODELS[mi]
        group, gr = GROUPS[gi]
        kind = i % 1000
        rid = f"{stamp}{i:08x}{h & 0xFFFFFFFF:08x}"
        if kind != 500 and kind % 100 != 99:
            prompt = 50 + (h >> 12) % 4000
            completion = 10 + (h >> 24) % 1200
            # the common row (98.9 %) as one literal, keys in the order `{**base, ...}` gives below:
            # it costs the sandbox about half as much, and the sandbox shares the benchmark's cores
            return {
                "id": i + 1,
                "created_at": ts,
                "username": "bench-user",
                "token_name": "bench",
                "channel": 3,
                "channel_name": "upstream-pool-3",
                "token_id": 44,
                "group": group,
                "ip": "203.0.113.9",
                "user_id": 1,
                "is_stream": bool((h >> 9) & 1),
                "type": 2,
                "content": _CONTENT[mi],
                "model_name": model,
                "quota": round((prompt + completion * cr) * mr * gr),
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "use_time": 1 + (h >> 50) % 20,
                "other": _OTHER[mi][gi] + str((h >> 40) % 2000) + "}",
                "request_id": rid,
            }
        base = {
            "id": i + 1,
            "created_at": ts,
            "username": "bench-user",
            "token_name": "bench",
            "channel": 3,
            "channel_name": "upstream-pool-3",
            "token_id": 44,
            "group": group,
            "ip": "203.0.113.9",
            "user_id": 1,
            "is_stream": bool((h >> 9) & 1),
        }
        if kind == 500:
            return {
                **base,
                "type": 1,
                "content": "redeemed a top-up code",
                "model_name": "",
                "quota": 5_000_000,
                "prompt_tokens": 0,
                "completion_tokens": 0,
                "use_time": 0,
                "other": "",
                "token_name": "",
            }
        other = {"status_code": 503, "error_code": "upstream_error", "error_type": "upstream_error"}
        return {  # kind % 100 == 99: an upstream error
            **base,
            "type": 5,
            "content": "upstream unavailable",
            "model_name": model,
            "quota": 0,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "use_time": 1,
            "other": json.dumps(other, separators=(",", ":")),
            "request_id": rid,
        }

    def stores(self) -> BulkStores:
        return BulkStores(self)


class _Times(Sequence[int]):
    def __init__(self, b: BulkScenario) -> None:
        self.b = b

    def __len__(self) -> int:
        return self.b.n

    @overload
    def __getitem__(self, i: int) -> int: ...
    @overload
    def __getitem__(self, i: slice) -> list[int]: ...
    def __getitem__(self, i: int | slice) -> int | list[int]:
        if isinstance(i, slice):
            return [self.b.created_at(k) for k in range(*i.indices(self.b.n))]
        return self.b.created_at(i)


class _DescView(Sequence[dict]):
    """Rows with index in [lo, hi), newest (highest id) first, computed when sliced."""

    def __init__(self, b: BulkScenario, lo: int, hi: int) -> None:
        self.b, self.lo, self.hi = b, lo, max(lo, hi)

    def __len__(self) -> int:
        return self.hi - self.lo

    @overload
    def __getitem__(self, k: int) -> dict: ...
    @overload
    def __getitem__(self, k: slice) -> list[dict]: ...
    def __getitem__(self, k: int | slice) -> dict | list[dict]:
        if isinstance(k, slice):
            return [self.b.row(self.hi - 1 - j) for j in range(*k.indices(len(self)))]
        if k < 0:
            k += len(self)
        if not 0 <= k < len(self):
            raise IndexError(k)
        return self.b.row(self.hi - 1 - k)


class BulkStores:
    """The Stores interface over a BulkScenario (new-api logs only; no tasks, no TokenLab data)."""

    def __init__(self, b: BulkScenario) -> None:
        self.b = b
        self.as_of = b.as_of
        self._times = _Times(b)

    def newapi_logs(self, f: LogFilter) -> Sequence[dict]:
        lo = 0 if f.start_ts is None else bisect.bisect_left(self._times, f.start_ts)
        hi = self.b.n if f.end_ts is None else bisect.bisect_right(self._times, f.end_ts)
        return _DescView(self.b, lo, hi)

    def newapi_token_logs(self, token_name: str, limit: int) -> list[dict]:
        """The key's rows: in bulk mode every chat/error row belongs to the one benchmark key."""
        view = _DescView(self.b, 0, self.b.n)
        return [r for r in view[: limit * 2] if r["token_name"]][:limit]

    def newapi_tasks(self, f: TaskFilter) -> list[dict]:
        return []

    def lab_usage(self, f: UsageFilter) -> list[dict]:
        return []

    def lab_task(self, task_id: str) -> dict | None:
        return None


def bulk_scenario(n: int = 1_000_000, day: date | None = None, seed: int = 1) -> BulkScenario:
    """N synthetic log rows on `day` (default: yesterday UTC) for the benchmark; servable by serve()."""
    if n < 1:
        raise ValueError("n must be >= 1")
    if day is None:
        day = datetime.now(UTC).date() - timedelta(days=1)
    return BulkScenario(n=n, day=day, seed=seed)
