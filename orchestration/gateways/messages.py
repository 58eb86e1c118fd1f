"""Helpers that phrase extraction errors as one secret-free line.

The exception classes themselves live in `orchestration.errors`; this module only builds their
messages so every dialect names gateway, endpoint, window, page and attempts the same way.
"""

from __future__ import annotations

import re
from datetime import datetime

_SECRET_QUERY = re.compile(r"(?i)([?&](?:key|token|access_token|api_key)=)[^&\s]+")


def redact(text: str) -> str:
    """Blank the value of secret-bearing query parameters in any URL inside `text`."""
    return _SECRET_QUERY.sub(r"\1***", text)


def fmt_window(start: datetime | None, end: datetime | None) -> str:
    """`[2026-01-01T00:00:00Z, 2026-01-01T01:00:00Z)` — compact, unambiguous, half-open."""
    if start is None or end is None:
        return "-"

    def f(t: datetime) -> str:
        return t.strftime("%Y-%m-%dT%H:%M:%SZ")

    return f"[{f(start)}, {f(end)})"


def where(gateway: str, endpoint: str, window: str, page: int | None) -> str:
    """The common `gateway=.. endpoint=.. window=.. page=..` locator of every message."""
    p = "-" if page is None else str(page)
    return f"gateway={gateway} endpoint={endpoint} window={window} page={p}"
