"""record_key for canonical usage rows: `request_id` where present, else the content hash.

The hash is `schemas.record_key.record_key` (shared with the sandbox's expected frames), over every
kept canonical field including `created_at` and excluding the display `id` (which we never keep).
"""

from __future__ import annotations

from collections.abc import Sequence

from orchestration.gateways.normalize import UIDX, USAGE_COLS, from_micros
from schemas.record_key import record_key as _content_key

_HASHED = [c for c in USAGE_COLS if c != "record_key"]
_RID = UIDX["request_id"]
_CREATED = UIDX["created_at"]


def content_fields(row: Sequence) -> dict:
    """The canonical kept fields of a usage tuple, as the shared hash function takes them."""
    out = {c: row[UIDX[c]] for c in _HASHED}
    if out["created_at"] is not None:
        out["created_at"] = from_micros(out["created_at"])
    return out


def usage_key(row: Sequence) -> str:
    rid = row[_RID]
    if rid:
        return rid
    return _content_key(content_fields(row))
