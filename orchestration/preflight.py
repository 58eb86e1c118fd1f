"""Checks a run makes before it extracts anything, so a mistake is exit 2 and one line, not a failed step.

What it checks: the days are inside the partitions (not before their start, not a day that has not
ended yet), the warehouse path is a DuckDB file (or not there yet), and the app's mapping queries
bind ``:start``/``:end`` and return every canonical column when run on an empty window (which also
proves the driver is installed and the database reachable). Every failure is a ConfigError whose
message names the option or key at fault. `recon check` can build on :func:`preflight`.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from orchestration.config import ConfigError, ReconConfig

SQLITE_MAGIC = b"SQLite format 3\x00"
DUCKDB_MAGIC = b"DUCK"  # at offset 8, after the header checksum


def check_days(first: date, last: date, now: datetime | None = None, start: date | None = None) -> None:
    """Refuse days before the partitions' start (the config's `reconciliation.start_date` when given)
    or after the last closed UTC day."""
    from orchestration.partitions import last_closed_day, partitions_start

    start, newest = max(start or partitions_start(), partitions_start()), last_closed_day(now)
    if first < start:
        raise ConfigError(f"--start {first.isoformat()} is before the partitions' start {start.isoformat()} "
                          f"(reconciliation.start_date: the first day recon reconciles)")
    if last > newest:
        raise ConfigError(f"--end {last.isoformat()} has not ended yet: the newest day recon can reconcile "
                          f"is {newest.isoformat()} (UTC)")


def check_warehouse_file(path: Path) -> None:
    """A warehouse that exists must be a DuckDB file: DuckDB opening something else (a SQLite file)
    tries to load an extension for it from the network instead of failing."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"warehouse.path: {p} is a directory, not a DuckDB file")
    if not p.exists() or p.stat().st_size == 0:
        return
    with p.open("rb") as fh:
        head = fh.read(16)
    if head[8:12] == DUCKDB_MAGIC:
        return
    kind = "a SQLite database" if head.startswith(SQLITE_MAGIC) else "not a DuckDB file"
    raise ConfigError(f"warehouse.path: {p} is {kind}; point warehouse.path at a DuckDB file or a new path")


def check_app(cfg: ReconConfig) -> None:
    """Both mapping queries on an empty window: columns, window parameters, driver, connection."""
    from orchestration.app_sources import check_app_queries
    from orchestration.gateways.base import ExtractionError

    try:
        check_app_queries(cfg.app)
    except ExtractionError as exc:
        raise ConfigError(str(exc)) from None


def check_landing(cfg: ReconConfig) -> None:
    """An s3:// landing's bucket exists and answers with the credentials at hand (one listing), so a
    wrong bucket or missing credentials is one line before extraction, not a failed landing step."""
    from orchestration import storage

    root = cfg.warehouse.landing_dir
    if not storage.is_remote(root):
        return
    bucket = root.path.split("/", 1)[0]
    try:
        root.fs.ls(bucket)
    except FileNotFoundError:
        raise ConfigError(f"warehouse.landing_dir: {root}: bucket {bucket!r} does not exist") from None
    except Exception as exc:  # noqa: BLE001 - botocore/aiohttp errors: one line, whatever they are
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"warehouse.landing_dir: {root}: cannot list bucket {bucket!r}: {first}") from None


def preflight(cfg: ReconConfig, first: date, last: date, now: datetime | None = None) -> None:
    """Every check above, cheapest first; raises the first ConfigError."""
    check_days(first, last, now)
    check_warehouse_file(cfg.warehouse.path)
    check_landing(cfg)
    check_app(cfg)
