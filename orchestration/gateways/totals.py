"""The gateway's own totals for a day, to compare with the detail rows recon holds.

new-api serves `GET /api/log/self/stat` (admin: `/api/log/stat`) with the log filters; its answer
is `{"success": true, "data": {"quota": <sum of quota of type-2 rows in the range>, "rpm", "tpm"}}`
(`model.SumUsedQuota`: consume rows only, both timestamp bounds inclusive; rpm and tpm cover the
last 60 seconds, not the range, so only `quota` is compared). Older builds answer a null quota for
an empty range. TokenLab's public docs define no billing aggregate, so that dialect has none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestration.errors import ExtractionError, GatewayAuthError

STAT_PATHS = {"self": "/api/log/self/stat", "admin": "/api/log/stat"}
CONSUME_TYPE = 2


@dataclass(frozen=True)
class GatewayTotals:
    """What the gateway says it billed in [window_start, window_end): the `quota` of its consume rows."""

    gateway: str
    quota: int
    rpm: int | None
    tpm: int | None
    endpoint: str
    filter: str
    window_start: datetime
    window_end: datetime
    quota_per_unit: float


def _count(data: dict, field: str, loc: str, required: bool) -> int | None:
    v = data.get(field)
    if v is None:
        return 0 if required else None  # a Go sum over no rows scans as null on some builds
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v):
        raise ExtractionError(f"{loc}: field=data.{field} is {str(v)[:20]!r}, not a whole number")
    return int(v)


def parse_stat_body(body: Any, loc: str, auth_hint: str) -> tuple[int, int | None, int | None]:
    """(quota, rpm, tpm) of a stat answer; anything but `success: true` with a `data` object is an
    error naming the field, never a zero total."""
    if not isinstance(body, dict):
        raise ExtractionError(f"{loc}: unexpected response shape ({type(body).__name__}, not an object)")
    ok = body.get("success")
    if ok is not True:
        msg = str(body.get("message") or "")[:160].replace("\n", " ")
        if ok is False:
            raise (
                GatewayAuthError(
                    f"{loc}: gateway answered success:false ({msg or 'no message'}); {auth_hint}"
                )
                if any(w in msg.lower() for w in ("unauthorized", "token", "login", "user", "permission"))
                else ExtractionError(f"{loc}: gateway answered success:false: {msg}")
            )
        raise ExtractionError(
            f"{loc}: field=success is {'missing' if 'success' not in body else repr(ok)[:20]}, not true"
        )
    data = body.get("data")
    if not isinstance(data, dict):
        raise ExtractionError(f"{loc}: field=data is {type(data).__name__}, not an object with quota")
    if "quota" not in data:
        raise ExtractionError(f"{loc}: field=data.quota is missing")
    quota = _count(data, "quota", loc, required=True)
    assert quota is not None
    return quota, _count(data, "rpm", loc, False), _count(data, "tpm", loc, False)
