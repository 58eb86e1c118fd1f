"""What every paged HTTP dialect does with the rows it read, shared so no dialect imports another.

A read's manifest facts (`read_coverage`), the pager's partial windows and out-of-window rows carried
over to the client (`after_pager`), one window's rows as a sorted Arrow table (on or off the event
loop), and the cross-window duplicate check over 64-bit key hashes (`KeyHashes`, `check_cross_window`).
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.gateways.base import GatewayClient, Log, ReadCoverage
from orchestration.gateways.normalize import table_from_rows, to_frame
from orchestration.gateways.pager import Pager
from orchestration.gateways.windows import Window, utc
from schemas.validate import QUARANTINE_REASON


def after_pager(client: GatewayClient, pager: Pager, record: str, label: str) -> None:
    """Carry what the pager proved over to the client: windows that lost rows while paged make the
    read partial; rows served outside their window become quarantined rows with their reason."""
    if pager.partial and client.last_read is not None:
        client.last_read = dataclasses.replace(
            client.last_read, complete=False, reason="; ".join(pager.partial)
        )
    if pager.outside_rows:
        rows = [r for _, r in pager.outside_rows.values()]
        frame = to_frame(table_from_rows(rows, record)).astype(object)
        frame = frame.where(frame.notna(), None).map(lambda v: None if v is None else str(v)).astype("string")
        time_col = "created_at" if record == "usage_records" else "submitted_at"
        frame[QUARANTINE_REASON] = [
            f"{time_col} outside the window {lbl} it was served for (gateway {client.cfg.name})"
            for lbl, _ in pager.outside_rows.values()
        ]
        client.last_quarantine = frame
        client.log(f"WARNING {label}: {len(rows)} row(s) served outside their window: quarantined")


def read_coverage(
    start: datetime, end: datetime, still_open: list[Window], filt: str, close_lag: int
) -> ReadCoverage:
    """The manifest facts of a read of [start, end): complete only when no window was still open (a
    future or not-yet-closed day is never an empty complete day)."""
    if not still_open:
        return ReadCoverage(True, True, "", utc(start), utc(end), filt)
    why = (
        f"{len(still_open)} window(s) from {still_open[0].label} not closed yet "
        f"(close_lag_seconds={close_lag}): a later run reads them"
    )
    return ReadCoverage(False, False, why, utc(start), utc(end), filt)


def sorted_table(rows: dict[str, tuple]) -> pa.Table:
    """One window's rows as an Arrow table in (created_at, record_key) order."""
    t = table_from_rows(list(rows.values()), "usage_records")
    return t.sort_by([("created_at", "ascending"), ("record_key", "ascending")])


COLUMNARIZE_CHUNK = 500  # rows turned into Arrow between two yields to the event loop (~2 ms)


async def sorted_table_async(rows: dict[str, tuple]) -> pa.Table:
    """`sorted_table` for use on the extraction's event loop: the rows are columnarized a chunk at a
    time with a yield in between, and the sort (Arrow, GIL released) runs in a worker thread, so the
    loop keeps reading responses and sending requests instead of stalling for the whole window."""
    vals = list(rows.values())
    if len(vals) <= COLUMNARIZE_CHUNK:
        return sorted_table(rows)
    parts = []
    for i in range(0, len(vals), COLUMNARIZE_CHUNK):
        if i:
            await asyncio.sleep(0)
        parts.append(table_from_rows(vals[i : i + COLUMNARIZE_CHUNK], "usage_records"))
    del vals

    def finish() -> pa.Table:
        t = pa.concat_tables(parts).combine_chunks()
        return t.sort_by([("created_at", "ascending"), ("record_key", "ascending")])

    return await asyncio.to_thread(finish)


class KeyHashes:
    """64-bit hashes of every record_key landed so far, one numpy array per window (8 bytes a key,
    not a Python string or int object: a million keys cost 8 MB), checked once at the end."""

    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []

    def add(self, rows: dict[str, tuple]) -> None:
        self.parts.append(np.fromiter(map(hash, rows), dtype=np.int64, count=len(rows)))

    def maybe_repeated(self) -> bool:
        if not self.parts:
            return False
        h = np.sort(np.concatenate(self.parts))
        return bool((h[1:] == h[:-1]).any())


def check_cross_window(
    table: pa.Table, keys: KeyHashes, gateway: str, partition: str, endpoint: str, log: Log
) -> pa.Table:
    """Windows split time, and created_at is part of every key's content (new-api: the served row;
    TokenLab: a record sits in one window), so a key seen in two windows is a conflicting duplicate:
    a warning naming both rows, never a failed run. The later window's copy is kept as the current
    version (versions held from earlier extractions stay in the store)."""
    if not keys.maybe_repeated():
        return table
    col = table.column("record_key")
    counts = pc.value_counts(col)
    repeated = sorted(v["values"].as_py() for v in counts if v["counts"].as_py() > 1)
    for dup in repeated:
        hits = table.filter(pc.equal(col, dup)).slice(0, 2).to_pylist()
        ids = []
        for r in hits:
            parts = [f"request_id={r['request_id']}"] if r["request_id"] else []
            if r["task_id"]:
                parts.append(f"task_id={r['task_id']}")
            parts.append(f"created_at={r['created_at'].isoformat()}")
            ids.append(" ".join(parts))
        diff = [c for c in table.column_names if c != "record_key" and hits[0][c] != hits[1][c]]
        log(
            f"WARNING gateway={gateway} partition={partition} endpoint={endpoint}: record_key {dup} arrived "
            f"with different content in two windows: [{ids[0]}] vs [{ids[1]}]; differing fields: "
            f"{', '.join(diff)}; the later copy is kept as the current version"
        )
    last = {k: i for i, k in enumerate(col.to_pylist()) if k in set(repeated)}
    keep = [i for i, k in enumerate(col.to_pylist()) if k not in last or last[k] == i]
    return table.take(pa.array(keep, type=pa.int64()))
