"""Shared normalization pieces: canonical row tuples, typed frames, allowlisted `other` parsing.

Rows are built as tuples in `schemas.canonical` column order (cheap at a million rows), turned into
Arrow tables per window with the canonical Arrow schema, and into pandas frames with the nullable
dtypes the pandera contracts use (string, Int64, Float64, boolean, datetime64[us, UTC]).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pyarrow as pa

from schemas.canonical import GATEWAY_TASK, USAGE_RECORD, arrow_schema

USAGE_COLS: tuple[str, ...] = tuple(USAGE_RECORD)
TASK_COLS: tuple[str, ...] = tuple(GATEWAY_TASK)
UIDX = {c: i for i, c in enumerate(USAGE_COLS)}
TIDX = {c: i for i, c in enumerate(TASK_COLS)}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MS_THRESHOLD = 100_000_000_000  # 1e11: as seconds that is the year 5138, as ms 1973 (epoch s vs ms)

_PANDAS_TYPES = {
    pa.string(): pd.StringDtype("pyarrow"),
    pa.large_string(): pd.StringDtype("pyarrow"),
    pa.int64(): pd.Int64Dtype(),
    pa.float64(): pd.Float64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
}


def build_schema(record: str) -> pa.Schema:
    """The Arrow schema window tables are built with: the canonical one. (Building text as
    large_string, which pandas' Arrow strings use, saves a copy in `to_frame` but measured worse
    end to end: bigger offsets while extracting and a cast back when landing.)"""
    return arrow_schema(record)


def table_from_rows(rows: Sequence[tuple], record: str) -> pa.Table:
    """Transpose canonical row tuples into an Arrow table (canonical columns, see `build_schema`).

    Timestamp cells are integer microseconds since the epoch (or None)."""
    schema = build_schema(record)
    if not rows:
        return schema.empty_table()
    cols = list(zip(*rows, strict=False))
    arrays = [pa.array(col, type=f.type) for col, f in zip(cols, schema, strict=False)]
    return pa.Table.from_arrays(arrays, schema=schema)


def concat(tables: Iterable[pa.Table], record: str) -> pa.Table:
    ts = [t for t in tables if t.num_rows]
    return pa.concat_tables(ts) if ts else build_schema(record).empty_table()


def release_memory() -> None:
    """Hand memory freed by Arrow and by Python objects back to the OS now (a million extracted rows
    leave ≈ 30–40 MiB of freed-but-kept heap behind; the day's frame is built right after)."""
    pa.default_memory_pool().release_unused()
    if _malloc_trim is not None:
        _malloc_trim(0)


def _find_malloc_trim() -> Any:
    try:
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim  # glibc only
    except (OSError, AttributeError):  # pragma: no cover - musl, macOS, Windows
        return None


_malloc_trim = _find_malloc_trim()


def to_frame(table: pa.Table) -> pd.DataFrame:
    """Arrow → pandas with the nullable dtypes the pandera contracts declare. Consumes `table`
    (self_destruct frees each Arrow column once converted, so the day is not held twice)."""
    release_memory()
    df = table.to_pandas(types_mapper=_PANDAS_TYPES.get, split_blocks=True, self_destruct=True)
    del table
    release_memory()  # the freed Arrow buffers too
    return df.reset_index(drop=True)


def empty_frame(record: str) -> pd.DataFrame:
    return to_frame(build_schema(record).empty_table())


def micros(t: datetime) -> int:
    """Integer microseconds since the epoch of an aware datetime."""
    d = t - EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def from_micros(us: int) -> datetime:
    return datetime.fromtimestamp(us // 1_000_000, tz=UTC).replace(microsecond=us % 1_000_000)


def as_int(v: Any) -> int | None:
    """Ints from JSON numbers or numeric strings; None for missing/blank/garbage-free nulls."""
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return round(v)
    try:
        return round(float(str(v).strip()))
    except ValueError:
        raise ValueError(f"not a number: {str(v)[:20]!r}") from None


def as_float(v: Any) -> float | None:
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)):
        return float(v)
    try:
        return float(str(v).strip())
    except ValueError:
        raise ValueError(f"not a number: {str(v)[:20]!r}") from None


def as_bool(v: Any) -> bool | None:
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return bool(v)
    s = str(v).strip().lower()
    if s in ("true", "t", "yes", "y", "1"):
        return True
    if s in ("false", "f", "no", "n", "0"):
        return False
    raise ValueError(f"not a boolean: {s[:20]!r}")


def as_str(v: Any) -> str | None:
    if v is None:
        return None
    s = str(v)
    return s if s.strip() else None


def differing(a: Sequence, b: Sequence, cols: Sequence[str] = USAGE_COLS) -> str:
    """Names (never values) of the columns where two row tuples differ, for conflict messages."""
    return ", ".join(c for c, x, y in zip(cols, a, b, strict=False) if x != y) or "-"
