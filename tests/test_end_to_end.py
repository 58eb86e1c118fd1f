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
        outcome = run_range(
            setup.config_path, setup.first, setup.last, setup.as_of, full_refresh=True, quiet=True
        )
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
    assert all(
        outcome.summary.records[r] > 0 for r in ("usage_records", "gateway_tasks", "app_jobs", "app_assets")
    )
    assert outcome.summary.report_path and outcome.summary.report_path.exists()
    html = outcome.summary.report_path.read_text()
    assert str(outcome.summary.total_findings) in html
    con = duckdb.connect(str(outcome.cfg.warehouse.path), read_only=True)
    try:
        codes = {
            r[0]
            for r in con.execute(
                "select distinct mismatch_type from fct_reconciliation_mismatches"
            ).fetchall()
        }
        statuses = {
            r[0] for r in con.execute("select distinct settlement_status from fct_settlements").fetchall()
        }
    finally:
        con.close()
    assert codes == {f["mismatch_type"] for f in truth["findings"]}
    assert statuses <= {"on_time", "late", "pending", "unsettled"} and "on_time" in statuses


@pytest.mark.slow
def test_recon_run_cli_exit_codes(demo_run, tmp_path):
    setup, _ = demo_run
    env = {k: v for k, v in os.environ.items() if k != "TOKENLAB_TOKEN"}
    p = subprocess.run(
        [*RECON, "run", "--config", str(setup.config_path), "--start", str(setup.last)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
    )
    assert p.returncode == 2
    assert "gateways[1].token_env: environment variable TOKENLAB_TOKEN is not set" in p.stderr
    p = subprocess.run(
        [*RECON, "run", "--config", str(setup.config_path), "--start", "2026-11-20", "--end", "2026-11-19"],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert p.returncode == 2 and "backwards" in p.stderr


@pytest.mark.slow
def test_failover_error_rows_and_the_consume_row_of_one_request_land_once_each(demo_run):
    """ERROR_LOG_ENABLED: several error rows (one per failed channel attempt) and then the consume row,
    all under one request id, land as that many rows; the job's net cost is exactly the consume row's;
    no finding names the job."""
    from collections import Counter

    from orchestration.sandbox.scenario import build_scenario

    setup, outcome = demo_run
    sc = build_scenario(seed=7, end=setup.last, days=7)
    lo, hi = sc.range_start.timestamp(), sc.range_end.timestamp()
    rows = [r for r in sc.newapi_logs if r.get("request_id") and lo <= r["created_at"] < hi]
    types: dict[str, Counter] = {}
    for r in rows:
        types.setdefault(r["request_id"], Counter())[r["type"]] += 1
    failover = {rid: c for rid, c in types.items() if c[5] >= 2 and c[2] == 1}
    assert len(failover) >= 7, "the demo world has failover requests every day"
    consume = {
        r["request_id"]: r["quota"] / sc.quota_per_unit
        for r in rows
        if r["request_id"] in failover and r["type"] == 2
    }
    con = duckdb.connect(str(outcome.cfg.warehouse.path), read_only=True)
    try:
        for rid, c in failover.items():
            n = con.execute(
                "select count(*), count(distinct record_key) from stg_raw__usage_records "
                "where request_id = ?",
                [rid],
            ).fetchone()
            assert n == (c[5] + 1, c[5] + 1), rid
            job, net = con.execute(
                "select job_id, net_cost_usd from fct_settlements where request_id = ?", [rid]
            ).fetchone()
            assert abs(float(net) - consume[rid]) < 1e-9, rid
            found = con.execute(
                "select count(*) from fct_reconciliation_mismatches where job_id = ? or request_id = ?",
                [job, rid],
            ).fetchone()[0]
            assert found == 0, rid
    finally:
        con.close()
