"""new-api endpoints: /api/log/self, /api/log/ (admin), /api/log/token, /api/log/self/stat,
/api/log/stat (admin), /api/task/self, /api/task/.

Quirks reproduced on purpose (GATEWAYS.md): Bearer token + New-Api-User pair; a missing
Authorization header is HTTP 401, any other auth problem is HTTP 200 with success:false; `p` is
1-based and values < 1 become 1; `page_size` defaults to 10 and is silently capped at 100;
`start_timestamp`/`end_timestamp` are Unix seconds and both inclusive; newest first (id desc) with
LIMIT/OFFSET; the user endpoint rewrites `id` to the row's position in the result; `other` is a JSON
string; noise fields (content, username, ip, channel, channel_name, token_id) are served as stored.
"""

from __future__ import annotations

import time

from orchestration.sandbox import SANDBOX_API_KEY, SANDBOX_TOKEN, SANDBOX_USER_ID
from orchestration.sandbox.http_types import Context, Request, Response, json_response, to_int
from orchestration.sandbox.stores import LogFilter, TaskFilter

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 10
TOKEN_ENDPOINT_ROWS = 100
PAGING = ("p", "page_size")


def _fail(message: str, status: int = 200) -> Response:
    return json_response(status, {"success": False, "message": message})


def check_auth(req: Request) -> Response | None:
    """None when the token + user pair is right, else new-api's answer."""
    auth = req.headers.get("Authorization")
    if not auth:
        return _fail("Unauthorized: not logged in and no access token provided", 401)
    token = auth[7:].strip() if auth[:7].lower() == "bearer " else auth.strip()
    if token != SANDBOX_TOKEN:
        return _fail("Unauthorized: invalid access token")
    uid = req.headers.get("New-Api-User")
    if not uid:
        return _fail("Unauthorized: New-Api-User header not provided")
    if uid.strip() != SANDBOX_USER_ID:
        return _fail("Unauthorized: New-Api-User does not match the logged-in user")
    return None


def _paging(req: Request, ctx: Context) -> tuple[int, int]:
    p = to_int(req.query.get("p"), 1)
    p = max(p, 1)
    size = to_int(req.query.get("page_size"), DEFAULT_PAGE_SIZE)
    if size <= 0:
        size = DEFAULT_PAGE_SIZE
    size = ctx.faults.clamp(min(size, MAX_PAGE_SIZE))
    return p, size


def _opt_int(v: str | None) -> int | None:
    n = to_int(v, 0)
    return n or None


def _opt_str(v: str | None) -> str | None:
    return v if v not in (None, "") else None


def logs(req: Request, ctx: Context, admin: bool) -> Response:
    denied = check_auth(req)
    if denied:
        return denied
    q = req.query
    p, size = _paging(req, ctx)
    f = LogFilter(
        type=_opt_int(q.get("type")),
        token_name=_opt_str(q.get("token_name")),
        model_name=_opt_str(q.get("model_name")),
        group=_opt_str(q.get("group")),
        request_id=_opt_str(q.get("request_id")),
        username=_opt_str(q.get("username")) if admin else None,
        start_ts=_opt_int(q.get("start_timestamp")),
        end_ts=_opt_int(q.get("end_timestamp")),
    )
    rows = ctx.stores.newapi_logs(f)
    cut = ctx.faults.faults.deleted_before
    if cut is not None:  # retention: rows before the cut are deleted (newest first: they are the tail)
        rows = [r for r in rows if r["created_at"] >= cut]
    gone = ctx.faults.deleted_tail(req.listing_key(*PAGING), len(rows))
    if gone:
        rows = rows[: len(rows) - gone]
    hide = min(ctx.faults.hidden_head(req.listing_key(*PAGING), len(rows)), len(rows))  # rows may have shrunk
    total = len(rows) - hide
    offset = (p - 1) * size
    page = rows[hide + offset : hide + offset + size]
    items = []
    for i, row in enumerate(page):
        item = dict(row)
        if not admin:
            item["id"] = offset + i + 1  # newer builds: position in the result, never the db id
        items.append(item)
    return json_response(
        200,
        {
            "success": True,
            "message": "",
            "data": {"page": p, "page_size": size, "total": total, "items": items},
        },
    )


