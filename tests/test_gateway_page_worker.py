"""The page worker (a child process that decodes and normalizes big windows' pages) lands exactly what
the in-process path lands, under every fault, and its errors read the same."""

from __future__ import annotations

from datetime import timedelta

import pytest
from test_gateway_faults import FAULTS, _env, expected, newapi, run, same  # noqa: F401 (_env: autouse)

from orchestration.gateways import pager
from orchestration.sandbox.scenario import build_scenario
from orchestration.sandbox.server import serve


@pytest.fixture(scope="module")
def scenario():
    return build_scenario(seed=3, days=2, jobs_per_day=60)


@pytest.fixture(autouse=True)
def _force_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every window with a page after its probe goes through the worker, which is waited for."""
    monkeypatch.setattr(pager, "WORKER_MIN_PAGES", 1)
    monkeypatch.setattr(pager, "WORKER_WAIT", True)


@pytest.mark.parametrize("name", ["none", "truncated json", "dropped connections", "rows inserted while paging",
                                  "everything at once"])
def test_worker_lands_exactly_the_expected_rows_under(name: str, scenario) -> None:
    logs: list[str] = []
    got, _ = run(newapi("http://placeholder", page_size=5), scenario, FAULTS.get(name), logs)
    same(got, expected(scenario, "main"))
    assert any("normalized by the page worker" in line for line in logs), logs[-5:]


def test_worker_reports_a_bad_row_like_the_loop_does(scenario) -> None:
    sc = build_scenario(seed=3, days=2, jobs_per_day=60)
    day = sc.range_start
    rows = sorted((r for r in sc.newapi_logs if r.get("request_id") and r["created_at"] >= day.timestamp()),
                  key=lambda r: r["created_at"])
    victim = rows[len(rows) // 2]  # not on the first page of its window: a page the worker reads
    victim["other"] = '{"model_ratio": 1.5, "admin_info": {'
    messages = []
    for wait in (True, False):
        pager.WORKER_WAIT = wait
        pager.WORKER_MIN_PAGES = 1 if wait else 10**9
        c = newapi("http://placeholder", page_size=5, window_minutes=1440)
        with serve(sc) as url, pytest.raises(Exception) as err:
            from orchestration.gateways import client_for

            cl = client_for(c.model_copy(update={"base_url": url}))
            cl.now, cl.backoff_base = sc.as_of, 0.01
            cl.usage(day, day + timedelta(days=1))
        messages.append((type(err.value), str(err.value)))
    assert messages[0] == messages[1]
    assert "field=other" in messages[0][1] and victim["request_id"] in messages[0][1]


def test_a_worker_that_dies_mid_run_leaves_its_pages_to_the_loop(scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker process is killed after a few pages: the pages it had, and all later ones, are done
    in process; nothing is lost or duplicated and no error surfaces."""
    from orchestration.gateways import page_worker

    calls = {"n": 0}
    real_rows = page_worker.PageWorker.rows

    async def rows(self, spec, content, window, page):
        calls["n"] += 1
        if calls["n"] == 4 and self._proc is not None:
            self._proc.kill()
        return await real_rows(self, spec, content, window, page)

    monkeypatch.setattr(page_worker.PageWorker, "rows", rows)
    logs: list[str] = []
    got, _ = run(newapi("http://placeholder", page_size=5), scenario, None, logs)
    same(got, expected(scenario, "main"))
    assert calls["n"] >= 4
