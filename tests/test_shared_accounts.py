"""Shared gateway accounts (issue 18): another app's traffic on the same new-api / TokenLab account.

Real HTTP to the sandbox (with a partner app's rows added to the account), real landing and real dbt:
with `token_names:` / `groups:` the new-api query is narrowed at the gateway (one query per value),
the TokenLab rows are narrowed in staging, the manifest records the filter, and the partner's
charges produce no orphan_usage and no spend. Without the filter the same rows are orphans (the
test that the filter is what keeps them out).
"""

from __future__ import annotations

import copy
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from test_dbt_models import days_of, land_day, read_table, run_dbt, run_vars

from orchestration.config import GatewayConfig, parse_config
from orchestration.gateways import client_for
from orchestration.sandbox import SANDBOX_TOKEN, SANDBOX_USER_ID, TOKENLAB_KEY_ID, TOKENLAB_TOKEN
from orchestration.sandbox.scenario import build_scenario
from orchestration.sandbox.server import serve

APP_TOKENS = ["prod-app", "legacy-app"]
PARTNER = "partner-app"


def with_partner(sc):
    """The scenario plus a partner app's charges on the same accounts: new-api consume rows under
    token partner-app / group partner, TokenLab charges under key name partner-app."""
    sc = copy.deepcopy(sc)
    logs = list(sc.newapi_logs)
    # chat charges (no task id): a copy must not link to this app's jobs by anything
    charges = [
        r for r in logs if r["type"] == 2 and r.get("request_id") and "task_id" not in str(r.get("other"))
    ]
    for i, r in enumerate(charges[::4]):
        logs.append({**r, "token_name": PARTNER, "group": "partner", "request_id": f"req_partner_{i:04d}"})
    logs.sort(key=lambda r: (r["created_at"], r["id"]))
    for i, r in enumerate(logs, start=1):
        r["id"] = i
    sc.newapi_logs = logs
    lab = [r for r in sc.tokenlab_usage if r["type"] == "charge" and r.get("status") != "failed"][::4]
    for i, r in enumerate(lab):
        sc.tokenlab_usage.append(
            {
                **r,
                "id": f"ur_partner_{i:04d}",
                "request_id": f"req_lab_partner_{i:04d}",
                "task_id": None,
                "api_key_name": PARTNER,
            }
        )
    sc.tokenlab_usage.sort(key=lambda r: (r["created_at"], r["id"]))
    return sc


@pytest.fixture(scope="module")
def scenario():
    return with_partner(build_scenario(seed=11, end=date(2026, 11, 15), days=2, jobs_per_day=30))


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_MAIN_TOKEN", SANDBOX_TOKEN)
    monkeypatch.setenv("T_MAIN_USER", str(SANDBOX_USER_ID))
    monkeypatch.setenv("T_LAB_TOKEN", TOKENLAB_TOKEN)


def gateways(url: str, scoped: bool) -> list[GatewayConfig]:
    scope = {"token_names": APP_TOKENS} if scoped else {}
    return [
        GatewayConfig(
            name="main",
            dialect="newapi",
            base_url=url,
            token_env="T_MAIN_TOKEN",
            user_id_env="T_MAIN_USER",
            window_minutes=720,
            max_attempts=4,
            **scope,
        ),
        GatewayConfig(
            name="lab",
            dialect="tokenlab",
            base_url=url,
            token_env="T_LAB_TOKEN",
            key_id=TOKENLAB_KEY_ID,
            window_minutes=720,
            max_attempts=4,
            **({"token_names": ["lab-prod"]} if scoped else {}),
        ),
    ]


def extract(scenario, scoped: bool, requests: list[str] | None = None):
    """Usage of both gateways over HTTP (plus the manifest facts of main's first day)."""
    from orchestration.assets.raw_gateway import read_each

    frames, reads = [], []
    with serve(scenario) as url:
        for g in gateways(url, scoped):
            cl = client_for(g)
            cl.now = scenario.as_of
            d = scenario.range_start
            while d < scenario.range_end:
                ((read, df),) = read_each(
                    [cl],
                    d.date(),
                    d,
                    d + timedelta(days=1),
                    None,
                    lambda c, d=d: c.usage(d, d + timedelta(days=1)),
                )
                frames.append(df)
                reads.append(read)
                d += timedelta(days=1)
    return pd.concat(frames, ignore_index=True), reads


