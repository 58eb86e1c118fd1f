"""Where the landing lives: a local folder or an S3 prefix, behind one small interface.

Every landing write and read (app days, gateway batches and manifests, quarantine files, the
gateways' totals, the trace reader) goes through these functions, so the append-only guarantee is
kept in one place for both kinds of store:

- local (`pathlib.Path`): a new file is written to a hidden temp file, fsynced, then hard-linked to
  its name (`os.link` fails rather than replace a file); a replaced file is renamed over the old one.
  This is exactly what recon always did (`orchestration.landing`, `orchestration.evidence`).
- S3 (`s3://bucket/prefix`, a `upath.UPath` over s3fs): an object appears whole or not at all (a
  PUT is atomic), and a new object is created with a conditional PUT (`If-None-Match: *`): when the
  name is taken the store answers 412 and the writer gets `FileExistsError`, as with `os.link`. No
  read-then-write check, no window in which two writers both see the name free.

Credentials never come from recon's YAML: s3fs takes them from the environment or the standard
AWS chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE, instance roles, ...).
`warehouse.landing_endpoint_url` points it at an S3-compatible server (MinIO, Ceph, a test server).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:
    import duckdb
    from upath import UPath

SCHEMES = ("s3://",)
# a bucket name as S3 allows it (3-63 lowercase letters, digits, dots, hyphens), then an optional prefix
_URL = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?P<prefix>/[^?#]*)?$")
PARQUET = {"compression": "zstd", "write_statistics": True, "store_schema": True}


def is_url(location: object) -> bool:
    """True for an object-store URL (`s3://...`) or a UPath over one, False for a local path."""
    return getattr(location, "protocol", None) == "s3" or (
        isinstance(location, str) and location.startswith(SCHEMES)
    )


def check_url(url: str) -> str:
    """`url` normalized (no trailing slash), or ValueError saying what is wrong with it."""
    if "@" in url.removeprefix("s3://").split("/", 1)[0]:
        raise ValueError("credentials do not belong in the URL: use the environment or the AWS chain")
    m = _URL.match(url.rstrip("/"))
    if not m:
        raise ValueError(f"{url!r} is no s3://bucket[/prefix] URL (only s3:// object storage is supported)")
    return url.rstrip("/")


def storage_options(endpoint_url: str | None) -> dict[str, Any]:
    """s3fs options: the endpoint when given; never a listing cache, since another run (another
    process) may land a batch between two listings and a stale list would hide it."""
    opts: dict[str, Any] = {"use_listings_cache": False}
    if endpoint_url:
        opts["client_kwargs"] = {"endpoint_url": endpoint_url}
    return opts


def root(location: str | os.PathLike | UPath, endpoint_url: str | None = None) -> Path | UPath:
    """The landing root as a path object: `Path` for a local folder, `UPath` for `s3://` (joined
    with `/` and listed like a folder; it carries the endpoint). A path object passes through."""
    if is_remote(location):
        return location  # already a UPath
    if is_url(location):
        if importlib.util.find_spec("s3fs") is None or importlib.util.find_spec("upath") is None:
            raise ValueError("an s3:// landing needs the s3 extra: pip install -e '.[s3]'")
        from upath import UPath

        return UPath(check_url(str(location)), **storage_options(endpoint_url))
    return Path(location)


def is_remote(path: object) -> bool:
    """True for a UPath over S3 (what `root` makes of an s3:// URL)."""
    return getattr(path, "protocol", None) == "s3"


def exists(path: Path | UPath) -> bool:
    return path.exists()


def files(folder: Path | UPath) -> list[Path | UPath]:
    """The files directly in `folder` (none when it does not exist; on S3 a prefix is a folder)."""
    if is_remote(folder):
        fs = folder.fs
        try:
            entries = fs.ls(folder.path, detail=True)
        except FileNotFoundError:
            return []
        return [folder / e["name"].rsplit("/", 1)[-1] for e in entries if e.get("type") == "file"]
    if not folder.is_dir():
        return []
    return list(folder.iterdir())


def glob(folder: Path | UPath, pattern: str) -> list[Path | UPath]:
    """Paths under `folder` matching `pattern` (relative, e.g. ``*/date=*``), sorted."""
    return sorted(folder.glob(pattern), key=str)


def read_table(path: Path | UPath, columns: list[str] | None = None) -> pa.Table:
    if is_remote(path):
        return pq.read_table(path.path, columns=columns, filesystem=path.fs)
    return pq.read_table(path, columns=columns)


def num_rows(path: Path | UPath) -> int:
    if is_remote(path):
        with path.fs.open(path.path, "rb") as fh:
            return pq.ParquetFile(fh).metadata.num_rows
    return pq.ParquetFile(path).metadata.num_rows


def _parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, **PARQUET)
    return buf.getvalue()


def put_new(table: pa.Table, target: UPath) -> UPath:
    """Create the object `target` holding `table`, or FileExistsError when the name is taken
    (one conditional PUT: If-None-Match: *)."""
    target.fs.pipe_file(target.path, _parquet_bytes(table), mode="create")
    return target


def put_replace(table: pa.Table, target: UPath) -> UPath:
    """Replace the object `target` with `table` in one PUT (readers see the old or the new one)."""
    target.fs.pipe_file(target.path, _parquet_bytes(table))
    return target


def remove(path: Path | UPath) -> None:
    """Remove a replaceable file (an app day's quarantine), never evidence; absent is fine."""
    if is_remote(path):
        with contextlib.suppress(FileNotFoundError):
            path.fs.rm_file(path.path)
        return
    path.unlink(missing_ok=True)


def makedirs(folder: Path | UPath) -> None:
    """Create a local folder; S3 has no folders (a prefix exists once an object has it)."""
    if not is_remote(folder):
        folder.mkdir(parents=True, exist_ok=True)


def duckdb_register(con: duckdb.DuckDBPyConnection, path: Path | UPath) -> None:
    """Let DuckDB read `s3://` paths through the landing's fsspec filesystem (no httpfs extension,
    which DuckDB would download at run time). A local path needs nothing."""
    if is_remote(path):
        con.register_filesystem(path.fs)
