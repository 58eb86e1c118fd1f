"""What a warm worker would save: an empty day's `dbt build`, cold (as recon runs it) and warm.

Issue 23 asks for a fixed cost (an empty day, all steps) of at most 5 s. recon runs dbt as a subprocess
through dagster-dbt, in a fresh process per scheduled run, so every build pays dbt's imports, the
adapter, loading the partial-parse manifest and validating the project before its first node. This
measures how much of an empty day's build that is, in one run, on the same empty landing:

  cold   `dbt build` as a child process, as recon and bench/scale/harness.py run it (after one
         `dbt parse`, so every timed build uses the partial parse a daily run uses);
  warm   `dbtRunner(manifest=...).invoke(["build", ...])` in this process, dbt imported and the
         project parsed once beforehand: what a long-lived worker that keeps dbt loaded would pay.

Both build every model and data test (unit tests excluded, as production builds do) and are
measured alternately. Prints the median wall and CPU seconds of each. This is a measurement for the
team's decision (a warm worker is an architecture change), not a code path recon uses.

    .venv/bin/python -m bench.warm_dbt            # 4 builds each
    .venv/bin/python -m bench.warm_dbt --runs 6
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.scale.harness import DBT_PROJECT, DEFAULT_DAY, dbt_vars_for, parse_cmd, recon_cmd


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def measure(runs: int, work: Path) -> dict[str, list[tuple[float, float]]]:
    """`runs` cold and `runs` warm empty-day builds, alternated: (wall s, CPU s) each."""
    (work / "empty_landing").mkdir(parents=True, exist_ok=True)
    os.environ.update(
        RECON_LANDING_DIR=str(work / "empty_landing"),
        RECON_WAREHOUSE_PATH=str(work / "warm.duckdb"),
        RECON_DUCKDB_MEMORY_LIMIT="2GB",
        RECON_DBT_THREADS="2",
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
    )

    day_vars = dbt_vars_for(DEFAULT_DAY)
    # the harness's build and parse commands; cold and warm keep their own target and log dirs
    cold_build, warm_build = (recon_cmd(work / kind, day_vars) for kind in ("cold", "warm"))

    # in-process dbt-duckdb keeps its connection open between invocations: the cold builds get their own file
    cold_env = {**os.environ, "RECON_WAREHOUSE_PATH": str(work / "cold.duckdb")}
    # then every timed build re-uses the partial parse and finds its tables
    for cmd in (parse_cmd(work / "cold", day_vars), cold_build):
        subprocess.run(cmd, check=True, capture_output=True, cwd=DBT_PROJECT, env=cold_env)

    from dbt.cli.main import dbtRunner  # the warm worker's one-time cost: not timed

    parsed = dbtRunner().invoke([*parse_cmd(work / "warm", day_vars)[1:], "--quiet"])
    if not parsed.success:
        raise SystemExit(f"dbt parse failed in process: {parsed.exception}")
    manifest = parsed.result
    if not dbtRunner(manifest=manifest).invoke([*warm_build[1:], "--quiet"]).success:
        raise SystemExit("the first warm dbt build failed")
    out: dict[str, list[tuple[float, float]]] = {"cold": [], "warm": []}
    for i in range(runs):
        cpu0, t0 = _children_cpu(), time.perf_counter()
        proc = subprocess.run(
            cold_build,
            check=False,
            capture_output=True,
            text=True,
            cwd=DBT_PROJECT,
            env=cold_env,
        )
        out["cold"].append((time.perf_counter() - t0, _children_cpu() - cpu0))
        if proc.returncode != 0:
            raise SystemExit(f"cold dbt build failed ({proc.returncode}):\n{proc.stdout[-2000:]}")
        if "partial parsing" in proc.stdout.lower():  # "Unable to do partial parsing", "Partial parsing: ..."
            raise SystemExit(f"cold build {i + 1} re-parsed the project, so it times more than a daily build")
        cpu0, t0 = time.process_time(), time.perf_counter()
        res = dbtRunner(manifest=manifest).invoke([*warm_build[1:], "--quiet"])
        out["warm"].append((time.perf_counter() - t0, time.process_time() - cpu0))
        if not res.success:
            raise SystemExit(f"warm dbt build failed: {res.exception}")
        print(
            f"build {i + 1}/{runs}: cold {out['cold'][-1][0]:.2f} s, warm {out['warm'][-1][0]:.2f} s",
            file=sys.stderr,
            flush=True,
        )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.warm_dbt", description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=4)
    args = ap.parse_args(argv)
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="recon-warm-dbt-") as tmp:
        out = measure(args.runs, Path(tmp))
    print(f"empty-day dbt build, {args.runs} each, load {load[0]:.1f} -> {os.getloadavg()[0]:.1f}")
    for kind, label in (
        ("cold", "cold (a dbt process per build)"),
        ("warm", "warm (dbt loaded, parsed once)"),
    ):
        walls, cpus = zip(*out[kind], strict=True)
        print(
            f"  {label:32} wall {statistics.median(walls):5.2f} s (all {', '.join(f'{w:.2f}' for w in walls)})"
            f"   CPU {statistics.median(cpus):5.2f} s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
