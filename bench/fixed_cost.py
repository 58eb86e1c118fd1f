"""The fixed cost of a run: `recon run` for one empty UTC day, end to end, as a user starts it.

Serves the demo's sandbox gateway (and writes its app DB and config) in a temp data dir, then runs
`recon run --config ... --start DAY --as-of T` as a child process several times for a day the
scenario has no data for, each time with a different `--as-of` (a scheduled run's clock moves on).
Every run pays the Python imports, the Dagster job, extraction of an empty day, a whole `dbt build`
(dbt's parse included) and the report. Prints each run's wall time, the spread, and whether dbt had
to re-parse the project from scratch ("Unable to do partial parsing" in the run's dbt log).

    .venv/bin/python -m bench.fixed_cost            # 4 runs
    .venv/bin/python -m bench.fixed_cost --runs 6

The first run of a fresh data dir builds every table from nothing; the rest are the steady state.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from orchestration.demo import demo_environment
from orchestration.terminal import dbt_log_path

FULL_REPARSE = "Unable to do partial parsing"


def one_run(config: Path, day: str, as_of: datetime, env: dict[str, str], warehouse: Path) -> tuple[float, bool]:
    """Wall seconds of one `recon run` child process, and whether its dbt build re-parsed from scratch."""
    cmd = [str(Path(sys.executable).parent / "recon"), "run", "--config", str(config), "--start", day,
           "--as-of", as_of.isoformat()]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"recon run failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    log = dbt_log_path(warehouse).read_text(encoding="utf-8", errors="replace")
    return wall, FULL_REPARSE in log


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
            walls: list[float] = []
            for i in range(args.runs):
                as_of = datetime.fromisoformat(f"{empty_day}T00:00:00+00:00") + timedelta(days=1, hours=6, minutes=i)
                wall, reparsed = one_run(setup.config_path, empty_day, as_of, env, warehouse)
                walls.append(wall)
                print(f"run {i + 1}: {wall:6.2f} s  as of {as_of.isoformat()}  "
                      f"{'FULL RE-PARSE' if reparsed else 'partial parse'}", flush=True)
    steady = walls[1:] or walls
    print(f"first run (fresh data dir): {walls[0]:.2f} s")
    print(f"steady state: median {statistics.median(steady):.2f} s, min {min(steady):.2f} s, "
          f"max {max(steady):.2f} s over {len(steady)} run(s); target < 5 s "
          f"(ratio {statistics.median(steady) / 5.0:.2f} of the target)")
    print(f"load average while measuring: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} CPU(s)")


if __name__ == "__main__":
    main()
