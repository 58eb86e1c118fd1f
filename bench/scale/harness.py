"""Scale benchmark harness: recon's real `dbt build` vs the floor (one DuckDB query) vs naive pandas.

    .venv/bin/python -m bench.scale.harness --scales 1000000,10000000 [--runs 3]

Per scale: generate the day (bench/scale/generate.py), then run every contender `--runs` times in a
child process on the same landing Parquet, watched for memory (a child whose resident memory passes
`--mem-cap-gib` is killed and reported as out of memory at that size). Per run: wall time, CPU time
(user + sys of the child and its children, from wait4) and peak RSS (the child's ru_maxrss). recon's
fixed cost is the same build on an empty landing dir; its variable part is the median minus that.
recon's dbt always sees one landing path per scale (a symlink swapped between the empty and the full
day), so no timed build re-parses the project, as a daily run keeps one landing dir; each run records
whether dbt re-parsed anyway (`reparsed_runs`).
The first run's output of each contender is checked against the generator's truth and the other
contenders (set of (mismatch_type, job_id, task_id, request_id, amount rounded to 6 places) and each
job's settlement status): any difference voids the scale's figures. Results go to
`bench/results/scale-<scales>.json` and `.md`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from bench.scale.generate import DEFAULT_DAY, dbt_vars_for
from bench.scale.rules import DBT_PROJECT

PRODUCTION_ONLY_FLAGS = ("--exclude-resource-type", "unit_test")

ROOT = Path(__file__).resolve().parents[2]
DBT_BIN = Path(sys.executable).with_name("dbt")
CONTENDERS = ("recon", "floor", "naive")
GIB = 1024**3


@dataclass
class Run:
    wall_s: float
    cpu_s: float
    peak_rss_mib: float
    status: str = "ok"  # ok | oom | failed
    note: str = ""
    reparsed: bool = False  # recon: dbt re-parsed part of the project in this run (production does not)
    tables_before: int | None = None  # recon: tables the warehouse held when the timed build started


@dataclass
class Figures:
    contender: str
    runs: list[Run] = field(default_factory=list)

    @property
    def ok(self) -> list[Run]:
        return [r for r in self.runs if r.status == "ok"]

    def summary(self) -> dict:
        ok = self.ok
        if not ok:
            bad = self.runs[0] if self.runs else None
            return {"status": bad.status if bad else "not run", "note": bad.note if bad else ""}
        return {
            "status": "ok",
            "runs": len(ok),
            "wall_s_median": round(statistics.median(r.wall_s for r in ok), 3),
            "wall_s_all": [round(r.wall_s, 3) for r in ok],
            "cpu_s_median": round(statistics.median(r.cpu_s for r in ok), 3),
            "peak_rss_mib_max": round(max(r.peak_rss_mib for r in ok), 1),
            "reparsed_runs": sum(r.reparsed for r in ok),
            **(
                {"tables_before_min": min(r.tables_before for r in ok)}
                if all(r.tables_before is not None for r in ok)
                else {}
            ),
        }


# ---- child processes -----------------------------------------------------------------------------
def _tree_rss_bytes(pid: int) -> int:
    """Resident memory of `pid` and its descendants (Linux /proc)."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    stack.extend(int(c) for c in fh.read().split())
        except (OSError, ValueError):
            continue
    return total


