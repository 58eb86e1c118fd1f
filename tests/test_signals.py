"""SIGTERM / SIGINT during extraction (issue 17 item 4): `recon run` stops within seconds with a
non-zero exit and one line naming the signal, and nothing half landed. Before, the signal was
swallowed inside the extraction's event loop and the run went on for a minute and exited 0.

A real child `recon run` against the sandbox slowed to 400 ms a page, signalled once its usage
extraction is in flight (the first progress line of a gateway day)."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from recon_pipeline import REPO, pipeline

from orchestration.sandbox.faults import Faults

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_during_extraction_stops_the_run_promptly_and_lands_nothing_half(
    tmp_path: Path, sig
) -> None:
    with pipeline(
        tmp_path / "data", end=date(2026, 11, 20), days=3, jobs_per_day=20, faults=Faults(latency_ms=1200)
    ) as e:
        # --verbose: the pager's progress lines (what the test waits on) show at INFO, not in the quiet default
        p = subprocess.Popen(
            [*e.cmd(), "--verbose"],
            cwd=REPO,
            env=e.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        err: list[str] = []
        in_flight = threading.Event()

        def read() -> None:
            for line in p.stderr:
                err.append(line)
                if " usage 2026-11-1" in line and "windows " in line:
                    in_flight.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            assert in_flight.wait(600), "".join(err)[-3000:]
            t0 = time.monotonic()
            p.send_signal(sig)
            p.wait(timeout=120)
            took = time.monotonic() - t0
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        reader.join(10)
        text = "".join(err)
        assert p.returncode != 0, text[-3000:]
        assert took < 30, f"took {took:.1f}s to stop"  # before: about a minute, then exit 0
        last = text.strip().splitlines()[-1]
        assert last.startswith("recon: run failed (2026-11-18..2026-11-20): step raw__usage_records failed: ")
        assert f"extraction stopped by {sig.name}" in last
        landing = e.data_dir / "landing"
        leftovers = [f for f in landing.rglob("*") if f.is_file() and not f.name.endswith(".parquet")]
        assert leftovers == []  # no temp file of a half-written partition
        for f in landing.rglob("*.parquet"):
            pq.read_table(f)  # every file that landed is whole
        assert not (e.data_dir / "reports").exists()  # the run stopped: no dbt, no report
