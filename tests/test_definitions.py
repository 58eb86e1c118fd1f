"""The code location loads: assets, lineage from raw sources into dbt, the job and the schedule."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

REPO = Path(__file__).resolve().parents[1]


def test_definitions_validate_command_passes():
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}  # validate uses a temp instance
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    p = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "definitions",
            "validate",
            "-m",
            "orchestration.definitions",
        ],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
    )
    assert p.returncode == 0, p.stdout + p.stderr


def test_dbt_staging_reads_the_raw_python_assets():
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    for raw in ("raw/usage_records", "raw/gateway_tasks", "raw/app_jobs", "raw/app_assets"):
        assert raw in keys
    assert {"fct_reconciliation_mismatches", "fct_settlements", "reports/daily_report"} <= keys
    parents = graph.get(dg.AssetKey(["stg_raw__usage_records"])).parent_keys
    assert dg.AssetKey(["raw", "usage_records"]) in parents
    assert defs.resolve_job_def("recon_daily") is not None
