"""The dbt project against the sandbox's demo scenario: real `dbt build` on a real DuckDB file.

The scenario's expected landed frames are written to a temporary landing dir exactly as the
extraction assets write them (one Parquet file per record type per UTC day), then the real dbt CLI
builds every model, runs every unit and data test, and the mismatch mart is scored against the
scenario's truth: every injected finding and nothing else (precision and recall 1.0).
A second test lands the same days one at a time with an incremental run after each and checks that
the marts equal a full refresh over the same days.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from orchestration.landing import write_partition
from orchestration.run_window import RunWindow

ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT = ROOT / "dbt_project"
DBT_BIN = Path(sys.executable).with_name("dbt")
# The UTC day a landed row belongs to (the brief's landing contract).
PARTITION_COLUMN = {
    "usage_records": "created_at",
    "gateway_tasks": "submitted_at",
    "app_jobs": "created_at",
    "app_assets": "created_at",
}
INCREMENTAL_MARTS = {
    "fct_reconciliation_mismatches": ["finding_id"],
    "fct_settlements": ["job_id"],
    "fct_settlement_lag_daily": ["terminal_date", "scene", "model"],
    "fct_spend_daily": ["spend_date", "gateway"],
    "fct_spend_by_channel_daily": ["spend_date", "gateway", "access_channel"],
    "fct_error_alerts_daily": ["error_date", "gateway", "error_class"],
    "fct_error_rate_daily": ["error_date", "gateway"],
}
SCENARIO_END = date(2026, 11, 15)


# ---- helpers -------------------------------------------------------------------------------------
def days_of(truth: dict) -> list[date]:
    start, end = date.fromisoformat(truth["start"]), date.fromisoformat(truth["end"])
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def land_day(frames: dict[str, pd.DataFrame], landing_dir: Path, day: date) -> None:
    """Write one UTC day of every record type (an empty file where the day has no rows)."""
    for record, df in frames.items():
        ts = pd.to_datetime(df[PARTITION_COLUMN[record]], utc=True)
        write_partition(df[ts.dt.date == day], landing_dir, record, day)


def run_dbt(args: list[str], *, landing_dir: Path, warehouse: Path, dbt_vars: dict, work_dir: Path) -> str:
    """Run the real dbt CLI on the project; fail the test with dbt's output when it fails."""
    env = {
        **os.environ,
        "RECON_LANDING_DIR": str(landing_dir),
        "RECON_WAREHOUSE_PATH": str(warehouse),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    cmd = [
        str(DBT_BIN),
        *args,
        "--project-dir",
        str(DBT_PROJECT),
        "--profiles-dir",
        str(DBT_PROJECT),
        "--target-path",
        str(work_dir / "target"),
        "--log-path",
        str(work_dir / "logs"),
        "--vars",
        json.dumps(dbt_vars),
    ]
    proc = subprocess.run(
        cmd, check=False, cwd=DBT_PROJECT, env=env, capture_output=True, text=True, timeout=900
    )
    if proc.returncode != 0:
        pytest.fail(
            f"dbt {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-8000:]}\n{proc.stderr[-2000:]}"
        )
    return proc.stdout


def read_table(warehouse: Path, table: str, order_by: list[str] | None = None) -> pd.DataFrame:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        order = f" order by {', '.join(order_by)}" if order_by else ""
        return con.sql(f"select * from main.{table}{order}").to_arrow_table().to_pandas()
    finally:
        con.close()


def run_vars(truth: dict, **extra: str) -> dict:
    return {"as_of": truth["as_of"], "start_date": truth["start"], "end_date": truth["end"], **extra}


# ---- fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def scenario():
    from orchestration.sandbox.scenario import build_scenario

    return build_scenario(seed=7, end=SCENARIO_END, days=7)


@pytest.fixture(scope="module")
def frames(scenario) -> dict[str, pd.DataFrame]:
    return scenario.canonical()


@pytest.fixture(scope="module")
def built(scenario, frames, tmp_path_factory) -> Iterator[Path]:
    """A warehouse after one full `dbt build` (models + unit tests + data tests) of the demo."""
    work = tmp_path_factory.mktemp("dbt_build")
    landing, warehouse = work / "landing", work / "warehouse.duckdb"
    for day in days_of(scenario.truth):
        land_day(frames, landing, day)
    run_dbt(
        ["build", "--full-refresh"],
        landing_dir=landing,
        warehouse=warehouse,
        dbt_vars=run_vars(scenario.truth),
        work_dir=work,
    )
    yield warehouse


# ---- tests ---------------------------------------------------------------------------------------
def test_fresh_checkout_builds_with_nothing_landed(tmp_path):
    """No landed file at all: every model builds from empty typed inputs and every unit test runs."""
    out = run_dbt(
        ["build"],
        landing_dir=tmp_path / "landing",
        warehouse=tmp_path / "warehouse.duckdb",
        dbt_vars={"as_of": "2026-11-16T06:00:00Z"},
        work_dir=tmp_path,
    )
    assert "ERROR=0" in out and "unit_test" in out
    mismatches = read_table(tmp_path / "warehouse.duckdb", "fct_reconciliation_mismatches")
    assert list(mismatches.columns[:3]) == ["finding_id", "finding_key", "mismatch_type"]
    assert mismatches.empty


@pytest.mark.slow
def test_mismatch_mart_finds_every_injected_defect_and_nothing_else(scenario, built):
    from orchestration.sandbox.scoring import score

    found = read_table(built, "fct_reconciliation_mismatches")
    result = score(found.to_dict("records"), scenario.truth["findings"])
    print(result.explain())
    assert result.precision == 1.0 and result.recall == 1.0, result.explain()
    # every code of DESIGN.md is exercised by the scenario, so none of the rules is vacuous
    assert set(found["mismatch_type"]) == {f["mismatch_type"] for f in scenario.truth["findings"]}


@pytest.mark.slow
def test_task_ledger_nets_equal_the_truth(scenario, built):
    ledgers = read_table(built, "int_task_ledgers_settled")
    got = {r.task_id: round(float(r.net_cost_usd), 6) for r in ledgers.itertuples()}
    # by ledger task: the current-main pre-charge (request id only) counts for its job's task
    expected = scenario.truth["net_cost_by_ledger_task"]
    assert got == pytest.approx(expected, abs=1e-6)
    assert set(scenario.truth["net_cost_by_task"]) <= set(expected)
    assert any(expected[t] != v for t, v in scenario.truth["net_cost_by_task"].items())


@pytest.mark.slow
def test_settlements_judge_pending_and_settled_jobs(scenario, built):
    settlements = read_table(built, "fct_settlements")
    as_of = pd.Timestamp(scenario.truth["as_of"])
    assert settlements["job_id"].is_unique
    assert set(settlements["settlement_status"]) <= {"on_time", "late", "pending", "unsettled"}
    inside = settlements["settlement_window_ends_at"] > as_of
    # nothing inside its window is unsettled; nothing past it is pending
    assert not (inside & (settlements["settlement_status"] == "unsettled")).any()
    assert not (~inside & (settlements["settlement_status"] == "pending")).any()
    # the scenario holds late refunds/deltas and unsettled failures: every status but one shows up
    assert {"on_time", "late", "pending", "unsettled"} <= set(settlements["settlement_status"])
    settled = settlements[settlements["settlement_status"].isin(["on_time", "late"])]
    late = settled["settlement_lag_seconds"] > 15 * 60
    assert (late == (settled["settlement_status"] == "late")).all()


@pytest.mark.slow
def test_daily_marts_cover_every_landed_day(scenario, built):
    days = set(days_of(scenario.truth))
    spend = read_table(built, "fct_spend_daily")
    assert {d.date() if hasattr(d, "date") else d for d in spend["spend_date"]} == days
    # seven days never make the full 14-day history: a day is compared with the days it has from the
    # third on (the short-history fallback), and says so; before that nothing is flagged
    flagged = spend[spend["is_anomaly"]]
    assert (flagged["history_days"] >= 3).all() and flagged["history_basis"].str.startswith("short: ").all()
    assert set(spend["history_basis"].str.split(":").str[0]) == {"none", "short"}
    lag = read_table(built, "fct_settlement_lag_daily")
    assert (lag["p50_lag_seconds"].dropna() <= lag["p99_lag_seconds"].dropna()).all()
    assert lag["job_count"].sum() == len(read_table(built, "fct_settlements"))


@pytest.mark.slow
def test_incremental_daily_runs_equal_a_full_refresh(scenario, frames, built, tmp_path):
    """Land one day at a time, run incrementally after each; the marts must equal a full build."""
    truth = scenario.truth
    landing, warehouse = tmp_path / "landing", tmp_path / "incremental.duckdb"
    for day in days_of(truth):
        land_day(frames, landing, day)
        run_dbt(
            ["run"],
            landing_dir=landing,
            warehouse=warehouse,
            # the days recon's own run of `day` rewrites: RunWindow.rewrite_from, the default lookback back
            dbt_vars=run_vars(
                truth,
                start_date=day.isoformat(),
                end_date=day.isoformat(),
                rewrite_from=RunWindow(day, day, datetime.now(UTC), 3).rewrite_from.isoformat(),
            ),
            work_dir=tmp_path,
        )
    for table, key in INCREMENTAL_MARTS.items():
        full = read_table(built, table, key)
        incremental = read_table(warehouse, table, key)
        assert len(full) > 0, f"{table} is empty: the comparison would prove nothing"
        pd.testing.assert_frame_equal(incremental, full, check_dtype=True, obj=table)
    # the history kept findings that resolved while later days landed (e.g. a usage row that
    # landed in the next day's partition), and its open findings are exactly the current ones
    history = read_table(warehouse, "fct_mismatch_history")
    current = set(read_table(warehouse, "fct_reconciliation_mismatches")["finding_key"])
    assert set(history.loc[history["is_open"], "finding_key"]) == current
    assert history["resolved_at"].notna().any()
    assert not set(history.loc[~history["is_open"], "finding_key"]) & current
