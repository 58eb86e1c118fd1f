"""Crash safety: `recon run` killed with SIGKILL mid-extraction or mid-`dbt build`; the next run
finishes and holds the same rows (current versions, compared as content) and identical marts as an
uninterrupted run.

Real processes: `recon run` is a child process in its own session (so the kill takes the whole
process group, dbt included, as a machine or container crash does), the sandbox serves over
loopback with latency so extraction is in flight when the kill lands, dbt writes a real DuckDB file
(its WAL is replayed by the next open). The reference is an uninterrupted run of the same scenario
in a separate data dir. In CI: two crashes in a row (mid-extraction, then the rerun mid-dbt), then a
run that finishes. Long variants (``RECON_LONG=1``): each crash alone, the dbt kill at the first
WAL write as well as at 64 KiB of WAL, and a kill of only the `recon` process that leaves its dbt child running
as an orphan (what `kill -9 <pid>` does) while the next run starts.
"""

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import date
from pathlib import Path

import pytest
from recon_pipeline import FOLDERS_PER_DAY, REPO, Env, held_content, marts, pipeline

from orchestration.sandbox.faults import Faults

END = date(2026, 11, 20)
DAYS = 3
JOBS_PER_DAY = 20
LATENCY = Faults(latency_ms=25)
LONG = pytest.mark.skipif(os.environ.get("RECON_LONG") != "1", reason="long variant: set RECON_LONG=1")


@contextmanager
def crash_pipeline(data_dir: Path, faults: Faults | None = None) -> Iterator[Env]:
    """The scenario every crash test runs; the app DB beside the data dir, not in it."""
    with pipeline(
        data_dir,
        end=END,
        days=DAYS,
        jobs_per_day=JOBS_PER_DAY,
        faults=faults,
        app_dir=data_dir.parent / f"{data_dir.name}-app",
    ) as e:
        yield e


def run_to_end(e: Env) -> subprocess.CompletedProcess:
    return subprocess.run(
        e.cmd(), cwd=REPO, env=e.env, capture_output=True, text=True, timeout=900, check=False
    )


def temp_files(data_dir: Path) -> list[Path]:
    return [p for p in (data_dir / "landing").rglob("*") if p.is_file() and not p.name.endswith(".parquet")]


