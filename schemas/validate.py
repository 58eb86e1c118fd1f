"""Validate a frame of one canonical record type before it lands: good rows land, bad rows go to
quarantine with the reason, and every failing check becomes one human line. Nothing is dropped.

Steps, in order (each bad row is kept, never silently removed):
1. Column contract: a missing or extra column raises :class:`SchemaContractError` listing them (a
   programming or mapping error, not a data error: nothing may land).
2. Cast to the canonical pandas dtypes (``canonical_dtypes``) cell by cell; a cell that cannot be
   read (``"abc"`` as an int, a timestamp without a time zone, ...) fails that row with a
   ``parse_*`` check instead of failing the whole frame. Producers that already parsed their
   values (``orchestration.app_sources``) hand their own per-row parse failures over in
   ``df.attrs[ROW_ERRORS_ATTR]`` as ``[(row position, column, check, raw value), ...]``.
3. Exact duplicate rows: the first copy may land, the other copies go to quarantine
   (``duplicate_row``). Rows that share a key but differ are all quarantined by the model's
   ``unique`` check: picking one would be a guess.
4. The pandera ``DataFrameModel`` of the record, ``lazy=True``; its ``SchemaErrors.failure_cases``
   are mapped back to rows.

Failures carry a few example values for the operator, except for columns that may be personal
(``user_id``, already pseudonymized, still not echoed) and never whole rows.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow

from schemas import app_asset, app_job, gateway_task, usage_record
from schemas.canonical import RECORDS

ROW_ERRORS_ATTR = "recon_row_errors"
QUARANTINE_REASON = "quarantine_reason"
MAX_EXAMPLES = 3
NO_EXAMPLES = frozenset({"user_id"})  # pseudonymized, but an operator log still has no use for it

_MODULES = {
    "usage_records": usage_record,
    "gateway_tasks": gateway_task,
    "app_jobs": app_job,
    "app_assets": app_asset,
}
MODELS: dict[str, type[pa.DataFrameModel]] = {
    "usage_records": usage_record.UsageRecord,
    "gateway_tasks": gateway_task.GatewayTask,
    "app_jobs": app_job.AppJob,
    "app_assets": app_asset.AppAsset,
}
KEYS: dict[str, list[str]] = {name: list(mod.KEY) for name, mod in _MODULES.items()}

_TRUE = frozenset({"true", "t", "1", "yes", "y"})
_FALSE = frozenset({"false", "f", "0", "no", "n"})


class SchemaContractError(ValueError):
    """The frame's columns do not match the canonical record: nothing of it may land."""


# --------------------------------------------------------------------------------------------------
# canonical dtypes and cell-by-cell casting


def canonical_dtypes(record: str) -> dict[str, Any]:
    """Canonical column -> pandas dtype: nullable extension dtypes, timestamps ``datetime64[us, UTC]``."""
    out: dict[str, Any] = {}
    for name, typ in RECORDS[record].items():
        if pyarrow.types.is_timestamp(typ):
            out[name] = pd.DatetimeTZDtype("us", "UTC")
        elif pyarrow.types.is_integer(typ):
            out[name] = pd.Int64Dtype()
        elif pyarrow.types.is_floating(typ):
            out[name] = pd.Float64Dtype()
        elif pyarrow.types.is_boolean(typ):
            out[name] = pd.BooleanDtype()
        else:
            out[name] = pd.StringDtype()
    return out


def empty_frame(record: str) -> pd.DataFrame:
    """A zero-row frame with the canonical columns and dtypes of `record`."""
    return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in canonical_dtypes(record).items()})


def _missing(v: object) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    try:
        return isinstance(v, float) and math.isnan(v)
    except TypeError:  # pragma: no cover
        return False


class _Bad(Exception):
    def __init__(self, check: str) -> None:
        self.check = check


def _to_str(v: object, empty_is_null: bool) -> object:
    if isinstance(v, bytes):
        raise _Bad("parse_text")
    if isinstance(v, float | np.floating) and float(v).is_integer():
        v = int(v)  # an integer id read back as a float
    s = str(v)
    return pd.NA if (empty_is_null and s.strip() == "") else s