def run_child(
    cmd: list[str], *, env: dict | None = None, cwd: Path | None = None, mem_cap_gib: float, log: Path
) -> Run:
    """Run `cmd`, polling its memory; kill its process group past the cap. Figures from wait4."""
    cap = mem_cap_gib * GIB
    started = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(
            cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    seen_peak, killed = 0, False
    try:
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            rss = _tree_rss_bytes(proc.pid)
            seen_peak = max(seen_peak, rss)
            if rss > cap and not killed:
                killed = True
                os.killpg(proc.pid, signal.SIGKILL)
            time.sleep(0.05)
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    peak = max(ru.ru_maxrss * 1024, seen_peak)
    r = Run(wall_s=wall, cpu_s=ru.ru_utime + ru.ru_stime, peak_rss_mib=peak / 2**20)
    if killed:
        r.status, r.note = "oom", f"out of memory at {cap / GIB:.1f} GiB (killed after {wall:.1f} s)"
    elif proc.returncode != 0:
        text = log.read_text(errors="replace")
        if "MemoryError" in text or "Out of Memory" in text:
            r.status, r.note = "oom", f"out of memory: {text.strip().splitlines()[-1][:200]}"
        else:
            r.status, r.note = "failed", f"exit {proc.returncode}: {text.strip()[-600:]}"
    return r


def recon_cmd(work: Path, day_vars: dict) -> list[str]:
    return [
        str(DBT_BIN),
        "build",
        "--project-dir",
        str(DBT_PROJECT),
        "--profiles-dir",
        str(DBT_PROJECT),
        "--target-path",
        str(work / "dbt_target"),
        "--log-path",
        str(work / "dbt_logs"),
        "--vars",
        json.dumps(day_vars),
        # as recon's own build does (orchestration/assets/dbt.py build_args): unit tests run in CI,
        # not in every production build; tests/test_bench_scale.py keeps the two in step
        *PRODUCTION_ONLY_FLAGS,
    ]


def parse_cmd(work: Path, day_vars: dict) -> list[str]:
    """`dbt parse` with recon_cmd's project, paths and vars: it writes the partial parse the builds reuse."""
    build = recon_cmd(work, day_vars)
    return [build[0], "parse", *build[2 : -len(PRODUCTION_ONLY_FLAGS)]]


def point_landing(link: Path, target: Path) -> Path:
    """Point the scale's one landing path at `target` (the day or the empty landing) and return it.

    dbt renders RECON_LANDING_DIR into the raw sources, so a build whose landing path differs from the
    last build's re-parses them (~2 CPU-s): a daily `recon run` keeps one landing dir and never pays
    that. The harness therefore gives dbt one path per scale, a symlink swapped atomically between runs."""
    tmp = link.with_name(f".{link.name}.tmp")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target.resolve(), target_is_directory=True)
    os.replace(tmp, link)
    return link


def partial_parse_state(work: Path) -> int | None:
    """The partial-parse file's mtime (ns): dbt rewrites it only when a build had something to re-parse."""
    try:
        return (work / "dbt_target" / "partial_parse.msgpack").stat().st_mtime_ns
    except FileNotFoundError:
        return None


