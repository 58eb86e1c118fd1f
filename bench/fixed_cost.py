"""The fixed cost of a run: `recon run` for one empty UTC day, end to end, as a user starts it.

Serves the demo's sandbox gateway (and writes its app DB and config) in a temp data dir, then runs
`recon run --config ... --start DAY --as-of T` as a child process several times for a day the
scenario has no data for, each time with a different `--as-of` (a scheduled run's clock moves on).
Every run pays the Python imports, the Dagster job, extraction of an empty day, a whole `dbt build`
(dbt's parse included) and the report. Prints each run's wall time, the spread, and whether dbt had
to re-parse the project from scratch ("Unable to do partial parsing" in the run's dbt log), the CPU
seconds of the run's whole process tree (user + sys, which move less with the machine's load than wall
time), and where the wall time went, from the timestamps of the build's own dbt log
(`dbt_project/target/recon_dbt_models-*/dbt.log`):

  before dbt   recon's imports, the definitions, preflight, the Dagster instance, extraction
  dbt start    the dbt process starting: Python, dbt's imports, the adapter (until its first log line)
  dbt parse    profile and project, the partial parse, the graph (until the first node starts)
  dbt nodes    every model and data test (first node started .. last node finished)
  dbt finish   dbt writing its artifacts (manifest.json, run_results.json) until its last log line
  after dbt    dbt's exit, the Dagster events not yet handled, the report, the summary

    .venv/bin/python -m bench.fixed_cost            # 4 runs
    .venv/bin/python -m bench.fixed_cost --runs 6

The first run of a fresh data dir builds every table from nothing; the rest are the steady state.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from orchestration.demo import demo_environment
from orchestration.terminal import dbt_log_path

FULL_REPARSE = "Unable to do partial parsing"
DBT_TARGET = Path(__file__).resolve().parents[1] / "dbt_project" / "target"
PHASES = ("before dbt", "dbt start", "dbt parse", "dbt nodes", "dbt finish", "after dbt")


@dataclass
class Run:
    wall: float
    cpu: float
    reparsed: bool
    phases: dict[str, float]


def _ts(event: dict) -> float:
    return datetime.fromisoformat(event["info"]["ts"]).timestamp()


def dbt_phases(started: float, ended: float) -> dict[str, float]:
    """The run's wall time split at its dbt build's launch (dagster-dbt copies partial_parse.msgpack into
    the build's own target dir just before it starts dbt), first log line, first and last node, and exit."""
    builds = [d for d in DBT_TARGET.glob("recon_dbt_models-*") if d.stat().st_mtime >= started]
    if not builds:
        return {}
    build = max(builds, key=lambda d: d.stat().st_mtime)
    msgpack = build / "partial_parse.msgpack"
    events = [
        json.loads(ln)
        for ln in (build / "dbt.log").read_text(encoding="utf-8").splitlines()
        if ln.startswith("{")
    ]
    if not events or not msgpack.exists():
        return {}
    nodes = [e for e in events if e["info"]["name"] in ("NodeStart", "NodeFinished")]
    first_log, done = _ts(events[0]), _ts(events[-1])
    # a full re-parse rewrites the file after dbt started: then the launch is unknown (counted as before dbt)
    launched = min(msgpack.stat().st_mtime, first_log)
    first_node = _ts(nodes[0]) if nodes else done
    last_node = _ts(nodes[-1]) if nodes else done
    return dict(
        zip(
            PHASES,
            (
                launched - started,
                first_log - launched,
                first_node - first_log,
                last_node - first_node,
                done - last_node,
                ended - done,
            ),
            strict=True,
        )
    )


def one_run(config: Path, day: str, as_of: datetime, env: dict[str, str], warehouse: Path) -> Run:
    """One `recon run` child process: wall and CPU seconds, whether its dbt build re-parsed from scratch,
    and its phases."""
    cmd = [
        str(Path(sys.executable).parent / "recon"),
        "run",
        "--config",
        str(config),
        "--start",
        day,
        "--as-of",
        as_of.isoformat(),
    ]
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    started, t0 = time.time(), time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall, ended = time.perf_counter() - t0, time.time()
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"recon run failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    log = dbt_log_path(warehouse).read_text(encoding="utf-8", errors="replace")
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return Run(wall, cpu, FULL_REPARSE in log, dbt_phases(started, ended))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=4)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="recon-fixed-cost-") as tmp:
        data_dir = Path(tmp) / "data"
        end = datetime.now(UTC).date() - timedelta(days=1)
        with demo_environment(data_dir, days=1, seed=7, end=end) as setup:
            empty_day = (setup.first - timedelta(days=10)).isoformat()  # before the scenario: nothing served
            env = {**os.environ, **setup.env}
            env.pop("DAGSTER_HOME", None)
            warehouse = data_dir / "warehouse.duckdb"
            runs: list[Run] = []
            for i in range(args.runs):
                as_of = datetime.fromisoformat(f"{empty_day}T00:00:00+00:00") + timedelta(
                    days=1, hours=6, minutes=i
                )
                run = one_run(setup.config_path, empty_day, as_of, env, warehouse)
                runs.append(run)
                split = "  ".join(f"{k} {v:.1f}" for k, v in run.phases.items())
                print(
                    f"run {i + 1}: {run.wall:6.2f} s wall, {run.cpu:5.1f} CPU-s  as of {as_of.isoformat()}  "
                    f"{'FULL RE-PARSE' if run.reparsed else 'partial parse'}  [{split}]  "
                    f"load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
    walls = [r.wall for r in runs]
    steady = runs[1:] or runs
    steady_walls = [r.wall for r in steady]
    print(f"first run (fresh data dir): {walls[0]:.2f} s")
    print(
        f"steady state: median {statistics.median(steady_walls):.2f} s, min {min(steady_walls):.2f} s, "
        f"max {max(steady_walls):.2f} s over {len(steady)} run(s); target < 5 s "
        f"(ratio {statistics.median(steady_walls) / 5.0:.2f} of the target); "
        f"CPU median {statistics.median(r.cpu for r in steady):.1f} CPU-s"
    )
    if all(r.phases for r in steady):
        print(
            "steady-state phases (median s): "
            + ", ".join(f"{k} {statistics.median(r.phases[k] for r in steady):.1f}" for k in PHASES)
        )
    print(
        f"load average while measuring: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
        f"on {os.cpu_count()} CPU(s)"
    )


if __name__ == "__main__":
    main()
