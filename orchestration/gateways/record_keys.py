"""record_key for canonical usage rows that have no served-row hash (new-api rows use
`schemas.record_key.served_row_key` in `gateways.newapi.rows`).

TokenLab records mutate while they settle, so their public id is the key (`lab_key`: the record's
`id`, else its `request_id`) and a later version replaces the earlier; id-less rows (the files
dialect, id-less TokenLab records) use the content hash `schemas.record_key.record_key` over every
kept canonical field including `created_at` and excluding the display `id` (`content_key`).
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


def content_key(row: Sequence) -> str:
    """The content hash of a canonical usage tuple."""
    return _content_key(content_fields(row))


def lab_key(record_id: str | None, row: Sequence) -> str:
    """TokenLab: the record's public id, else its request id, else the content hash."""
    if record_id:
        return record_id
    rid = row[_RID]
    if rid:
        return rid
    return content_key(row)
