"""Operator checks: each passes and fails on purpose-built mart rows, with the severity an operator expects."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
import yaml
from support.sample_marts import MART_COLUMNS, create_marts

from orchestration.assets import operator_checks as oc

FIRST, LAST = date(2026, 3, 8), date(2026, 3, 10)
AS_OF = datetime(2026, 3, 11, 6, 0, tzinfo=UTC)
WINDOW = oc.Window(FIRST, LAST, AS_OF)
REPO = Path(__file__).resolve().parents[1]


def finding(code: str, usd: str = "0", day: date = LAST, n: int = 1, **kw: object) -> dict:
    return {
        "finding_id": f"{code}-{n}",
        "finding_key": f"{code}:job_{n}",
        "mismatch_type": code,
        "severity": "warn",
        "job_id": f"job_{n}",
        "task_id": f"task_{n}",
        "request_id": None,
        "gateway": "main",
        "detail": f"{code} #{n}",
        "amount_usd": Decimal(usd),
        "partition_date": day,
        "detected_at": AS_OF,
        **kw,
    }


def history(code: str, first_seen: datetime, resolved: datetime | None = None, n: int = 1) -> dict:
    return {
        "finding_key": f"{code}:job_{n}",
        "mismatch_type": code,
        "severity": "warn",
        "job_id": f"job_{n}",
        "amount_usd": Decimal(0),
        "partition_date": LAST,
        "first_seen_at": first_seen,
        "last_seen_at": AS_OF if resolved is None else resolved,
        "resolved_at": resolved,
        "is_open": resolved is None,
    }


def run(
    tmp_path: Path, name: str, tables: dict[str, list[dict]], thresholds: oc.Thresholds | None = None
) -> oc.CheckOutcome:
    wh = create_marts(tmp_path / f"{name}.duckdb", tables)
    return next(o for o in oc.evaluate(wh, WINDOW, thresholds) if o.name == name)


def test_sample_marts_have_the_columns_and_types_of_the_dbt_marts() -> None:
    models = [
        m
        for f in sorted((REPO / "dbt_project/models/marts").glob("_*models.yml"))
        for m in yaml.safe_load(f.read_text()).get("models", [])
    ]
    declared = {m["name"]: [(c["name"], c.get("data_type")) for c in m.get("columns", [])] for m in models}
    for table, cols in MART_COLUMNS.items():
        assert table in declared, f"{table} is no longer a mart"
        assert cols == declared[table], f"{table}: sample columns drifted from _marts__models.yml"


def test_money_at_risk_passes_under_the_limit_and_errors_over_it(tmp_path: Path) -> None:
    ok = run(
        tmp_path,
        "money_at_risk",
        {
            "fct_reconciliation_mismatches": [
                finding("charged_for_failure", "4.0", n=1),
                finding("missing_usage", "5.0", n=2),
                finding("missing_usage", "50.0", day=FIRST - timedelta(days=1), n=3),
            ]
        },
    )  # outside the run's days
    assert ok.passed and ok.metadata["money_at_risk_usd"] == pytest.approx(9.0)
    bad = run(
        tmp_path,
        "money_at_risk",
        {
            "fct_reconciliation_mismatches": [
                finding("charged_for_failure", "4.0", n=1),
                finding("missing_usage", "6.5", n=2),
            ]
        },
    )
    assert not bad.passed and bad.severity == oc.ERROR
    assert bad.failures[0] == "none: 10.500000 USD"  # the sample findings carry no direction
    lowered = run(
        tmp_path,
        "money_at_risk",
        {"fct_reconciliation_mismatches": [finding("orphan_usage", "0.5")]},
        oc.Thresholds(money_at_risk_usd=0.25),
    )
    assert not lowered.passed


def test_new_mismatch_code_warns_only_for_a_code_absent_yesterday(tmp_path: Path) -> None:
    yesterday, today = AS_OF - timedelta(days=1), AS_OF
    same = run(
        tmp_path,
        "new_mismatch_code",
        {
            "fct_mismatch_history": [
                history("orphan_usage", yesterday, n=1),
                history("orphan_usage", today, n=2),
            ]
        },
    )
    assert same.passed, same.summary
    new = run(
        tmp_path,
        "new_mismatch_code",
        {
            "fct_mismatch_history": [
                history("orphan_usage", yesterday, n=1),
                history("stuck_task", today, n=2),
                history("stuck_task", today, n=3),
            ]
        },
    )
    assert not new.passed and new.severity == oc.WARN
    assert new.metadata["new_codes"] == "stuck_task" and new.failures == [
        "stuck_task: 2 finding(s), none open yesterday"
    ]
    # A code whose last finding resolved before today counts as new again when it reappears.
    back = run(
        tmp_path,
        "new_mismatch_code",
        {
            "fct_mismatch_history": [
                history(
                    "orphan_usage", yesterday - timedelta(days=2), resolved=yesterday - timedelta(days=1), n=1
                ),
                history("orphan_usage", today, n=2),
            ]
        },
    )
    assert not back.passed and back.metadata["new_codes"] == "orphan_usage"
    first_run = run(tmp_path, "new_mismatch_code", {"fct_mismatch_history": [history("stuck_task", today)]})
    assert first_run.passed and "no run before today" in first_run.summary


def test_stuck_tasks_warn_then_error_by_count(tmp_path: Path) -> None:
    none = run(tmp_path, "stuck_tasks", {"fct_reconciliation_mismatches": [finding("missing_usage", "1")]})
    assert none.passed
    one = run(tmp_path, "stuck_tasks", {"fct_reconciliation_mismatches": [finding("stuck_task")]})
    assert not one.passed and one.severity == oc.WARN and "task_1" in one.failures[0]
    many = run(
        tmp_path,
        "stuck_tasks",
        {
            "fct_reconciliation_mismatches": [
                finding("stuck_task", n=i) for i in range(oc.Thresholds().stuck_tasks_error)
            ]
        },
    )
    assert (
        not many.passed
        and many.severity == oc.ERROR
        and many.metadata["stuck_tasks"] == oc.Thresholds().stuck_tasks_error
    )


def lag(day: date, p95: float, scene: str = "video", model: str = "kling-v2") -> dict:
    return {
        "terminal_date": day,
        "scene": scene,
        "model": model,
        "job_count": 10,
        "settled_count": 10,
        "pending_count": 0,
        "unsettled_count": 0,
        "p50_lag_seconds": p95 / 4,
        "p95_lag_seconds": p95,
        "p99_lag_seconds": p95,
        "max_lag_seconds": p95,
    }


def test_settlement_p95_warns_over_the_threshold_in_the_runs_days(tmp_path: Path) -> None:
    limit = oc.Thresholds().settlement_p95_seconds
    ok = run(
        tmp_path,
        "settlement_p95",
        {"fct_settlement_lag_daily": [lag(LAST, limit - 1), lag(FIRST - timedelta(days=5), limit * 3)]},
    )  # the slow day is outside the run
    assert ok.passed and ok.metadata["worst_p95_seconds"] == limit - 1
    slow = run(
        tmp_path,
        "settlement_p95",
        {"fct_settlement_lag_daily": [lag(LAST, 60.0, "chat", "gpt"), lag(LAST, limit + 1)]},
    )
    assert not slow.passed and slow.severity == oc.WARN
    assert slow.failures == [f"{LAST} video/kling-v2: p95 {limit + 1:.0f}s"]


def errors_row(error_class: str, count: int, day: date = LAST, is_alert: bool = False) -> dict:
    return {
        "error_date": day,
        "gateway": "main",
        "error_class": error_class,
        "owner": f"owner of {error_class}",
        "error_count": count,
        "request_count": 1000,
        "error_rate": count / 1000,
        "is_alert": is_alert,
    }


@pytest.mark.parametrize(
    ("error_class", "limit", "severity"),
    [
        ("401", oc.Thresholds().errors_401_min, oc.ERROR),
        ("402", oc.Thresholds().errors_402_min, oc.ERROR),
        ("429", oc.Thresholds().errors_429_min, oc.WARN),
        ("5xx", oc.Thresholds().errors_5xx_min, oc.WARN),
        ("400", oc.Thresholds().errors_400_min, oc.WARN),
        ("403", oc.Thresholds().errors_403_min, oc.ERROR),
    ],
)
def test_each_gateway_error_class_is_its_own_check(
    tmp_path: Path, error_class: str, limit: int, severity: str
) -> None:
    name = f"gateway_errors_{error_class}"
    others = [c for c in ("401", "402", "429", "5xx", "400", "403") if c != error_class]
    # Other classes failing hard does not fail this one; this one just under its limit passes.
    under = [errors_row(c, 500) for c in others] + ([errors_row(error_class, limit - 1)] if limit > 1 else [])
    wh = create_marts(tmp_path / "under.duckdb", {"fct_error_alerts_daily": under})
    outcomes = {o.name: o for o in oc.evaluate(wh, WINDOW)}
    assert outcomes[name].passed, outcomes[name].summary
    assert all(not outcomes[f"gateway_errors_{c}"].passed for c in others)
    over = run(tmp_path, name, {"fct_error_alerts_daily": [errors_row(error_class, limit)]})
    assert not over.passed and over.severity == severity and over.owner == f"owner of {error_class}"
    assert over.failures == [f"{LAST} gateway main: {limit} x {error_class} of 1000 requests"]
    # The mart's rate alert fails it too, even under the count; a day outside the run does not.
    alerted = run(tmp_path, name, {"fct_error_alerts_daily": [errors_row(error_class, 0, is_alert=True)]})
    assert not alerted.passed
    old = run(
        tmp_path,
        name,
        {"fct_error_alerts_daily": [errors_row(error_class, 999, day=FIRST - timedelta(days=1))]},
    )
    assert old.passed


def test_gateway_error_owners_default_when_the_mart_has_none(tmp_path: Path) -> None:
    row = {**errors_row("402", 5), "owner": None}
    out = run(tmp_path, "gateway_errors_402", {"fct_error_alerts_daily": [row]})
    assert out.owner == oc.ERROR_OWNERS["402"]


def rate_row(errors: int, requests: int, is_alert: bool, day: date = LAST) -> dict:
    return {
        "error_date": day,
        "gateway": "main",
        "request_count": requests,
        "error_count": errors,
        "error_rate": errors / requests,
        "is_alert": is_alert,
    }


def test_gateway_error_rate_fails_on_the_marts_flag_in_the_runs_days(tmp_path: Path) -> None:
    ok = run(tmp_path, "gateway_error_rate", {"fct_error_rate_daily": [rate_row(2, 20, False)]})
    assert ok.passed and ok.metadata["alert_days"] == 0
    bad = run(
        tmp_path,
        "gateway_error_rate",
        {"fct_error_rate_daily": [rate_row(3, 20, True)]},
        oc.Thresholds(error_rate_overall=0.12),
    )
    assert not bad.passed and bad.severity == oc.WARN
    assert bad.failures == [f"{LAST} gateway main: 3 error(s) of 20 requests (15.0%, limit 12.0%)"]
    old = run(
        tmp_path,
        "gateway_error_rate",
        {"fct_error_rate_daily": [rate_row(9, 20, True, day=FIRST - timedelta(days=1))]},
    )
    assert old.passed


def spend(day: date, anomaly: bool) -> dict:
    return {
        "spend_date": day,
        "gateway": "main",
        "net_spend_usd": Decimal("30" if anomaly else "5"),
        "history_days": 20,
        "anomaly_threshold_usd": 12.0,
        "is_anomaly": anomaly,
    }


def test_spend_anomaly_warns_on_an_anomalous_day(tmp_path: Path) -> None:
    assert run(
        tmp_path,
        "spend_anomaly",
        {"fct_spend_daily": [spend(LAST, False), spend(FIRST - timedelta(days=3), True)]},
    ).passed
    bad = run(tmp_path, "spend_anomaly", {"fct_spend_daily": [spend(FIRST, False), spend(LAST, True)]})
    assert not bad.passed and bad.severity == oc.WARN
    assert bad.failures == [f"{LAST} gateway main: 30.00 USD (above 12.00)"]


def test_spend_anomaly_says_what_a_short_history_compared_against(tmp_path: Path) -> None:
    row = {**spend(LAST, True), "history_days": 3, "history_basis": "short: 3 of 14 previous days"}
    bad = run(tmp_path, "spend_anomaly", {"fct_spend_daily": [row]})
    assert bad.failures == [
        f"{LAST} gateway main: 30.00 USD (above 12.00, compared with short: 3 of 14 previous days)"
    ]
    assert "short or no history: main short: 3 of 14 previous days" in bad.summary


def test_a_missing_mart_fails_the_check_instead_of_crashing(tmp_path: Path) -> None:
    wh = create_marts(tmp_path / "w.duckdb")
    import duckdb

    con = duckdb.connect(str(wh))
    con.execute("drop table fct_settlement_lag_daily")
    con.close()
    outcomes = {o.name: o for o in oc.evaluate(wh, WINDOW)}
    assert not outcomes["settlement_p95"].passed and "missing" in outcomes["settlement_p95"].summary
    assert outcomes["money_at_risk"].passed
    assert all(not o.passed for o in oc.evaluate(tmp_path / "nowhere.duckdb", WINDOW))


def test_thresholds_come_from_the_configs_alerts_block() -> None:
    """The checks read the config's alerts block itself: one source of truth, no second mapping."""
    from orchestration.config import AlertsConfig

    assert oc.Thresholds is AlertsConfig
    t = AlertsConfig(money_at_risk_usd=2.5, errors_429_min=40)
    assert t.money_at_risk_usd == 2.5 and t.error_min("429") == 40 and t.error_min("5xx") == 5
    assert not hasattr(oc, "thresholds_from_config")


