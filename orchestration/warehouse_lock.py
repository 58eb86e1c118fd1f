"""A cross-process lock beside the DuckDB file, so only one process touches it at a time.

DuckDB allows one writing process per file and refuses readers while it writes. Dagster's
`duckdb_writer` pool serialises runs the daemon launches, but not a `recon run` started from a shell
beside them; this lock does. The second process waits (and says so) instead of failing.

`recon run` holds it for the whole span of a run (extraction, dbt build, report, checks, webhook,
the printed summary), so a second run cannot rebuild the marts between this run's build and its
report. The steps of that run execute in the same thread and take the lock again: it is reentrant
per thread. Under `dagster dev` each step is its own process and holds it only for the step, so
the dbt step stamps the build (:func:`write_build_stamp`) and the report compares it
(:func:`read_build_stamp`) to detect a build that changed under it.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

DEFAULT_TIMEOUT_S = 3 * 3600.0
_held: dict[tuple[str, int], int] = {}  # (lock file, thread id) -> depth, for reentrancy


class WarehouseBusy(RuntimeError):
    """Another process held the warehouse longer than we were willing to wait."""


def lock_path(warehouse: Path) -> Path:
    return Path(f"{warehouse}.lock")


@contextmanager
def warehouse_lock(
    warehouse: Path,
    log: Callable[[str], None] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    poll_s: float = 0.5,
) -> Iterator[None]:
    path = lock_path(Path(warehouse))
    key = (str(path.resolve()), threading.get_ident())
    if key in _held:  # this thread holds it already (a step inside `recon run`'s span)
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout_s
        waited = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited and log:
                    log(f"warehouse {warehouse} is in use by another run; waiting for it to finish")
                waited = True
                if time.monotonic() > deadline:
                    raise WarehouseBusy(
                        f"warehouse {warehouse} stayed locked for {timeout_s:.0f}s (lock file {path})"
                    ) from None
                time.sleep(poll_s)
        if waited and log:
            log(f"warehouse {warehouse} is free; continuing")
        _held[key] = 1
        try:
            yield
        finally:
            del _held[key]
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def stamp_path(warehouse: Path) -> Path:
    return Path(f"{warehouse}.build.json")


def write_build_stamp(warehouse: Path, run_id: str, first: str, last: str, as_of: str) -> None:
    """Record which run built the marts (called by the dbt step while it holds the lock)."""
    path = stamp_path(Path(warehouse))
    tmp = path.with_suffix(".json.tmp")
    try:
        tmp.write_text(
            json.dumps({"run_id": run_id, "first_day": first, "last_day": last, "as_of": as_of}),
            encoding="utf-8",
        )
        tmp.replace(path)
    except OSError:
        tmp.unlink(missing_ok=True)  # a full disk: leave no half stamp behind, and fail the step
        raise


def read_build_stamp(warehouse: Path) -> dict[str, str] | None:
    """The stamp of the last build, or None when no build wrote one."""
    try:
        return json.loads(stamp_path(Path(warehouse)).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def rebuilt_by_another(warehouse: Path, run_id: str) -> str | None:
    """One line when the marts were last built by a run other than `run_id`, else None."""
    stamp = read_build_stamp(warehouse)
    if stamp is None or stamp.get("run_id") == run_id:
        return None
    return (
        f"the warehouse was rebuilt by another run ({stamp.get('run_id', '?')[:8]}, days "
        f"{stamp.get('first_day')}..{stamp.get('last_day')} as of {stamp.get('as_of')}) after this "
        f"run's dbt build; its report would describe that build, so re-run this one"
    )
