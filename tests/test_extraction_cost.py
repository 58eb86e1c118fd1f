"""What an extraction costs in requests, over real HTTP against the sandbox (coarse-to-fine windows).

A daily run re-reads its day and the lookback days. Before, every `window_minutes` cell (an hour) of
every day cost at least one probe, so an empty day was hundreds of GETs, minutes at new-api's default
limiter. Now a day's closed cells are probed as one window and paged whole when quiet; only a day that
holds more than one window's budget splits back onto the grid. Each test compares with the old
behaviour (`probe_window_minutes` = `window_minutes`: one probe per cell) where it makes the point.
"""

from __future__ import annotations

import itertools
import math
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime

import pandas as pd
import pytest
from support.sandbox_gateways import newapi_gateway, tokenlab_gateway

from orchestration.gateways import client_for
from orchestration.gateways.windows import Window, closed, coarse, cut, group
from orchestration.sandbox.bulk import bulk_scenario
from orchestration.sandbox.faults import Faults
from orchestration.sandbox.scenario import build_scenario
from orchestration.sandbox.server import serve

pytestmark = pytest.mark.usefixtures("sandbox_env")  # tests/conftest.py

END = date(2026, 11, 20)
LOOKBACK = 3
LOG, TASKS, LAB = "/api/log/self", "/api/task/self", "/v1/management/api-keys/key_demo/usage"


@pytest.fixture(scope="module")
def scenario():
    return build_scenario(seed=7, end=END, days=7)


def _day(d: date) -> datetime:
    return datetime.combine(d, dtime(), UTC)


def daily_run(url: str, day: date, now: datetime, **kw) -> tuple[dict[str, int], list[pd.DataFrame], list]:
    """What a daily run reads for `day`: the day and its lookback days, new-api usage + stat + tasks
    and TokenLab usage, as the assets call the clients. Returns (GETs per path, frames, coverages)."""
    url.faults.gets.clear()
    frames, cover = [], []
    for back in range(LOOKBACK, -1, -1):
        start = _day(day - timedelta(days=back))
        for cfg in (newapi_gateway(url, **kw), tokenlab_gateway(url, **kw)):
            with client_for(cfg, None) as c:
                c.now = now
                frames.append(c.usage(start, start + timedelta(days=1)))
                cover.append(c.last_read)
                if c.last_read.complete:
                    c.totals(start, start + timedelta(days=1))
                if cfg.dialect == "newapi":
                    frames.append(c.tasks(start, start + timedelta(days=1)))
    return dict(url.faults.gets), frames, cover


def test_an_empty_day_costs_two_gets_per_endpoint_and_day_not_one_per_hour(scenario) -> None:
    day = END + timedelta(days=30)  # a month after the scenario: every day of the run is empty
    now = _day(day + timedelta(days=1)) + timedelta(hours=6)
    with serve(scenario) as url:
        gets, frames, cover = daily_run(url, day, now)
        old, _, _ = daily_run(url, day, now, probe_window_minutes=60)
    days = LOOKBACK + 1
    assert all(len(f) == 0 for f in frames) and all(c.complete for c in cover)
    # a probe and the read that proves its total did not move, per endpoint and day; hourly probes
    # (the regression) would be at least 24 per endpoint and day
    for path in (LOG, TASKS, LAB):
        assert gets[path] <= 2 * days, gets
        assert old[path] >= 24 * days, old
    assert sum(gets.values()) <= 7 * days  # with the day's stat total: 28 for four days, was 580
    assert sum(old.values()) >= 10 * sum(gets.values())


def test_a_quiet_day_is_a_few_gets_and_the_same_rows_as_hourly_windows(scenario) -> None:
    now = scenario.as_of
    with serve(scenario) as url:
        gets, frames, cover = daily_run(url, END, now)
        old, old_frames, _ = daily_run(url, END, now, probe_window_minutes=60)
    assert sum(len(f) for f in frames) > 300  # a quiet day: a few hundred rows over the run's days
    assert all(c.complete for c in cover)
    days = LOOKBACK + 1
    for path in (LOG, TASKS, LAB):
        assert gets[path] <= 3 * days, gets  # each day fits one or two pages of 100
        assert old[path] >= 24 * days, old
    key = {"usage": ["created_at", "record_key"], "tasks": ["submitted_at", "task_id"]}
    for got, exp in zip(frames, old_frames, strict=True):
        k = key["usage"] if "record_key" in got.columns else key["tasks"]
        pd.testing.assert_frame_equal(
            got.sort_values(k).reset_index(drop=True), exp.sort_values(k).reset_index(drop=True)
        )


def _bulk_read(n: int, **kw) -> tuple[pd.DataFrame, list[str], dict[str, int]]:
    day = date(2026, 1, 15)
    logs: list[str] = []
    with serve(bulk_scenario(n, day, seed=3)) as url:
        cfg = newapi_gateway(url, page_size=10, max_concurrency=8, **kw)
        with client_for(cfg, logs.append) as c:
            c.now = _day(day + timedelta(days=1)) + timedelta(hours=6)
            got = c.usage(_day(day), _day(day) + timedelta(days=1))
        return got, logs, dict(url.faults.gets)


