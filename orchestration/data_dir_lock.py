"""One command at a time per data dir: `recon demo` and `recon ui` rewrite the demo's app database,
truth and config there, so a second one started beside the first would corrupt it. The second
refuses at once with one line naming the holder, instead of waiting (a UI never ends on its own).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_NAME = ".recon-data-dir.lock"


class DataDirBusy(RuntimeError):
    """Another recon command holds this data dir."""


@contextmanager
def data_dir_lock(data_dir: Path, command: str) -> Iterator[None]:
    """Hold the data dir's lock for the duration (flock: released by the OS if the process dies)."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another recon command"
            raise DataDirBusy(
                f"data dir {data_dir} is in use by {holder}; wait for it to finish or pass another --data-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"recon {command} (pid {os.getpid()})".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock
