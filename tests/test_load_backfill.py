"""Load: many daily partitions in one run with bounded memory; the same partition twice, and twice at
once, holds identical content (no new batch: the same answers add no rows) and identical marts.

Everything is real: `recon run` as a child process (Dagster + dbt on a DuckDB file) against the
sandbox gateway over loopback HTTP and a SQLite app database. Memory is measured two ways and
checked against a generous bound (a bound, not a timing): the peak RSS of the largest single process
(``ru_maxrss`` of the run's waited-for processes, dbt included) and the peak of the whole process
tree's summed RSS, sampled from /proc every 0.1 s.

- `test_backfill_60_days_*`: 60 partitions, always run (slow).
- `test_backfill_a_year_*`: 365 partitions (2025-01-01..2025-12-31); several minutes, so it runs only
  with ``RECON_LONG=1``.
"""

import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pytest
from recon_pipeline import FOLDERS_PER_DAY, REPO, Env, batch_files, held_content, marts, pipeline

RSS_BOUND_BYTES = int(1.5 * 2**30)  # generous: a year of small days must not scale memory with days


def recon_run(e: Env, first: date, last: date, config: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        e.cmd(first, last, config),
        cwd=REPO,
        env=e.env,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )


def _tree_rss(pid: int) -> int:
    """Sum of the resident set sizes of `pid` and all its descendants now, from /proc (bytes)."""
    parent: dict[int, int] = {}
    rss: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text().rsplit(")", 1)[1].split()
            parent[int(d.name)] = int(stat[1])
            rss[int(d.name)] = int(stat[21]) * resource.getpagesize()
        except (OSError, IndexError, ValueError):
            continue
    tree, todo = {pid}, [pid]
    while todo:
        cur = todo.pop()
        for child, ppid in parent.items():
            if ppid == cur and child not in tree:
                tree.add(child)
                todo.append(child)
    return sum(rss.get(p, 0) for p in tree)


def run_measured(e: Env, first: date, last: date) -> tuple[subprocess.CompletedProcess, int, int]:
    """`recon run` under a wrapper that reports its children's peak RSS (ru_maxrss: the largest single
    process, dbt included), while this thread samples the whole tree's summed RSS every 0.1 s."""
    wrapper = (
        "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
        "print('peak-rss-kib', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
        "sys.exit(r.returncode)"
    )
    cmd = [
        sys.executable,
        "-c",
        wrapper,
        sys.executable,
        "-m",
        "orchestration.cli",
        "run",
        "--config",
        str(e.config_path),
        "--start",
        first.isoformat(),
        "--end",
        last.isoformat(),
        "--as-of",
        e.as_of.isoformat(),
    ]
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=e.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peak_tree = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_tree
        while not done.is_set():
            peak_tree = max(peak_tree, _tree_rss(proc.pid))
            done.wait(0.1)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    out, err = proc.communicate(timeout=3600)
    done.set()
    t.join()
    single = int(err.rsplit("peak-rss-kib", 1)[1].split()[0]) * 1024
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err), single, peak_tree


def _backfill(tmp_path: Path, days: int, end: date) -> None:
    with pipeline(tmp_path / "data", end=end, days=days, jobs_per_day=4) as e:
        t0 = time.monotonic()
        p, single, tree = run_measured(e, e.first, e.last)
        took = time.monotonic() - t0
    assert p.returncode == 0, p.stderr[-3000:]
    print(
        f"\nbackfill of {days} days: {took:.1f}s, peak RSS of one process {single / 2**20:.0f} MiB, "
        f"of the whole process tree {tree / 2**20:.0f} MiB"
    )
    assert 0 < single <= tree < RSS_BOUND_BYTES, (single, tree)
    landing = e.data_dir / "landing"
    for record in ("usage_records", "gateway_tasks", "app_jobs", "app_assets"):
        parts = sorted(d.name for d in (landing / record).iterdir())
        assert len(parts) == days, f"{record}: {len(parts)} partitions, expected {days}"
    assert not [p for p in landing.rglob("*.tmp")], "temp files left in landing"
    con = duckdb.connect(str(e.data_dir / "warehouse.duckdb"), read_only=True)
    try:
        first, last, n = con.execute(
            "select min(created_at)::date, max(created_at)::date, count(*) from stg_raw__usage_records"
        ).fetchone()
    finally:
        con.close()
    assert (first, last) == (e.first, e.last) and n > days


@pytest.mark.slow
def test_backfill_60_days_in_one_run_with_bounded_memory(tmp_path: Path) -> None:
    _backfill(tmp_path, 60, date(2025, 3, 1))


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("RECON_LONG") != "1", reason="a year of partitions: set RECON_LONG=1")
def test_backfill_a_year_in_one_run_with_bounded_memory(tmp_path: Path) -> None:
    _backfill(tmp_path, 365, date(2025, 12, 31))


@dataclass
class Reference:
    env: Env
    landing: dict[str, list[tuple]]
    marts: dict[str, list[tuple]]
    batches: list[str]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Iterator[Reference]:
    """One uninterrupted run of the last partition of a 2-day scenario (its sandbox kept serving)."""
    d = tmp_path_factory.mktemp("reference")
    with pipeline(d / "data", end=date(2026, 11, 20), days=2, jobs_per_day=15) as e:
        p = recon_run(e, e.last, e.last)
        assert p.returncode == 0, p.stderr[-3000:]
        ref = Reference(e, held_content(e.data_dir), marts(e.data_dir), batch_files(e.data_dir))
        assert sum(len(v) for v in ref.marts.values()) > 0 and len(ref.landing) == FOLDERS_PER_DAY
        yield ref


@pytest.mark.slow
def test_same_partition_three_times_holds_the_same_rows_and_gives_identical_marts(
    reference: Reference,
) -> None:
    e = reference.env
    for _ in range(2):  # the same partition again, over the first run's files
        p = recon_run(e, e.last, e.last)
        assert p.returncode == 0, p.stderr[-3000:]
        assert held_content(e.data_dir) == reference.landing
        assert batch_files(e.data_dir) == reference.batches  # the same answers add no rows
        assert marts(e.data_dir) == reference.marts


@pytest.mark.slow
def test_same_partition_run_concurrently_gives_identical_outputs(
    tmp_path: Path, reference: Reference
) -> None:
    with pipeline(tmp_path / "data", end=date(2026, 11, 20), days=2, jobs_per_day=15) as e:
        cmd = [
            sys.executable,
            "-m",
            "orchestration.cli",
            "run",
            "--config",
            str(e.config_path),
            "--start",
            e.last.isoformat(),
            "--as-of",
            e.as_of.isoformat(),
        ]
        procs = [
            subprocess.Popen(
                cmd, cwd=REPO, env=e.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for _ in range(2)
        ]
        outs = [p.communicate(timeout=900) for p in procs]
        for p, (_, err) in zip(procs, outs, strict=False):
            assert p.returncode == 0, err[-3000:]
        # same work started together: one waited for the other's warehouse lock, and said so
        assert any("in use by another run; waiting" in err for _, err in outs)
        # a separate data dir, a separate sandbox: the same held rows and marts as the single run
        assert held_content(e.data_dir) == reference.landing
        assert marts(e.data_dir) == reference.marts
