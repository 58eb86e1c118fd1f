"""The sandbox server over real loopback HTTP: one test per gateway quirk and per fault knob."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime

import httpx
import pandas as pd
import pytest

from orchestration.sandbox import (
    SANDBOX_API_KEY,
    SANDBOX_TOKEN,
    SANDBOX_USER_ID,
    TOKENLAB_API_KEY,
    TOKENLAB_KEY_ID,
    TOKENLAB_TOKEN,
)
from orchestration.sandbox.bulk import bulk_scenario
from orchestration.sandbox.expected import frame, newapi_usage, tokenlab_usage
from orchestration.sandbox.faults import Faults
from orchestration.sandbox.scenario import build_scenario
from orchestration.sandbox.server import serve

END = date(2026, 11, 21)
NEWAPI = {"Authorization": f"Bearer {SANDBOX_TOKEN}", "New-Api-User": SANDBOX_USER_ID}
LAB = {"Authorization": f"Bearer {TOKENLAB_TOKEN}"}
USAGE = f"/v1/management/api-keys/{TOKENLAB_KEY_ID}/usage"


@pytest.fixture(scope="module")
def sc():
    return build_scenario(seed=7, end=END)


@pytest.fixture(scope="module")
def client(sc):
    with serve(sc) as url, httpx.Client(base_url=url, timeout=10) as c:
        yield c


def logs(c: httpx.Client, path: str = "/api/log/self", **params) -> dict:
    r = c.get(path, headers=NEWAPI, params=params)
    assert r.status_code == 200
    body = r.json()
    assert body["success"] is True, body
    return body["data"]


# ---- new-api -------------------------------------------------------------------------------------
def test_auth_pair_is_required(client):
    assert logs(client)["total"] > 0
    only_token = client.get("/api/log/self", headers={"Authorization": NEWAPI["Authorization"]})
    wrong_user = client.get("/api/log/self", headers={**NEWAPI, "New-Api-User": "2"})
    for r in (only_token, wrong_user):
        assert r.status_code == 200 and r.json()["success"] is False


def test_wrong_token_is_http_200_with_success_false(client):
    r = client.get("/api/log/self", headers={**NEWAPI, "Authorization": "Bearer nope"})
    assert r.status_code == 200
    assert r.json()["success"] is False and r.json()["message"]


def test_missing_authorization_header_is_401(client):
    r = client.get("/api/log/self", headers={"New-Api-User": SANDBOX_USER_ID})
    assert r.status_code == 401 and r.json()["success"] is False


def test_page_below_one_becomes_one(client):
    first = logs(client, p=1)
    for p in (0, -3, "x"):
        d = logs(client, p=p)
        assert d["page"] == 1 and d["items"] == first["items"]


def test_page_size_defaults_to_10_and_is_capped_at_100(client):
    d = logs(client)
    assert d["page_size"] == 10 and len(d["items"]) == 10
    d = logs(client, page_size=1000)
    assert d["page_size"] == 100 and len(d["items"]) == 100


def test_timestamps_are_inclusive_at_both_ends(client, sc):
    t = sc.newapi_logs[len(sc.newapi_logs) // 2]["created_at"]
    exact = logs(client, start_timestamp=t, end_timestamp=t, page_size=100)
    want = [r for r in sc.newapi_logs if r["created_at"] == t]
    assert exact["total"] == len(want) >= 1
    assert all(i["created_at"] == t for i in exact["items"])
    edge = int(sc.range_end.timestamp())  # a row sits exactly on the day edge
    assert logs(client, start_timestamp=edge - 10, end_timestamp=edge)["total"] >= 1
    assert (
        logs(client, start_timestamp=edge - 10, end_timestamp=edge - 1)["total"]
        < logs(client, start_timestamp=edge - 10, end_timestamp=edge)["total"]
    )


def test_newest_first_with_limit_offset(client):
    p1 = logs(client, "/api/log/", page_size=50, p=1)["items"]
    p2 = logs(client, "/api/log/", page_size=50, p=2)["items"]
    ids = [i["id"] for i in p1 + p2]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 100
    times = [i["created_at"] for i in p1 + p2]
    assert times == sorted(times, reverse=True)


def test_user_endpoint_id_is_not_the_db_id(client):
    admin = logs(client, "/api/log/", page_size=20, p=2)["items"]
    user = logs(client, page_size=20, p=2)["items"]
    assert [i.get("request_id") for i in admin] == [i.get("request_id") for i in user]
    assert [i["id"] for i in user] == list(range(21, 41))  # position in the result
    assert [i["id"] for i in admin] != [i["id"] for i in user]


def test_other_is_a_json_string_with_noise_keys(client):
    items = logs(client, page_size=100, type=2)["items"]
    assert all(isinstance(i["other"], str) for i in items)
    others = [json.loads(i["other"]) for i in items if i["other"]]
    assert any("admin_info" in o and "upstream_model_name" in o and "request_path" in o for o in others)
    assert any(o.get("is_task") and o.get("task_id") for o in others)


def test_noise_fields_are_present(client):
    item = logs(client, page_size=1, type=2)["items"][0]
    for k in ("ip", "channel", "channel_name", "token_id", "content", "username", "use_time", "is_stream"):
        assert k in item


def test_filters_type_model_token_group_request_id(client, sc):
    assert all(i["type"] == 6 for i in logs(client, type=6, page_size=100)["items"])
    assert all(i["model_name"] == "gpt-4o-mini" for i in logs(client, model_name="gpt-4o-mini")["items"])
    assert all(i["group"] == "vip" for i in logs(client, group="vip")["items"])
    assert logs(client, token_name="no-such-token")["total"] == 0
    rid = next(r["request_id"] for r in sc.newapi_logs if r.get("request_id"))
    d = logs(client, request_id=rid)
    assert d["total"] == 1 and d["items"][0]["request_id"] == rid
    assert all(
        "request_id" not in i for i in logs(client, type=1, page_size=100)["items"]
    )  # omitted when empty


def test_token_endpoint_returns_latest_100_unpaged(client):
    r = client.get("/api/log/token", params={"key": SANDBOX_API_KEY, "p": 3, "page_size": 5})
    body = r.json()
    assert r.status_code == 200 and body["success"] is True
    assert isinstance(body["data"], list) and len(body["data"]) == 100
    bad = client.get("/api/log/token", params={"key": "sk-wrong"})
    assert bad.status_code == 200 and bad.json()["success"] is False


def test_task_rows_statuses_progress_and_mj_milliseconds(client):
    items = []
    for p in (1, 2):
        r = client.get("/api/task/self", headers=NEWAPI, params={"p": p, "page_size": 100}).json()
        assert r["success"] is True
        items += r["data"]["items"]
    statuses = {i["status"] for i in items}
    assert {"SUCCESS", "FAILURE", "IN_PROGRESS", "QUEUED", "NOT_START"} <= statuses
    assert all(i["progress"].endswith("%") for i in items)
    mj = [i for i in items if i["platform"] == "mj"]
    other = [i for i in items if i["platform"] != "mj"]
    assert mj and all(i["submit_time"] > 10**12 for i in mj)  # milliseconds
    assert all(i["submit_time"] < 10**11 for i in other)  # seconds
    assert all(i["task_id"].startswith("task_") and len(i["task_id"]) == 37 for i in items)


def test_task_time_filter_is_on_submit_time_inclusive(client, sc):
    t = next(r for r in sc.newapi_tasks if r["platform"] != "mj")["submit_time"]
    r = client.get("/api/task/self", headers=NEWAPI, params={"start_timestamp": t, "end_timestamp": t}).json()
    assert r["data"]["total"] >= 1 and all(i["submit_time"] == t for i in r["data"]["items"])
    mj = next(r for r in sc.newapi_tasks if r["platform"] == "mj")
    s = mj["submit_time"] // 1000
    r = client.get("/api/task/", headers=NEWAPI, params={"start_timestamp": s, "end_timestamp": s + 1}).json()
    assert mj["task_id"] in {i["task_id"] for i in r["data"]["items"]}


# ---- TokenLab --------------------------------------------------------------------------------------
def test_tokenlab_paging_default_limit_and_cap(client, sc):
    r = client.get(USAGE, headers=LAB)
    body = r.json()
    assert r.status_code == 200 and len(body["data"]) == 50 and body["pagination"]["limit"] == 50
    assert body["pagination"]["total"] == len(sc.tokenlab_usage)
    capped = client.get(USAGE, headers=LAB, params={"limit": 500}).json()
    assert capped["pagination"]["limit"] == 100 and len(capped["data"]) == 100
    seen = []
    for page in range(1, capped["pagination"]["total_pages"] + 1):
        seen += client.get(USAGE, headers=LAB, params={"limit": 100, "page": page}).json()["data"]
    assert len({r["id"] for r in seen}) == len(sc.tokenlab_usage)
    times = [r["created_at"] for r in seen]
    assert times == sorted(times, reverse=True)


def test_tokenlab_dates_are_inclusive_and_filters_apply(client, sc):
    day = sc.end.isoformat()
    d = client.get(USAGE, headers=LAB, params={"startDate": day, "endDate": day, "limit": 100}).json()
    want = [r for r in sc.tokenlab_usage if r["created_at"].startswith(day)]
    assert d["pagination"]["total"] == len(want) > 0
    t = want[0]["created_at"]
    exact = client.get(USAGE, headers=LAB, params={"startDate": t, "endDate": t}).json()
    assert exact["pagination"]["total"] >= 1 and all(r["created_at"] == t for r in exact["data"])
    imgs = client.get(USAGE, headers=LAB, params={"scene": "image", "limit": 100}).json()["data"]
    assert imgs and all(r["scene"] == "image" for r in imgs)


def test_tokenlab_billing_transaction_id_only_once_settled(client, sc):
    data = []
    for page in (1, 2, 3):
        data += client.get(USAGE, headers=LAB, params={"limit": 100, "page": page}).json()["data"]
    settled = [r for r in data if r["status"] == "settled"]
    pending = [r for r in data if r["status"] == "pending"]
    assert settled and pending
    assert all(r.get("billing_transaction_id") for r in settled)
    assert all("billing_transaction_id" not in r for r in pending)


@pytest.mark.parametrize(
    "headers,params,path,status,etype",
    [
        ({}, {}, USAGE, 401, "authentication_error"),
        ({"Authorization": "Bearer mt-wrong"}, {}, USAGE, 401, "authentication_error"),
        ({"Authorization": "Bearer sk-not-management"}, {}, USAGE, 403, "permission_error"),
        (LAB, {"limit": "abc"}, USAGE, 400, "invalid_request_error"),
        (LAB, {"page": 0}, USAGE, 400, "invalid_request_error"),
        (LAB, {"startDate": "yesterday"}, USAGE, 400, "invalid_request_error"),
        (LAB, {}, "/v1/management/api-keys/key_other/usage", 404, "not_found_error"),
        (LAB, {}, "/v1/tasks/tsk_missing", 404, "not_found_error"),
    ],
)
def test_tokenlab_error_body(client, headers, params, path, status, etype):
    r = client.get(path, headers=headers, params=params)
    assert r.status_code == status
    body = r.json()
    assert set(body["error"]) >= {"message", "type", "code", "param", "retryable", "retry_after"}
    assert body["error"]["type"] == etype and body["request_id"]
    assert body["error"]["retryable"] is False
    if status == 400:
        assert body["error"]["param"] in ("limit", "page", "startDate")


def test_tokenlab_task_states_and_headers(client, sc):
    states = {}
    for tid, t in sc.tokenlab_tasks.items():
        states.setdefault((t["status"], bool(t.get("cancelled"))), tid)
    assert {("completed", False), ("failed", False), ("failed", True), ("processing", False)} <= set(states)
    key = {"Authorization": f"Bearer {TOKENLAB_API_KEY}"}  # tasks: the API key that created them
    for (status, cancelled), tid in states.items():
        wrong = client.get(f"/v1/tasks/{tid}", headers=LAB)  # the management token cannot see tasks
        assert wrong.status_code == 404 and wrong.json()["error"]["code"] == "async_task_not_found"
        r = client.get(f"/v1/tasks/{tid}", headers=key)
        assert r.status_code == 200 and r.headers["X-Task-ID"] == tid
        body = r.json()
        assert body["status"] == status and bool(body.get("cancelled")) == cancelled
        # the documented fields: created / updated integer epochs, error a string, poll_url
        assert isinstance(body["created"], int) and isinstance(body["updated"], int)
        assert body["updated"] >= body["created"] and body["poll_url"] == f"/v1/tasks/{tid}"
        assert (body.get("cancellation_status") == "cancelled") == cancelled
        assert isinstance(body["error"], str) if status == "failed" else body["error"] is None
        if body.get("billing_transaction_id"):
            assert r.headers["X-Billing-Transaction-ID"] == body["billing_transaction_id"]
        else:
            assert "X-Billing-Transaction-ID" not in r.headers
    assert (
        states[("processing", False)]
        and "billing_transaction_id" not in sc.tokenlab_tasks[states[("processing", False)]]
    )


# ---- faults ---------------------------------------------------------------------------------------
def test_fault_rate_limit_every_nth_with_retry_after(sc):
    with (
        serve(sc, faults=Faults(rate_limit_every=3, retry_after_s=0.25)) as url,
        httpx.Client(base_url=url) as c,
    ):
        codes = [c.get("/api/log/self", headers=NEWAPI).status_code for _ in range(6)]
        lab = [c.get(USAGE, headers=LAB) for _ in range(3)]
    assert codes == [200, 200, 429, 200, 200, 429]
    r = lab[2]
    assert r.status_code == 429 and r.headers["Retry-After"] == "0.25"
    assert r.json()["error"]["retryable"] is True and r.json()["error"]["retry_after"] == 0.25


def test_fault_5xx_every_nth(sc):
    with serve(sc, faults=Faults(error_5xx_every=2)) as url, httpx.Client(base_url=url) as c:
        codes = [c.get("/api/log/self", headers=NEWAPI).status_code for _ in range(8)]
        lab = c.get(USAGE, headers=LAB)
        lab = c.get(USAGE, headers=LAB)
    assert codes[0::2] == [200] * 4 and all(code >= 500 for code in codes[1::2])
    assert len(set(codes[1::2])) > 1  # 502, 503, 500, 504 in turn
    assert lab.status_code >= 500 and lab.json()["error"]["retryable"] is True


def test_fault_latency_per_page(sc):
    with serve(sc, faults=Faults(latency_ms=80)) as url, httpx.Client(base_url=url) as c:
        t0 = time.perf_counter()
        for _ in range(3):
            c.get("/api/log/self", headers=NEWAPI)
        elapsed = time.perf_counter() - t0
    assert elapsed >= 0.24


def test_fault_insert_while_paging_shifts_pages_and_grows_total(sc):
    with serve(sc, faults=Faults(insert_while_paging=3)) as url, httpx.Client(base_url=url) as c:
        p1 = logs(c, page_size=10, p=1)
        p2 = logs(c, page_size=10, p=2)
        again = logs(c, page_size=10, p=1)
    assert p2["total"] == p1["total"] + 3
    naive = [i.get("request_id") or i["created_at"] for i in p1["items"] + p2["items"]]
    assert len(set(naive)) < len(naive)  # a naive client sees duplicates
    assert again["items"][3:] == [{**i, "id": i["id"] + 3} for i in p1["items"][:7]]


def test_fault_clamp_page_size(sc):
    with serve(sc, faults=Faults(clamp_page_size=7)) as url, httpx.Client(base_url=url) as c:
        d = logs(c, page_size=100)
        lab = c.get(USAGE, headers=LAB, params={"limit": 100}).json()
    assert len(d["items"]) == 7 and d["page_size"] == 7
    assert len(lab["data"]) == 7 and lab["pagination"]["limit"] == 7


def test_fault_truncated_json(sc):
    with serve(sc, faults=Faults(truncate_json_every=2)) as url, httpx.Client(base_url=url) as c:
        ok = c.get("/api/log/self", headers=NEWAPI)
        bad = c.get("/api/log/self", headers=NEWAPI)
    assert ok.status_code == bad.status_code == 200
    ok.json()
    with pytest.raises(json.JSONDecodeError):
        json.loads(bad.content)


def test_fault_dropped_connection(sc):
    with serve(sc, faults=Faults(drop_connection_every=2)) as url, httpx.Client(base_url=url) as c:
        assert c.get("/api/log/self", headers=NEWAPI).status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            c.get("/api/log/self", headers=NEWAPI)
        assert c.get("/api/log/self", headers=NEWAPI).status_code == 200
        assert url.faults.fired["drop"] == 1


def test_faults_are_deterministic_given_a_seed(sc):
    def run(seed: int) -> list[int]:
        with (
            serve(sc, faults=Faults(rate_limit_every=4, error_5xx_every=5, seed=seed)) as url,
            httpx.Client(base_url=url) as c,
        ):
            return [c.get("/api/log/self", headers=NEWAPI).status_code for _ in range(12)]

    assert run(1) == run(1)
    assert run(1) != run(2)


# ---- throughput and bulk ----------------------------------------------------------------------------
def test_keep_alive_throughput_at_least_400_small_pages_per_second(client):
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 1.0:
        logs(client, page_size=10, p=n % 20 + 1)
        n += 1
    assert n / (time.perf_counter() - t0) >= 400


def test_bulk_mode_serves_a_million_rows_on_demand():
    b = bulk_scenario(1_000_000, date(2026, 11, 20), seed=2)
    with serve(b) as url, httpx.Client(base_url=url) as c:
        whole = logs(c, page_size=100)
        hour = logs(c, page_size=100, start_timestamp=b.day_start + 3600, end_timestamp=b.day_start + 7199)
        last = logs(
            c,
            page_size=100,
            p=(hour["total"] + 99) // 100,
            start_timestamp=b.day_start + 3600,
            end_timestamp=b.day_start + 7199,
        )
    assert whole["total"] == 1_000_000 and whole["items"][0]["created_at"] < b.day_start + 86_400
    assert 41_000 < hour["total"] < 42_000
    assert last["items"][-1]["created_at"] == b.day_start + 3600
    assert datetime.fromtimestamp(hour["items"][0]["created_at"], UTC).hour == 1


def test_run_sandbox_serves_the_demo_until_ctrl_c():
    import signal
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # A child inherits an ignored or blocked SIGINT (exec keeps both), and the pytest-xdist worker this
    # runs in may hold one by then (the full suite hung here, the file alone did not): the child first
    # takes SIGINT back as a shell's foreground command has it, then serves.
    code = (
        "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT}); "
        f"from orchestration.sandbox.server import run_sandbox; run_sandbox({port}, 5)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/log/self", headers=NEWAPI, timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, (
                    proc.stderr.read() if proc.stderr else ""
                )
                time.sleep(0.2)
        assert r.json()["success"] is True and r.json()["data"]["total"] > 100
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert f"127.0.0.1:{port}" in out and "sandbox-token" not in out


def test_served_rows_map_exactly_to_the_canonical_frames(client, sc):
    """What the server serves for the range is what canonical() says a perfect extractor lands."""
    lo, hi = int(sc.range_start.timestamp()), int(sc.range_end.timestamp()) - 1
    served, p = [], 1
    while True:
        d = logs(client, "/api/log/", page_size=100, p=p, start_timestamp=lo, end_timestamp=hi)
        served += d["items"]
        if p * 100 >= d["total"]:
            break
        p += 1
    rows = [newapi_usage(r, "main", sc.quota_per_unit) for r in served]
    day_from, day_to = sc.start.isoformat(), sc.end.isoformat()
    lab, page = [], 1
    while True:
        body = client.get(
            USAGE, headers=LAB, params={"page": page, "limit": 100, "startDate": day_from, "endDate": day_to}
        ).json()
        lab += body["data"]
        if not body["pagination"]["has_more"]:
            break
        page += 1
    rows += [tokenlab_usage(r, "lab") for r in lab]
    got = frame(rows, "usage_records").sort_values("record_key").reset_index(drop=True)
    want = sc.canonical()["usage_records"].sort_values("record_key").reset_index(drop=True)
    assert len(got) == len(want)
    pd.testing.assert_frame_equal(got, want)