def recon_env(landing: Path, warehouse: Path, memory_limit: str, threads: int) -> dict:
    return {
        **os.environ,
        "RECON_LANDING_DIR": str(landing),
        "RECON_WAREHOUSE_PATH": str(warehouse),
        "RECON_DUCKDB_MEMORY_LIMIT": memory_limit,
        "RECON_DBT_THREADS": str(threads),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


def table_count(warehouse: Path) -> int:
    """Tables in the DuckDB file (read-only, closed before the timed build opens it)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute("select count(*) from duckdb_tables()").fetchone()[0]
    finally:
        con.close()


def fresh_warehouse(warehouse: Path) -> None:
    for p in (warehouse, Path(f"{warehouse}.wal"), Path(f"{warehouse}.tmp")):
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink(missing_ok=True)


def export_recon(warehouse: Path, out: Path) -> None:
    """The recon marts in the contenders' common result shape (not timed)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        con.execute(f"""
            copy (
                select 'finding' as kind, mismatch_type, job_id, task_id, request_id,
                    round(cast(amount_usd as double), 6) as amount_usd, cast(null as varchar) as settlement_status
                from fct_reconciliation_mismatches
                union all
                select 'settlement', null, job_id, null, null, null, settlement_status from fct_settlements
            ) to '{out}' (format parquet)""")
    finally:
        con.close()


def dbt_profile(work: Path, top: int = 8) -> list[dict]:
    """The slowest nodes of the last dbt run (run_results.json)."""
    path = work / "dbt_target" / "run_results.json"
    if not path.exists():
        return []
    results = json.loads(path.read_text())["results"]
    nodes = sorted(results, key=lambda r: -r.get("execution_time", 0))[:top]
    return [
        {"node": r["unique_id"].split(".", 2)[-1], "seconds": round(r["execution_time"], 2)} for r in nodes
    ]


# ---- correctness ---------------------------------------------------------------------------------
def compare(a: Path, b: Path | tuple[Path, Path]) -> dict:
    """Rows of `a` not in `b` and of `b` not in `a` (multisets), findings and settlements apart.
    `b` may be the generator's truth (findings.parquet, settlements.parquet)."""
    con = duckdb.connect()
    try:
        con.execute(
            f"create view a_f as select mismatch_type, job_id, task_id, request_id, amount_usd "
            f"from read_parquet('{a}') where kind = 'finding'"
        )
        con.execute(
            f"create view a_s as select job_id, settlement_status from read_parquet('{a}') "
            f"where kind = 'settlement'"
        )
        if isinstance(b, tuple):
            con.execute(
                f"create view b_f as select mismatch_type, job_id, task_id, request_id, "
                f"round(amount_usd, 6) as amount_usd from read_parquet('{b[0]}')"
            )
            con.execute(f"create view b_s as select job_id, settlement_status from read_parquet('{b[1]}')")
        else:
            con.execute(
                f"create view b_f as select mismatch_type, job_id, task_id, request_id, amount_usd "
                f"from read_parquet('{b}') where kind = 'finding'"
            )
            con.execute(
                f"create view b_s as select job_id, settlement_status from read_parquet('{b}') "
                f"where kind = 'settlement'"
            )
        out = {}
        for name, x, y in (("findings", "a_f", "b_f"), ("settlements", "a_s", "b_s")):
            only_a = con.execute(
                f"select count(*) from (select * from {x} except all select * from {y})"
            ).fetchone()[0]
            only_b = con.execute(
                f"select count(*) from (select * from {y} except all select * from {x})"
            ).fetchone()[0]
            out[name] = {"only_first": only_a, "only_second": only_b}
        out["identical"] = all(v["only_first"] == 0 and v["only_second"] == 0 for v in out.values())
        out["findings_rows"] = con.execute("select count(*) from a_f").fetchone()[0]
        out["settlement_rows"] = con.execute("select count(*) from a_s").fetchone()[0]
        return out
    finally:
        con.close()


def check_all(results: dict[str, Path], truth: tuple[Path, Path]) -> dict:
    checks = {}
    for name, path in results.items():
        checks[f"{name} vs truth"] = compare(path, truth)
    names = list(results)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            checks[f"{a} vs {b}"] = compare(results[a], results[b])
    return checks


# ---- the suite -----------------------------------------------------------------------------------
def log(msg: str) -> None:
    print(f"[{datetime.now(UTC).strftime('%H:%M:%S')}] {msg}", flush=True)


def run_scale(
    n: int,
    *,
    work: Path,
    runs: int,
    contenders: list[str],
    mem_cap_gib: float,
    memory_limit: str,
    threads: int,
    day: date = DEFAULT_DAY,
    measure_fixed: bool = True,
    progress=None,
    reuse: bool = False,
) -> dict:
    """One scale: generate, time every contender, check the outputs. `progress(out)` is called with
    the partial figures after each contender (so an interrupted run still leaves its figures)."""
    sdir = work / f"jobs-{n}"
    sdir.mkdir(parents=True, exist_ok=True)
    progress = progress or (lambda _out: None)
    summary = sdir / "summary.json"
    if reuse and summary.exists() and json.loads(summary.read_text()).get("jobs") == n:
        log(f"scale {n:,} jobs: reusing the generated day in {sdir}")
    else:
        log(f"scale {n:,} jobs: generating")
        # in a child: this process stays small, so a forked contender's ru_maxrss is its own
        subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.scale.generate",
                "--jobs",
                str(n),
                "--out",
                str(sdir),
                "--day",
                day.isoformat(),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            cwd=ROOT,
        )
    gen = json.loads(summary.read_text())
    log(f"  generated {sum(gen['rows'].values()):,} rows in {gen['seconds']} s: {gen['rows']}")
    landing, truth = (
        sdir / "landing",
        (sdir / "truth" / "findings.parquet", sdir / "truth" / "settlements.parquet"),
    )
    day_vars = dbt_vars_for(day)
    py = sys.executable
    out: dict = {"jobs": n, "generator": gen, "load_avg_start": os.getloadavg(), "contenders": {}}
    progress(out)
    results: dict[str, Path] = {}
    cmds = {
        "floor": lambda o: [
            py,
            "-m",
            "bench.scale.floor",
            str(landing),
            str(o),
            "--vars",
            json.dumps(day_vars),
            "--memory-limit",
            memory_limit,
            "--threads",
            str(threads),
        ],
        "naive": lambda o: [
            py,
            "-m",
            "bench.scale.naive_pandas",
            str(landing),
            str(o),
            "--vars",
            json.dumps(day_vars),
        ],
    }
    warehouse, first_warehouse = sdir / "warehouse.duckdb", sdir / "warehouse_first_run.duckdb"
    # recon's one landing path: the empty and the full day are swapped behind it (point_landing)
    link = sdir / "landing_in_use"

    def untimed_dbt(cmd: list[str]) -> None:
        subprocess.run(
            cmd,
            env=recon_env(link, warehouse, memory_limit, threads),
            cwd=DBT_PROJECT,
            check=True,
            capture_output=True,
        )

    def steady_warehouse() -> None:
        """A fresh file holding what yesterday's build left: one untimed empty-day build first, so the
        timed build runs as every daily run after the first does (tables there: table models swap in a
        new copy, incremental ones delete and insert), not as the first build into an empty file."""
        fresh_warehouse(warehouse)
        point_landing(link, empty)
        untimed_dbt(recon_cmd(sdir, day_vars))

    def timed_recon(target: Path, log_name: str) -> Run:
        steady_warehouse()
        tables = table_count(warehouse)
        point_landing(link, target)
        before = partial_parse_state(sdir)
        r = run_child(
            recon_cmd(sdir, day_vars),
            env=recon_env(link, warehouse, memory_limit, threads),
            cwd=DBT_PROJECT,
            mem_cap_gib=mem_cap_gib,
            log=sdir / log_name,
        )
        r.reparsed = partial_parse_state(sdir) != before
        r.tables_before = tables
        return r

    if "recon" in contenders:
        # parse once so every timed build uses dbt's partial parse, as a scheduled run does
        point_landing(link, landing)
        untimed_dbt(parse_cmd(sdir, day_vars))
        empty = sdir / "empty_landing"
        empty.mkdir(exist_ok=True)
        fixed = Figures("recon_empty_day")
        for i in range(runs if measure_fixed else 0):
            r = timed_recon(empty, f"recon_empty_{i}.log")
            fixed.runs.append(r)
            log(
                f"  recon (empty day) run {i + 1}: {r.wall_s:.2f} s wall, {r.cpu_s:.2f} s cpu, "
                f"{r.peak_rss_mib:.0f} MiB {r.status} {r.note}{' RE-PARSED' if r.reparsed else ''}"
            )
        if measure_fixed:
            out["contenders"]["recon_empty_day"] = fixed.summary()
            progress(out)
    for name in contenders:
        figs = Figures(name)
        load_before = os.getloadavg()
        for i in range(runs):
            res = sdir / f"result_{name}.parquet"
            res.unlink(missing_ok=True)
            if name == "recon":
                r = timed_recon(landing, f"recon_{i}.log")
                if r.status == "ok" and i == 0:
                    fresh_warehouse(first_warehouse)
                    warehouse.rename(first_warehouse)  # exported after the timed runs
                    results[name] = res
                    out["recon_profile_first_run"] = dbt_profile(sdir)
            else:
                r = run_child(
                    cmds[name](res), cwd=ROOT, mem_cap_gib=mem_cap_gib, log=sdir / f"{name}_{i}.log"
                )
                if r.status == "ok" and i == 0:
                    keep = sdir / f"result_{name}_first.parquet"
                    res.rename(keep)
                    results[name] = keep
            figs.runs.append(r)
            log(
                f"  {name} run {i + 1}/{runs}: {r.wall_s:.2f} s wall, {r.cpu_s:.2f} s cpu, "
                f"{r.peak_rss_mib:.0f} MiB peak {r.status} {r.note}{' RE-PARSED' if r.reparsed else ''}"
            )
            if r.status != "ok":
                break  # an out-of-memory or failed contender is not re-run
        out["contenders"][name] = {
            **figs.summary(),
            "load_avg_before": load_before,
            "load_avg_after": os.getloadavg(),
        }
        out["derived"] = derive(out)
        progress(out)
    log("  checking outputs (truth and each other)")
    spec = {
        "recon_warehouse": str(first_warehouse) if "recon" in results else None,
        "results": {k: str(v) for k, v in results.items()},
        "truth": [str(t) for t in truth],
    }
    (sdir / "check_spec.json").write_text(json.dumps(spec))
    subprocess.run(
        [sys.executable, "-m", "bench.scale.harness", "--check", str(sdir / "check_spec.json")],
        check=True,
        cwd=ROOT,
    )
    out["checks"] = json.loads((sdir / "checks.json").read_text())
    out["identical"] = all(c["identical"] for c in out["checks"].values())
    if not out["identical"]:
        log("  OUTPUTS DIFFER: this scale's figures are void")
    out["load_avg_end"] = os.getloadavg()
    out["derived"] = derive(out)
    progress(out)
    return out


