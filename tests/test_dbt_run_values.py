"""Per-run values (window, clock) reach dbt through <warehouse>.run.json, not --vars, so a run with a
new clock reuses the parse, and a hand `dbt build` rebuilds the last run's window as of its clock.

Real dbt on a real DuckDB file: `dbt compile --inline` renders the run macros at execute time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from orchestration.assets.dbt import build_args, dbt_vars
from orchestration.config import load_config
from orchestration.run_values import read_run_values, run_values_path, write_run_values
from orchestration.run_window import RunWindow

ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT = ROOT / "dbt_project"
DBT_BIN = Path(sys.executable).with_name("dbt")
REPARSE = "Unable to do partial parsing"
PROBE = "select {{ as_of() }} as clock, {{ touched_days_filter('d') }} as window_filter"


def dbt(args: list[str], warehouse: Path, target: Path) -> str:
    env = {
        **os.environ,
        "RECON_WAREHOUSE_PATH": str(warehouse),
        "RECON_LANDING_DIR": str(warehouse.parent / "landing"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    env.pop("DBT_TARGET_PATH", None)
    cmd = [
        str(DBT_BIN),
        *args,
        "--project-dir",
        str(DBT_PROJECT),
        "--profiles-dir",
        str(DBT_PROJECT),
        "--target-path",
        str(target),
        "--log-path",
        str(target / "logs"),
    ]
    proc = subprocess.run(
        cmd, cwd=DBT_PROJECT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert proc.returncode == 0, f"dbt {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
    return proc.stdout


def test_build_args_leave_the_per_run_values_out_of_vars():
    from datetime import UTC, date, datetime

    cfg = load_config(ROOT / "recon.example.yaml")
    v = dbt_vars(
        cfg, RunWindow(date(2026, 11, 20), date(2026, 11, 20), datetime(2026, 11, 22, 6, tzinfo=UTC), 3)
    )
    args = build_args(v, full_refresh=True)
    passed = json.loads(args[args.index("--vars") + 1])
    assert not {"start_date", "end_date", "as_of", "rewrite_from"} & passed.keys()
    assert passed["settlement_window_hours"] == 48 and "--full-refresh" in args
    later = build_args(
        dbt_vars(
            cfg, RunWindow(date(2026, 11, 21), date(2026, 11, 21), datetime(2026, 11, 23, 6, tzinfo=UTC), 3)
        )
    )
    assert later[:3] == args[:3]  # a later day, a later clock: the same --vars, so the same parse


def test_run_values_file_round_trips_and_replaces(tmp_path):
    wh = tmp_path / "warehouse.duckdb"
    assert read_run_values(wh) is None
    write_run_values(wh, {"as_of": "2026-11-22T06:00:00+00:00", "start_date": "2026-11-20"})
    write_run_values(wh, {"as_of": "2026-11-23T06:00:00+00:00", "start_date": "2026-11-21"})
    assert read_run_values(wh) == {"as_of": "2026-11-23T06:00:00+00:00", "start_date": "2026-11-21"}
    assert [p.name for p in tmp_path.iterdir()] == [run_values_path(wh).name]  # no temp file left


def test_hand_build_uses_the_last_runs_window_and_clock_and_keeps_the_parse(tmp_path):
    wh, target = tmp_path / "warehouse.duckdb", tmp_path / "target"
    out = dbt(["compile", "--inline", PROBE], wh, target)
    assert "current_timestamp" in out and "2026-11-" not in out  # no run yet: now(), every day

    write_run_values(
        wh,
        {
            "start_date": "2026-11-20",
            "end_date": "2026-11-21",
            "as_of": "2026-11-22T06:00:00+00:00",
            "rewrite_from": "2026-11-17",
        },
    )
    out = dbt(["compile", "--inline", PROBE], wh, target)
    assert "cast('2026-11-22T06:00:00+00:00' as timestamp with time zone)" in out
    # the window's rewrite_from (RunWindow: start_date - lookback), not a second lookback in SQL
    assert "d >= cast('2026-11-17' as date)" in out and "d <= cast('2026-11-21' as date)" in out
    assert REPARSE not in out  # the file changed, the parse did not

    write_run_values(
        wh, {"start_date": "2026-11-21", "end_date": "2026-11-21", "as_of": "2026-11-23T06:00:00+00:00"}
    )
    out = dbt(["compile", "--inline", PROBE], wh, target)
    assert "2026-11-23T06:00:00+00:00" in out and REPARSE not in out

    # --vars still win over the file (a deliberate rebuild of other days by hand) ...
    out = dbt(["compile", "--inline", PROBE, "--vars", '{"as_of": "2026-01-02T00:00:00Z"}'], wh, target)
    assert "2026-01-02T00:00:00Z" in out and "2026-11-23" not in out
    # ... and a clock passed as --vars is what made every run re-parse before
    out = dbt(["compile", "--inline", PROBE, "--vars", '{"as_of": "2026-01-03T00:00:00Z"}'], wh, target)
    assert REPARSE in out
