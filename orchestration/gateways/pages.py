"""Reading one list page of a gateway answer: the envelope (`success`, `data`, `total`) and its items.

Used by the pager for every list page, so every dialect path reads a page with the same code and
raises the same errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestration.gateways.base import ExtractionError, GatewayAuthError, InvalidRecordError

_AUTH_WORDS = ("token", "auth", "login", "permission", "unauthor", "forbidden", "access", "credential",
               "登录", "权限", "令牌", "未授权", "无权")


class BadJson(Exception):
    """The page body is not valid JSON (truncated, cut): the request is retried."""


def parse_list_body(body: Any, loc: str, auth_hint: str) -> tuple[list[dict], int | None]:
    """(items, total or None) of a new-api list answer; success:false and odd shapes are errors."""
    if not isinstance(body, dict):
        raise ExtractionError(f"{loc}: unexpected response shape ({type(body).__name__}, not an object)")
    if body.get("success") is False:
        msg = str(body.get("message") or "")[:160].replace("\n", " ")
        if any(word in msg.lower() for word in _AUTH_WORDS) or not msg:
            raise GatewayAuthError(f"{loc}: gateway answered success:false ({msg or 'no message'}); {auth_hint}")
        raise ExtractionError(f"{loc}: gateway answered success:false: {msg}")
    data = body.get("data")
    if data is None and "success" in body:
        return [], 0
    if isinstance(data, list):
        return data, None
    if isinstance(data, dict):
        items = data.get("items")
        if items is None:
            items = data.get("data") if isinstance(data.get("data"), list) else data.get("list")
        total = data.get("total")
        if items is None and total in (0, None):
            items = []
        if not isinstance(items, list):
            raise ExtractionError(f"{loc}: unexpected response shape, data keys {sorted(data)}")
        return items, (int(total) if total is not None else None)
    raise ExtractionError(f"{loc}: unexpected response shape, keys {sorted(body)}")


def normalize_items(items: list, normalize: Callable[[dict], tuple], gateway: str, partition: str,
                    endpoint: str, window: str, page: int) -> list[tuple]:
    """Row tuples of a page's items; a bad item or row is an InvalidRecordError naming where."""
    from orchestration.gateways.normalize_newapi import RowError

    out = []
    for it in items:
        if not isinstance(it, dict):
            raise InvalidRecordError(f"gateway={gateway} endpoint={endpoint} window={window} "
                                     f"page={page}: an item is {type(it).__name__}, not an object")
        try:
            out.append(normalize(it))
        except RowError as exc:
            raise InvalidRecordError(f"gateway={gateway} partition={partition} "
                                     f"endpoint={endpoint} window={window} page={page}: "
                                     f"invalid row: {exc}") from None
    return out