def token_logs(req: Request, ctx: Context) -> Response:
    """The opt-in key endpoint: the latest 100 rows of the key's token, unpaged."""
    key = req.query.get("key", "")
    if not key:
        return _fail("key is required")
    if key != SANDBOX_API_KEY:
        return _fail("invalid token key")
    rows = ctx.stores.newapi_token_logs("prod-app", TOKEN_ENDPOINT_ROWS)
    return json_response(200, {"success": True, "message": "", "data": [dict(r) for r in rows]})


def tasks(req: Request, ctx: Context, admin: bool) -> Response:
    denied = check_auth(req)
    if denied:
        return denied
    q = req.query
    p, size = _paging(req, ctx)
    f = TaskFilter(
        platform=_opt_str(q.get("platform")),
        task_id=_opt_str(q.get("task_id")),
        status=_opt_str(q.get("status")),
        action=_opt_str(q.get("action")),
        start_ts=_opt_int(q.get("start_timestamp")),
        end_ts=_opt_int(q.get("end_timestamp")),
    )
    rows = ctx.stores.newapi_tasks(f)
    hide = ctx.faults.hidden_head(req.listing_key(*PAGING), len(rows))
    total = len(rows) - hide
    offset = (p - 1) * size
    items = [dict(r) for r in rows[hide + offset : hide + offset + size]]
    return json_response(
        200,
        {
            "success": True,
            "message": "",
            "data": {"page": p, "page_size": size, "total": total, "items": items},
        },
    )


def stat(req: Request, ctx: Context, admin: bool) -> Response:
    """/api/log/self/stat and /api/log/stat: the sum of quota of the consume rows (type 2) the filters
    match, both bounds inclusive (`model.SumUsedQuota`), and rpm/tpm of the last 60 seconds."""
    denied = check_auth(req)
    if denied:
        return denied
    q = req.query
    f = LogFilter(
        type=2,
        token_name=_opt_str(q.get("token_name")),
        model_name=_opt_str(q.get("model_name")),
        group=_opt_str(q.get("group")),
        request_id=None,
        username=_opt_str(q.get("username")) if admin else None,
        start_ts=_opt_int(q.get("start_timestamp")),
        end_ts=_opt_int(q.get("end_timestamp")),
    )
    rows = [r for r in ctx.stores.newapi_logs(f) if r["type"] == 2]  # bulk stores filter on time only
    cut = ctx.faults.faults.deleted_before
    if cut is not None:
        rows = [r for r in rows if r["created_at"] >= cut]
    recent = int(time.time()) - 60
    last = [r for r in rows if r["created_at"] >= recent]
    quota = sum(int(r["quota"]) for r in rows) + ctx.faults.faults.stat_quota_skew
    tpm = sum(int(r.get("prompt_tokens") or 0) + int(r.get("completion_tokens") or 0) for r in last)
    return json_response(
        200, {"success": True, "message": "", "data": {"quota": quota, "rpm": len(last), "tpm": tpm}}
    )


def status() -> Response:
    return json_response(
        200, {"success": True, "message": "", "data": {"version": "v0.9.0-sandbox", "quota_per_unit": 500000}}
    )


def route(req: Request, ctx: Context) -> Response | None:
    """The new-api response for `req`, or None when the path is not a new-api path."""
    path = req.path.rstrip("/") or "/"
    if path == "/api/log/self":
        return logs(req, ctx, admin=False)
    if path == "/api/log":
        return logs(req, ctx, admin=True)
    if path == "/api/log/token":
        return token_logs(req, ctx)
    if path == "/api/log/self/stat":
        return stat(req, ctx, admin=False)
    if path == "/api/log/stat":
        return stat(req, ctx, admin=True)
    if path == "/api/task/self":
        return tasks(req, ctx, admin=False)
    if path == "/api/task":
        return tasks(req, ctx, admin=True)
    if path == "/api/status":
        return status()
    if path.startswith("/api/"):
        return json_response(404, {"success": False, "message": "not found"})
    return None


def fault_response(kind: str, status: int, retry_after: float) -> Response:
    """What new-api (or the proxy in front of it) answers when overloaded or failing."""
    if kind == "429":
        return Response(
            429,
            b'{"success":false,"message":"too many requests, slow down"}',
            {"Retry-After": f"{retry_after:g}"},
        )
    reason = {
        500: "Internal Server Error",
        502: "Bad Gateway",
        503: "Service Unavailable",
        504: "Gateway Timeout",
    }.get(status, "Error")
    html = f"<html><body><h1>{status} {reason}</h1>nginx</body></html>".encode()
    return Response(status, html, {}, content_type="text/html")
