"""Engine parity check: the whole dbt project built on DuckDB and on Spark, every mart compared.

    .venv/bin/python -m bench.spark_check [--data-dir DIR] [--work-dir DIR]

Needs the optional Spark extra (`pip install -e ".[spark]"`) and Java 17. From a data dir holding a
landing (`<data-dir>/landing`; without --data-dir, `recon demo --days 7` makes one in the work dir),
both engines run `dbt run` over the same landing Parquet with the same run values (as_of from the
data dir's last run, every day: no start_date). Then every model under models/marts is read from
both (DuckDB's file; the Parquet files Spark's tables wrote) and compared row for row, in any order:
money and other numbers to 1e-9, timestamps as UTC instants, everything else exactly. A mismatch
prints what differs per mart (columns, row counts, rows on one side only) and exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT = ROOT / "dbt_project"
BIN = Path(sys.executable).parent
TOLERANCE = 1e-9
DEFAULT_AS_OF = "2026-12-03T06:00:00+00:00"
SHOWN_ROWS = 5


@dataclass
class MartDiff:
    """What differs in one mart between the two builds (empty lists: identical)."""

    name: str
    duckdb_rows: int
    spark_rows: int
    missing_columns: list[str] = field(default_factory=list)  # in DuckDB's mart, not Spark's
    extra_columns: list[str] = field(default_factory=list)  # in Spark's mart, not DuckDB's
    only_duckdb: list[tuple] = field(default_factory=list)
    only_spark: list[tuple] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing_columns or self.extra_columns or self.only_duckdb or self.only_spark)


def normalize(value: object) -> object:
    """One comparable value: numbers as floats, timestamps as UTC instants, the rest as is."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, Decimal | float | int):
        return float(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return value


def close(a: object, b: object) -> bool:
    """Equal, numbers within TOLERANCE (absolute, or relative for large ones)."""
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= TOLERANCE * max(1.0, abs(a), abs(b))
    return a == b


def sort_key(row: tuple) -> tuple:
    """Order rows the same way on both sides: numbers rounded well above the tolerance's noise."""
    return tuple(
        (0, "") if v is None else (1, round(v, 6)) if isinstance(v, float) else (2, str(v)) for v in row
    )


def compare_rows(name: str, columns: list[str], left: list[tuple], right: list[tuple]) -> MartDiff:
    """Order-insensitive row comparison of two row lists of the same columns."""
    diff = MartDiff(name, len(left), len(right))
    exact_left, exact_right = Counter(left), Counter(right)
    rest_left = sorted((exact_left - exact_right).elements(), key=sort_key)
    rest_right = sorted((exact_right - exact_left).elements(), key=sort_key)
    unmatched_right = list(rest_right)
    for row in rest_left:
        match = next((r for r in unmatched_right if all(map(close, row, r))), None)
        if match is None:
            diff.only_duckdb.append(row)
        else:
            unmatched_right.remove(match)
    diff.only_spark = unmatched_right
    return diff


def read_duckdb(path: Path, table: str) -> tuple[list[str], list[tuple]]:
    with duckdb.connect(str(path), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        rel = con.sql(f'select * from main."{table}"')
        return list(rel.columns), [tuple(map(normalize, r)) for r in rel.fetchall()]


def read_spark(warehouse: Path, table: str) -> tuple[list[str], list[tuple]]:
    """A Spark table's rows from the Parquet files it wrote (no Spark needed to read them)."""
    folder = warehouse / "recon.db" / table
    files = sorted(str(p) for p in folder.glob("*.parquet"))
    if not files:
        raise SystemExit(f"spark-check: Spark wrote no Parquet file for mart {table} under {folder}")
    with duckdb.connect() as con:
        con.execute("set TimeZone = 'UTC'")
        rel = con.sql("select * from read_parquet($files)", params={"files": files})
        return list(rel.columns), [tuple(map(normalize, r)) for r in rel.fetchall()]


def compare_mart(name: str, duckdb_path: Path, warehouse: Path) -> MartDiff:
    left_cols, left = read_duckdb(duckdb_path, name)
    right_cols, right = read_spark(warehouse, name)
    if set(left_cols) != set(right_cols):
        diff = MartDiff(name, len(left), len(right))
        diff.missing_columns = [c for c in left_cols if c not in right_cols]
        diff.extra_columns = [c for c in right_cols if c not in left_cols]
        return diff
    order = [right_cols.index(c) for c in left_cols]
    return compare_rows(name, left_cols, left, [tuple(r[i] for i in order) for r in right])


def mart_names(manifest: Path) -> list[str]:
    """Every model under models/marts, from the DuckDB build's manifest."""
    nodes = json.loads(manifest.read_text())["nodes"].values()
    return sorted(
        n["name"] for n in nodes if n["resource_type"] == "model" and n["path"].startswith("marts/")
    )


def run_dbt(target: str, env: dict[str, str], work: Path, run_vars: dict, log: Path) -> float:
    """`dbt run` on one target; its own target and log folders. Returns the wall time in seconds."""
    args = [
        str(BIN / "dbt"),
        "run",
        "--target",
        target,
        "--vars",
        json.dumps(run_vars),
        "--target-path",
        str(work / f"target-{target}"),
        "--log-path",
        str(work / f"logs-{target}"),
    ]
    start = time.monotonic()
    with log.open("w") as out:
        done = subprocess.run(
            args, cwd=DBT_PROJECT, env=env, stdout=out, stderr=subprocess.STDOUT, check=False
        )
    elapsed = time.monotonic() - start
    if done.returncode != 0:
        tail = "\n".join(
            line
            for line in log.read_text(errors="replace").splitlines()
            if "ERROR" in line or "Error" in line
        )[-3000:]
        raise SystemExit(f"spark-check: dbt run --target {target} failed (log {log}):\n{tail}")
    return elapsed


def as_of_of(data_dir: Path) -> str:
    """The as_of of the data dir's last recon run (its run file), so both builds judge the same clock."""
    run_file = data_dir / "warehouse.duckdb.run.json"
    if run_file.exists():
        return json.loads(run_file.read_text()).get("as_of") or DEFAULT_AS_OF
    return DEFAULT_AS_OF


def make_demo(work: Path) -> Path:
    data_dir = work / "data"
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    subprocess.run(
        [str(BIN / "recon"), "demo", "--days", "7", "--data-dir", str(data_dir)],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return data_dir


def report(console: Console, diffs: list[MartDiff]) -> None:
    table = Table(title="DuckDB vs Spark, every mart")
    for col in ("mart", "DuckDB rows", "Spark rows", "result"):
        table.add_column(col)
    for d in diffs:
        table.add_row(
            d.name, str(d.duckdb_rows), str(d.spark_rows), "[green]same[/]" if d.ok else "[red]differs[/]"
        )
    console.print(table)
    for d in diffs:
        if d.ok:
            continue
        console.print(
            f"[red]{d.name}[/]: columns only in DuckDB {d.missing_columns}, only in Spark "
            f"{d.extra_columns}; {len(d.only_duckdb)} row(s) only in DuckDB, "
            f"{len(d.only_spark)} only in Spark"
        )
        for side, rows in (("duckdb", d.only_duckdb), ("spark", d.only_spark)):
            for row in rows[:SHOWN_ROWS]:
                console.print(f"  only {side}: {row!r}", markup=False, highlight=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", type=Path, help="a recon data dir with a landing (default: a fresh demo)"
    )
    parser.add_argument("--work-dir", type=Path, help="where the two builds go (default: a temp dir)")
    args = parser.parse_args(argv)
    console = Console()
    work = (args.work_dir or Path(tempfile.mkdtemp(prefix="recon-spark-check-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    data_dir = (args.data_dir or make_demo(work)).resolve()
    landing = data_dir / "landing"
    if not landing.is_dir():
        raise SystemExit(f"spark-check: no landing folder at {landing}")
    run_vars = {"as_of": as_of_of(data_dir), "start_date": "", "end_date": ""}
    duckdb_path = work / "duckdb" / "warehouse.duckdb"
    duckdb_path.parent.mkdir(exist_ok=True)
    warehouse = work / "spark-warehouse"
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env.update(
        {
            "RECON_LANDING_DIR": str(landing),
            "RECON_WAREHOUSE_PATH": str(duckdb_path),
            "RECON_SPARK_WAREHOUSE_DIR": str(warehouse),
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    console.print(f"spark-check: landing {landing}, as_of {run_vars['as_of']}, work dir {work}")
    duck_s = run_dbt("dev", env, work, run_vars, work / "dbt-duckdb.log")
    console.print(f"DuckDB build: {duck_s:.1f} s")
    spark_s = run_dbt("spark", env, work, run_vars, work / "dbt-spark.log")
    console.print(f"Spark build: {spark_s:.1f} s")
    marts = mart_names(work / "target-dev" / "manifest.json")
    diffs = [compare_mart(name, duckdb_path, warehouse) for name in marts]
    report(console, diffs)
    total = time.monotonic() - start
    bad = [d.name for d in diffs if not d.ok]
    if bad:
        console.print(
            f"[red]spark-check failed[/]: {len(bad)} of {len(diffs)} marts differ ({', '.join(bad)}); "
            f"{total:.0f} s"
        )
        return 1
    console.print(
        f"[green]spark-check passed[/]: {len(diffs)} marts identical on DuckDB and Spark; "
        f"wall time {total:.0f} s (DuckDB build {duck_s:.0f} s, Spark build {spark_s:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