def _to_int(v: object) -> object:
    if isinstance(v, bool | np.bool_):
        raise _Bad("parse_integer")
    if isinstance(v, numbers.Integral):
        return int(v)
    if isinstance(v, numbers.Real | Decimal):
        if not math.isfinite(float(v)) or v != int(v):
            raise _Bad("parse_integer")
        return int(v)
    if isinstance(v, str):
        s = v.strip()
        if s == "":
            return pd.NA
        try:
            d = Decimal(s)
        except InvalidOperation:
            raise _Bad("parse_integer") from None
        if not d.is_finite() or d != d.to_integral_value():
            raise _Bad("parse_integer")
        return int(d)
    raise _Bad("parse_integer")


def _to_float(v: object) -> object:
    if isinstance(v, bool | np.bool_):
        raise _Bad("parse_number")
    if isinstance(v, numbers.Real | Decimal):
        f = float(v)
        if math.isnan(f):
            return pd.NA
        if not math.isfinite(f):
            raise _Bad("parse_number")
        return f
    if isinstance(v, str):
        s = v.strip()
        if s == "":
            return pd.NA
        try:
            f = float(Decimal(s))
        except InvalidOperation:
            raise _Bad("parse_number") from None
        if not math.isfinite(f):
            raise _Bad("parse_number")
        return f
    raise _Bad("parse_number")


def _to_bool(v: object) -> object:
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, numbers.Integral) and v in (0, 1):
        return bool(v)
    if isinstance(v, str):
        s = v.strip().lower()
        if s == "":
            return pd.NA
        if s in _TRUE:
            return True
        if s in _FALSE:
            return False
    raise _Bad("parse_boolean")


def _to_ts(v: object, naive_utc: bool) -> object:
    if isinstance(v, str):
        s = v.strip()
        if s == "":
            return pd.NaT
        try:
            ts = pd.Timestamp(s)
        except (ValueError, TypeError):
            raise _Bad("parse_timestamp") from None
    elif isinstance(v, datetime):
        ts = pd.Timestamp(v)
    else:
        raise _Bad("parse_timestamp")
    if ts is pd.NaT:
        return pd.NaT
    if ts.tzinfo is None:
        if not naive_utc:
            raise _Bad("timestamp_has_time_zone")
        return ts.tz_localize("UTC")
    return ts.tz_convert("UTC")


def _fast_path(s: pd.Series, dtype: Any, naive_utc: bool) -> pd.Series | None:
    """Whole-column cast when the column is already of a compatible type (the common case)."""
    kind = s.dtype
    try:
        if isinstance(dtype, pd.DatetimeTZDtype):
            if isinstance(kind, pd.DatetimeTZDtype):
                return s.dt.tz_convert("UTC").dt.as_unit("us")
            if pd.api.types.is_datetime64_dtype(kind) and naive_utc:
                return s.dt.tz_localize("UTC").dt.as_unit("us")
            return None
        if isinstance(dtype, pd.StringDtype):
            return s.astype(dtype) if pd.api.types.is_string_dtype(kind) and kind != object else None
        if isinstance(dtype, pd.Int64Dtype):
            return s.astype(dtype) if pd.api.types.is_integer_dtype(kind) else None
        if isinstance(dtype, pd.Float64Dtype):
            if pd.api.types.is_float_dtype(kind) or pd.api.types.is_integer_dtype(kind):
                out = s.astype(dtype)
                return out.mask(out.isna(), pd.NA)
            return None
        if isinstance(dtype, pd.BooleanDtype):
            return s.astype(dtype) if pd.api.types.is_bool_dtype(kind) else None
    except (TypeError, ValueError):
        return None
    return None