def _descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, cmdline) of every live descendant of `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            try:
                cmd = (Path("/proc") / str(c) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            out.append((c, cmd))
            todo.append(c)
    return out


class Watched:
    """`recon run` in its own session, its stderr read line by line on a thread."""

    def __init__(self, e: Env) -> None:
        # --verbose: the per-day progress lines the kills wait on are INFO, not in the quiet default
        self.proc = subprocess.Popen(
            [*e.cmd(), "--verbose"],
            cwd=REPO,
            env=e.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in ln for ln in self.lines):
            assert self.proc.poll() is None, f"run ended before {text!r}: {''.join(self.lines)[-3000:]}"
            assert time.monotonic() < deadline, f"no {text!r} within {timeout}s"
            time.sleep(0.02)

    def seen(self, text: str) -> bool:
        return any(text in ln for ln in self.lines)

    def kill_group(self) -> None:
        assert self.proc.poll() is None, "the run had already ended: nothing was interrupted"
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        self._t.join(10)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[dict, dict]:
    d = tmp_path_factory.mktemp("reference") / "data"
    with crash_pipeline(d) as e:
        p = run_to_end(e)
    assert p.returncode == 0, p.stderr[-3000:]
    return held_content(d), marts(d)


def _rerun_and_compare(e: Env, reference: tuple[dict, dict]) -> None:
    p = run_to_end(e)
    assert p.returncode == 0, p.stderr[-3000:]
    ref_landing, ref_marts = reference
    assert held_content(e.data_dir) == ref_landing
    assert marts(e.data_dir) == ref_marts
    assert sum(len(v) for v in ref_marts.values()) > 0 and len(ref_landing) == FOLDERS_PER_DAY * DAYS


def kill_mid_extraction(e: Env) -> None:
    w = Watched(e)
    # the first partition landed; the others (and the other sources) are in flight
    w.wait_for(f"(1/{DAYS}): landed")
    w.kill_group()
    assert not w.seen("Running dbt command")
    assert 0 < len(held_content(e.data_dir)) < FOLDERS_PER_DAY * DAYS, "the kill landed mid-extraction"
    # whatever a killed writer left is invisible to every reader: no *.parquet name
    assert all(p.name.startswith(".") and p.name.endswith(".tmp") for p in temp_files(e.data_dir))


def start_and_wait_for_dbt(e: Env) -> tuple[Watched, list[int]]:
    w = Watched(e)
    w.wait_for("Running dbt command")
    deadline = time.monotonic() + 60
    while not (dbt := [pid for pid, cmd in _descendants(w.proc.pid) if "dbt" in cmd and " build " in cmd]):
        assert time.monotonic() < deadline and w.proc.poll() is None, "dbt never started"
        time.sleep(0.02)
    return w, dbt


def kill_mid_dbt(e: Env, min_wal: int, reference: tuple[dict, dict] | None = None) -> None:
    """Kill the run's process group while `dbt build` is writing: once the DuckDB write-ahead log
    holds at least `min_wal` bytes (models committed but not yet checkpointed into the file)."""
    w, _ = start_and_wait_for_dbt(e)
    if reference is not None:  # extraction is over when dbt starts: the landing is complete
        assert held_content(e.data_dir) == reference[0]
    wal = Path(f"{e.data_dir / 'warehouse.duckdb'}.wal")
    deadline = time.monotonic() + 120
    size = 0
    while size < min_wal:
        assert w.proc.poll() is None and time.monotonic() < deadline, "dbt ended before its WAL grew"
        try:
            size = wal.stat().st_size
        except FileNotFoundError:
            size = 0
        time.sleep(0.002)
    w.kill_group()
    assert not w.seen("Finished dbt command"), "dbt finished before the kill"
    left = wal.stat().st_size if wal.exists() else 0
    print(f"\nkilled during dbt build with a {size}-byte WAL; {left} bytes of WAL left for the next open")
    assert left > 0, "the kill left no WAL: nothing was interrupted mid-write"


@pytest.mark.slow
def test_killed_mid_extraction_then_mid_dbt_build_then_rerun_gives_identical_landing_and_marts(
    tmp_path: Path, reference
) -> None:
    """Two crashes in a row: SIGKILL mid-extraction; the next run holds every partition with the same
    content (nothing landed twice) and is itself killed during `dbt build` once 64 KiB of DuckDB WAL
    are written (committed models not yet checkpointed); the third run replays the WAL and finishes."""
    with crash_pipeline(tmp_path / "data", faults=LATENCY) as e:
        kill_mid_extraction(e)
        kill_mid_dbt(e, 64 * 1024, reference)
        _rerun_and_compare(e, reference)


@pytest.mark.slow
@LONG
def test_killed_mid_extraction_then_rerun_gives_identical_landing_and_marts(
    tmp_path: Path, reference
) -> None:
    with crash_pipeline(tmp_path / "data", faults=LATENCY) as e:
        kill_mid_extraction(e)
        _rerun_and_compare(e, reference)


@pytest.mark.slow
@LONG
@pytest.mark.parametrize("min_wal", [1, 64 * 1024], ids=["first WAL write", "64 KiB of WAL"])
def test_killed_mid_dbt_build_then_rerun_gives_identical_marts(
    tmp_path: Path, reference, min_wal: int
) -> None:
    with crash_pipeline(tmp_path / "data") as e:
        kill_mid_dbt(e, min_wal)
        _rerun_and_compare(e, reference)


@pytest.mark.slow
@LONG
def test_killed_recon_process_with_its_dbt_orphaned_then_rerun_gives_identical_marts(
    tmp_path: Path, reference
) -> None:
    """`kill -9 <recon pid>` only: dbt keeps running as an orphan while the next run starts."""
    with crash_pipeline(tmp_path / "data") as e:
        w, dbt = start_and_wait_for_dbt(e)
        time.sleep(1.0)
        os.kill(w.proc.pid, signal.SIGKILL)
        w.proc.wait(30)
        try:
            _rerun_and_compare(e, reference)
        finally:
            for pid in dbt:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