def write_config(tmp_path: Path, wh: Path) -> Path:
    cfg = {
        "warehouse": {
            "path": str(wh),
            "landing_dir": str(tmp_path / "landing"),
            "reports_dir": str(tmp_path / "reports"),
        },
        "gateways": [{"name": "main", "dialect": "files", "path": str(tmp_path / "exports")}],
        "app": {
            "database_url_env": "RECON_TEST_APP_DB",
            "jobs_query": "select 1",
            "assets_query": "select 1",
        },
    }
    path = tmp_path / "recon.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def run_checks(recon, webhook=None, **kw) -> dg.ExecuteInProcessResult:
    """The operator checks step alone through Dagster, on marts built by hand (no dbt): the marts
    stand in as partitioned specs, and only the checks are selected."""
    from orchestration.alerts import AlertWebhook
    from orchestration.assets.mart_checks import operator_checks
    from orchestration.partitions import DAILY

    specs = [dg.AssetSpec(m, partitions_def=DAILY) for m in sorted(set(oc.CHECK_MARTS.values()))]
    return dg.materialize(
        [*specs, operator_checks],
        selection=dg.AssetSelection.checks(operator_checks),
        resources={"recon": recon, "alert_webhook": webhook or AlertWebhook()},
        **kw,
    )


def range_tags(first: date, last: date) -> dict[str, str]:
    from orchestration.schedules import range_tags as tags

    return {"tags": tags(first, last)}


def test_every_operator_check_is_a_dagster_asset_check_on_the_mart_it_reads(
    tmp_path: Path, monkeypatch
) -> None:
    from orchestration.resources import ReconResource

    monkeypatch.setenv("RECON_TEST_APP_DB", "sqlite://")
    wh = create_marts(
        tmp_path / "wh.duckdb",
        {
            "fct_reconciliation_mismatches": [
                finding("charged_for_failure", "25.0"),
                finding("stuck_task", n=2),
            ],
            "fct_error_alerts_daily": [errors_row("401", 7)],
            "fct_mismatch_history": [history("charged_for_failure", AS_OF - timedelta(days=1))],
            "fct_settlement_lag_daily": [lag(LAST, 30.0)],
            "fct_spend_daily": [spend(LAST, False)],
        },
    )
    recon = ReconResource(config_path=str(write_config(tmp_path, wh)), as_of=AS_OF.isoformat())
    result = run_checks(recon, **range_tags(LAST, LAST))
    assert result.success
    evals = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evals) == set(oc.CHECKS)
    assert {n: e.asset_key for n, e in evals.items()} == {
        n: dg.AssetKey([m]) for n, m in oc.CHECK_MARTS.items()
    }
    failed = {n: e.severity for n, e in evals.items() if not e.passed}
    assert failed == {
        "money_at_risk": dg.AssetCheckSeverity.ERROR,
        "stuck_tasks": dg.AssetCheckSeverity.WARN,
        "gateway_errors_401": dg.AssetCheckSeverity.ERROR,
    }
    money = evals["money_at_risk"].metadata
    assert money["money_at_risk_usd"].value == pytest.approx(25.0) and money["findings"].value == 2
    assert ": 25.000000 USD" in money["failures"].value
    # the same outcomes as the plain functions give: one source of truth
    plain = {o.name: o.passed for o in oc.evaluate(wh, oc.Window(LAST, LAST, AS_OF))}
    assert plain == {n: e.passed for n, e in evals.items()}


