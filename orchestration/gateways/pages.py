"""Reading one list page of a gateway answer: the envelope (`success`, `data`, `total`) and its items.

Used by the pager for every list page, so every dialect path reads a page with the same code and
raises the same errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestration.errors import ExtractionError, GatewayAuthError, InvalidRecordError, RowError

_AUTH_WORDS = (
    "token",
    "auth",
    "login",
    "permission",
    "unauthor",
    "forbidden",
    "access",
    "credential",
    "登录",
    "权限",
    "令牌",
    "未授权",
    "无权",
)


class BadJson(Exception):
    """The page body is not valid JSON (truncated, cut): the request is retried."""


def parse_list_body(body: Any, loc: str, auth_hint: str) -> tuple[list[dict], int | None]:
    """(items, total or None) of a new-api list answer. A page counts only when it proves itself:
    `success` exactly `true` and `data` the documented shape (`{items, total}`, or the bare list of
    older builds). `success:false`, `"success": "false"` (a string), a missing `success`,
    `data: null` and odd shapes are errors, never an empty day."""
    if not isinstance(body, dict):
        raise ExtractionError(f"{loc}: unexpected response shape ({type(body).__name__}, not an object)")
    ok = body.get("success")
    if ok is not True:
        msg = str(body.get("message") or "")[:160].replace("\n", " ")
        if ok is False and (any(word in msg.lower() for word in _AUTH_WORDS) or not msg):
            raise GatewayAuthError(
                f"{loc}: gateway answered success:false ({msg or 'no message'}); {auth_hint}"
            )
        if ok is False:
            raise ExtractionError(f"{loc}: gateway answered success:false: {msg}")
        shown = "missing" if "success" not in body else f"{type(ok).__name__} {str(ok)[:20]!r}"
        raise ExtractionError(
            f"{loc}: field=success is {shown}, not true: the page proves nothing, nothing lands"
        )
    data = body.get("data")
    if isinstance(data, list):
        return data, None
    if isinstance(data, dict):
        items = data.get("items")
        if items is None:
            items = data.get("data") if isinstance(data.get("data"), list) else data.get("list")
        total = data.get("total")
        if items is None and total == 0:
            items = []  # an empty page of a Go nil slice, with its total saying so
        if not isinstance(items, list):
            raise ExtractionError(f"{loc}: unexpected response shape, data keys {sorted(data)}")
        if total is not None and (isinstance(total, bool) or not isinstance(total, int) or total < 0):
            raise ExtractionError(f"{loc}: field=data.total is {str(total)[:20]!r}, not a count")
        return items, total
    if data is None:
        raise ExtractionError(
            f"{loc}: field=data is null with success:true: not the documented shape "
            "(an empty day answers data.items [] and data.total 0); nothing lands"
        )
    raise ExtractionError(f"{loc}: unexpected response shape, keys {sorted(body)}")


def normalize_items(
    items: list,
    normalize: Callable[[dict], tuple],
    gateway: str,
    partition: str,
    endpoint: str,
    window: str,
    page: int,
) -> list[tuple]:
    """Row tuples of a page's items; a bad item or row is an InvalidRecordError naming where."""

    out = []
    for it in items:
        if not isinstance(it, dict):
            raise InvalidRecordError(
                f"gateway={gateway} endpoint={endpoint} window={window} "
                f"page={page}: an item is {type(it).__name__}, not an object"
            )
        try:
            out.append(normalize(it))
        except RowError as exc:
            raise InvalidRecordError(
                f"gateway={gateway} partition={partition} "
                f"endpoint={endpoint} window={window} page={page}: "
                f"invalid row: {exc}"
            ) from None
    return out