def test_a_big_day_splits_onto_the_grid_and_lands_every_row_exactly_once() -> None:
    """3,000 rows at 10 a page: over one window's budget (100 pages), so the day splits into grid
    groups of about half the budget (6 groups of 4 hours), each paged whole."""
    got, logs, gets = _bulk_read(3000)
    assert len(got) == 3000 and got["record_key"].is_unique
    assert any("holds 3000 rows; split into 6" in ln for ln in logs), logs
    assert gets[LOG] <= 1 + 6 + 300, (
        gets
    )  # the day's probe, then 300 pages (each group's probe is its page 1)
    final = [ln for ln in logs if "pages/min" in ln][-1]
    assert "windows 6/6 (1 split)" in final, final  # the windows count grew as the day split


def test_a_grid_cell_that_still_holds_too_much_splits_proportionally() -> None:
    """window_minutes 720: the day is two cells of 1,500 rows, each over the budget of 1,000 rows:
    cells split on whole seconds as before, and every row still lands once."""
    got, logs, gets = _bulk_read(3000, window_minutes=720)
    assert len(got) == 3000 and got["record_key"].is_unique
    splits = [ln for ln in logs if "split into" in ln]
    assert len(splits) == 3, splits  # the day into its 2 cells, each cell into 2 parts
    assert gets[LOG] <= 1 + 2 + 300 + 4, gets


def test_a_window_whose_total_drops_while_paged_is_still_caught_in_a_probe_window(scenario) -> None:
    """An admin's DeleteOldLog running while the day is paged (its oldest rows vanish from the second
    request on): the day, read as one probe window, is a partial read, never a short complete day."""
    day = _day(END)
    with serve(scenario, faults=Faults(delete_while_paging=3)) as url:
        logs: list[str] = []
        with client_for(newapi_gateway(url, page_size=20), logs.append) as c:
            c.now = scenario.as_of
            got = c.usage(day, day + timedelta(days=1))
        assert url.faults.fired.get("delete_while_paging", 0) > 0
    assert not c.last_read.complete
    assert "total dropped" in c.last_read.reason and "[2026-11-20T00:00:00Z, 2026-11-21T00:00:00Z)" in (
        c.last_read.reason
    )
    assert len(got) > 0 and got["record_key"].is_unique


def test_only_closed_cells_are_probed_and_the_open_rest_is_said(scenario) -> None:
    """At 10:02 with close_lag 300 s the cells ending by 09:57 are closed (00:00 .. 09:00): the probe
    window covers exactly those, no row after 09:00 is read, and the read says it is not complete."""
    day = _day(END)
    now = day + timedelta(hours=10, minutes=2)
    with serve(scenario) as url:
        with client_for(newapi_gateway(url), None) as c:
            c.now = now
            got = c.usage(day, day + timedelta(days=1))
        ours = url.faults.gets[LOG]
        with client_for(newapi_gateway(url, probe_window_minutes=60), None) as old:
            old.now = now
            exp = old.usage(day, day + timedelta(days=1))
        hourly = url.faults.gets[LOG] - ours
    assert ours <= 3 and hourly >= 9, (ours, hourly)
    assert not c.last_read.complete and "not closed yet" in c.last_read.reason
    assert len(got) > 0 and (got["created_at"] < pd.Timestamp(day + timedelta(hours=9))).all()
    k = ["created_at", "record_key"]
    pd.testing.assert_frame_equal(
        got.sort_values(k).reset_index(drop=True), exp.sort_values(k).reset_index(drop=True)
    )


def test_probe_windows_are_unions_of_whole_closed_cells() -> None:
    start = datetime(2026, 3, 14, tzinfo=UTC)
    cells = cut(start, start + timedelta(days=2), 60)
    done, still_open = closed(cells, start + timedelta(days=1, hours=5), 0)
    assert len(done) == 29 and len(still_open) == 19
    probes = coarse(done, 1440, 60)
    assert probes == [
        Window(start, start + timedelta(days=1)),
        Window(start + timedelta(days=1), start + timedelta(days=1, hours=5)),
    ]
    assert coarse(done, 60, 60) == done and coarse(done, 30, 60) == done  # the old one-probe-per-cell
    # 45-minute cells: a probe window holds 32 whole cells (24 h), never a part of one
    c45 = cut(start, start + timedelta(days=1), 45)
    assert [w.end - w.start for w in coarse(c45, 1440, 45)] == [timedelta(hours=24)]
    # grouping splits back onto the grid: 24 cells into 5 groups of whole hours, covering the day
    parts = group(Window(start, start + timedelta(days=1)), 60, 5)
    assert len(parts) == 5 and parts[0].start == start and parts[-1].end == start + timedelta(days=1)
    assert all(a.end == b.start for a, b in itertools.pairwise(parts))
    assert all((w.start - start) % timedelta(hours=1) == timedelta(0) for w in parts)
    assert sorted(math.ceil((w.end - w.start) / timedelta(hours=1)) for w in parts) == [4, 5, 5, 5, 5]
