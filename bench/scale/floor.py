"""The floor contender: floor.sql in one DuckDB connection, result straight to Parquet.

.venv/bin/python -m bench.scale.floor LANDING OUT.parquet --vars JSON [--memory-limit 2GB]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import duckdb

from bench.scale.rules import run_params

SQL = Path(__file__).with_name("floor.sql")


def floor_query(landing: Path, day_vars: dict) -> str:
    sql = SQL.read_text()
    body = "\n".join(line for line in sql.splitlines() if not line.startswith("--"))
    return body.format(landing=str(landing).replace("'", "''"), **run_params(day_vars))


def run(
    landing: Path,
    out: Path,
    day_vars: dict,
    memory_limit: str = "2GB",
    threads: int | None = None,
    temp_directory: Path | None = None,
) -> None:
    con = duckdb.connect()
    try:
        con.execute("set TimeZone = 'UTC'")
        con.execute(f"set memory_limit = '{memory_limit}'")
        con.execute(f"set temp_directory = '{temp_directory or (str(out) + '.tmp')}'")
        if threads:
            con.execute(f"set threads = {threads}")
        con.execute(f"copy ({floor_query(landing, day_vars)}) to '{out}' (format parquet)")
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.scale.floor")
    ap.add_argument("landing", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--vars", required=True, help="the day's dbt vars as JSON (as_of, start/end date)")
    ap.add_argument("--memory-limit", default="2GB")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    run(args.landing, args.out, json.loads(args.vars), args.memory_limit, args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