def test_a_range_run_checks_exactly_the_runs_days(tmp_path: Path, monkeypatch) -> None:
    """A run of FIRST..LAST (a backfill, `recon run --start --end`) checks those days, not one
    partition and not the day before: the checks are partitioned like the marts."""
    from orchestration.resources import ReconResource

    monkeypatch.setenv("RECON_TEST_APP_DB", "sqlite://")
    wh = create_marts(
        tmp_path / "wh.duckdb",
        {
            "fct_reconciliation_mismatches": [
                finding("charged_for_failure", "6.0", day=FIRST, n=1),
                finding("charged_for_failure", "6.0", day=LAST, n=2),
                finding("charged_for_failure", "99.0", day=FIRST - timedelta(days=1), n=3),
            ]
        },
    )
    recon = ReconResource(config_path=str(write_config(tmp_path, wh)), as_of=AS_OF.isoformat())
    whole = run_checks(recon, **range_tags(FIRST, LAST))
    money = next(e for e in whole.get_asset_check_evaluations() if e.check_name == "money_at_risk")
    assert not money.passed and money.metadata["money_at_risk_usd"].value == pytest.approx(12.0)
    one = run_checks(recon, **range_tags(LAST, LAST))
    money = next(e for e in one.get_asset_check_evaluations() if e.check_name == "money_at_risk")
    assert money.passed and money.metadata["money_at_risk_usd"].value == pytest.approx(6.0)


