"""SIGTERM / SIGINT during extraction (issue 17 item 4) and during the dbt build: `recon run` stops within seconds with a
non-zero exit and one line naming the signal, and nothing half landed. Before, the signal was
swallowed inside the extraction's event loop and the run went on for a minute and exited 0.

A real child `recon run` against the sandbox slowed to 400 ms a page, signalled once its usage
extraction is in flight (the first progress line of a gateway day)."""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from recon_pipeline import REPO, pipeline

from orchestration.sandbox.faults import Faults

pytestmark = pytest.mark.slow


@dataclass
class Stopped:
    returncode: int
    took: float  # seconds from the signal to the exit
    err: str
    out: str


def run_and_signal(e, sig: signal.Signals, stream: str, pattern: str) -> Stopped:
    """Start `recon run --verbose` for the pipeline `e`, send `sig` once a line of `stream` ("stdout" or
    "stderr") matches `pattern`, and wait for the exit (killed after 120 s). Both streams are read in
    threads so neither pipe fills up."""
    p = subprocess.Popen(
        [*e.cmd(), "--verbose"],
        cwd=REPO,
        env=e.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    lines: dict[str, list[str]] = {"stdout": [], "stderr": []}
    seen = threading.Event()

    def read(name: str) -> None:
        for line in getattr(p, name):
            lines[name].append(line)
            if name == stream and re.search(pattern, line):
                seen.set()

    readers = [threading.Thread(target=read, args=(n,), daemon=True) for n in lines]
    for r in readers:
        r.start()
    try:
        assert seen.wait(600), ("".join(lines["stderr"]) + "".join(lines["stdout"]))[-3000:]
        t0 = time.monotonic()
        p.send_signal(sig)
        p.wait(timeout=120)
        took = time.monotonic() - t0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    for r in readers:
        r.join(10)
    return Stopped(p.returncode, took, "".join(lines["stderr"]), "".join(lines["stdout"]))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_during_extraction_stops_the_run_promptly_and_lands_nothing_half(
    tmp_path: Path, sig
) -> None:
    with pipeline(
        tmp_path / "data", end=date(2026, 11, 20), days=3, jobs_per_day=20, faults=Faults(latency_ms=1200)
    ) as e:
        # --verbose: the pager's progress lines (what the test waits on) show at INFO, not in the quiet default
        r = run_and_signal(e, sig, "stderr", r"(?=.* usage 2026-11-1)(?=.*windows )")
        assert r.returncode != 0, r.err[-3000:]
        assert r.took < 30, f"took {r.took:.1f}s to stop"  # before: about a minute, then exit 0
        last = r.err.strip().splitlines()[-1]
        assert last.startswith("recon: run failed (2026-11-18..2026-11-20): step raw__usage_records failed: ")
        assert f"extraction stopped by {sig.name}" in last
        landing = e.data_dir / "landing"
        leftovers = [f for f in landing.rglob("*") if f.is_file() and not f.name.endswith(".parquet")]
        assert leftovers == []  # no temp file of a half-written partition
        for f in landing.rglob("*.parquet"):
            pq.read_table(f)  # every file that landed is whole
        assert not (e.data_dir / "reports").exists()  # the run stopped: no dbt, no report


def _dbt_processes(data_dir: Path) -> list[int]:
    """Pids of live dbt processes building this data dir (its warehouse path is in their environment)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if any(a.endswith(b"/dbt") or a == b"dbt" for a in cmdline[:2]) and str(data_dir).encode() in environ:
            found.append(int(proc.name))
    return found


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_during_the_dbt_build_fails_the_run_promptly_and_stops_dbt(tmp_path: Path, sig) -> None:
    """Once extraction is done a signal used to be swallowed: dbt went on and `recon run` exited 0 with
    a report. Now it stops the build (no dbt process left), names the signal and exits non-zero."""
    with pipeline(tmp_path / "data", end=date(2026, 11, 20), days=2, jobs_per_day=10) as e:
        # --verbose: dbt's own log is echoed to stdout, where the test waits for its first node
        r = run_and_signal(e, sig, "stdout", r"\b1 of \d+ START\b")
        assert r.returncode != 0, r.err[-3000:]
        assert r.took < 30, f"took {r.took:.1f}s to stop"
        last = r.err.strip().splitlines()[-1]
        assert last.startswith("recon: run failed (2026-11-19..2026-11-20): "), last
        assert f"stopped by {sig.name}" in last, last
        assert not (e.data_dir / "reports").exists()  # no report from a build that did not finish
        assert _dbt_processes(e.data_dir) == []  # dbt stopped with the run, no orphan
