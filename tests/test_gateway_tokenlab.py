"""TokenLab extraction over real HTTP to the sandbox: exact usage frames, tasks by id, shapes, auth."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from orchestration.config import GatewayConfig
from orchestration.errors import ExtractionError, GatewayAuthError
from orchestration.gateways import client_for
from orchestration.gateways.normalize_tokenlab import find_records, task_row
from orchestration.gateways.tokenlab.client import TokenLabClient
from orchestration.sandbox import TOKENLAB_API_KEY, TOKENLAB_KEY_ID, TOKENLAB_TOKEN
from orchestration.sandbox.scenario import build_scenario
from orchestration.sandbox.server import serve


@pytest.fixture(scope="module")
def scenario():
    return build_scenario(seed=5, days=3, jobs_per_day=40)


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_LAB_TOKEN", TOKENLAB_TOKEN)
    monkeypatch.setenv("T_LAB_KEY", TOKENLAB_API_KEY)


def cfg(url: str, **kw) -> GatewayConfig:
    base = {
        "name": "lab",
        "dialect": "tokenlab",
        "base_url": url,
        "token_env": "T_LAB_TOKEN",
        "key_id": TOKENLAB_KEY_ID,
        "api_key_env": "T_LAB_KEY",
        "max_concurrency": 4,
        "window_minutes": 360,
        "max_attempts": 4,
        "page_size": 50,
    }
    base.update(kw)
    return GatewayConfig(**base)


def client(c: GatewayConfig, scenario, logs: list[str] | None = None) -> TokenLabClient:
    cl = client_for(c, logs.append if logs is not None else None)
    assert isinstance(cl, TokenLabClient)
    cl.now, cl.backoff_base = scenario.as_of, 0.01
    return cl


def days(scenario) -> list:
    n = (scenario.range_end - scenario.range_start).days
    return [scenario.range_start + timedelta(days=i) for i in range(n)]


def expected(scenario, record: str) -> pd.DataFrame:
    df = scenario.canonical()[record]
    return df[df["gateway"] == "lab"].reset_index(drop=True)


def known_task_ids(scenario) -> list[str]:
    """What the app knows: its jobs' task ids plus task ids seen on usage rows (plus one bogus id)."""
    ids = {j["provider_task_id"] for j in scenario.app_jobs if j.get("provider_task_id")}
    ids |= {r["task_id"] for r in scenario.tokenlab_usage if r.get("task_id")}
    return sorted(ids | {"tsk_does_not_exist"})


def test_usage_lands_exactly_the_expected_frames_with_net_cost_per_task(scenario) -> None:
    logs: list[str] = []
    with serve(scenario) as url:
        cl = client(cfg(url), scenario, logs)
        got = pd.concat([cl.usage(d, d + timedelta(days=1)) for d in days(scenario)], ignore_index=True)
    exp = expected(scenario, "usage_records")
    key = ["created_at", "record_key"]
    g, e = got.sort_values(key).reset_index(drop=True), exp.sort_values(key).reset_index(drop=True)
    assert len(g) == len(e) > 20
    pd.testing.assert_frame_equal(g, e)
    tasks = set(e["task_id"].dropna())
    truth = {k: v for k, v in scenario.truth["net_cost_by_task"].items() if k in tasks}
    net = g[g["task_id"].notna()].groupby("task_id")["cost_usd"].sum()
    assert {k: round(float(v), 6) for k, v in net.items()} == truth
    assert (g.loc[g["record_type"] == "refund", "cost_usd"] < 0).all()
    assert any("records" in line for line in logs)


def test_tasks_by_known_id_land_per_submit_day(scenario) -> None:
    logs: list[str] = []
    ids = known_task_ids(scenario)
    with serve(scenario) as url:
        cl = client(cfg(url), scenario, logs)
        got = pd.concat([cl.tasks(d, d + timedelta(days=1), ids) for d in days(scenario)], ignore_index=True)
    exp = expected(scenario, "gateway_tasks")
    exp = exp[exp["task_id"].isin(ids)]
    key = ["submitted_at", "task_id"]
    pd.testing.assert_frame_equal(
        got.sort_values(key).reset_index(drop=True), exp.sort_values(key).reset_index(drop=True)
    )
    assert got["task_id"].is_unique and len(got) > 5
    assert set(got["status"]) <= {"queued", "running", "succeeded", "failed", "unknown"}
    assert any("404" in line for line in logs)


def test_tasks_are_polled_with_the_api_key_and_404_is_coverage(scenario, monkeypatch) -> None:
    """`GET /v1/tasks/{id}` with the sk- key that created the tasks (api_key_env), not the management
    token (here wrong: it is never sent); an unknown task is 404 async_task_not_found, in coverage."""
    monkeypatch.setenv("T_LAB_TOKEN", "mt-wrong")
    monkeypatch.setenv("T_LAB_KEY", TOKENLAB_API_KEY)
    logs: list[str] = []
    ids = known_task_ids(scenario)
    with serve(scenario) as url:
        cl = client(cfg(url, api_key_env="T_LAB_KEY"), scenario, logs)
        got = pd.concat([cl.tasks(d, d + timedelta(days=1), ids) for d in days(scenario)], ignore_index=True)
        reasons = cl.last_read.reason
    assert len(got) > 5
    assert "unknown to the gateway (404 async_task_not_found)" in reasons
    assert all(TOKENLAB_API_KEY not in line for line in logs)