def coerce_column(
    s: pd.Series, dtype: Any, *, naive_utc: bool = False, empty_is_null: bool = False
) -> tuple[pd.Series, list[tuple[int, str, object]]]:
    """Cast one column to its canonical dtype, cell by cell where needed.

    Returns the cast column (unreadable cells become null) and ``[(position, check, raw value)]``
    for every cell that could not be read, so the caller can quarantine exactly those rows.
    `naive_utc`: a timestamp without an offset is UTC (the app-query rule of DESIGN.md); otherwise
    it fails its row with ``timestamp_has_time_zone``.
    """
    fast = _fast_path(s, dtype, naive_utc)
    if fast is not None and not (empty_is_null and isinstance(dtype, pd.StringDtype)):
        return fast.reset_index(drop=True), []
    if isinstance(dtype, pd.DatetimeTZDtype) and pd.api.types.is_datetime64_dtype(s.dtype):
        errs = [(i, "timestamp_has_time_zone", v) for i, v in enumerate(s) if not _missing(v)]
        return pd.Series([pd.NaT] * len(s), dtype=dtype), errs
    values: list[object] = []
    errors: list[tuple[int, str, object]] = []
    null: object = pd.NaT if isinstance(dtype, pd.DatetimeTZDtype) else pd.NA
    for i, v in enumerate(s.tolist()):
        if _missing(v):
            values.append(null)
            continue
        try:
            if isinstance(dtype, pd.DatetimeTZDtype):
                values.append(_to_ts(v, naive_utc))
            elif isinstance(dtype, pd.Int64Dtype):
                values.append(_to_int(v))
            elif isinstance(dtype, pd.Float64Dtype):
                values.append(_to_float(v))
            elif isinstance(dtype, pd.BooleanDtype):
                values.append(_to_bool(v))
            else:
                values.append(_to_str(v, empty_is_null))
        except _Bad as bad:
            values.append(null)
            errors.append((i, bad.check, v))
    if isinstance(dtype, pd.DatetimeTZDtype):
        out = pd.Series(pd.DatetimeIndex(values, tz="UTC") if values else [], dtype=dtype)
        return out.dt.as_unit("us"), errors
    return pd.Series(values, dtype=dtype), errors


def coerce_frame(
    record: str, df: pd.DataFrame, *, naive_utc: bool = False, empty_is_null: bool = False
) -> tuple[pd.DataFrame, list[tuple[int, str, str, object]]]:
    """Canonical columns in canonical order and dtypes; ``[(position, column, check, raw)]`` for
    every cell that could not be read. Extra columns are dropped; missing ones must be checked first."""
    cols: dict[str, pd.Series] = {}
    errors: list[tuple[int, str, str, object]] = []
    for name, dtype in canonical_dtypes(record).items():
        col, errs = coerce_column(
            df[name].reset_index(drop=True), dtype, naive_utc=naive_utc, empty_is_null=empty_is_null
        )
        cols[name] = col
        errors += [(i, name, check, raw) for i, check, raw in errs]
    out = pd.DataFrame(cols) if cols else empty_frame(record)
    if len(df) == 0:
        out = empty_frame(record)
    return out, errors


# --------------------------------------------------------------------------------------------------
# the result


@dataclass
class ValidationResult:
    """Outcome of :func:`validate_frame`: rows to land, rows to quarantine, and what failed."""

    record: str
    source: str
    partition: str
    valid: pd.DataFrame
    quarantine: pd.DataFrame
    failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def lines(self) -> list[str]:
        """One human line per failing check, e.g.
        ``app:jobs 2026-11-20: column status failed isin(...) in 2 rows``."""
        return [
            f"{f['source']} {f['partition']}: column {f['column']} failed {f['check']} "
            f"in {f['row_count']} row{'s' if f['row_count'] != 1 else ''}"
            for f in self.failures
        ]

    def metadata(self) -> dict[str, Any]:
        """JSON-able summary for an asset check's metadata (counts + the failure cases)."""
        return {
            "record": self.record,
            "source": self.source,
            "partition": self.partition,
            "rows_valid": len(self.valid),
            "rows_quarantined": len(self.quarantine),
            "failures": [dict(f) for f in self.failures],
        }


def _example(v: object) -> str:
    s = "null" if _missing(v) else str(v)
    return s if len(s) <= 60 else s[:57] + "..."


def _check_name(check: object) -> str:
    name = str(check)
    return "unique" if name == "multiple_fields_uniqueness" else name


