"""A cross-process lock beside the DuckDB file, so only one process touches it at a time.

DuckDB allows one writing process per file and refuses readers while it writes. Dagster's
`duckdb_writer` pool serialises runs the daemon launches, but not a `recon run` started from a shell
beside them; this lock does. The second process waits (and says so) instead of failing.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

DEFAULT_TIMEOUT_S = 3 * 3600.0


class WarehouseBusy(RuntimeError):
    """Another process held the warehouse longer than we were willing to wait."""


def lock_path(warehouse: Path) -> Path:
    return Path(f"{warehouse}.lock")


@contextmanager
def warehouse_lock(warehouse: Path, log: Callable[[str], None] | None = None,
                   timeout_s: float = DEFAULT_TIMEOUT_S, poll_s: float = 0.5) -> Iterator[None]:
    path = lock_path(Path(warehouse))
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
                    raise WarehouseBusy(f"warehouse {warehouse} stayed locked for {timeout_s:.0f}s "
                                        f"(lock file {path})") from None
                time.sleep(poll_s)
        if waited and log:
            log(f"warehouse {warehouse} is free; continuing")
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock
