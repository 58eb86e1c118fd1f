"""A real `recon run` (Dagster, dbt, DuckDB, the sandbox over loopback HTTP) with the operator checks
as asset checks on the marts: their evaluations are in the run's events, the terminal's check lines
come from them, and the webhook is posted once for the failing run, its URL in no log line."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from recon_pipeline import pipeline
from test_webhook import SECRET_PATH, Receiver

from orchestration import alerts
from orchestration.assets import operator_checks as oc
from orchestration.sandbox.faults import Faults


@pytest.mark.slow
def test_a_recon_run_evaluates_every_check_on_its_mart_and_posts_once(
    tmp_path: Path, monkeypatch, capfd
) -> None:
    from orchestration.runner import run_range

    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        "{}\n", encoding="utf-8"
    )  # a persistent instance: the run's events stay
    faults = Faults()
    faults.stat_quota_skew = (
        5  # the gateway's own totals disagree with its rows: gateway_totals fails (ERROR)
    )
    with (
        pipeline(tmp_path / "data", end=date(2026, 11, 20), days=2, jobs_per_day=15, faults=faults) as e,
        Receiver([200]) as hook,
    ):
        for k, v in e.env.items():
            monkeypatch.setenv(k, v)
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        monkeypatch.setenv(alerts.WEBHOOK_ENV, hook.url)
        out = run_range(e.config_path, e.first, e.last, e.as_of, quiet=True)
        posts = list(hook.requests)
    instance = dg.DagsterInstance.get()
    try:
        evals = [
            ev.asset_check_evaluation_data
            for ev in (
                rec.get_dagster_event()
                for rec in instance.all_logs(out.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
            )
        ]
        mine = {ev.check_name: ev for ev in evals if ev.check_name in oc.CHECKS}
        assert set(mine) == set(oc.CHECKS)
        assert all(ev.asset_key == dg.AssetKey([oc.CHECK_MARTS[n]]) for n, ev in mine.items())
        assert (
            not mine["gateway_totals"].passed
            and mine["gateway_totals"].severity == dg.AssetCheckSeverity.ERROR
        )
        logged = "\n".join(rec.user_message for rec in instance.all_logs(out.run_id))
    finally:
        instance.dispose()
    assert any(
        line.startswith("check fct_gateway_totals_daily:gateway_totals: ") for line in out.check_failures
    )
    assert len(posts) == 1 and posts[0]["path"] == SECRET_PATH
    body = posts[0]["body"]
    assert body["run_id"] == out.run_id and "gateway_totals" in [c["check"] for c in body["failing_checks"]]
    assert body["first_day"] == e.first.isoformat() and body["last_day"] == e.last.isoformat()
    assert str(out.summary.report_path) == body["report_path"]
    assert body["findings"] == out.summary.total_findings  # the checks' figures are the summary's
    assert body["money_at_risk_usd"] == pytest.approx(round(out.summary.money_at_risk, 6))
    printed = capfd.readouterr()
    for text in (logged, printed.out, printed.err):
        assert "s3cr3t" not in text and SECRET_PATH not in text
