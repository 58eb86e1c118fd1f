"""Append-only landing of gateway evidence (`usage_records`, `gateway_tasks`): batches + manifests.

Gateways delete logs after their retention and answer a deleted day with zero rows, so what recon
landed may become the only copy. Per (record, UTC day) folder (docs/landing.md):

    <landing>/<record>/date=D/batch-<seq>.parquet     what one extraction changed (immutable)
    <landing>/<record>/date=D/manifest-<seq>.parquet  one row per gateway per extraction (immutable)

A batch holds the canonical columns plus `_seq`, `_extracted_at`, `_change` (new | changed | back |
gone) and `_gone_at`: rows first served, new versions of rows served before, rows served again after
having been missed, and rows held but no longer served (a copy of their current version marked gone,
stamped with the extraction that first missed them). The current version of a row is its copy in
the highest batch; nothing is ever deleted or overwritten. Files are written to a temp file, fsynced
and hard-linked to their final name (`os.link` fails rather than replace an existing file), so a
crash leaves the store as it was and two writers can never overwrite each other's batch. The same
answers again add no batch, only a manifest row (the fact that recon looked).

The old layout (`<record>/date=D/<record>.parquet`, replaced per run) is migrated in place on the
first write of a day: a manifest row `migrated` is written, then the file is renamed `batch-000000`
(its rows have no `_` columns: readers take them as sequence 0, `new`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from orchestration import storage
from orchestration.landing import (
    _PANDAS_TYPES,
    _fsync_dir,
    partition_dir,
    partition_file,
    write_synced_temp,
)
from schemas.canonical import arrow_schema
from schemas.validate import KEYS, canonical_dtypes

EVIDENCE_RECORDS = ("usage_records", "gateway_tasks")
_TS = pa.timestamp("us", tz="UTC")
BATCH_FIELDS = [
    pa.field("_seq", pa.int64()),
    pa.field("_extracted_at", _TS),
    pa.field("_change", pa.string()),
    pa.field("_gone_at", _TS),
]
MANIFEST_SCHEMA = pa.schema(
    [
        pa.field("gateway", pa.string()),
        pa.field("record", pa.string()),
        pa.field("day", pa.date32()),
        pa.field("seq", pa.int64()),
        pa.field("extracted_at", _TS),
        pa.field("extracted", pa.bool_()),
        pa.field("complete", pa.bool_()),
        pa.field("reason", pa.string()),
        pa.field("rows_served", pa.int64()),
        pa.field("rows_new", pa.int64()),
        pa.field("rows_changed", pa.int64()),
        pa.field("rows_gone", pa.int64()),
        pa.field("rows_held", pa.int64()),
        pa.field("rows_held_gone", pa.int64()),
        pa.field("window_start", _TS),
        pa.field("window_end", _TS),
        pa.field("filter", pa.string()),
    ]
)
_NAME = re.compile(r"^(batch|manifest)-(\d{6,})\.parquet$")
MAX_RACES = 20
MIGRATED = "migrated from the single-file layout (landed complete by an earlier recon)"


@dataclass(frozen=True)
class GatewayRead:
    """What one gateway's extraction of one day was: the manifest row's facts.

    `whole_day`: every closed window of the day was read (only then can a held row that was not served
    be marked gone). `complete`: the gateway proved the whole day (closed, every page consistent)."""

    gateway: str
    extracted: bool
    complete: bool
    reason: str = ""
    whole_day: bool = False
    rows_served: int | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    filter: str = ""
    # rows served that cannot land (outside their window), text + quarantine_reason: quarantined
    quarantined: pd.DataFrame | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class BatchResult:
    seq: int
    batch: Path | None
    manifest: Path
    new: int
    changed: int
    gone: int
    reads: tuple[GatewayRead, ...]


def batch_schema(record: str) -> pa.Schema:
    return pa.schema(list(arrow_schema(record)) + BATCH_FIELDS)


def _files(d: Path, kind: str) -> list[tuple[int, Path]]:
    out = []
    for p in storage.files(d):
        m = _NAME.match(p.name)
        if m and m.group(1) == kind:
            out.append((int(m.group(2)), p))
    return sorted(out)


def _next_seq(d: Path) -> int:
    seqs = [s for kind in ("batch", "manifest") for s, _ in _files(d, kind)]
    return max(seqs, default=0) + 1


def _name(kind: str, seq: int) -> str:
    return f"{kind}-{seq:06d}.parquet"


def write_new(table: pa.Table, target: Path) -> Path:
    """Write `table` as a new immutable file: temp + fsync + hard link (never replaces a file); on
    S3 a conditional PUT (If-None-Match: *). Either way FileExistsError when the name is taken."""
    if storage.is_remote(target):
        return storage.put_new(table, target)
    tmp = write_synced_temp(table, target)  # also clears what a killed writer of this name left, once stale
    try:
        os.link(tmp, target)  # FileExistsError instead of overwriting
    finally:
        Path(tmp).unlink(missing_ok=True)
    _fsync_dir(target.parent)
    return target


def _manifest_table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=MANIFEST_SCHEMA)


def migrate_legacy(landing_dir: Path, record: str, day: date) -> bool:
    """Turn an old-layout day file into batch 0 (+ its manifest row per gateway), in place."""
    old = partition_file(landing_dir, record, day)
    if not old.exists():
        return False
    d = old.parent
    if storage.is_remote(d):  # S3 cannot rename; readers take the old file as batch 0 as it is
        raise RuntimeError(
            f"landing {record} {day}: {old} is the old single-file layout; migrate it on a local "
            "landing first (recon renames it batch-000000), then copy the landing to S3"
        )
    target = d / _name("batch", 0)
    if target.exists():
        raise RuntimeError(
            f"landing {record} {day}: both {old.name} and {target.name} exist; keeping both, "
            "move one aside by hand"
        )
    if not (d / _name("manifest", 0)).exists():
        gws = sorted(set(pq.read_table(old, columns=["gateway"]).column("gateway").to_pylist()) - {None})
        n = pq.ParquetFile(old).metadata.num_rows
        at = datetime.fromtimestamp(old.stat().st_mtime).astimezone()
        base = {
            "record": record,
            "day": day,
            "seq": 0,
            "extracted_at": at,
            "extracted": True,
            "complete": True,
            "reason": MIGRATED,
            "rows_served": None,
            "rows_new": None,
            "rows_changed": None,
            "rows_gone": 0,
            "rows_held": n,
            "rows_held_gone": 0,
            "window_start": None,
            "window_end": None,
            "filter": "",
        }
        rows = [{"gateway": g, **base} for g in gws]
        write_new(_manifest_table(rows), d / _name("manifest", 0))
    os.replace(old, target)
    _fsync_dir(d)
    return True


def _read_batch(seq: int, path: Path, record: str) -> pa.Table:
    t = storage.read_table(path)
    schema = batch_schema(record)
    cols = []
    for f in schema:
        if f.name in t.column_names:
            cols.append(t.column(f.name).cast(f.type))
        elif f.name == "_change":
            cols.append(pa.array(["new"] * t.num_rows, f.type))
        else:
            cols.append(pa.nulls(t.num_rows, f.type))
    out = pa.Table.from_arrays(cols, schema=schema)
    return out.set_column(
        out.schema.get_field_index("_seq"), "_seq", pa.array([seq] * t.num_rows, pa.int64())
    )


def read_versions(landing_dir: Path, record: str, day: date) -> pd.DataFrame | None:
    """Every version of every row ever held for the day (batch columns included), in batch order."""
    d = partition_dir(landing_dir, record, day)
    parts = [_read_batch(s, p, record) for s, p in _files(d, "batch")]
    legacy = partition_file(landing_dir, record, day)
    if legacy.exists():  # not migrated yet: it is batch 0
        parts.insert(0, _read_batch(0, legacy, record))
    if not parts:
        return None
    df = pa.concat_tables(parts).to_pandas(types_mapper=_PANDAS_TYPES.get)
    for col, dtype in canonical_dtypes(record).items():
        if isinstance(dtype, pd.DatetimeTZDtype):
            df[col] = df[col].dt.as_unit("us")
    return df


def read_held(landing_dir: Path, record: str, day: date) -> pd.DataFrame | None:
    """The current version of every row ever held for the day (gone rows included: `_change` gone)."""
    df = read_versions(landing_dir, record, day)
    if df is None:
        return None
    return df.drop_duplicates(KEYS[record], keep="last").reset_index(drop=True)


def read_manifest(landing_dir: Path, record: str, day: date) -> pd.DataFrame:
    d = partition_dir(landing_dir, record, day)
    parts = [storage.read_table(p) for _, p in _files(d, "manifest")]
    t = pa.concat_tables(parts) if parts else MANIFEST_SCHEMA.empty_table()
    return t.to_pandas(types_mapper=_PANDAS_TYPES.get)


def _key(df: pd.DataFrame, record: str) -> pd.Series:
    """One text key per row (the record's key columns joined), for set and map operations."""
    keys = KEYS[record]
    out = df[keys[0]].astype("string").fillna("")
    for k in keys[1:]:
        out = out + "\x1f" + df[k].astype("string").fillna("")
    return pd.Series(out.to_numpy(dtype=object), index=df.index)


def _content_hash(df: pd.DataFrame, record: str) -> pd.Series:
    """A 64-bit hash of each row's canonical content, indexed like `df` (typed the same way for
    served and held rows: both pass through the canonical Arrow schema)."""
    schema = arrow_schema(record)
    t = pa.Table.from_arrays(
        [pa.array(df[f.name], type=f.type, from_pandas=True) for f in schema], schema=schema
    )
    canon = t.to_pandas(types_mapper=_PANDAS_TYPES.get)
    return pd.Series(pd.util.hash_pandas_object(canon, index=False).to_numpy(), index=df.index)


def land_extraction(
    served: pd.DataFrame,
    landing_dir: Path,
    record: str,
    day: date,
    reads: list[GatewayRead],
    extracted_at: datetime,
) -> BatchResult:
    """Append what the extraction changed against what is held, then its manifest rows. Two writers
    of one day (two runs of the same partition at once) never overwrite each other: the one that
    finds its sequence number taken diffs again against what the other landed and takes the next."""
    for _ in range(MAX_RACES):
        try:
            return _land_once(served, landing_dir, record, day, reads, extracted_at)
        except FileExistsError:
            continue
    raise RuntimeError(f"landing {record} {day}: {MAX_RACES} concurrent writers raced for the next batch")


def _land_once(
    served: pd.DataFrame,
    landing_dir: Path,
    record: str,
    day: date,
    reads: list[GatewayRead],
    extracted_at: datetime,
) -> BatchResult:
    if record not in EVIDENCE_RECORDS:
        raise ValueError(f"{record} is not gateway evidence (app records replace per day)")
    migrate_legacy(landing_dir, record, day)
    cols = arrow_schema(record).names
    held = read_held(landing_dir, record, day)
    served = served[cols].reset_index(drop=True)
    parts: list[pd.DataFrame] = []
    n_new = n_changed = n_gone = 0
    if held is None or held.empty:
        fresh = served.copy()
        fresh["_change"] = "new"
        parts.append(fresh)
        n_new = len(fresh)
    else:
        hkey = _key(held, record)
        hhash = dict(zip(hkey, _content_hash(held, record), strict=False))
        hgone = dict(zip(hkey, held["_change"].eq("gone").fillna(False), strict=False))
        skey = _key(served, record) if len(served) else pd.Series([], dtype=object)
        if len(served):
            shash = _content_hash(served, record)
            change = []
            for k, h in zip(skey, shash, strict=False):
                if k not in hhash:
                    change.append("new")
                elif hgone[k]:
                    change.append("back")
                elif hhash[k] != h:
                    change.append("changed")
                else:
                    change.append(None)
            ch = pd.Series(change, dtype="string")
            pick = ch.notna().to_numpy()
            out = served[pick].copy()
            out["_change"] = ch[pick].to_numpy()
            parts.append(out)
            n_new = int(ch.eq("new").sum())
            n_changed = int(pick.sum()) - n_new
        seen = set(skey)
        may_gone = {r.gateway for r in reads if r.whole_day}
        missing = (
            ~hkey.isin(seen) & ~held["_change"].eq("gone").fillna(False) & held["gateway"].isin(may_gone)
        ).to_numpy(dtype=bool)
        if missing.any():
            g = held.loc[missing, cols].copy()
            g["_change"] = "gone"
            g["_gone_at"] = pd.Timestamp(extracted_at).tz_convert("UTC")
            parts.append(g)
            n_gone = int(missing.sum())
    frame = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else None
    d = partition_dir(landing_dir, record, day)
    seq = _next_seq(d)
    batch_path = None
    if frame is not None:
        frame["_seq"] = seq
        frame["_extracted_at"] = pd.Timestamp(extracted_at).tz_convert("UTC")
        if "_gone_at" not in frame.columns:
            frame["_gone_at"] = pd.NaT
        table = _batch_table(frame, record)
        batch_path = write_new(table, d / _name("batch", seq))
    after = read_held(landing_dir, record, day)
    served_by = served["gateway"].value_counts().to_dict() if len(served) else {}
    rows = [_manifest_row(r, record, day, seq, extracted_at, frame, after, served_by) for r in reads]
    manifest = write_new(_manifest_table(rows), d / _name("manifest", seq))
    final = tuple(
        GatewayRead(
            m["gateway"],
            m["extracted"],
            m["complete"],
            m["reason"],
            r.whole_day,
            m["rows_served"],
            r.window_start,
            r.window_end,
            r.filter,
        )
        for m, r in zip(rows, reads, strict=False)
    )
    return BatchResult(
        seq=seq, batch=batch_path, manifest=manifest, new=n_new, changed=n_changed, gone=n_gone, reads=final
    )


def _batch_table(frame: pd.DataFrame, record: str) -> pa.Table:
    schema = batch_schema(record)
    keys = KEYS[record]
    frame = frame.sort_values(keys, kind="mergesort").reset_index(drop=True)
    arrays = [pa.array(frame[f.name], type=f.type, from_pandas=True) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def _count(frame: pd.DataFrame | None, gateway: str, changes: tuple[str, ...]) -> int:
    if frame is None:
        return 0
    return int((frame["_change"].isin(changes) & frame["gateway"].eq(gateway)).sum())


def _manifest_row(
    r: GatewayRead,
    record: str,
    day: date,
    seq: int,
    extracted_at: datetime,
    frame: pd.DataFrame | None,
    after: pd.DataFrame | None,
    served_by: dict,
) -> dict:
    """One gateway's manifest row; a whole-day read that misses rows recon holds is never complete."""
    mine = after[after["gateway"] == r.gateway] if after is not None else None
    held_n = 0 if mine is None else len(mine)
    gone_n = 0 if mine is None else int(mine["_change"].eq("gone").sum())
    served = served_by.get(r.gateway, 0) if r.extracted else None
    complete, reason = r.complete, r.reason
    if r.extracted and r.whole_day and gone_n:
        complete = False
        gone_why = (
            f"served {served} rows; {gone_n} held row(s) are no longer served (deleted by the "
            "gateway?): kept, marked gone"
        )
        reason = f"{reason}; {gone_why}" if reason else gone_why
    return {
        "gateway": r.gateway,
        "record": record,
        "day": day,
        "seq": seq,
        "extracted_at": extracted_at,
        "extracted": r.extracted,
        "complete": complete,
        "reason": reason,
        "rows_served": r.rows_served if r.rows_served is not None else served,
        "rows_new": _count(frame, r.gateway, ("new",)),
        "rows_changed": _count(frame, r.gateway, ("changed", "back")),
        "rows_gone": _count(frame, r.gateway, ("gone",)),
        "rows_held": held_n,
        "rows_held_gone": gone_n,
        "window_start": r.window_start,
        "window_end": r.window_end,
        "filter": r.filter,
    }