def test_documented_task_fields_created_updated_error_string_cancellation() -> None:
    t = task_row(
        {
            "id": "tsk_1",
            "status": "failed",
            "cancelled": False,
            "cancellation_status": "cancelled",
            "error": "cancelled by user",
            "created": 1773482400,
            "updated": 1773483000,
            "poll_url": "/v1/tasks/tsk_1",
        },
        "lab",
        500000,
        "tsk_1",
    )
    assert t[1] == "tsk_1" and t[2] == "failed" and t[8] is True and t[5] == "cancelled by user"
    assert t[3] == 1773482400 * 1_000_000 and t[4] == 1773483000 * 1_000_000
    running = task_row(
        {"id": "tsk_2", "status": "processing", "created": 1773482400, "updated": 1773482500},
        "lab",
        500000,
        "tsk_2",
    )
    assert running[2] == "running" and running[4] is None  # updated is not an end while it runs


def test_wrong_management_token_is_an_auth_error_naming_the_env_var(scenario, monkeypatch) -> None:
    monkeypatch.setenv("T_LAB_TOKEN", "mt-wrong")
    with serve(scenario) as url:
        cl = client(cfg(url), scenario)
        with pytest.raises(GatewayAuthError) as err:
            cl.usage(scenario.range_start, scenario.range_start + timedelta(days=1))
    assert "T_LAB_TOKEN" in str(err.value) and "mt-wrong" not in str(err.value)
    assert cl.stats.retries == 0


@pytest.mark.parametrize(
    "body,total",
    [
        ({"data": [{"id": 1}], "total": 7}, 7),
        ({"records": [], "pagination": {"page": 1, "total": 0}}, 0),
        ({"data": {"items": [{"id": 1}], "total_count": 3}}, 3),
        ({"object": "list", "data": [{"id": 1}], "has_more": False}, None),
    ],
)
def test_known_response_shapes_are_read(body: dict, total: int | None) -> None:
    recs, got_total, _ = find_records(body, "loc")
    assert isinstance(recs, list) and got_total == total


def test_unknown_response_shape_fails_loudly_naming_the_keys() -> None:
    with pytest.raises(ExtractionError, match="unknown usage response shape; keys seen: meta, usage_rows"):
        find_records({"usage_rows": [], "meta": {}}, "gateway=lab")
    with pytest.raises(ExtractionError, match="rate_limited"):
        find_records({"error": {"message": "slow down", "code": "rate_limited"}}, "gateway=lab")


def test_a_record_that_settles_mid_extraction_keeps_its_settled_copy_and_other_changes_warn() -> None:
    from orchestration.gateways.normalize_tokenlab import usage_row
    from orchestration.gateways.pager import Source
    from orchestration.gateways.tokenlab.client import _SettlingPager

    rec = {
        "type": "charge",
        "request_id": "req_1",
        "task_id": "tsk_1",
        "created_at": "2026-03-01T10:00:00.000Z",
        "scene": "image",
        "logical_model": "flux-1.1-pro",
        "cost": {"amount": "0.040000", "currency": "USD"},
    }
    unsettled = usage_row(rec, "lab", 500000)
    settled = usage_row(dict(rec, billing_transaction_id="btx_9"), "lab", 500000)
    src = Source(
        path="/",
        endpoint="/usage",
        params={},
        normalize=lambda r: r,
        key_of=lambda r: r[1],
        time_of=lambda r: r[3],
        ids_of=lambda r: str(r[1]),
    )
    logs: list[str] = []
    pager = _SettlingPager(
        None,
        src,
        gateway="lab",
        page_size=10,
        max_window_records=100,  # type: ignore[arg-type]
        log=logs.append,
        label="t",
    )
    rows: dict[str, tuple] = {}
    pager.merge(rows, [unsettled], None)
    pager.merge(rows, [settled], None)
    pager.merge(rows, [unsettled], None)  # an older read arriving late does not un-settle it
    assert rows["req_1"][6] == "btx_9"
    costlier = usage_row(dict(rec, cost={"amount": "0.050000", "currency": "USD"}), "lab", 500000)
    assert not logs
    pager.merge(rows, [costlier], None)  # a genuine conflict: a warning, the later copy current
    assert rows["req_1"][15] == 0.05 and pager.conflicts == 1
    assert (
        len(logs) == 1 and "WARNING" in logs[0] and "differing fields: " in logs[0] and "cost_usd" in logs[0]
    )