def test_the_checks_read_in_the_duckdb_pool_and_the_report_no_longer_runs_them() -> None:
    from orchestration.assets.dbt import DUCKDB_POOL
    from orchestration.assets.mart_checks import operator_checks
    from orchestration.assets.report import daily_report
    from orchestration.definitions import daily_job, defs

    assert daily_report.op.pool == DUCKDB_POOL  # never opens the file while dbt writes it
    assert operator_checks.node_def.pool == DUCKDB_POOL
    assert not list(daily_report.check_keys)
    job = defs.resolve_job_def(daily_job.name)
    assert {k.name for k in job.asset_layer.asset_graph.asset_check_keys} >= set(oc.CHECKS)


def test_severity_maps_to_dagster_and_outcomes_import_no_dagster() -> None:
    """WARN/ERROR become dg.AssetCheckSeverity; the outcome type is a leaf (alerts imports it, not the assets)."""
    import ast

    from orchestration.assets.mart_checks import to_result

    for sev, expect in ((oc.WARN, dg.AssetCheckSeverity.WARN), (oc.ERROR, dg.AssetCheckSeverity.ERROR)):
        r = to_result(oc.CheckOutcome("stuck_tasks", False, sev, "s", "o", ["a"]))
        assert r.severity == expect and r.asset_key == dg.AssetKey([oc.CHECK_MARTS["stuck_tasks"]])
    for module in ("check_outcome.py", "alerts.py", "assets/operator_checks.py"):
        tree = ast.parse((REPO / "orchestration" / module).read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
            a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
        }
        assert "orchestration.assets.mart_checks" not in imported
        if module != "assets/operator_checks.py":
            assert not any(str(m).startswith("orchestration.assets") for m in imported), module
        if module != "alerts.py":
            assert "dagster" not in imported, module


