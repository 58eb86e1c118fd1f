"""Extraction paced to a gateway's rate limiter, over real HTTP against the sandbox.

The sandbox's `limit_requests`/`limit_window_s` fault is new-api's limiter (N accepted requests per
sliding window per client IP, then 429 with an empty body and no Retry-After). Windows are short
(6 requests per 2 s) so the tests take seconds, not minutes.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pandas as pd
import pytest
from support.sandbox_gateways import newapi_gateway, tokenlab_gateway

from orchestration.config import GatewayConfig
from orchestration.errors import ExtractionError
from orchestration.gateways import client_for
from orchestration.sandbox.faults import Faults
from orchestration.sandbox.scenario import build_scenario
from orchestration.sandbox.server import serve

LIMIT, WINDOW_S = 6, 2.0


@pytest.fixture(scope="module")
def scenario():
    return build_scenario(seed=5, days=1, jobs_per_day=40)


pytestmark = pytest.mark.usefixtures("sandbox_env")  # tests/conftest.py


def newapi(url: str, **kw) -> GatewayConfig:
    base = {"max_concurrency": 4, "window_minutes": 480, "page_size": 5, "rate_limit_wait_seconds": WINDOW_S}
    return newapi_gateway(url, **{**base, **kw})


def extract(
    cfg: GatewayConfig, scenario, faults: Faults
) -> tuple[pd.DataFrame, list[str], object, list[float]]:
    logs: list[str] = []
    with serve(scenario, faults=faults) as url:
        cl = client_for(cfg.model_copy(update={"base_url": url}), logs.append)
        cl.now, cl.backoff_base = scenario.as_of, 0.01
        t = scenario.range_start
        got = cl.usage(t, t + timedelta(days=1))
        return got, logs, url.faults, list(url.faults.arrivals)


def truth(scenario) -> pd.DataFrame:
    with serve(scenario) as url:
        cl = client_for(newapi(url, max_concurrency=1), None)
        cl.now = scenario.as_of
        t = scenario.range_start
        return cl.usage(t, t + timedelta(days=1))


def same(got: pd.DataFrame, exp: pd.DataFrame) -> None:
    key = ["created_at", "record_key"]
    assert got["record_key"].is_unique, "duplicates landed"
    pd.testing.assert_frame_equal(
        got.sort_values(key).reset_index(drop=True), exp.sort_values(key).reset_index(drop=True)
    )


def most_in_any_window(times: list[float], span: float) -> int:
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= span:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def test_unpaced_client_waits_out_a_new_api_limiter_and_extracts_exactly(scenario) -> None:
    exp = truth(scenario)
    got, logs, state, arrivals = extract(
        newapi("http://x"), scenario, Faults(limit_requests=LIMIT, limit_window_s=WINDOW_S)
    )
    accepted = len(arrivals) - state.fired.get("limiter", 0)
    assert accepted > 2 * LIMIT, f"the day must need several limiter windows ({accepted} requests)"
    same(got, exp)
    assert state.fired.get("limiter", 0) > 0, "the limiter never answered 429"
    waited = [line for line in logs if "rate limited" in line and "waiting" in line]
    assert waited, logs
    assert "429 without Retry-After" in waited[0] and "limiter window to refill" in waited[0]
    assert "\n" not in waited[0]
    # the progress line says so too, with pages done / known, pace and ETA
    final = [line for line in logs if "pages/min" in line][-1]
    assert "rate limited" in final and "pages/min" in final and "ETA" in final, final
    # the pause is wall time: concurrent 429s overlap and are counted once, never more than the run took
    waited = float(re.search(r"waited (\d+)s", final)[1])
    elapsed = float(re.search(r", (\d+\.\d)s$", final)[1])
    assert WINDOW_S <= waited <= elapsed + 1, final


def test_paced_client_never_exceeds_its_pace_and_is_never_limited(scenario) -> None:
    exp = truth(scenario)
    rpm = 150  # 2.5 a second: 6 per 2 s would be the limiter's edge, this leaves 0.4 s of margin
    cfg = newapi("http://x", requests_per_minute=rpm)
    got, _logs, state, arrivals = extract(
        cfg, scenario, Faults(limit_requests=LIMIT, limit_window_s=WINDOW_S)
    )
    same(got, exp)
    assert len(arrivals) > 2 * LIMIT
    # the limiter spaces requests 0.4 s apart: no 2 s interval holds more than 1 + 2 * 2.5 = 6 (one more
    # allowed for network jitter between the client's send and the server's arrival stamp)
    assert most_in_any_window(arrivals, WINDOW_S) <= 1 + int(WINDOW_S * rpm / 60) + 1
    span = max(arrivals) - min(arrivals)
    assert span >= (len(arrivals) - 1) * 60 / rpm * 0.9, "requests came faster than the configured pace"
    assert state.fired.get("limiter", 0) <= 1, "a paced client kept hitting the limiter"


def test_retry_after_wins_over_the_limiter_wait(scenario) -> None:
    """A 429 with Retry-After (0.05 s here) waits that, not rate_limit_wait_seconds (60 s here: the test
    would take minutes if it were used)."""
    cfg = newapi("http://x", rate_limit_wait_seconds=60)
    got, logs, state, _ = extract(cfg, scenario, Faults(rate_limit_every=3, retry_after_s=0.05))
    same(got, truth(scenario))
    assert state.fired["429"] > 0
    assert any("after HTTP 429; waiting 0.05s" in line for line in logs), logs
    assert not any("rate limited" in line and "waiting" in line for line in logs)
    for gap, promised, _answered_after in state.retry_after_gaps:
        assert gap >= promised - 0.001


def test_tokenlab_retry_after_in_the_error_body_is_honoured(scenario, monkeypatch) -> None:
    cfg = tokenlab_gateway(
        "http://x", max_concurrency=3, window_minutes=720, page_size=10, rate_limit_wait_seconds=60
    )
    logs: list[str] = []
    with serve(scenario, faults=Faults(rate_limit_every=3, retry_after_s=0.04)) as url:
        cl = client_for(cfg.model_copy(update={"base_url": url}), logs.append)
        cl.now, cl.backoff_base = scenario.as_of, 0.01
        t = scenario.range_start
        got = cl.usage(t, t + timedelta(days=1))
        assert url.faults.fired["429"] > 0
    assert len(got) > 0
    assert any("after HTTP 429; waiting 0.04s" in line for line in logs), logs


def test_a_retry_budget_in_time_ends_with_one_line(scenario) -> None:
    """The limiter never refills within the budget: the request gives up on time, not on a count."""
    cfg = newapi("http://x", rate_limit_wait_seconds=0.3, retry_budget_seconds=1.0, max_concurrency=1)
    with pytest.raises(ExtractionError) as err:
        extract(cfg, scenario, Faults(limit_requests=1, limit_window_s=3600))
    msg = str(err.value)
    assert "\n" not in msg
    assert "gave up after" in msg and "retry_budget_seconds=1 spent" in msg, msg
    assert "last error: HTTP 429 without Retry-After" in msg


def test_sandbox_cli_limit_option_is_checked_before_serving() -> None:
    from click.testing import CliRunner

    from orchestration.cli import main

    r = CliRunner().invoke(main, ["sandbox", "--limit", "lots"])
    assert r.exit_code == 2 and "N/SECONDS" in r.output, r.output
