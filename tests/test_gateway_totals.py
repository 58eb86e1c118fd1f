"""The gateway's own totals (issue 21): new-api's /api/log/self/stat read per day over real HTTP,
landed as its own append-only evidence, compared in dbt with the consume rows recon holds, and an
ERROR operator check when they disagree (the sandbox's `stat_quota_skew` is new-api #7105)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from recon_pipeline import pipeline

from orchestration.assets import operator_checks as oc
from orchestration.config import GatewayConfig
from orchestration.errors import GatewayAuthError
from orchestration.gateway_totals import land_totals, totals_dir
from orchestration.gateways import client_for
from orchestration.gateways.newapi.client import NewApiClient
from orchestration.sandbox import SANDBOX_API_KEY, SANDBOX_TOKEN, SANDBOX_USER_ID
from orchestration.sandbox.faults import Faults
from orchestration.sandbox.scenario import build_scenario
from orchestration.sandbox.server import serve


@pytest.fixture(scope="module")
def scenario():
    return build_scenario(seed=11, days=2, jobs_per_day=30)


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_TOKEN", SANDBOX_TOKEN)
    monkeypatch.setenv("T_USER", SANDBOX_USER_ID)
    monkeypatch.setenv("T_KEY", SANDBOX_API_KEY)
    monkeypatch.setenv("T_WRONG_USER", "999")


def client(url: str, scenario, **kw) -> NewApiClient:
    base = {
        "name": "main",
        "dialect": "newapi",
        "base_url": url,
        "token_env": "T_TOKEN",
        "user_id_env": "T_USER",
        "window_minutes": 240,
        "max_attempts": 3,
    }
    cl = client_for(GatewayConfig(**{**base, **kw}))
    assert isinstance(cl, NewApiClient)
    cl.now, cl.backoff_base = scenario.as_of, 0.01
    return cl


def test_the_stat_endpoint_sums_the_days_consume_rows_and_a_skew_shows(scenario) -> None:
    day = scenario.range_start
    with serve(scenario) as url:
        for endpoint in ("self", "admin"):
            cl = client(url, scenario, log_endpoint=endpoint)
            rows = cl.usage(day, day + timedelta(days=1))
            t = cl.totals(day, day + timedelta(days=1))
            held = int(rows.loc[rows["record_type"] == "consume", "quota"].sum())
            assert t is not None and t.quota == held > 0
            assert t.endpoint == {"self": "/api/log/self/stat", "admin": "/api/log/stat"}[endpoint]
            assert (t.window_start, t.window_end) == (day, day + timedelta(days=1))
    with serve(scenario, faults=Faults(stat_quota_skew=7)) as url:
        assert client(url, scenario).totals(day, day + timedelta(days=1)).quota == held + 7


def test_no_total_without_a_stat_endpoint_or_before_the_day_closed(scenario) -> None:
    day = scenario.range_start
    with serve(scenario) as url:
        assert (
            client(url, scenario, log_endpoint="token", key_env="T_KEY").totals(day, day + timedelta(days=1))
            is None
        )
        cl = client(url, scenario)
        cl.now = day + timedelta(days=1, seconds=10)  # within close_lag_seconds of the day's end
        assert cl.totals(day, day + timedelta(days=1)) is None


def test_a_refused_stat_is_an_error_naming_the_endpoint_never_a_zero_total(scenario) -> None:
    day = scenario.range_start
    with (
        serve(scenario) as url,
        pytest.raises(GatewayAuthError, match=r"endpoint=/api/log/self/stat .*T_WRONG_USER"),
    ):
        client(url, scenario, user_id_env="T_WRONG_USER").totals(day, day + timedelta(days=1))


def test_totals_are_append_only_and_an_unchanged_re_read_adds_nothing(tmp_path: Path, scenario) -> None:
    day = scenario.range_start
    with serve(scenario) as url:
        t = client(url, scenario).totals(day, day + timedelta(days=1))
    first = land_totals(tmp_path, day.date(), [t], datetime(2026, 12, 1, tzinfo=UTC))
    assert first is not None and first.name == "totals-000001.parquet"
    assert land_totals(tmp_path, day.date(), [t], datetime(2026, 12, 2, tzinfo=UTC)) is None
    from dataclasses import replace

    second = land_totals(
        tmp_path, day.date(), [replace(t, quota=t.quota + 1)], datetime(2026, 12, 3, tzinfo=UTC)
    )
    assert second is not None and second.name == "totals-000002.parquet"
    assert [
        pq.read_table(p).column("quota").to_pylist()
        for p in sorted(totals_dir(tmp_path, day.date()).iterdir())
    ] == [[t.quota], [t.quota + 1]]


@pytest.mark.slow
def test_a_real_run_compares_the_days_totals_and_the_check_fails_on_a_skewed_stat(
    tmp_path: Path, monkeypatch
) -> None:
    """Two real runs (Dagster, dbt, DuckDB) of the same days over real HTTP: the stat agrees with the
    rows; then the sandbox's stat answers 5 units more and the gateway_totals check fails naming the
    day and both figures, while the first total stays landed."""
    from orchestration.runner import run_range

    faults = Faults()
    with pipeline(tmp_path / "data", end=date(2026, 11, 20), days=2, jobs_per_day=15, faults=faults) as e:
        for k, v in e.env.items():
            monkeypatch.setenv(k, v)
        out = run_range(e.config_path, e.first, e.last, e.as_of, quiet=True)
        window = oc.Window(e.first, e.last, e.as_of)
        ok = next(
            o
            for o in oc.evaluate(out.cfg.warehouse.path, window, out.cfg.alerts)
            if o.name == "gateway_totals"
        )
        assert ok.passed and ok.metadata["compared_days"] == 2, (
            ok.summary
        )  # the demo's one new-api gateway, 2 days

        faults.stat_quota_skew = 5
        out = run_range(e.config_path, e.first, e.last, e.as_of, quiet=True)
        bad = next(
            o
            for o in oc.evaluate(out.cfg.warehouse.path, window, out.cfg.alerts)
            if o.name == "gateway_totals"
        )
        assert not bad.passed and bad.severity == oc.ERROR and bad.metadata["disagreeing_days"] == 2
        assert bad.failures[0].startswith(f"{e.first} gateway ")
        assert (
            "/api/log/self/stat reports quota " in bad.failures[0]
            and ": +5 units (tolerance 1)" in bad.failures[0]
        )
        files = sorted((e.data_dir / "landing" / "gateway_totals").glob("date=*/totals-*.parquet"))
        assert len(files) == 4  # each day's first total and its skewed re-read: nothing replaced


def test_a_build_without_the_stat_route_offers_no_total(scenario, monkeypatch) -> None:
    """A fork or old build answers the stat path with 404 (the sandbox answers it so here)."""
    from orchestration.sandbox import newapi_routes
    from orchestration.sandbox.http_types import json_response

    monkeypatch.setattr(
        newapi_routes, "stat", lambda req, ctx, admin: json_response(404, {"message": "not found"})
    )
    logs: list[str] = []
    day = scenario.range_start
    with serve(scenario) as url:
        cl = client(url, scenario)
        cl.log = logs.append
        assert cl.totals(day, day + timedelta(days=1)) is None
    assert any("/api/log/self/stat answered 404" in ln for ln in logs), logs


def test_a_failing_stat_never_fails_the_days_usage_landing(tmp_path: Path, monkeypatch) -> None:
    """The detail rows are the evidence: a stat answering 400 is a warning, the day's rows land and
    no total is landed for it (a real Dagster run of raw/usage_records over real HTTP)."""
    import dagster as dg

    from orchestration.assets.raw_gateway import usage_records
    from orchestration.resources import GatewaysResource, ReconResource
    from orchestration.sandbox import newapi_routes
    from orchestration.sandbox.http_types import json_response

    monkeypatch.setattr(newapi_routes, "stat", lambda req, ctx, admin: json_response(400, {"message": "bad"}))
    with pipeline(tmp_path / "data", end=date(2026, 11, 20), days=1, jobs_per_day=10) as e:
        for k, v in e.env.items():
            monkeypatch.setenv(k, v)
        recon = ReconResource(config_path=str(e.config_path), as_of=e.as_of.isoformat())
        instance = dg.DagsterInstance.ephemeral()
        result = dg.materialize(
            [usage_records],
            resources={"recon": recon, "gateways": GatewaysResource()},
            partition_key=e.last.isoformat(),
            instance=instance,
        )
        assert result.success
        warned = [
            r.user_message
            for r in instance.all_logs(result.run_id)
            if "own total was not read" in r.user_message
        ]
        assert warned and "partition=2026-11-20" in warned[0] and "HTTP 400" in warned[0]
        landing = e.data_dir / "landing"
        assert list((landing / "usage_records" / "date=2026-11-20").glob("batch-*.parquet"))
        assert not (landing / "gateway_totals").exists()


def test_a_concurrent_writer_of_the_same_day_takes_the_next_number(
    tmp_path: Path, scenario, monkeypatch
) -> None:
    """Two runs of one day land at once: the one that finds its number taken looks again. The other
    run landed the same total: nothing is added; it landed another total: this one takes the next number."""
    from dataclasses import replace

    import orchestration.gateway_totals as gt

    day = scenario.range_start
    with serve(scenario) as url:
        t = client(url, scenario).totals(day, day + timedelta(days=1))
    real = gt.write_new
    other: list[object] = []

    def racing(table, target: Path) -> Path:
        if other:  # the other run lands its total under this name first
            real(other.pop(), target)
            raise FileExistsError(target)
        return real(table, target)

    monkeypatch.setattr(gt, "write_new", racing)
    as_table = lambda x: gt.pa.Table.from_pylist(
        [
            {
                "gateway": x.gateway,
                "day": day.date(),
                "quota": x.quota,
                "quota_per_unit": x.quota_per_unit,
                "endpoint": x.endpoint,
                "filter": x.filter,
                "window_start": x.window_start,
                "window_end": x.window_end,
                "extracted_at": datetime(2026, 12, 1, tzinfo=UTC),
            }
        ],
        schema=gt.SCHEMA,
    )
    other.append(as_table(t))
    assert land_totals(tmp_path, day.date(), [t], datetime(2026, 12, 1, tzinfo=UTC)) is None
    other.append(as_table(replace(t, quota=t.quota + 9)))
    got = land_totals(
        tmp_path, day.date(), [replace(t, quota=t.quota + 3)], datetime(2026, 12, 2, tzinfo=UTC)
    )
    assert got is not None and got.name == "totals-000003.parquet"
    quotas = [
        pq.read_table(p).column("quota")[0].as_py()
        for p in sorted(totals_dir(tmp_path, day.date()).iterdir())
    ]
    assert quotas == [t.quota, t.quota + 9, t.quota + 3]


def test_a_shared_account_sums_one_stat_per_token_name_like_its_usage_read(scenario) -> None:
    """With `token_names:` the detail rows are this app's tokens only: the total is the stat of each
    token name summed, never the whole account's."""
    day = scenario.range_start
    with serve(scenario) as url:
        whole = client(url, scenario).totals(day, day + timedelta(days=1))
        cl = client(url, scenario, token_names=["prod-app"])
        rows = cl.usage(day, day + timedelta(days=1))
        t = cl.totals(day, day + timedelta(days=1))
    held = int(rows.loc[rows["record_type"] == "consume", "quota"].sum())
    assert t is not None and t.quota == held and 0 < held < whole.quota
    assert t.filter == "type=2 token_name=prod-app"