def test_usage_coverage_errors_when_a_day_the_run_needs_is_uncovered(tmp_path: Path) -> None:
    gap = finding(
        "coverage_gap", day=LAST, job_id=None, task_id=None, detail="gateway main holds no complete usage"
    )
    ok = run(
        tmp_path,
        "usage_coverage",
        {
            "fct_reconciliation_mismatches": [
                finding("missing_usage", "1.0"),
                dict(gap, partition_date=FIRST - timedelta(days=1)),
            ]
        },
    )  # outside the run
    assert ok.passed and ok.metadata["uncovered_days"] == 0
    bad = run(tmp_path, "usage_coverage", {"fct_reconciliation_mismatches": [gap]})
    assert not bad.passed and bad.severity == oc.ERROR
    assert bad.failures == [f"{LAST} gateway main: gateway main holds no complete usage"]


def test_money_at_risk_counts_each_jobs_dollars_once_per_direction(tmp_path: Path) -> None:
    """One job charged 0.35 USD for a failure is also a 0.35 USD cost mismatch: 0.35 at risk, not
    0.70; another job's owed money is its own direction, shown separately."""
    out = run(
        tmp_path,
        "money_at_risk",
        {
            "fct_reconciliation_mismatches": [
                finding("charged_for_failure", "0.35", n=1, direction="recoverable"),
                {**finding("cost_mismatch", "0.35", n=1, direction="recoverable"), "finding_id": "c-1"},
                finding("missing_usage", "0.2", n=2, direction="owed"),
                {**finding("cost_mismatch", "0.1", n=2, direction="owed"), "finding_id": "c-2"},
            ]
        },
        oc.Thresholds(money_at_risk_usd=0.5),
    )
    assert out.metadata["money_at_risk_usd"] == pytest.approx(0.55)
    assert out.metadata["recoverable_usd"] == pytest.approx(0.35)
    assert out.metadata["owed_usd"] == pytest.approx(0.2)
    assert not out.passed and out.failures == ["recoverable: 0.350000 USD", "owed: 0.200000 USD"]


def high_tokens(day: date, tokens: int, **kw: object) -> dict:
    return {
        "request_date": day,
        "gateway": "main",
        "model": "m",
        "record_key": f"k{tokens}",
        "request_id": f"r{tokens}",
        "token_name": "prod",
        "total_tokens": tokens,
        "history_requests": 30,
        "history_mean_tokens": 1000.0,
        "history_stddev_tokens": 100.0,
        "threshold_tokens": 1300.0,
        "cap_tokens": None,
        "is_above_usual": True,
        "is_above_cap": False,
        **kw,
    }


