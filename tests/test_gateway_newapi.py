"""new-api extraction over real HTTP to the sandbox: exact frames, net cost per task, edges, auth."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qs, urlparse

import pandas as pd
import pytest

from orchestration.config import GatewayConfig
from orchestration.errors import ExtractionError, GatewayAuthError
from orchestration.gateways import client_for
from orchestration.gateways.newapi.client import NewApiClient
from orchestration.sandbox import SANDBOX_API_KEY, SANDBOX_TOKEN, SANDBOX_USER_ID
from orchestration.sandbox.scenario import build_scenario
from orchestration.sandbox.server import serve


@pytest.fixture(scope="module")
def scenario():
    return build_scenario(seed=11, days=3, jobs_per_day=40)


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_MAIN_TOKEN", SANDBOX_TOKEN)
    monkeypatch.setenv("T_MAIN_USER", SANDBOX_USER_ID)
    monkeypatch.setenv("T_MAIN_KEY", SANDBOX_API_KEY)


def cfg(base_url: str, **kw) -> GatewayConfig:
    base = {
        "name": "main",
        "dialect": "newapi",
        "base_url": base_url,
        "token_env": "T_MAIN_TOKEN",
        "user_id_env": "T_MAIN_USER",
        "max_concurrency": 4,
        "window_minutes": 240,
        "max_attempts": 4,
    }
    base.update(kw)
    return GatewayConfig(**base)


def client(c: GatewayConfig, scenario, logs: list[str] | None = None) -> NewApiClient:
    cl = client_for(c, (logs.append if logs is not None else None))
    assert isinstance(cl, NewApiClient)
    cl.now = scenario.as_of
    cl.backoff_base = 0.01
    return cl


def days(scenario) -> list[datetime]:
    t, out = scenario.range_start, []
    while t < scenario.range_end:
        out.append(t)
        t += timedelta(days=1)
    return out


def extract(cl: NewApiClient, scenario) -> tuple[pd.DataFrame, pd.DataFrame]:
    usage = [cl.usage(d, d + timedelta(days=1)) for d in days(scenario)]
    tasks = [cl.tasks(d, d + timedelta(days=1)) for d in days(scenario)]
    return pd.concat(usage, ignore_index=True), pd.concat(tasks, ignore_index=True)


def expected(scenario, record: str, gateway: str = "main") -> pd.DataFrame:
    df = scenario.canonical()[record]
    return df[df["gateway"] == gateway].reset_index(drop=True)


def assert_same_usage(got: pd.DataFrame, exp: pd.DataFrame) -> None:
    key = ["created_at", "record_key"]
    g = got.sort_values(key).reset_index(drop=True)
    e = exp.sort_values(key).reset_index(drop=True)
    assert len(g) == len(e)
    assert g["record_key"].is_unique
    pd.testing.assert_frame_equal(g, e, check_exact=False, rtol=1e-12)


def assert_net_cost_per_task(got: pd.DataFrame, scenario, gateway: str = "main") -> None:
    exp_tasks = set(expected(scenario, "usage_records", gateway)["task_id"].dropna())
    truth = {k: v for k, v in scenario.truth["net_cost_by_task"].items() if k in exp_tasks}
    net = got[got["task_id"].notna()].groupby("task_id")["cost_usd"].sum()
    assert {k: round(float(v), 6) for k, v in net.items()} == truth
    assert len(truth) > 5


def test_self_endpoint_lands_exactly_the_expected_frames(scenario) -> None:
    logs: list[str] = []
    with serve(scenario) as url:
        usage, tasks = extract(client(cfg(url), scenario, logs), scenario)
    assert_same_usage(usage, expected(scenario, "usage_records"))
    assert_net_cost_per_task(usage, scenario)
    exp_t = (
        expected(scenario, "gateway_tasks").sort_values(["submitted_at", "task_id"]).reset_index(drop=True)
    )
    pd.testing.assert_frame_equal(
        tasks.sort_values(["submitted_at", "task_id"]).reset_index(drop=True), exp_t
    )
    assert (tasks["submitted_at"] > pd.Timestamp("2001-01-01", tz="UTC")).all()  # ms times read as ms
    assert any("windows" in line and "records" in line for line in logs)  # progress lines


def test_admin_endpoint_lands_the_same_usage(scenario) -> None:
    with serve(scenario) as url:
        admin, _ = extract(client(cfg(url, log_endpoint="admin"), scenario), scenario)
    assert_same_usage(admin, expected(scenario, "usage_records"))


def test_token_endpoint_lands_what_it_can_reach_and_refuses_what_it_cannot(scenario) -> None:
    """`/api/log/token` returns the key's latest 100 rows, unpaged and unfiltered: a recent window it
    reaches back past lands exactly (that token's rows); an older one is a loud error, never a gap."""
    mine = sorted(
        (r for r in scenario.newapi_logs if r["token_name"] == "prod-app"),
        key=lambda r: r["created_at"],
        reverse=True,
    )
    oldest_seen = datetime.fromtimestamp(mine[99]["created_at"], tz=scenario.range_end.tzinfo)
    start = oldest_seen.replace(minute=0, second=0) + timedelta(hours=1)
    assert start < scenario.range_end
    tok = cfg("http://placeholder", log_endpoint="token", key_env="T_MAIN_KEY", window_minutes=60)
    logs: list[str] = []
    with serve(scenario) as url:
        cl = client(tok.model_copy(update={"base_url": url}), scenario, logs)
        got = cl.usage(start, scenario.range_end)
        with pytest.raises(ExtractionError, match="does not reach back to this window's start"):
            cl.usage(scenario.range_start, scenario.range_start + timedelta(days=1))
    exp = expected(scenario, "usage_records")
    exp = exp[(exp["token_name"] == "prod-app") & (exp["created_at"] >= start)]
    assert len(exp) > 3
    assert_same_usage(got, exp)
    assert all("sk-sandbox-key" not in line for line in logs)


def test_token_endpoint_with_the_api_key_alone(scenario, monkeypatch) -> None:
    """No system token, no user id: `/api/log/token` with `key_env` reads the key's rows over real HTTP,
    the key is in no log line, and tasks are marked unavailable in coverage instead of failing."""
    monkeypatch.delenv("T_MAIN_TOKEN")
    monkeypatch.delenv("T_MAIN_USER")
    mine = sorted(
        (r for r in scenario.newapi_logs if r["token_name"] == "prod-app"),
        key=lambda r: r["created_at"],
        reverse=True,
    )
    start = datetime.fromtimestamp(mine[99]["created_at"], tz=scenario.range_end.tzinfo).replace(
        minute=0, second=0
    ) + timedelta(hours=1)
    tok = GatewayConfig(
        name="main",
        dialect="newapi",
        base_url="http://placeholder",
        log_endpoint="token",
        key_env="T_MAIN_KEY",
        window_minutes=60,
        max_attempts=4,
    )
    assert tok.token_env is None and tok.user_id_env is None
    logs: list[str] = []
    with serve(scenario) as url:
        cl = client(tok.model_copy(update={"base_url": url}), scenario, logs)
        got = cl.usage(start, scenario.range_end)
        tasks = cl.tasks(start, scenario.range_end)
    exp = expected(scenario, "usage_records")
    exp = exp[(exp["token_name"] == "prod-app") & (exp["created_at"] >= start)]
    assert len(exp) > 3
    assert_same_usage(got, exp)
    assert tasks.empty
    assert cl.last_read is not None and not cl.last_read.complete and not cl.last_read.whole_day
    assert "task status unavailable" in cl.last_read.reason
    assert logs and all(SANDBOX_API_KEY not in line for line in logs)


def test_rows_on_day_edges_land_exactly_once(scenario) -> None:
    exp = expected(scenario, "usage_records")
    with serve(scenario) as url:
        cl = client(cfg(url, window_minutes=60), scenario)
        per_day = {d: cl.usage(d, d + timedelta(days=1)) for d in days(scenario)}
    midnight = [d for d in days(scenario)[1:]]
    for d in midnight:
        on_edge = exp[exp["created_at"] == d]
        assert len(on_edge) >= 1, "the scenario plants rows exactly at 00:00:00"
        assert set(on_edge["record_key"]) <= set(per_day[d]["record_key"])
        prev = per_day[d - timedelta(days=1)]
        assert not set(on_edge["record_key"]) & set(prev["record_key"])
    # the row stamped exactly at the exclusive end of the range is in no day
    everything = pd.concat(per_day.values())
    assert (everything["created_at"] < scenario.range_end).all()
    assert (everything["created_at"] >= scenario.range_start).all()
    assert everything["record_key"].is_unique


def test_wrong_token_is_an_auth_error_naming_the_env_var_and_not_retried(scenario, monkeypatch) -> None:
    monkeypatch.setenv("T_MAIN_TOKEN", "not-the-token")
    logs: list[str] = []
    with serve(scenario) as url:
        cl = client(cfg(url, max_attempts=5), scenario, logs)
        with pytest.raises(GatewayAuthError) as err:
            cl.usage(scenario.range_start, scenario.range_start + timedelta(days=1))
    msg = str(err.value)
    assert "T_MAIN_TOKEN" in msg and "gateway=main" in msg and "endpoint=/api/log/self" in msg
    assert "\n" not in msg and "not-the-token" not in msg
    assert cl.stats.retries == 0 and not any("retry" in line for line in logs)


@pytest.mark.parametrize("later_s", [5, 4 * 3600], ids=["same window", "another window"])
def test_two_rows_under_one_request_id_both_land_once_each(later_s: int) -> None:
    """A request id is not a row's identity (new-api writes error rows and then the consume row under
    one id): two rows with one request id but different content are two rows, not a failed run."""
    sc = build_scenario(seed=11, days=3, jobs_per_day=40)
    day = sc.range_start + timedelta(days=1)
    lo = day.timestamp()
    victim = next(
        r for r in sc.newapi_logs if r.get("request_id") and lo + 3600 < r["created_at"] < lo + 12 * 3600
    )
    twin = dict(victim, created_at=victim["created_at"] + later_s, quota=victim["quota"] + 1)
    sc.newapi_logs.append(twin)
    sc.newapi_logs.sort(key=lambda r: (r["created_at"], r["id"]))
    for i, r in enumerate(sc.newapi_logs, start=1):  # db ids grow with time, as in a real table
        r["id"] = i
    with serve(sc) as url:
        got = client(cfg(url), sc).usage(day, day + timedelta(days=1))
    mine = got[got["request_id"] == victim["request_id"]]
    assert sorted(mine["quota"].tolist()) == [victim["quota"], victim["quota"] + 1]
    assert mine["record_key"].nunique() == 2 and got["record_key"].is_unique
    want = sc.canonical()["usage_records"]
    want = want[
        (want["gateway"] == "main")
        & (want["created_at"] >= day)
        & (want["created_at"] < day + timedelta(days=1))
    ]
    assert sorted(got["record_key"]) == sorted(want["record_key"])


def test_malformed_other_is_a_clear_error_naming_the_row(scenario) -> None:
    sc = build_scenario(seed=11, days=3, jobs_per_day=40)
    day = sc.range_start
    victim = next(r for r in sc.newapi_logs if r.get("request_id") and r["created_at"] >= day.timestamp())
    victim["other"] = '{"model_ratio": 1.5, "admin_info": {'
    with serve(sc) as url, pytest.raises(Exception) as err:
        client(cfg(url), sc).usage(day, day + timedelta(days=1))
    msg = str(err.value)
    assert "gateway=main" in msg and "partition=" in msg and "field=other" in msg
    assert victim["request_id"] in msg


class _OldBuildHandler(BaseHTTPRequestHandler):
    """An older one-api/new-api build the sandbox does not emulate: `data` is a bare list (no total),
    `p` is 0-based, rows have no request_id. Served over real loopback HTTP."""

    rows: ClassVar[list[dict]] = []
    zero_based = True
    gets = 0

    def log_message(self, *_a: object) -> None:
        pass

    def do_GET(self) -> None:
        type(self).gets += 1
        q = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
        lo, hi = int(q["start_timestamp"]), int(q["end_timestamp"])
        size, p = 10, int(q.get("p", 0))  # old builds ignore page_size: 10 rows a page
        if not self.zero_based:
            p = max(p, 1) - 1
        sel = sorted((r for r in self.rows if lo <= r["created_at"] <= hi), key=lambda r: -r["created_at"])
        body = json.dumps({"success": True, "message": "", "data": sel[p * size : (p + 1) * size]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.mark.parametrize("zero_based", [True, False], ids=["pages from 0 (one-api)", "pages from 1"])
def test_older_builds_bare_lists_content_keys_deltas_and_system_refunds(zero_based: bool) -> None:
    day = datetime(2026, 2, 1, tzinfo=UTC)
    t0 = int(day.timestamp())
    rows = [
        {
            "id": i % 1024,
            "created_at": t0 + 600 * i,
            "type": 2,
            "content": "secret prompt",
            "token_name": "app",
            "model_name": "gpt-4o-mini",
            "quota": 1500 + i,
            "prompt_tokens": 100,
            "completion_tokens": 10,
            "use_time": 1,
            "is_stream": False,
            "group": "default",
            "ip": "10.0.0.1",
            "other": json.dumps({"model_ratio": 0.075, "group_ratio": 1}),
        }
        for i in range(37)
    ]
    rows.append(
        {
            "id": 900,
            "created_at": t0 + 3000,
            "type": 2,
            "token_name": "app",
            "model_name": "kling-v1",
            "quota": -20000,
            "other": json.dumps(
                {"task_id": "task_x", "pre_consumed": 175000, "actual_quota": 155000, "quota_delta": -20000}
            ),
        }
    )
    rows.append(
        {
            "id": 901,
            "created_at": t0 + 3000,
            "type": 4,
            "quota": 0,
            "content": "refund $0.35 for task_y",
            "other": "",
        }
    )
    rows.append(dict(rows[3], id=3))  # the same row served twice (an id % 1024 clash): one record
    _OldBuildHandler.rows, _OldBuildHandler.zero_based = rows, zero_based
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OldBuildHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        c = cfg(f"http://127.0.0.1:{server.server_address[1]}", window_minutes=1440, page_size=100)
        cl = client_for(c)
        cl.now = day + timedelta(days=2)
        got = cl.usage(day, day + timedelta(days=1))
    finally:
        server.shutdown()
        server.server_close()
    assert len(got) == 39 and got["record_key"].is_unique
    assert got["record_key"].str.startswith("n:").all()  # the served row's hash, request id or not
    delta = got[got["task_id"] == "task_x"].iloc[0]
    assert delta["record_type"] == "consume" and delta["cost_usd"] == pytest.approx(-0.04)
    assert delta["pre_consumed_quota"] == 175000 and delta["actual_quota"] == 155000
    # the old build's type-4 system refund: amount and task id read from the text (never landed)
    system = got[got["task_id"] == "task_y"].iloc[0]
    assert system["record_type"] == "refund" and system["cost_usd"] == pytest.approx(-0.35)
    assert system["quota"] == 175000
    assert got["cost_usd"].sum() == pytest.approx(sum(1500 + i for i in range(37)) / 500000 - 0.04 - 0.35)


@pytest.mark.parametrize("zero_based", [True, False], ids=["pages from 0 (one-api)", "pages from 1"])
def test_older_builds_bare_lists_are_read_coarse_to_fine(zero_based: bool) -> None:
    """A bare list has no total to size a split: a day probed whole that answers rows is read in its
    window_minutes cells side by side (as before); an empty day is its probe and the page-base probe."""
    day = datetime(2026, 2, 1, tzinfo=UTC)
    t0 = int(day.timestamp())
    rows = [
        {
            "id": i,
            "created_at": t0 + 900 * i,
            "type": 2,
            "token_name": "app",
            "model_name": "m",
            "quota": 7 + i,
        }
        for i in range(90)
    ]
    _OldBuildHandler.rows, _OldBuildHandler.zero_based = rows, zero_based
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OldBuildHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    logs: list[str] = []
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        cl = client_for(cfg(url, page_size=100, window_minutes=60), logs.append)
        cl.now = day + timedelta(days=3)
        _OldBuildHandler.gets = 0
        empty = cl.usage(day + timedelta(days=1), day + timedelta(days=2))
        empty_gets = _OldBuildHandler.gets
        got = cl.usage(day, day + timedelta(days=1))
    finally:
        server.shutdown()
        server.server_close()
    assert len(empty) == 0 and empty_gets == 2
    assert (
        len(got) == 90 and got["record_key"].is_unique and got["quota"].sum() == sum(7 + i for i in range(90))
    )
    assert any("holds no total; split into 24" in ln for ln in logs), logs