def derive(s: dict) -> dict:
    c = s["contenders"]
    n_m = s["jobs"] / 1e6
    d: dict = {}

    def med(name: str) -> float | None:
        return c.get(name, {}).get("wall_s_median")

    recon, fixed, floor, naive = med("recon"), med("recon_empty_day"), med("floor"), med("naive")
    if recon is not None and fixed is not None:
        d["recon_fixed_s"] = fixed
        d["recon_variable_s"] = round(recon - fixed, 3)
        d["recon_variable_s_per_million_jobs"] = round((recon - fixed) / n_m, 3)
    if recon is not None and floor is not None and fixed is not None:
        d["recon_variable_over_floor"] = round((recon - fixed) / floor, 3)
        d["recon_total_over_floor"] = round(recon / floor, 3)
    if floor is not None:
        d["floor_s_per_million_jobs"] = round(floor / n_m, 3)
    if naive is not None and recon is not None:
        d["naive_over_recon"] = round(naive / recon, 2)
        d["naive_s_per_million_jobs"] = round(naive / n_m, 3)
    elif "naive" in c and c["naive"].get("status") == "oom":
        d["naive_over_recon"] = "naive out of memory"
    if "recon" in c and c["recon"].get("status") == "ok":
        d["recon_peak_rss_gib"] = round(c["recon"]["peak_rss_mib_max"] / 1024, 2)

    def cpu(name: str) -> float | None:
        return c.get(name, {}).get("cpu_s_median")

    # CPU seconds: steadier than wall time on a shared machine
    if cpu("recon") is not None and cpu("recon_empty_day") is not None:
        d["recon_variable_cpu_s"] = round(cpu("recon") - cpu("recon_empty_day"), 3)
        if cpu("floor"):
            d["recon_variable_cpu_over_floor_cpu"] = round(d["recon_variable_cpu_s"] / cpu("floor"), 3)
    if cpu("naive") is not None and cpu("recon"):
        d["naive_cpu_over_recon_cpu"] = round(cpu("naive") / cpu("recon"), 2)
    return d


