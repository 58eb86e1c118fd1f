"""RunWindow is the one derivation of a run's days; the config is parsed once per run; the gateway
clients come from a resource a test swaps for fakes (real Dagster runs, real landing on disk)."""

from __future__ import annotations

import socket
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from orchestration.gateways.base import GatewayClient
from orchestration.resources import GatewaysResource, ReconResource
from orchestration.run_window import RunWindow
from orchestration.schedules import range_tags
from schemas.validate import coerce_frame, empty_frame

EXAMPLE = Path(__file__).resolve().parents[1] / "recon.example.yaml"
AS_OF = datetime(2026, 11, 22, 6, tzinfo=UTC)


def test_one_day_window():
    w = RunWindow(date(2026, 11, 21), date(2026, 11, 21), AS_OF, 0)
    assert w.days == [date(2026, 11, 21)]
    assert w.rewrite_from == date(2026, 11, 21)
    assert w.run_values() == {
        "start_date": "2026-11-21",
        "end_date": "2026-11-21",
        "as_of": "2026-11-22T06:00:00+00:00",
        "rewrite_from": "2026-11-21",
    }


def test_a_range_covers_every_day_inclusive():
    w = RunWindow(date(2026, 11, 15), date(2026, 11, 21), AS_OF, 3)
    assert len(w.days) == 7 and w.days[0] == date(2026, 11, 15) and w.days[-1] == date(2026, 11, 21)
    assert w.rewrite_from == date(2026, 11, 12)


def test_lookback_crossing_a_month_and_a_year():
    w = RunWindow.for_day(date(2026, 3, 2), AS_OF, 3)
    assert (w.first_day, w.last_day) == (date(2026, 2, 27), date(2026, 3, 2))
    assert w.days == [date(2026, 2, 27), date(2026, 2, 28), date(2026, 3, 1), date(2026, 3, 2)]
    assert w.rewrite_from == date(2026, 2, 24)
    w = RunWindow.for_tick(datetime(2027, 1, 1, 1, 30, tzinfo=UTC), 2)
    assert (w.first_day, w.last_day) == (date(2026, 12, 29), date(2026, 12, 31))


def test_from_partitions_is_the_partition_range():
    tw = dg.TimeWindow(datetime(2026, 11, 15, tzinfo=UTC), datetime(2026, 11, 22, tzinfo=UTC))
    w = RunWindow.from_partitions(tw, AS_OF, 3)
    assert (w.first_day, w.last_day, w.as_of, w.lookback) == (
        date(2026, 11, 15),
        date(2026, 11, 21),
        AS_OF,
        3,
    )


def test_bad_windows_are_refused():
    with pytest.raises(ValueError, match="backwards"):
        RunWindow(date(2026, 11, 21), date(2026, 11, 20), AS_OF, 3)
    with pytest.raises(ValueError, match="lookback"):
        RunWindow(date(2026, 11, 21), date(2026, 11, 21), AS_OF, -1)
    with pytest.raises(ValueError, match="time zone"):
        RunWindow(date(2026, 11, 21), date(2026, 11, 21), datetime(2026, 11, 22), 3)
    with pytest.raises(AttributeError):
        RunWindow(date(2026, 11, 21), date(2026, 11, 21), AS_OF, 3).lookback = 4  # frozen


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(tmp_path: Path, monkeypatch) -> Path:
    """The example config, its data in tmp_path, one new-api gateway on a closed port (any HTTP fails)."""
    data = yaml.safe_load(EXAMPLE.read_text())
    data["warehouse"] = {
        "path": str(tmp_path / "wh.duckdb"),
        "landing_dir": str(tmp_path / "landing"),
        "reports_dir": str(tmp_path / "reports"),
    }
    data["gateways"] = [{**data["gateways"][0], "base_url": f"http://127.0.0.1:{_closed_port()}"}]
    path = tmp_path / "recon.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    from orchestration.config import load_config

    for name in load_config(path).env_keys().values():
        monkeypatch.setenv(name, "x")
    return path


class FakeClient(GatewayClient):
    """One consume row per window, no tasks: what a test needs from a gateway without a server."""

    def usage(self, start: datetime, end: datetime) -> pd.DataFrame:
        row = {c: None for c in empty_frame("usage_records").columns}
        row.update(
            gateway=self.cfg.name,
            record_key=f"fake-{start.date().isoformat()}",
            record_type="consume",
            created_at=start + timedelta(hours=1),
            request_id=f"req-{start.date().isoformat()}",
            model="gpt-fake",
            quota=500,
            cost_usd=0.001,
            prompt_tokens=10,
            completion_tokens=5,
            total_tokens=15,
            status_code=200,
            quota_per_unit=500000.0,
            is_task=False,
            is_stream=False,
        )
        frame, errors = coerce_frame("usage_records", pd.DataFrame([row]))
        assert not errors
        return frame

    def tasks(self, start, end, known_task_ids=()) -> pd.DataFrame:
        return empty_frame("gateway_tasks")


class FakeGateways(GatewaysResource):
    @contextmanager
    def clients(self, cfg, log):
        yield [FakeClient(g, log) for g in cfg.gateways]


def test_fake_gateways_swap_in_and_the_config_is_parsed_once_per_run(tmp_path, monkeypatch):
    """Both gateway assets of one run read the fakes (the configured gateway's port is closed) and the
    YAML is read once for the whole run, by the resource, not once per asset."""
    from orchestration import resources
    from orchestration.assets.raw_gateway import gateway_tasks, usage_records

    config = _config(tmp_path, monkeypatch)
    reads: list[str] = []
    real_load = resources.load_config
    monkeypatch.setattr(resources, "load_config", lambda p: reads.append(str(p)) or real_load(p))
    recon = ReconResource(config_path=str(config), as_of=AS_OF.isoformat())
    result = dg.materialize(
        [usage_records, gateway_tasks],
        resources={"recon": recon, "gateways": FakeGateways()},
        tags=range_tags(date(2026, 11, 19), date(2026, 11, 20)),
        raise_on_error=False,
    )
    assert result.success
    assert reads == [str(config)]
    for day in ("2026-11-19", "2026-11-20"):
        files = list((tmp_path / "landing" / "usage_records" / f"date={day}").glob("batch-*.parquet"))
        assert files, day
        assert pq.read_table(files[0]).column("request_id").to_pylist() == [f"req-{day}"]
