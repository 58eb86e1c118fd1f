"""The whole job through Dagster and dbt on the demo scenario (real HTTP, real SQLite, real DuckDB).

Slow: one full run of `recon run` semantics over 7 days; scored against the scenario's truth file.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from orchestration.demo import demo_environment, score_against_truth
from orchestration.runner import run_range

REPO = Path(__file__).resolve().parents[1]
RECON = [sys.executable, "-m", "orchestration.cli"]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    data = tmp_path_factory.mktemp("demo")
    with demo_environment(data, days=7, seed=7) as setup:
        outcome = run_range(setup.config_path, setup.first, setup.last, setup.as_of, full_refresh=True, quiet=True)
        yield setup, outcome


@pytest.mark.slow
def test_demo_finds_every_injected_finding_and_nothing_else(demo_run):
    setup, outcome = demo_run
    sc = score_against_truth(outcome.cfg.warehouse.path, setup.truth_path)
    assert sc.recall == 1.0 and sc.precision == 1.0, sc.explain()


@pytest.mark.slow
def test_demo_lands_every_source_and_reports(demo_run):
    setup, outcome = demo_run
    truth = json.loads(setup.truth_path.read_text())
    assert all(outcome.summary.records[r] > 0 for r in ("usage_records", "gateway_tasks", "app_jobs", "app_assets"))
    assert outcome.summary.report_path and outcome.summary.report_path.exists()
    html = outcome.summary.report_path.read_text()
    assert str(outcome.summary.total_findings) in html
    con = duckdb.connect(str(outcome.cfg.warehouse.path), read_only=True)
    try:
        codes = {r[0] for r in con.execute("select distinct mismatch_type from fct_reconciliation_mismatches").fetchall()}
        statuses = {r[0] for r in con.execute("select distinct settlement_status from fct_settlements").fetchall()}
    finally:
        con.close()
    assert codes == {f["mismatch_type"] for f in truth["findings"]}
    assert statuses <= {"on_time", "late", "pending", "unsettled"} and "on_time" in statuses


@pytest.mark.slow
def test_recon_run_cli_exit_codes(demo_run, tmp_path):
    setup, _ = demo_run
    env = {k: v for k, v in os.environ.items() if k != "TOKENLAB_TOKEN"}
    p = subprocess.run([*RECON, "run", "--config", str(setup.config_path), "--start", str(setup.last)],
                       check=False, capture_output=True, text=True, env=env, cwd=REPO)
    assert p.returncode == 2
    assert "gateways[1].token_env: environment variable TOKENLAB_TOKEN is not set" in p.stderr
    p = subprocess.run([*RECON, "run", "--config", str(setup.config_path), "--start", "2026-11-20",
                        "--end", "2026-11-19"], check=False, capture_output=True, text=True, cwd=REPO)
    assert p.returncode == 2 and "backwards" in p.stderr
