"""What the append-only landing costs staging: stg_raw__usage_records + stg_raw__gateway_tasks built
over one stored version of every gateway row vs four.

The daily lookback re-reads each day about four times. Identical answers add no batch at all (only a
manifest row), so four extractions of an unchanged day cost staging exactly what one does; the upper
bound is four batches that each hold a new version of every row (as if every record changed on each
re-read). This measures that upper bound against one version, on a generated day
(`bench.scale.generate`), with the real readers: the day files are migrated in place to batch 0
(`orchestration.evidence.migrate_legacy`), then batches 1..3 are written as copies of batch 0 with
their own sequence number and `_change = 'changed'`.

    .venv/bin/python -m bench.scale.versions --jobs 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import duckdb

from bench.scale.generate import DEFAULT_DAY, dbt_vars_for, generate
from bench.scale.harness import DBT_BIN, fresh_warehouse, recon_env
from bench.scale.rules import DBT_PROJECT
from orchestration.evidence import EVIDENCE_RECORDS, migrate_legacy

MODELS = "stg_raw__usage_records stg_raw__gateway_tasks"


def staging_seconds(work: Path, landing: Path, runs: int, memory_limit: str, threads: int) -> list[dict]:
    """Per run: dbt's wall time, its CPU-seconds, each model's node seconds, and the load it ran under."""
    out = []
    for i in range(runs):
        wh = work / f"versions-{i}.duckdb"
        fresh_warehouse(wh)
        cmd = [
            str(DBT_BIN),
            "run",
            "--select",
            *MODELS.split(),
            "--project-dir",
            str(DBT_PROJECT),
            "--profiles-dir",
            str(DBT_PROJECT),
            "--target-path",
            str(work / "dbt_target"),
            "--log-path",
            str(work / "dbt_logs"),
            "--vars",
            json.dumps(dbt_vars_for(DEFAULT_DAY)),
        ]
        load = os.getloadavg()[0]
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        p = subprocess.run(
            cmd,
            cwd=DBT_PROJECT,
            env=recon_env(landing, wh, memory_limit, threads),
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if p.returncode:
            raise SystemExit(f"dbt failed: {p.stdout[-2000:]}")
        results = json.loads((work / "dbt_target" / "run_results.json").read_text())["results"]
        out.append(
            {
                "wall_seconds": round(wall, 2),
                "cpu_seconds": round(cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime, 2),
                "node_seconds": {
                    r["unique_id"].rsplit(".", 1)[-1]: round(r["execution_time"], 2) for r in results
                },
                "load_average": round(load, 1),
            }
        )
        fresh_warehouse(wh)
    return out


def add_versions(landing: Path, copies: int) -> int:
    """Batches 1..copies of every gateway day: every row of batch 0 again, as a changed version."""
    con = duckdb.connect()
    rows = 0
    for record in EVIDENCE_RECORDS:
        for d in sorted((landing / record).glob("date=*")):
            base = d / "batch-000000.parquet"
            for k in range(1, copies + 1):
                con.execute(
                    f"copy (select *, {k}::bigint as _seq, now()::timestamptz as _extracted_at, 'changed' as _change, "
                    f"null::timestamptz as _gone_at from read_parquet('{base}')) to '{d / f'batch-{k:06d}.parquet'}' "
                    "(format parquet, compression zstd)"
                )
            rows += con.execute(
                f"select count(*) from read_parquet('{d}/batch-*.parquet', union_by_name = true)"
            ).fetchone()[0]
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1_000_000)
    ap.add_argument("--work", type=Path, default=Path("bench/results/versions"))
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--memory-limit", default="2GB")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    a.work.mkdir(parents=True, exist_ok=True)
    gen = generate(a.jobs, a.work)
    landing = a.work / "landing"
    for record in EVIDENCE_RECORDS:
        for d in sorted((landing / record).glob("date=*")):
            migrate_legacy(landing, record, date.fromisoformat(d.name.removeprefix("date=")))
    con = duckdb.connect()
    one_rows = sum(
        con.execute(f"select count(*) from read_parquet('{landing}/{r}/date=*/batch-*.parquet')").fetchone()[
            0
        ]
        for r in EVIDENCE_RECORDS
    )
    one = staging_seconds(a.work, landing, a.runs, a.memory_limit, a.threads)
    four_rows = add_versions(landing, 3)
    four = staging_seconds(a.work, landing, a.runs, a.memory_limit, a.threads)
    report = {
        "jobs": a.jobs,
        "generated": {k: v for k, v in gen.items() if k != "rows"} if isinstance(gen, dict) else None,
        "one_version": {"stored_rows": one_rows, "staging_seconds": one},
        "four_versions": {"stored_rows": four_rows, "staging_seconds": four},
    }
    print(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