def test_high_token_requests_warn_in_the_runs_days_naming_model_request_and_usual(tmp_path: Path) -> None:
    old = run(
        tmp_path,
        "high_token_requests",
        {"fct_high_token_requests": [high_tokens(FIRST - timedelta(days=1), 5000)]},
    )
    assert old.passed and old.metadata["high_token_requests"] == 0
    bad = run(
        tmp_path,
        "high_token_requests",
        {
            "fct_high_token_requests": [
                high_tokens(LAST, 5000),
                high_tokens(LAST, 9000, cap_tokens=8000, is_above_cap=True),
            ]
        },
    )
    assert not bad.passed and bad.severity == oc.WARN
    assert bad.failures[0] == (
        f"{LAST} gateway main model m: request r5000 (token prod) 5000 tokens, above 1300 = "
        "mean 1000 + 3 sd 100 of 30 earlier request(s)"
    )
    assert bad.failures[1].endswith("; above the cap 8000")
    two = run(
        tmp_path,
        "high_token_requests",
        {"fct_high_token_requests": [high_tokens(LAST, 5000)]},
        oc.Thresholds(high_token_requests_warn=2),
    )
    assert two.passed


def firing_rows() -> dict[str, dict[str, list[dict]]]:
    """Per check, mart rows in the run's days that make it fail."""
    totals = {
        "total_date": LAST,
        "gateway": "main",
        "gateway_quota": 1005,
        "detail_quota": 1000,
        "quota_difference": 5,
        "gateway_usd": 0.00201,
        "detail_usd": 0.002,
        "detail_rows": 2,
        "endpoint": "/api/log/self/stat",
        "is_disagreement": True,
    }
    return {
        "money_at_risk": {"fct_reconciliation_mismatches": [finding("charged_for_failure", "25.0")]},
        "new_mismatch_code": {
            "fct_mismatch_history": [
                history("missing_usage", AS_OF - timedelta(days=3), resolved=AS_OF - timedelta(days=2)),
                history("stuck_task", AS_OF, n=2),
            ]
        },
        "stuck_tasks": {"fct_reconciliation_mismatches": [finding("stuck_task")]},
        "settlement_p95": {"fct_settlement_lag_daily": [lag(LAST, 90000.0)]},
        **{
            f"gateway_errors_{c.lower()}": {"fct_error_alerts_daily": [errors_row(c, 50)]}
            for c in oc.ERROR_OWNERS
        },
        "gateway_error_rate": {"fct_error_rate_daily": [rate_row(9, 20, True)]},
        "spend_anomaly": {"fct_spend_daily": [spend(LAST, True)]},
        "usage_coverage": {
            "fct_reconciliation_mismatches": [finding("coverage_gap", job_id=None, task_id=None)]
        },
        "high_token_requests": {"fct_high_token_requests": [high_tokens(LAST, 5000)]},
        "gateway_totals": {"fct_gateway_totals_daily": [totals]},
    }


@pytest.mark.parametrize("name", list(oc.CHECKS))
def test_each_check_is_a_plain_function_of_a_read_only_connection(tmp_path: Path, name: str) -> None:
    """No Dagster, no warehouse path: the function itself on a read-only DuckDB connection passes on
    quiet marts and fails on its own firing rows, with the severity it declares."""
    import duckdb

    rows = firing_rows()
    assert set(rows) == set(oc.CHECKS)
    fn = oc.CHECKS[name]
    quiet = create_marts(tmp_path / "quiet.duckdb")
    loud = create_marts(tmp_path / "loud.duckdb", rows[name])
    with duckdb.connect(str(quiet), read_only=True) as con:
        ok = fn(con, WINDOW, oc.Thresholds())
    with duckdb.connect(str(loud), read_only=True) as con:
        bad = fn(con, WINDOW, oc.Thresholds())
    assert isinstance(ok, oc.CheckOutcome) and ok.name == name and ok.passed, ok.summary
    assert not bad.passed and bad.failures, bad.summary
    errors = {
        "money_at_risk",
        "usage_coverage",
        "gateway_totals",
        "gateway_errors_401",
        "gateway_errors_402",
        "gateway_errors_403",
    }  # the README's table: these error, the rest warn (one stuck task warns)
    assert bad.severity == (oc.ERROR if name in errors else oc.WARN)