def validate_frame(
    record: str, df: pd.DataFrame, *, source: str, partition: str, naive_utc: bool = False
) -> ValidationResult:
    """Validate `df` (canonical columns of `record`) lazily and completely.

    Every input row ends up in exactly one of ``.valid`` (canonical columns and dtypes, sorted by
    the record's key so equal input lands as equal bytes) or ``.quarantine`` (the row's values as
    text plus ``quarantine_reason``: ``"<column> <check>"`` of every check it failed, ``"; "``-joined).
    `source` and `partition` only label the failures and lines (e.g. ``"app:app_jobs"``,
    ``"2026-11-20"``). `naive_utc`: read timestamps without an offset as UTC instead of failing them
    (frames from ``orchestration.app_sources`` are already UTC-typed, so the default is right there).
    Raises :class:`SchemaContractError` when columns are missing or extra.
    """
    if record not in MODELS:
        raise ValueError(f"unknown record type {record!r}")
    canon = list(RECORDS[record])
    missing = [c for c in canon if c not in df.columns]
    extra = [str(c) for c in df.columns if c not in RECORDS[record]]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if extra:
            parts.append(f"unexpected column(s) {', '.join(extra)}")
        raise SchemaContractError(f"{source} {partition}: {record}: {'; '.join(parts)}")

    prior = list(df.attrs.get(ROW_ERRORS_ATTR, []))
    raw = df[canon].reset_index(drop=True)
    raw.attrs = {}  # the row errors are consumed here; they must not travel into landed files
    typed, cast_errors = coerce_frame(record, raw, naive_utc=naive_utc)
    # (position, column, check, example)
    cases: list[tuple[int, str, str, object]] = [(int(p), c, k, v) for p, c, k, v in prior + cast_errors]
    unreadable = {(p, c) for p, c, _, _ in cases}

    key = KEYS[record]
    dup = typed.duplicated(keep="first")
    for pos in dup[dup].index:
        cases.append((int(pos), "+".join(key), "duplicate_row", typed.loc[pos, key[-1]]))

    checked = typed[~dup]
    try:
        MODELS[record].validate(checked, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases += _row_cases(record, exc.failure_cases, unreadable, source, partition)

    bad_rows = sorted({p for p, *_ in cases})
    reasons: dict[int, list[str]] = {}
    for p, col, check, _ in cases:
        r = f"{col} {check}"
        if r not in reasons.setdefault(p, []):
            reasons[p].append(r)

    valid = typed.drop(index=bad_rows)
    valid = valid.sort_values(key, kind="mergesort", na_position="last").reset_index(drop=True)

    quarantine = raw.loc[bad_rows].copy()
    quarantine = quarantine.astype(object).where(quarantine.notna(), None)
    quarantine = quarantine.map(lambda v: None if v is None else str(v)).astype("string")
    quarantine[QUARANTINE_REASON] = pd.array(
        ["; ".join(sorted(reasons[p])) for p in bad_rows], dtype="string"
    )
    quarantine = quarantine.sort_values(
        key + [QUARANTINE_REASON], kind="mergesort", na_position="last"
    ).reset_index(drop=True)

    failures = _summarize(cases, source, partition)
    return ValidationResult(
        record=record,
        source=source,
        partition=partition,
        valid=valid,
        quarantine=quarantine,
        failures=failures,
    )


def _row_cases(
    record: str, fc: pd.DataFrame, unreadable: set[tuple[int, str]], source: str, partition: str
) -> list[tuple[int, str, str, object]]:
    """pandera failure cases -> (position, column, check, example). Frame-wide checks report every
    column of a failing row: keep the one column the check is about. Column-level failures (no row
    index: a wrong dtype after casting) mean the contract itself broke, so they raise."""
    check_cols = _MODULES[record].CHECK_COLUMNS
    key = KEYS[record]
    whole = fc[fc["index"].isna()]
    if not whole.empty:
        what = "; ".join(f"{r.column} {r.check} ({r.failure_case})" for r in whole.itertuples())
        raise SchemaContractError(f"{source} {partition}: {record}: {what}")
    out: list[tuple[int, str, str, object]] = []
    for r in fc.itertuples():
        check = _check_name(r.check)
        col = str(r.column)
        if check == "unique":
            if col != key[-1]:
                continue
            col = "+".join(key)
        elif r.schema_context == "DataFrameSchema" and check in check_cols and col != check_cols[check]:
            continue
        pos = int(r.index)
        if (pos, col) in unreadable and check == "not_nullable":
            continue  # already reported as unreadable; its null is our doing
        out.append((pos, col, check, r.failure_case))
    return out


def _summarize(
    cases: list[tuple[int, str, str, object]], source: str, partition: str
) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for pos, col, check, example in cases:
        g = groups.setdefault((col, check), {"rows": set(), "examples": []})
        g["rows"].add(pos)
        ex = _example(example)
        if col not in NO_EXAMPLES and ex not in g["examples"] and len(g["examples"]) < MAX_EXAMPLES:
            g["examples"].append(ex)
    return [
        {
            "source": source,
            "partition": partition,
            "column": col,
            "check": check,
            "row_count": len(g["rows"]),
            "examples": g["examples"],
        }
        for (col, check), g in sorted(groups.items())
    ]
