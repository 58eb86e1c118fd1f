"""What a person sees while recon runs: one line per step, dbt's own log in a file.

Colour comes from rich, which turns it off when stderr is not a TTY and whenever NO_COLOR is set.
Step lines print only when the CLI switched them on (`enable`), so tests and `dagster dev` stay quiet.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path

from rich.console import Console

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_NODE_DONE = re.compile(r"^\s*(\d+) of (\d+) (OK|PASS|WARN|FAIL|ERROR|SKIP|NO-OP)\b")
_DONE = re.compile(r"^\s*Done\. PASS=\d+ .*TOTAL=(\d+)")

_state = {"on": False, "verbose": False}
console = Console(stderr=True, highlight=False)


def enable(verbose: bool = False) -> None:
    """Switch step lines on for this process (the CLI); `verbose` also echoes dbt's whole log."""
    _state.update(on=True, verbose=verbose)


def step(message: str) -> None:
    """One progress line on stderr (markup off: paths and <placeholders> print as they are)."""
    if _state["on"]:
        console.print(message, markup=False, soft_wrap=True)


def dbt_log_path(warehouse_path: str | Path) -> Path:
    """Where the latest dbt build's own log goes: beside the warehouse, replaced by each build."""
    return Path(warehouse_path).resolve().parent / "logs" / "dbt-build.log"


class _DbtLog:
    """A stdout stand-in: every line dagster-dbt echoes goes to the log file (colour codes dropped),
    finished nodes are counted, and with --verbose the line is echoed to the real stdout too."""

    def __init__(self, fh, echo) -> None:
        self.fh, self.echo = fh, echo
        self.done = self.total = self.failed = 0
        self._buf = ""

    def write(self, text: str) -> int:
        self._buf += text
        while "\n" in self._buf:
            line, self._buf = self._buf.split("\n", 1)
            self._line(_ANSI.sub("", line))
        return len(text)

    def _line(self, line: str) -> None:
        self.fh.write(line + "\n")
        if self.echo is not None:
            self.echo.write(line + "\n")
        m = _NODE_DONE.match(line)
        if m:
            self.done, self.total = self.done + 1, int(m.group(2))
            self.failed += m.group(3) in ("FAIL", "ERROR")
        m = _DONE.match(line)
        if m:  # dbt's own count: the selection's n of N also numbers unit tests it then folds in
            self.total = int(m.group(1))

    def flush(self) -> None:
        self.fh.flush()
        if self.echo is not None:
            self.echo.flush()


@contextmanager
def dbt_log(path: Path) -> Iterator[_DbtLog]:
    """Send dbt's output to `path` for the block; one summary line after it (nodes n/N)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        sink = _DbtLog(fh, sys.stdout if _state["verbose"] else None)
        try:
            with redirect_stdout(sink):
                yield sink
        finally:
            sink.write("\n") if sink._buf else None
            sink.flush()
            step(f"dbt build: {sink.done}/{sink.total} nodes done, {sink.failed} failed")
