"""TokenLab-style management API payloads → canonical usage records and gateway tasks.

The usage response schema is not public, so records and paging fields are looked up under the key
names such platforms use (`data`/`records`/`items`/`usage`/..., `total`/`pagination.total`/...) and
an unknown shape fails loudly, naming the keys it saw. Money arrives in USD; `quota` is derived
only when the record carries one. Statuses: pending→queued, processing→running,
completed→succeeded, failed→failed (+`cancelled: true` or `cancellation_status: "cancelled"` →
is_cancelled). A usage record of a failed request (status failed/error, an HTTP status >= 400 or an
`error`) is an `error` row, never a charge; a money record without `billing_transaction_id` is
reserved (`is_reserved`), and its own `settled_at` is when its money became final.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from orchestration.errors import ExtractionError, RowError
from orchestration.gateways.normalize import MS_THRESHOLD, UIDX, USAGE_COLS, as_bool, as_float, as_int, as_str
from orchestration.gateways.record_keys import content_key, lab_key
from schemas.canonical import ACCESS_CHANNELS, SCENES

LIST_KEYS = ("records", "items", "usage", "data", "results", "logs", "list", "rows", "entries")
TOTAL_KEYS = ("total", "total_count", "totalCount", "total_records", "totalRecords", "count")
PAGINATION_KEYS = ("pagination", "meta", "page_info", "pageInfo", "paging")
MORE_KEYS = ("has_more", "hasMore", "has_next", "hasNext")
TASK_STATUS = {
    "pending": "queued",
    "queued": "queued",
    "processing": "running",
    "running": "running",
    "in_progress": "running",
    "completed": "succeeded",
    "succeeded": "succeeded",
    "success": "succeeded",
    "failed": "failed",
    "failure": "failed",
    "cancelled": "failed",
    "canceled": "failed",
    "not_start": "queued",
    "submitted": "queued",
    "unknown": "unknown",
}
RECORD_TYPES = {
    "consume": "consume",
    "charge": "consume",
    "usage": "consume",
    "debit": "consume",
    "refund": "refund",
    "release": "refund",
    "credit": "refund",
    "error": "error",
    "failed": "error",
    "topup": "topup",
    "top_up": "topup",
    "recharge": "topup",
}


def find_records(body: Any, loc: str) -> tuple[list[dict], int | None, bool | None]:
    """(records, total or None, has_more or None) from any of the shapes we know; else a loud error."""
    if isinstance(body, list):
        return body, None, None
    if not isinstance(body, dict):
        raise ExtractionError(f"{loc}: unexpected response shape ({type(body).__name__})")
    if isinstance(body.get("error"), dict):
        err = body["error"]
        raise ExtractionError(
            f"{loc}: gateway error {err.get('code') or err.get('type')}: {str(err.get('message'))[:160]}"
        )
    scopes = [body] + [body[k] for k in ("data", "result") if isinstance(body.get(k), dict)]
    records = None
    for scope in scopes:
        for k in LIST_KEYS:
            if isinstance(scope.get(k), list):
                records = scope[k]
                break
        if records is not None:
            break
    if records is None:
        seen = sorted(body) + [
            f"data.{k}" for k in (body.get("data") or {}) if isinstance(body.get("data"), dict)
        ]
        raise ExtractionError(f"{loc}: unknown usage response shape; keys seen: {', '.join(seen)}")
    total: int | None = None
    more: bool | None = None
    for scope in scopes + [s[k] for s in scopes for k in PAGINATION_KEYS if isinstance(s.get(k), dict)]:
        for k in TOTAL_KEYS:
            if (
                total is None
                and isinstance(scope.get(k), (int, float))
                and not isinstance(scope.get(k), bool)
            ):
                total = int(scope[k])
        for k in MORE_KEYS:
            if more is None and isinstance(scope.get(k), bool):
                more = scope[k]
    return records, total, more


def _g(d: dict, *keys: str) -> Any:
    for k in keys:
        if k in d and d[k] not in (None, ""):
            return d[k]
    return None


def parse_time(v: Any, field: str, rid: str) -> int | None:
    """RFC 3339 / ISO text (no offset = UTC) or Unix seconds/ms → epoch microseconds."""
    if v is None or v == "":
        return None
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        n = float(v)
        return round(n * 1000) if n >= MS_THRESHOLD else round(n * 1_000_000)
    s = str(v).strip()
    try:
        if s.replace(".", "", 1).isdigit():
            return parse_time(float(s), field, rid)
        t = datetime.fromisoformat(s)
    except ValueError:
        raise RowError(field, rid, f"unreadable timestamp {s[:32]!r}") from None
    t = t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    d = t - datetime(1970, 1, 1, tzinfo=UTC)
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def money(v: Any) -> float | None:
    """USD from a number, numeric text, or a `{"amount": "...", "currency": "USD"}` object."""
    if isinstance(v, dict):
        cur = str(v.get("currency") or "USD").upper()
        if cur != "USD":
            raise ValueError(f"currency {cur[:8]!r} is not USD")
        v = _g(v, "amount", "value", "usd")
    return as_float(v)


def _rid(rec: dict) -> str:
    parts = [f"{k}={rec[k]}" for k in ("request_id", "task_id", "id") if rec.get(k)]
    return " ".join(parts) or "<no id>"


def usage_row(rec: dict, gateway: str, qpu: float, by_id: bool = True) -> tuple:
    """One canonical usage tuple from a TokenLab usage record (keys looked up defensively).

    record_key: the record's public id (`id`, else `request_id`: a later version of the record
    replaces the earlier); `by_id=False` (export files, whose rows have no stable id) keys by content."""
    rid = _rid(rec)
    try:
        created = parse_time(
            _g(rec, "created_at", "createdAt", "timestamp", "time", "date"), "created_at", rid
        )
        if created is None:
            raise RowError("created_at", rid, "record without a timestamp")
        usage = rec.get("usage") if isinstance(rec.get("usage"), dict) else {}
        cost = money(_g(rec, "cost_usd", "costUsd", "cost", "amount_usd", "amount", "price"))
        quota = as_int(_g(rec, "quota"))
        raw_type = str(_g(rec, "type", "record_type", "recordType", "kind") or "consume").strip().lower()
        status = str(_g(rec, "status") or "").strip().lower()
        rtype = RECORD_TYPES.get(raw_type, "other")
        code = as_int(_g(rec, "status_code", "statusCode", "http_status"))
        err = rec.get("error")
        # a failed request is an error, never a charge (GATEWAYS.md), whatever its type says
        if rtype == "consume" and (
            status in ("failed", "error")
            or (code is not None and code >= 400)
            or (err not in (None, "", {}) and not isinstance(err, bool))
        ):
            rtype = "error"
        if cost is not None and rtype == "refund":
            cost = -abs(cost)
        scene = as_str(_g(rec, "scene"))
        if scene is not None:
            scene = scene.lower()
            scene = scene if scene in SCENES else "other"
        dur = as_float(_g(rec, "duration_ms", "durationMs", "latency_ms", "latencyMs"))
        if dur is None:
            secs = as_float(_g(rec, "duration", "duration_s", "use_time"))
            dur = None if secs is None else secs * 1000
        row = [None] * len(USAGE_COLS)
        row[UIDX["gateway"]] = gateway
        row[UIDX["record_type"]] = rtype
        row[UIDX["created_at"]] = created
        row[UIDX["request_id"]] = as_str(_g(rec, "request_id", "requestId"))
        row[UIDX["task_id"]] = as_str(_g(rec, "task_id", "taskId"))
        row[UIDX["billing_transaction_id"]] = as_str(
            _g(rec, "billing_transaction_id", "billingTransactionId")
        )
        row[UIDX["model"]] = as_str(_g(rec, "model", "logical_model", "logicalModel", "model_name"))
        row[UIDX["scene"]] = scene
        row[UIDX["token_name"]] = as_str(_g(rec, "key_name", "keyName", "token_name", "api_key_name"))
        row[UIDX["group_name"]] = as_str(_g(rec, "group", "group_name"))
        row[UIDX["prompt_tokens"]] = as_int(
            _g(rec, "prompt_tokens", "input_tokens", "inputTokens")
            if _g(rec, "prompt_tokens", "input_tokens", "inputTokens") is not None
            else _g(usage, "prompt_tokens", "input_tokens")
        )
        row[UIDX["completion_tokens"]] = as_int(
            _g(rec, "completion_tokens", "output_tokens", "outputTokens")
            if _g(rec, "completion_tokens", "output_tokens", "outputTokens") is not None
            else _g(usage, "completion_tokens", "output_tokens")
        )
        row[UIDX["cache_tokens"]] = as_int(
            _g(rec, "cache_tokens", "cached_tokens", "cacheTokens")
            if _g(rec, "cache_tokens", "cached_tokens", "cacheTokens") is not None
            else _g(usage, "cached_tokens", "cache_tokens")
        )
        row[UIDX["quota"]] = quota
        row[UIDX["cost_usd"]] = cost
        row[UIDX["duration_ms"]] = None if dur is None else round(dur)
        row[UIDX["is_stream"]] = as_bool(_g(rec, "is_stream", "stream", "isStream"))
        row[UIDX["status_code"]] = code
        err_code = _g(rec, "error_code", "errorCode")
        if err_code is None and isinstance(err, dict):
            err_code = _g(err, "code", "type")
        row[UIDX["error_code"]] = as_str(err_code)
        row[UIDX["is_task"]] = row[UIDX["task_id"]] is not None
        row[UIDX["quota_per_unit"]] = None  # money arrives in USD: there is no quota unit
        total = as_int(
            _g(rec, "total_tokens", "totalTokens")
            if _g(rec, "total_tokens", "totalTokens") is not None
            else _g(usage, "total_tokens", "totalTokens")
        )
        pt, ct = row[UIDX["prompt_tokens"]], row[UIDX["completion_tokens"]]
        if total is None and by_id and pt is not None and ct is not None:
            total = pt + ct  # exports keep only what they wrote (their content key must not move)
        row[UIDX["total_tokens"]] = total
        row[UIDX["settled_at"]] = parse_time(_g(rec, "settled_at", "settledAt"), "settled_at", rid)
        if by_id and rtype in ("consume", "refund"):
            # a record without billing_transaction_id is reserved, not settled (GATEWAYS.md)
            row[UIDX["is_reserved"]] = row[UIDX["billing_transaction_id"]] is None
        channel = as_str(_g(rec, "access_channel", "accessChannel", "channel"))
        if channel is not None:
            channel = channel.strip().lower()
            if channel not in ACCESS_CHANNELS:
                raise RowError(
                    "access_channel", rid, f"accessChannel {channel[:16]!r} is not platform or byok"
                )
        row[UIDX["access_channel"]] = channel
    except RowError:
        raise
    except (ValueError, TypeError) as exc:
        raise RowError("?", rid, str(exc)) from None
    row[UIDX["record_key"]] = lab_key(as_str(rec.get("id")), row) if by_id else content_key(row)
    return tuple(row)


def task_row(
    body: dict, gateway: str, qpu: float, asked_id: str, headers: Mapping[str, str] | None = None
) -> tuple:
    """One canonical gateway-task tuple from a `/v1/tasks/{id}` answer (object or `data` wrapper);
    `headers`: the response's, for X-Task-ID and X-Billing-Transaction-ID (kept as served)."""
    t = body.get("data") if isinstance(body.get("data"), dict) else body
    tid = as_str(_g(t, "task_id", "taskId", "id")) or asked_id
    raw = str(_g(t, "status") or "").strip().lower()
    status = TASK_STATUS.get(raw, "unknown")
    cancelled = bool(as_bool(_g(t, "cancelled", "canceled", "is_cancelled")))
    if raw in ("cancelled", "canceled") or str(_g(t, "cancellation_status") or "").lower() in (
        "cancelled",
        "canceled",
    ):
        cancelled = True
    # TokenLab documents `created` / `updated` integer epochs; `updated` is the end of a terminal task
    submitted = parse_time(
        _g(t, "submitted_at", "created_at", "createdAt", "submit_time", "created"), "submitted_at", tid
    )
    if submitted is None:
        raise RowError("submitted_at", f"task_id={tid}", "task without a submit time")
    finished = parse_time(
        _g(t, "finished_at", "completed_at", "completedAt", "finish_time", "failed_at"), "finished_at", tid
    )
    if finished is None and status in ("succeeded", "failed"):
        finished = parse_time(_g(t, "updated", "updated_at"), "finished_at", tid)
    err = t.get("error")
    reason = _g(t, "fail_reason", "failure_reason", "failReason")
    if reason is None and isinstance(err, dict):
        reason = err.get("message") or err.get("code")
    elif reason is None and isinstance(err, str):
        reason = err
    cost = money(_g(t, "cost_usd", "cost", "amount"))
    quota = as_int(_g(t, "quota"))
    if cost is None and quota is not None and qpu:
        cost = quota / qpu
    h = {k.lower(): v for k, v in (headers or {}).items()}
    return (
        gateway,
        tid,
        status,
        submitted,
        finished,
        as_str(reason),
        quota,
        cost,
        cancelled,
        as_str(_g(t, "platform", "provider")),
        as_str(_g(t, "action")),
        as_str(_g(t, "poll_url", "pollUrl")),
        as_str(h.get("x-task-id")),
        as_str(h.get("x-billing-transaction-id")),
    )