def growth(scales: list[dict]) -> dict:
    """Time per million jobs from the smallest to the largest scale."""
    scales = [s for s in scales if "derived" in s]
    if len(scales) < 2:
        return {}
    lo, hi = scales[0], scales[-1]
    out = {"from_jobs": lo["jobs"], "to_jobs": hi["jobs"]}
    for key in ("recon_variable_s_per_million_jobs", "floor_s_per_million_jobs", "naive_s_per_million_jobs"):
        a, b = lo["derived"].get(key), hi["derived"].get(key)
        if isinstance(a, float) and isinstance(b, float) and a > 0:
            out[key.replace("_s_per_million_jobs", "_growth_pct")] = round((b / a - 1) * 100, 1)
    return out


TARGETS = """Targets (issue 23): recon variable ≤ 1.5 × floor at 1M and at 10M; naive ≥ 3 × recon at 1M (pandas
runs out of memory at 10M); recon peak memory ≤ 3 GiB at 10M (DuckDB memory_limit + temp_directory set: it
spills); time per million jobs grows < 20 % from 1M to 10M; fixed cost (an empty day) ≤ 5 s."""


def markdown(report: dict) -> str:
    settings = (
        f"DuckDB memory_limit {report['memory_limit']}, threads {report['threads']}, {report['runs']} runs "
        f"(median), memory cap per child {report['mem_cap_gib']} GiB."
    )
    lines = [f"# Scale benchmark ({report['started']}, {report['machine']})", "", settings, ""]
    for s in report["scales"]:
        landed = (
            f"Rows landed: {s['generator']['rows']} (generated in {s['generator']['seconds']} s). "
            f"Load average start/end: {tuple(round(x, 2) for x in s['load_avg_start'])} / "
            f"{tuple(round(x, 2) for x in s.get('load_avg_end', ()))}."
        )
        lines += [
            f"## {s['jobs']:,} jobs — outputs identical: **{s.get('identical', 'not checked yet')}**",
            "",
            landed,
            "",
            "| contender | wall s (median) | all runs | CPU s | peak RSS MiB | status |",
            "|---|---|---|---|---|---|",
        ]
        for name, f in s["contenders"].items():
            if f.get("status") == "ok":
                lines.append(
                    f"| {name} | {f['wall_s_median']} | {f['wall_s_all']} | {f['cpu_s_median']} | "
                    f"{f['peak_rss_mib_max']} | ok |"
                )
            else:
                lines.append(f"| {name} | – | – | – | – | {f.get('status')}: {f.get('note', '')} |")
        lines += ["", "| figure | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in s.get("derived", {}).items()]
        if s.get("recon_profile_first_run"):
            lines += [
                "",
                "Slowest dbt nodes (first recon run): "
                + ", ".join(f"{p['node']} {p['seconds']} s" for p in s["recon_profile_first_run"]),
            ]
        lines += [
            "",
            "Checks: "
            + "; ".join(
                f"{k}: {'identical' if v['identical'] else 'DIFFER ' + json.dumps({x: v[x] for x in ('findings', 'settlements')})}"
                for k, v in s.get("checks", {}).items()
            ),
            "",
        ]
    if report.get("growth"):
        lines += ["## Growth", "", "| figure | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in report["growth"].items()]
        lines.append("")
    lines += [TARGETS, ""]
    return "\n".join(lines)


def run_checks(spec_path: Path) -> None:
    """Export recon's marts, compare every output with the truth and each other (a child process)."""
    spec = json.loads(spec_path.read_text())
    results = {k: Path(v) for k, v in spec["results"].items()}
    if spec["recon_warehouse"]:
        export_recon(Path(spec["recon_warehouse"]), results["recon"])
    checks = check_all(results, (Path(spec["truth"][0]), Path(spec["truth"][1])))
    (spec_path.parent / "checks.json").write_text(json.dumps(checks, indent=2))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.scale.harness", description=__doc__.splitlines()[0])
    ap.add_argument("--check", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--scales", default="1000000", help="comma-separated job counts, e.g. 1000000,10000000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--contenders", default=",".join(CONTENDERS))
    ap.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "recon-bench-scale")
    ap.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    ap.add_argument("--mem-cap-gib", type=float, default=12.0, help="kill a contender above this RSS")
    ap.add_argument("--memory-limit", default="2GB", help="DuckDB memory_limit for recon and the floor")
    ap.add_argument("--threads", type=int, default=2, help="DuckDB threads for recon and the floor")
    ap.add_argument("--keep", action="store_true", help="keep the generated data and warehouses")
    ap.add_argument(
        "--reuse", action="store_true", help="reuse a day generated earlier in --work (with --keep)"
    )
    ap.add_argument(
        "--baseline", type=Path, help="an earlier result JSON whose scales join the growth figure"
    )
    args = ap.parse_args(argv)
    if args.check:
        run_checks(args.check)
        return 0
    scales = [int(x.replace("_", "")) for x in args.scales.split(",") if x]
    contenders = [c for c in args.contenders.split(",") if c]
    unknown = set(contenders) - set(CONTENDERS)
    if unknown:
        ap.error(f"unknown contenders {sorted(unknown)}; choose from {CONTENDERS}")
    args.work.mkdir(parents=True, exist_ok=True)
    report = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / GIB:.0f} GiB",
        "runs": args.runs,
        "memory_limit": args.memory_limit,
        "threads": args.threads,
        "mem_cap_gib": args.mem_cap_gib,
        "scales": [],
    }
    baseline = json.loads(args.baseline.read_text())["scales"] if args.baseline else []
    args.results.mkdir(parents=True, exist_ok=True)
    stem = "scale-" + "-".join(str(n) for n in scales)

    def write(partial: bool) -> None:
        report["growth"] = growth(sorted(baseline + report["scales"], key=lambda s: s["jobs"]))
        if baseline:
            report["baseline"] = {"file": str(args.baseline), "jobs": [s["jobs"] for s in baseline]}
        suffix = ".partial" if partial else ""
        (args.results / f"{stem}{suffix}.json").write_text(json.dumps(report, indent=2, default=str))
        (args.results / f"{stem}{suffix}.md").write_text(markdown(report))

    def progress(out: dict) -> None:
        if out not in report["scales"]:
            report["scales"].append(out)
        write(partial=True)

    for n in scales:
        run_scale(
            n,
            work=args.work,
            runs=args.runs,
            contenders=contenders,
            mem_cap_gib=args.mem_cap_gib,
            memory_limit=args.memory_limit,
            threads=args.threads,
            progress=progress,
            reuse=args.reuse,
        )
        if not args.keep:
            shutil.rmtree(args.work / f"jobs-{n}", ignore_errors=True)
    write(partial=False)
    for p in args.results.glob(f"{stem}.partial.*"):
        p.unlink()
    log(f"wrote {args.results / stem}.json and .md")
    print(markdown(report))
    return 0 if all(s.get("identical") for s in report["scales"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