# ---- issue 18: TokenLab as its docs define it ------------------------------------------------------
def test_task_poll_url_and_response_headers_are_captured_over_http(scenario, monkeypatch) -> None:
    """X-Task-ID and X-Billing-Transaction-ID come from the real response headers, poll_url from the
    body; a task that has not settled has no billing header."""
    monkeypatch.setenv("T_LAB_KEY", TOKENLAB_API_KEY)
    ids = known_task_ids(scenario)
    with serve(scenario) as url:
        cl = client(cfg(url, api_key_env="T_LAB_KEY"), scenario)
        got = pd.concat([cl.tasks(d, d + timedelta(days=1), ids) for d in days(scenario)], ignore_index=True)
    assert len(got) > 5
    assert (got["x_task_id"] == got["task_id"]).all()
    assert (got["poll_url"] == "/v1/tasks/" + got["task_id"]).all()
    served = {t: scenario.tokenlab_tasks[t].get("billing_transaction_id") for t in got["task_id"]}
    assert {
        t: (None if pd.isna(v) else v)
        for t, v in zip(got["task_id"], got["x_billing_transaction_id"], strict=False)
    } == served
    assert got["x_billing_transaction_id"].notna().any() and got["x_billing_transaction_id"].isna().any()


def test_an_expired_task_is_404_in_coverage_not_a_failure(scenario, monkeypatch) -> None:
    """A task not updated for 30 days has expired: 404 async_task_not_found, said in coverage."""
    import copy

    monkeypatch.setenv("T_LAB_KEY", TOKENLAB_API_KEY)
    sc = copy.deepcopy(scenario)
    tid = next(t for t, v in sc.tokenlab_tasks.items() if v["status"] == "completed")
    sc.tokenlab_tasks[tid]["updated"] = int(sc.as_of.timestamp()) - 31 * 86_400
    with serve(sc) as url:
        cl = client(cfg(url, api_key_env="T_LAB_KEY"), sc)
        got = pd.concat([cl.tasks(d, d + timedelta(days=1), [tid]) for d in days(sc)], ignore_index=True)
        reasons = cl.last_read.reason
    assert got.empty and "404 async_task_not_found" in reasons


def test_reserved_settled_byok_and_failed_requests_as_served(scenario) -> None:
    """Over HTTP: a money record without billing_transaction_id is reserved, a settled one carries its
    own settled_at; accessChannel platform | byok lands; a failed request's record is an error row,
    never a charge (read as a charge it would be an orphan_usage)."""
    with serve(scenario) as url:
        cl = client(cfg(url), scenario)
        got = pd.concat([cl.usage(d, d + timedelta(days=1)) for d in days(scenario)], ignore_index=True)
    money = got[got["record_type"].isin(["consume", "refund"])]
    assert (money["is_reserved"] == money["billing_transaction_id"].isna()).all()
    assert money["is_reserved"].any() and (~money["is_reserved"]).any()
    settled = money[~money["is_reserved"]]
    assert settled["settled_at"].notna().all() and (settled["settled_at"] >= settled["created_at"]).all()
    assert money.loc[money["is_reserved"], "settled_at"].isna().all()
    assert set(got["access_channel"].dropna()) == {"platform", "byok"}
    failed = {r["request_id"] for r in scenario.tokenlab_usage if r.get("status") == "failed"}
    rows = got[got["request_id"].isin(failed)]
    assert len(rows) > 0 and (rows["record_type"] == "error").all()
    assert rows["is_reserved"].isna().all() and (rows["error_code"] == "upstream_error").all()
    chat = got[(got["scene"] == "chat") & (got["record_type"] == "consume")]
    assert (chat["total_tokens"] == chat["prompt_tokens"] + chat["completion_tokens"]).all()


@pytest.mark.parametrize(
    "rec",
    [
        {"type": "charge", "status": "failed"},
        {"type": "charge", "status_code": 502},
        {"type": "usage", "error": {"code": "upstream_error", "message": "x"}},
        {"type": "charge", "status": "error", "billing_transaction_id": "btx_1"},
    ],
)
def test_a_failed_request_is_an_error_row_never_a_charge(rec: dict) -> None:
    from orchestration.gateways.normalize import UIDX
    from orchestration.gateways.normalize_tokenlab import usage_row

    row = usage_row(
        {
            "id": "ur_1",
            "request_id": "req_1",
            "created_at": "2026-03-01T10:00:00Z",
            "cost": {"amount": "0.010000", "currency": "USD"},
            **rec,
        },
        "lab",
        500000,
    )
    assert row[UIDX["record_type"]] == "error" and row[UIDX["is_reserved"]] is None


def test_an_unknown_access_channel_is_a_row_error_naming_the_field() -> None:
    from orchestration.errors import RowError
    from orchestration.gateways.normalize_tokenlab import usage_row

    with pytest.raises(RowError) as err:
        usage_row(
            {
                "id": "ur_1",
                "type": "charge",
                "created_at": "2026-03-01T10:00:00Z",
                "accessChannel": "vpn",
                "cost": {"amount": "0.01", "currency": "USD"},
            },
            "lab",
            500000,
        )
    assert err.value.field == "access_channel"
