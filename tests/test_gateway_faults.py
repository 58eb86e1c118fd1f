"""Extraction under the faults real gateways produce: nothing lost, nothing duplicated, clear failures."""

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


@pytest.fixture(scope="module")
def scenario():
    return build_scenario(seed=3, days=2, jobs_per_day=60)


pytestmark = pytest.mark.usefixtures("sandbox_env")  # tests/conftest.py


def newapi(url: str, **kw) -> GatewayConfig:
    base = {"max_concurrency": 6, "window_minutes": 180, "max_attempts": 12, "page_size": 20}
    return newapi_gateway(url, **{**base, **kw})


def lab(url: str, **kw) -> GatewayConfig:
    base = {"max_concurrency": 6, "window_minutes": 360, "max_attempts": 12, "page_size": 10}
    return tokenlab_gateway(url, **{**base, **kw})


def run(c: GatewayConfig, scenario, faults: Faults | None, logs: list[str] | None = None):
    cl = client_for(c, logs.append if logs is not None else None)
    cl.now, cl.backoff_base = scenario.as_of, 0.01
    out = []
    with serve(scenario, faults=faults) as url:
        cl.cfg = c.model_copy(update={"base_url": url})
        t = scenario.range_start
        while t < scenario.range_end:
            out.append(cl.usage(t, t + timedelta(days=1)))
            t += timedelta(days=1)
    return pd.concat(out, ignore_index=True), cl


def expected(scenario, gateway: str) -> pd.DataFrame:
    df = scenario.canonical()["usage_records"]
    return df[df["gateway"] == gateway]


def same(got: pd.DataFrame, exp: pd.DataFrame) -> None:
    key = ["created_at", "record_key"]
    assert got["record_key"].is_unique, "duplicates landed"
    assert len(got) == len(exp), "rows lost or duplicated"
    pd.testing.assert_frame_equal(
        got.sort_values(key).reset_index(drop=True), exp.sort_values(key).reset_index(drop=True)
    )


# Faults hit a shared request counter and pages run concurrently, so a request may meet several in a
# row; the budget (max_attempts 12, backoff base 10 ms) makes exhausting it vanishingly unlikely.
FAULTS = {
    "429 with Retry-After": Faults(rate_limit_every=4, retry_after_s=0.05),
    "5xx": Faults(error_5xx_every=3),
    "latency": Faults(latency_ms=15),
    "truncated json": Faults(truncate_json_every=5),
    "dropped connections": Faults(drop_connection_every=6),
    "clamped page size": Faults(clamp_page_size=7),
    "rows inserted while paging": Faults(insert_while_paging=3),
    "everything at once": Faults(
        rate_limit_every=11,
        retry_after_s=0.02,
        error_5xx_every=13,
        latency_ms=3,
        truncate_json_every=17,
        drop_connection_every=19,
        insert_while_paging=2,
        clamp_page_size=9,
        seed=1,
    ),
}


@pytest.mark.parametrize("name", list(FAULTS))
def test_newapi_loses_and_duplicates_nothing_under(name: str, scenario) -> None:
    logs: list[str] = []
    got, cl = run(newapi("http://placeholder"), scenario, FAULTS[name], logs)
    same(got, expected(scenario, "main"))
    f = FAULTS[name]
    if f.rate_limit_every or f.error_5xx_every or f.truncate_json_every:
        assert cl.stats.retries > 0 and any("retry" in line for line in logs)
    if f.drop_connection_every:
        # httpx retries only connection *establishment*; a dropped answer is ours to retry
        assert cl.stats.retries > 0
    if f.insert_while_paging:
        assert any("changed while paging" in line for line in logs)


@pytest.mark.parametrize(
    "name", ["429 with Retry-After", "5xx", "rows inserted while paging", "everything at once"]
)
def test_tokenlab_loses_and_duplicates_nothing_under(name: str, scenario) -> None:
    got, _ = run(lab("http://placeholder"), scenario, FAULTS[name])
    same(got, expected(scenario, "lab"))


def test_exhausted_retries_fail_with_one_line_naming_where(scenario) -> None:
    c = newapi("http://placeholder", max_attempts=3)
    with pytest.raises(ExtractionError) as err:
        run(c, scenario, Faults(error_5xx_every=1))
    msg = str(err.value)
    assert "\n" not in msg
    assert re.fullmatch(
        r"gateway=main endpoint=/api/log/self window=\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ, "
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\) page=1: gave up after 3 attempts; last error: HTTP 5\d\d",
        msg,
    ), msg


def test_exhausted_retries_on_a_later_page_name_that_page(scenario) -> None:
    c = newapi("http://placeholder", max_attempts=2, max_concurrency=1, window_minutes=1440)
    # every 2nd request fails: page 1 succeeds, the next request (page 2) fails twice in a row
    with pytest.raises(ExtractionError, match=r"page=(?!1:)\d+: gave up after 2 attempts"):
        run(c, scenario, Faults(error_5xx_every=2, seed=0, rate_limit_every=0, truncate_json_every=3))


def test_timeouts_are_retried_then_reported(scenario) -> None:
    c = newapi("http://placeholder", max_attempts=2, timeout_seconds=0.05)
    with pytest.raises(ExtractionError, match=r"gave up after 2 attempts; last error: timeout"):
        run(c, scenario, Faults(latency_ms=300))