def test_newapi_is_narrowed_at_the_query_and_the_manifest_records_the_filter(scenario) -> None:
    got, reads = extract(scenario, scoped=True)
    main = got[got["gateway"] == "main"]
    assert not (main["token_name"] == PARTNER).any()  # the gateway never sent them
    # what the scoped queries ask for: this app's tokens, plus the system rows (type 4) that carry
    # none; account-level rows without a token (top-ups, admin notes) are no app's and not read
    from orchestration.sandbox.expected import frame, newapi_usage

    lo, hi = scenario.range_start, scenario.range_end
    rows = [
        newapi_usage(r, "main", scenario.quota_per_unit)
        for r in scenario.newapi_logs
        if r["token_name"] in APP_TOKENS or r["type"] == 4
    ]
    exp = frame([r for r in rows if lo <= r["created_at"] < hi], "usage_records")
    key = ["created_at", "record_key"]
    pd.testing.assert_frame_equal(
        main.sort_values(key).reset_index(drop=True), exp.sort_values(key).reset_index(drop=True)
    )
    # TokenLab's usage endpoint takes no key-name filter: the partner's rows land (evidence) and
    # staging leaves them out
    assert (got.loc[got["gateway"] == "lab", "token_name"] == PARTNER).any()
    main_reads = [r for r in reads if r.gateway == "main"]
    assert all("token_names=prod-app,legacy-app" in r.filter for r in main_reads)
    unscoped, _ = extract(scenario, scoped=False)
    assert (unscoped["token_name"] == PARTNER).sum() > (got["token_name"] == PARTNER).sum() > 0


def dbt_over(scenario, usage: pd.DataFrame, work: Path, scopes: dict) -> Path:
    frames = scenario.canonical()
    frames["usage_records"] = usage
    landing, warehouse = work / "landing", work / "warehouse.duckdb"
    for day in days_of(scenario.truth):
        land_day(frames, landing, day)
    run_dbt(
        ["build", "--full-refresh", "--exclude", "resource_type:unit_test"],
        landing_dir=landing,
        warehouse=warehouse,
        dbt_vars=run_vars(scenario.truth, gateway_scopes=scopes),
        work_dir=work,
    )
    return warehouse


def test_another_apps_rows_are_outside_the_filter_and_never_orphan_usage(scenario, tmp_path) -> None:
    cfg = parse_config(
        {
            "gateways": [g.model_dump(exclude_none=True) for g in gateways("http://x", True)],
            "app": {"database_url_env": "X", "jobs_query": "q", "assets_query": "q"},
        }
    )
    scopes = cfg.dbt_vars()["gateway_scopes"]
    assert scopes == {
        "main": {"token_names": APP_TOKENS, "groups": []},
        "lab": {"token_names": ["lab-prod"], "groups": []},
    }

    got, _ = extract(scenario, scoped=True)
    unscoped, _ = extract(scenario, scoped=False)
    partner_ids = set(unscoped.loc[unscoped["token_name"] == PARTNER, "request_id"])
    assert len(partner_ids) > 5
    wh = dbt_over(scenario, got, tmp_path / "scoped", scopes)
    findings = read_table(wh, "fct_reconciliation_mismatches")
    assert not findings["request_id"].isin(partner_ids).any()
    stg = read_table(wh, "stg_raw__usage_records")
    outside = stg[~stg["is_in_scope"]]
    assert len(outside) > 0 and set(outside["token_name"]) == {PARTNER}
    spend = read_table(wh, "fct_spend_daily")
    lab_in = stg[
        (stg["gateway"] == "lab") & stg["is_in_scope"] & stg["record_type"].isin(["consume", "refund"])
    ]
    assert float(spend.loc[spend["gateway"] == "lab", "net_spend_usd"].sum()) == pytest.approx(
        float(lab_in["cost_usd"].sum()), abs=1e-6
    )

    # the same rows without a filter are orphans: the filter is what keeps them out
    wh2 = dbt_over(scenario, unscoped, tmp_path / "unscoped", {})
    orphans = read_table(wh2, "fct_reconciliation_mismatches")
    orphans = orphans[orphans["mismatch_type"] == "orphan_usage"]
    assert orphans["request_id"].isin(partner_ids).sum() == len(partner_ids)


@pytest.mark.parametrize("bad", [["a'b"], ["x", "x"], [" padded"], [""]])
def test_scope_names_are_validated(bad: list[str]) -> None:
    from orchestration.config import ConfigError

    with pytest.raises(ConfigError) as err:
        parse_config(
            {
                "gateways": [
                    {
                        "name": "m",
                        "dialect": "newapi",
                        "base_url": "http://x",
                        "token_env": "T",
                        "user_id_env": "U",
                        "token_names": bad,
                    }
                ],
                "app": {"database_url_env": "X", "jobs_query": "q", "assets_query": "q"},
            }
        )
    assert "token_names" in str(err.value)


def test_one_query_per_token_name_and_group_plus_the_system_rows() -> None:
    from orchestration.gateways.newapi.client import NewApiClient

    cl = NewApiClient(
        GatewayConfig(
            name="m",
            dialect="newapi",
            base_url="http://x",
            token_env="T",
            user_id_env="U",
            token_names=["a", "b"],
            groups=["g"],
        )
    )
    assert cl._scope_params() == [
        {"token_name": "a", "group": "g"},
        {"token_name": "b", "group": "g"},
        {"type": 4},
    ]
    plain = NewApiClient(
        GatewayConfig(name="m", dialect="newapi", base_url="http://x", token_env="T", user_id_env="U")
    )
    assert plain._scope_params() == [{}]
