"""Landing Parquet: one file per record type per UTC day, replaced atomically as a whole.

Layout (dbt's `raw` sources glob it):
    <landing_dir>/<record>/date=YYYY-MM-DD/<record>.parquet     the validated rows
    <landing_dir>/<record>/date=YYYY-MM-DD/quarantine.parquet   rows that failed validation + reason
A write goes to a temp file in the same folder, is fsynced, then renamed over the old file, so a
reader (or a crash) sees the old version or the new one, never half of one.
"""

from __future__ import annotations

import os
import tempfile
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from schemas.canonical import RECORDS, arrow_schema

QUARANTINE_FILE = "quarantine.parquet"


def partition_dir(landing_dir: Path, record: str, day: date) -> Path:
    if record not in RECORDS:
        raise ValueError(f"unknown record type {record!r}")
    return Path(landing_dir) / record / f"date={day.isoformat()}"


def partition_file(landing_dir: Path, record: str, day: date) -> Path:
    return partition_dir(landing_dir, record, day) / f"{record}.parquet"


def quarantine_file(landing_dir: Path, record: str, day: date) -> Path:
    return partition_dir(landing_dir, record, day) / QUARANTINE_FILE


def to_arrow(df: pd.DataFrame, record: str) -> pa.Table:
    """Canonical column order and types; a missing or extra column is a programming error here."""
    schema = arrow_schema(record)
    missing = [c for c in schema.names if c not in df.columns]
    if missing:
        raise ValueError(f"{record}: frame lacks canonical columns {missing}")
    return pa.Table.from_pandas(df[schema.names], schema=schema, preserve_index=False)


def write_atomic(table: pa.Table, target: Path) -> Path:
    """Write `table` to `target` via temp file + fsync + rename. Deterministic bytes for equal input."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp, compression="zstd", write_statistics=True, store_schema=True)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def write_partition(df: pd.DataFrame, landing_dir: Path, record: str, day: date) -> Path:
    """Replace the day's landed file of `record` with `df` (canonical columns; may be empty)."""
    return write_atomic(to_arrow(df, record), partition_file(landing_dir, record, day))


def write_quarantine(df: pd.DataFrame | None, landing_dir: Path, record: str, day: date) -> Path | None:
    """Replace the day's quarantine file; remove a stale one when nothing failed this time."""
    target = quarantine_file(landing_dir, record, day)
    if df is None or df.empty:
        target.unlink(missing_ok=True)
        return None
    table = pa.Table.from_pandas(df.astype("string"), preserve_index=False)
    return write_atomic(table, target)


def read_partition(landing_dir: Path, record: str, day: date) -> pd.DataFrame | None:
    f = partition_file(landing_dir, record, day)
    return pq.read_table(f).to_pandas() if f.exists() else None
