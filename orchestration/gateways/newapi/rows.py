"""new-api / one-api log and task rows → canonical usage records and gateway tasks.

Only public ids, money, tokens and the allowlisted keys of `other` survive; content, username,
ip, channel, token_id, admin_info and upstream names are never read into a row. Type codes:
1 topup, 2 consume, 5 error (one-api: "test" → other), 6 refund, anything else other. Older builds
wrote task refunds as type-4 system rows with quota 0 and the amount only in `content`: those
texts (and only those: `system_rows.py` lists the wordings) become refund rows with the task id and
amount read from the text; one whose amount cannot be read becomes a refund without an amount,
which pandera quarantines. The text itself never lands.
"""

from __future__ import annotations

from typing import Any

from orchestration.errors import RowError
from orchestration.gateways.newapi.system_rows import parse as parse_system_row
from orchestration.gateways.normalize import MS_THRESHOLD, as_bool, as_float, as_int, as_str
from schemas.record_key import served_row_key

try:
    import orjson

    _loads = orjson.loads
except ImportError:  # pragma: no cover
    import json

    _loads = json.loads

TYPES_NEWAPI = {1: "topup", 2: "consume", 5: "error", 6: "refund"}
TYPES_ONEAPI = {1: "topup", 2: "consume"}  # one-api: 5 = test, no refund type

TASK_STATUS = {
    "NOT_START": "queued",
    "SUBMITTED": "queued",
    "QUEUED": "queued",
    "IN_PROGRESS": "running",
    "SUCCESS": "succeeded",
    "FAILURE": "failed",
    "UNKNOWN": "unknown",
}


def row_id(item: dict) -> str:
    """Public ids that identify a raw row in messages (never content)."""
    parts = []
    if item.get("request_id"):
        parts.append(f"request_id={item['request_id']}")
    for k in ("task_id", "id", "created_at"):
        if item.get(k) not in (None, ""):
            parts.append(f"{k}={item[k]}")
    return " ".join(parts) or "<no id>"


