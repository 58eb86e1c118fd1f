"""The hashes behind a usage record's `record_key` (DESIGN.md, `record_key`).

- `served_row_key(item)`: a new-api / one-api log row as the gateway served it. new-api rows are
  immutable and a request id is not a row's identity (one request can carry several error rows, one
  per failed channel attempt, and then the consume row), so the key hashes every served field but
  the display `id` (a position in the result, not the row), `other` as its JSON string, and fields
  recon drops afterwards (channel, channel_name, ...) included: two error rows that differ only in
  channel stay two.
- `record_key(fields)`: the content hash of a canonical row, for rows with no identity of their own
  (the files dialect, id-less TokenLab records).

Shared by every extractor and by the sandbox's expected frames, so the same row always gets the same
key whoever computes it. The hash covers every kept canonical field that is passed in (callers pass
all USAGE_RECORD columns but `record_key`), including `created_at`, so two refunds that differ only
in time stay two rows; it never sees the gateway's display `id`, which is not a kept field.

Values are normalized before hashing so representation does not matter, only content:
- missing values (None, NaN, pandas NA/NaT) hash as null;
- columns known to `schemas.canonical.USAGE_RECORD` are coerced to their canonical type first
  (int64 -> int, float64 -> float, bool -> bool, string -> str), so 1 and 1.0 in a float column agree;
- timestamps hash as UTC ISO-8601 with microseconds and a trailing `Z`; naive ones are taken as UTC.
The result is `"h:" + sha256(canonical JSON).hexdigest()`; the prefix keeps it apart from request ids.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, date, datetime
from typing import Any

import orjson
import pyarrow as pa

from schemas.canonical import USAGE_RECORD

PREFIX = "h:"
SERVED_PREFIX = "n:"
_EXCLUDED = frozenset({"record_key", "id"})


def _is_missing(v: Any) -> bool:
    if v is None:
        return True
    if type(v).__name__ in ("NAType", "NaTType"):  # pandas NA / NaT, without importing pandas
        return True
    if isinstance(v, float):
        return math.isnan(v)
    return False


def _ts(v: Any) -> str:
    if isinstance(v, str):
        v = datetime.fromisoformat(v)
    if isinstance(v, datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=UTC)
        v = v.astimezone(UTC)
        return v.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(v, date):
        return v.isoformat()
    raise TypeError(f"not a timestamp: {type(v).__name__}")


def _norm(name: str, v: Any) -> Any:
    if _is_missing(v):
        return None
    typ = USAGE_RECORD.get(name)
    if typ is not None:
        if pa.types.is_timestamp(typ):
            return _ts(v)
        if pa.types.is_integer(typ):
            return int(v)
        if pa.types.is_floating(typ):
            return repr(float(v))
        if pa.types.is_boolean(typ):
            return bool(v)
        return str(v)
    if isinstance(v, (datetime, date)):
        return _ts(v)
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        return repr(float(v))
    if hasattr(v, "item"):  # numpy scalar
        return _norm(name, v.item())
    return str(v)


# Columns added after rows were first keyed (issue 18): hashed only when set, so a row held from
# before they existed keeps its key (an always-null column would re-key every held row).
HASHED_WHEN_SET = frozenset({"total_tokens", "settled_at", "is_reserved", "access_channel"})


def record_key(fields: dict) -> str:
    """Stable content hash of a canonical usage row (`record_key` and display `id` are ignored)."""
    payload = {
        k: _norm(k, v)
        for k, v in fields.items()
        if k not in _EXCLUDED and not (k in HASHED_WHEN_SET and _is_missing(v))
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return PREFIX + hashlib.sha256(blob.encode("utf-8")).hexdigest()


# The fields new-api / one-api serve for a log row (GATEWAYS.md), and the keys seen in `other`. The
# identity hashes these and only these: a field or `other` key a gateway adds in an upgrade (or a new
# column served empty on old rows) must not re-key rows recon already holds, or the held copy would be
# marked gone and the same row held again under a new key.
SERVED_FIELDS = frozenset(
    {
        "created_at",
        "type",
        "content",
        "username",
        "token_name",
        "model_name",
        "quota",
        "prompt_tokens",
        "completion_tokens",
        "use_time",
        "is_stream",
        "channel",
        "channel_id",
        "channel_name",
        "token_id",
        "group",
        "ip",
        "other",
        "request_id",
        "user_id",
        "upstream_request_id",
    }
)
OTHER_FIELDS = frozenset(
    {
        "model_ratio",
        "group_ratio",
        "completion_ratio",
        "cache_tokens",
        "cache_ratio",
        "model_price",
        "frt",
        "is_model_mapped",
        "upstream_model_name",
        "request_path",
        "admin_info",
        "stream_status",
        "is_task",
        "task_id",
        "reason",
        "pre_consumed_quota",
        "pre_consumed",
        "actual_quota",
        "quota_delta",
        "total_tokens",
        "status_code",
        "error_code",
        "error_type",
        "channel_name",
        "channel_id",
        "use_channel",
    }
)
_MS = 100_000_000_000  # created_at at or above this is milliseconds (as in the normalizers)
# served numbers: numeric text in these counts as the number (ids and names stay text)
_NUMERIC = frozenset(
    {
        "created_at",
        "type",
        "quota",
        "prompt_tokens",
        "completion_tokens",
        "use_time",
        "channel",
        "channel_id",
        "token_id",
        "user_id",
    }
)
_NUMERIC_OTHER = frozenset(
    {
        "model_ratio",
        "group_ratio",
        "completion_ratio",
        "cache_tokens",
        "cache_ratio",
        "model_price",
        "frt",
        "pre_consumed_quota",
        "pre_consumed",
        "actual_quota",
        "quota_delta",
        "total_tokens",
        "status_code",
    }
)


def _value(v: Any) -> Any:
    """A served number by meaning: numeric text as its number, integral floats as ints."""
    if isinstance(v, bool):
        return v
    if isinstance(v, str):
        t = v.strip()
        try:
            v = float(t) if any(c in t for c in ".eE") else int(t)
        except ValueError:
            return v
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**63:
        return int(v)
    if isinstance(v, int) and not -(2**63) <= v < 2**63:
        return str(v)
    return v


def _other(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return raw  # not JSON: hashed as served (the normalizer rejects the row anyway)
    if not isinstance(raw, dict):
        return raw
    return {
        k: _value(v) if k in _NUMERIC_OTHER else v
        for k, v in raw.items()
        if k in OTHER_FIELDS and v is not None and v != ""
    }


def served_row_key(item: dict) -> str:
    """Identity of a new-api log row as served: sha256 over every served field but the display `id`
    (`SERVED_FIELDS`: fields recon drops later, such as the channel, included), `other` by content
    (its known keys). Values count by meaning, not representation: numeric text is its number,
    created_at in milliseconds is seconds, a field served empty is a field not served. Shared with
    `orchestration.sandbox.expected`, so both sides key alike."""
    payload: dict[str, Any] = {}
    for k, v in item.items():
        if k not in SERVED_FIELDS or v is None or v == "":
            continue
        if k == "other":
            v = _other(v)
        elif k in _NUMERIC:
            v = _value(v)
            if k == "created_at" and isinstance(v, (int, float)) and v >= _MS:
                v = _value(v / 1000)
        elif k == "is_stream" and isinstance(v, str):
            v = v.strip().lower() in ("true", "t", "yes", "y", "1")
        elif k == "is_stream" and isinstance(v, int):
            v = bool(v)
        payload[k] = v
    blob = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str)
    return SERVED_PREFIX + hashlib.sha256(blob).hexdigest()
