"""TokenLab-style endpoints: key usage records and task polling (shapes in README.md).

`GET /v1/management/api-keys/{keyId}/usage`: Bearer `mt-` management token; `page` 1-based, `limit`
default 50 and silently capped at 100; filters scene, accessChannel, logicalModel, modelVendor,
startDate/endDate (inclusive; YYYY-MM-DD = the whole day, or RFC 3339). `GET /v1/tasks/{id}` (the API key
that created the task): `created` / `updated` epochs, `error` a string, `cancellation_status`,
`poll_url`; header X-Task-ID, and X-Billing-Transaction-ID once settled; an unknown task, or one not
updated for TASK_TTL_DAYS, is 404 async_task_not_found. Usage records carry `access_channel`, their
`settled_at` and `billing_transaction_id` once settled (reserve, then settle). Errors are
`{"error": {message, type, code, param, retryable, retry_after}, "request_id"}`.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, date, datetime, time, timedelta

from orchestration.sandbox import TOKENLAB_API_KEY, TOKENLAB_KEY_ID, TOKENLAB_TOKEN
from orchestration.sandbox.http_types import Context, Request, Response, json_response
from orchestration.sandbox.stores import UsageFilter

MAX_LIMIT = 100
TASK_TTL_DAYS = 30  # a task not updated for this long has expired: 404 async_task_not_found
DEFAULT_LIMIT = 50
SCENES = ("chat", "image", "audio", "video", "embedding", "rerank", "translation", "music", "3d")
CHANNELS = ("platform", "byok")
USAGE_PATH = re.compile(r"^/v1/management/api-keys/([^/]+)/usage/?$")
TASK_PATH = re.compile(r"^/v1/tasks/([^/]+)/?$")
_ids = itertools.count(1)
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "upstream_error",
    503: "overloaded_error",
    504: "timeout_error",
}


def _request_id() -> str:
    return f"req_sbx_{next(_ids):010d}"


def error(
    status: int, message: str, code: str, param: str | None = None, retry_after: float | None = None
) -> Response:
    rid = _request_id()
    body = {
        "error": {
            "message": message,
            "type": ERROR_TYPES.get(status, "api_error"),
            "code": code,
            "param": param,
            "retryable": status == 429 or status >= 500,
            "retry_after": retry_after,
        },
        "request_id": rid,
    }
    headers = {"X-Request-ID": rid}
    if retry_after is not None:
        headers["Retry-After"] = f"{retry_after:g}"
    return json_response(status, body, headers)


def check_auth(req: Request) -> Response | None:
    auth = req.headers.get("Authorization") or ""
    if not auth.lower().startswith("bearer ") or not auth[7:].strip():
        return error(401, "Missing bearer token.", "missing_token")
    token = auth[7:].strip()
    if not token.startswith("mt-"):
        return error(403, "This endpoint needs a management token (mt-...).", "management_token_required")
    if token != TOKENLAB_TOKEN:
        return error(401, "Invalid management token.", "invalid_token")
    return None


def parse_bound(v: str, is_end: bool) -> datetime:
    """YYYY-MM-DD (the whole day, inclusive) or an RFC 3339 instant (naive = UTC)."""
    v = v.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
        d = date.fromisoformat(v)
        t = datetime.combine(d, time(), UTC)
        return t + timedelta(days=1) - timedelta(microseconds=1) if is_end else t
    t = datetime.fromisoformat(v)
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def usage(req: Request, ctx: Context, key_id: str) -> Response:
    denied = check_auth(req)
    if denied:
        return denied
    if key_id != TOKENLAB_KEY_ID:
        return error(404, f"No API key with id {key_id[:40]}.", "api_key_not_found", "keyId")
    q = req.query
    try:
        page = int(q.get("page", "1"))
    except ValueError:
        return error(400, "page must be an integer >= 1.", "invalid_parameter", "page")
    if page < 1:
        return error(400, "page must be an integer >= 1.", "invalid_parameter", "page")
    try:
        limit = int(q.get("limit", str(DEFAULT_LIMIT)))
    except ValueError:
        return error(400, "limit must be an integer between 1 and 100.", "invalid_parameter", "limit")
    if limit < 1:
        return error(400, "limit must be an integer between 1 and 100.", "invalid_parameter", "limit")
    limit = ctx.faults.clamp(min(limit, MAX_LIMIT))
    scene = q.get("scene") or None
    if scene is not None and scene not in SCENES:
        return error(400, f"scene must be one of {', '.join(SCENES)}.", "invalid_parameter", "scene")
    channel = q.get("accessChannel") or None
    if channel is not None and channel not in CHANNELS:
        return error(400, "accessChannel must be platform or byok.", "invalid_parameter", "accessChannel")
    bounds: dict[str, datetime | None] = {}
    for name, is_end in (("startDate", False), ("endDate", True)):
        raw = q.get(name)
        if not raw:
            bounds[name] = None
            continue
        try:
            bounds[name] = parse_bound(raw, is_end)
        except ValueError:
            return error(400, f"{name} must be YYYY-MM-DD or RFC 3339.", "invalid_parameter", name)
    f = UsageFilter(
        scene=scene,
        access_channel=channel,
        logical_model=q.get("logicalModel") or None,
        model_vendor=q.get("modelVendor") or None,
        start=bounds["startDate"],
        end=bounds["endDate"],
    )
    rows = ctx.stores.lab_usage(f)
    hide = ctx.faults.hidden_head(req.listing_key("page", "limit"), len(rows))
    total = len(rows) - hide
    offset = (page - 1) * limit
    data = [dict(r) for r in rows[hide + offset : hide + offset + limit]]
    pages = (total + limit - 1) // limit
    rid = _request_id()
    body = {
        "object": "list",
        "data": data,
        "pagination": {
            "page": page,
            "limit": limit,
            "total": total,
            "total_pages": pages,
            "has_more": page < pages,
        },
        "request_id": rid,
    }
    return json_response(200, body, {"X-Request-ID": rid})


def task(req: Request, ctx: Context, task_id: str) -> Response:
    """An inference endpoint: called with the API key (sk-) that created the task, as documented. Any
    other bearer (the management token included) cannot see the task: 404 async_task_not_found."""
    auth = req.headers.get("Authorization") or ""
    if not auth.lower().startswith("bearer ") or not auth[7:].strip():
        return error(401, "Missing bearer token.", "missing_token")
    if auth[7:].strip() != TOKENLAB_API_KEY:
        return error(404, "async task cannot be found: wrong API key.", "async_task_not_found", "id")
    t = ctx.stores.lab_task(task_id)
    if t is None or t["updated"] < ctx.stores.as_of.timestamp() - TASK_TTL_DAYS * 86_400:
        return error(404, "async task cannot be found (expired or unknown).", "async_task_not_found", "id")
    headers = {"X-Task-ID": t["id"], "X-Request-ID": _request_id()}
    if t.get("billing_transaction_id"):
        headers["X-Billing-Transaction-ID"] = t["billing_transaction_id"]
    return json_response(200, t, headers)


def route(req: Request, ctx: Context) -> Response | None:
    """The TokenLab response for `req`, or None when the path is not a TokenLab path."""
    m = USAGE_PATH.match(req.path)
    if m:
        return usage(req, ctx, m.group(1))
    m = TASK_PATH.match(req.path)
    if m:
        return task(req, ctx, m.group(1))
    if req.path.startswith("/v1/"):
        return error(404, "Unknown endpoint.", "not_found")
    return None


def fault_response(kind: str, status: int, retry_after: float) -> Response:
    if kind == "429":
        return error(429, "Rate limit exceeded.", "rate_limited", retry_after=retry_after)
    return error(status, "Upstream failure, try again.", "upstream_unavailable")