def parse_other(raw: Any, item: dict) -> dict:
    """`other` is a JSON string (sometimes already an object, empty, or null)."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, dict):
        return raw
    try:
        val = _loads(raw)
    except (ValueError, TypeError):
        raise RowError("other", row_id(item), "malformed JSON in `other`") from None
    if val is None:
        return {}
    if not isinstance(val, dict):
        raise RowError("other", row_id(item), f"`other` is JSON {type(val).__name__}, expected an object")
    return val


def _first(d: dict, *keys: str) -> Any:
    for k in keys:
        v = d.get(k)
        if v is not None and v != "":
            return v
    return None


def unix_to_micros(v: Any, field: str, item: dict) -> int | None:
    """Unix seconds (or milliseconds, detected by magnitude) → epoch microseconds."""
    try:
        n = as_float(v)
    except ValueError as exc:
        raise RowError(field, row_id(item), str(exc)) from None
    if n is None or n <= 0:
        return None
    if n >= MS_THRESHOLD:
        return round(n * 1000)
    return round(n * 1_000_000)


def usage_row(item: dict, gateway: str, qpu: float, legacy_oneapi: bool = False) -> tuple:
    """One canonical usage tuple (USAGE_RECORD order); its record_key is the hash of the row as
    served (`schemas.record_key.served_row_key`): several error rows and the consume row of one
    request id stay apart."""
    try:
        return _usage_row(item, gateway, qpu, legacy_oneapi)
    except RowError:
        raise
    except (ValueError, TypeError) as exc:
        raise RowError(_bad_field(item), row_id(item), str(exc)) from None


_NUMERIC_ITEM = ("type", "quota", "prompt_tokens", "completion_tokens", "use_time")
_NUMERIC_OTHER = (
    "cache_tokens",
    "status_code",
    "model_ratio",
    "completion_ratio",
    "group_ratio",
    "cache_ratio",
    "model_price",
    "pre_consumed_quota",
    "pre_consumed",
    "actual_quota",
)


def _bad_field(item: dict) -> str:
    """The field a failed conversion was about, for the error message (only runs after a row failed)."""
    checks = [(k, item.get(k), as_float) for k in _NUMERIC_ITEM] + [
        ("is_stream", item.get("is_stream"), as_bool)
    ]
    try:
        other = parse_other(item.get("other"), item)
    except RowError:
        other = {}
    checks += [(f"other.{k}", other.get(k), as_float) for k in _NUMERIC_OTHER]
    checks += [("other.is_task", other.get("is_task"), as_bool)]
    for name, value, conv in checks:
        try:
            conv(value)
        except (ValueError, TypeError):
            return name
    return "?"


def _i(v: Any) -> int | None:
    return v if v is None or type(v) is int else as_int(v)


def _f(v: Any) -> float | None:
    t = type(v)
    if t is float or v is None:
        return v
    if t is int:
        return float(v)
    return as_float(v)


def _s(v: Any) -> str | None:
    if type(v) is str:
        return v if v and not v.isspace() else None
    return None if v is None else as_str(v)


def _usage_row(item: dict, gateway: str, qpu: float, legacy_oneapi: bool) -> tuple:
    """Built as one tuple literal in USAGE_RECORD order: this runs a million times a day."""
    g = item.get
    other = parse_other(g("other"), item)
    og = other.get
    typ = g("type")
    if typ is None or typ == "":
        raise RowError("type", row_id(item), "missing type (the log type decides consume/refund/error)")
    rtype = (TYPES_ONEAPI if legacy_oneapi else TYPES_NEWAPI).get(
        typ if type(typ) is int else as_int(typ), "other"
    )
    ca = g("created_at")
    if type(ca) is int and 0 < ca < MS_THRESHOLD:
        created = ca * 1_000_000
    else:
        created = unix_to_micros(ca, "created_at", item)
        if created is None:
            raise RowError("created_at", row_id(item), "missing or zero created_at")
    quota = _i(g("quota"))
    cost = None if quota is None else quota / qpu
    task_id = _s(og("task_id")) or _s(g("task_id"))
    if rtype == "other" and (typ if type(typ) is int else as_int(typ)) == 4:
        settled = parse_system_row(g("content"), qpu)
        if settled is not None:  # an old build's task refund: the amount is only in the text
            rtype, task_id, quota = "refund", task_id or settled.task_id, settled.quota
            cost = None if settled.usd is None else settled.usd
    if cost is not None and rtype == "refund":
        cost = -abs(cost)
    ss = og("stream_status")
    use_time = _f(g("use_time"))
    err = og("error_code")
    pre = og("pre_consumed_quota")
    if pre is None or pre == "":
        pre = og("pre_consumed")
    rid = _s(g("request_id"))
    is_stream = g("is_stream")
    is_task = og("is_task")
    model, token, group = g("model_name"), g("token_name"), g("group")
    pt, ct = g("prompt_tokens"), g("completion_tokens")
    pt, ct = pt if type(pt) is int else _i(pt), ct if type(ct) is int else _i(ct)
    total = _i(og("total_tokens"))
    if total is None and pt is not None and ct is not None:
        total = pt + ct
    row = (
        gateway,
        served_row_key(item),
        rtype,
        created,
        rid,
        task_id,
        None,
        model if type(model) is str and model and not model.isspace() else _s(model or None),
        None,
        token if type(token) is str and token and not token.isspace() else _s(token or None),
        group if type(group) is str and group and not group.isspace() else _s(group or None),
        pt,
        ct,
        _i(og("cache_tokens")),
        quota,
        cost,
        None if use_time is None else round(use_time * 1000),
        is_stream if type(is_stream) is bool else as_bool(is_stream),
        _i(og("status_code")),
        None if err is None or err == "" else str(err),
        _f(og("model_ratio")),
        _f(og("completion_ratio")),
        _f(og("group_ratio")),
        _f(og("cache_ratio")),
        _f(og("model_price")),
        _i(pre),
        _i(og("actual_quota")),
        is_task if type(is_task) is bool else as_bool(is_task),
        _s(ss.get("status")) if isinstance(ss, dict) else _s(ss),
        float(qpu),
        total,
        None,
        None,
        None,  # total_tokens, settled_at, is_reserved, access_channel
    )
    return row


def task_row(item: dict, gateway: str, qpu: float) -> tuple:
    """One canonical gateway-task tuple (GATEWAY_TASK order)."""
    tid = as_str(item.get("task_id"))
    if tid is None:
        raise RowError("task_id", row_id(item), "task without task_id")
    raw_status = str(item.get("status") or "").strip().upper()
    status = TASK_STATUS.get(raw_status, "unknown")
    submitted = unix_to_micros(item.get("submit_time"), "submit_time", item)
    if submitted is None:
        raise RowError("submit_time", row_id(item), "missing submit_time")
    finished = unix_to_micros(item.get("finish_time"), "finish_time", item)
    quota = as_int(item.get("quota"))
    return (
        gateway,
        tid,
        status,
        submitted,
        finished,
        as_str(item.get("fail_reason")),
        quota,
        None if quota is None else quota / qpu,
        None,  # new-api has no cancelled flag
        as_str(item.get("platform")),
        as_str(item.get("action")),
        None,
        None,
        None,  # poll_url, x_task_id, x_billing_transaction_id: TokenLab only
    )
