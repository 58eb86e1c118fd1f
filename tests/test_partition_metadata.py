"""Per-partition Dagster metadata (issue 21): a run over several days records each day's own
figures on that day's materialization, so the Plots and Partitions views show the daily trend
instead of the range's totals repeated on every day."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import yaml
from recon_pipeline import pipeline
from support.sample_marts import create_marts
from test_operator_checks import AS_OF, finding, write_config

from orchestration.resources import GatewaysResource, ReconResource


def _range(first: date, last: date) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": first.isoformat(),
        "dagster/asset_partition_range_end": last.isoformat(),
    }


def _by_day(result: dg.ExecuteInJobResult, node: str) -> dict[str, dict]:
    return {
        m.partition: {k: v.value for k, v in m.metadata.items()}
        for m in result.asset_materializations_for_node(node)
    }


def test_raw_usage_records_carry_each_days_rows_and_spend_over_real_http(tmp_path: Path, monkeypatch) -> None:
    from orchestration.assets.raw_gateway import usage_records

    with pipeline(tmp_path / "data", end=date(2026, 11, 20), days=3, jobs_per_day=10) as e:
        for k, v in e.env.items():
            monkeypatch.setenv(k, v)
        recon = ReconResource(config_path=str(e.config_path), as_of=e.as_of.isoformat())
        result = dg.materialize(
            [usage_records],
            resources={"recon": recon, "gateways": GatewaysResource()},
            tags=_range(e.first, e.last),
        )
        assert result.success
        days = _by_day(result, "raw__usage_records")
        assert sorted(days) == [d.isoformat() for d in (e.first, date(2026, 11, 19), e.last)]
        landing = e.data_dir / "landing" / "usage_records"
        for day, meta in days.items():
            held = sum(
                pq.read_metadata(f).num_rows for f in (landing / f"date={day}").glob("batch-*.parquet")
            )
            assert meta["dagster/row_count"] == meta["day_rows_new"] == held > 0  # the day's own rows
            assert meta["day_complete"] is True
            assert meta["rows_served"] == sum(m["dagster/row_count"] for m in days.values())  # run total kept
        assert (
            len({m["dagster/row_count"] for m in days.values()}) > 1
            or len({m["day_spend_usd"] for m in days.values()}) > 1
        ), days  # the figures differ by day


def test_the_report_records_each_days_findings_money_and_spend(tmp_path: Path, monkeypatch) -> None:
    from orchestration.assets.report import daily_report

    monkeypatch.setenv("RECON_TEST_APP_DB", "sqlite://")
    monkeypatch.delenv("RECON_ALERT_WEBHOOK_URL", raising=False)
    d1, d2, d3 = date(2026, 3, 8), date(2026, 3, 9), date(2026, 3, 10)
    wh = create_marts(
        tmp_path / "wh.duckdb",
        {
            "fct_reconciliation_mismatches": [
                finding("charged_for_failure", "4.0", day=d1, n=1),
                finding("missing_usage", "1.5", day=d3, n=2),
                finding("missing_usage", "2.5", day=d3, n=3),
            ],
            "fct_spend_daily": [
                {"spend_date": d, "gateway": "main", "net_spend_usd": Decimal(usd), "is_anomaly": False}
                for d, usd in ((d1, "10"), (d2, "20"), (d3, "35.5"))
            ],
        },
    )
    cfg = write_config(tmp_path, wh)
    assert yaml.safe_load(cfg.read_text())["warehouse"]["path"] == str(wh)
    recon = ReconResource(config_path=str(cfg), as_of=AS_OF.isoformat())
    result = dg.materialize([daily_report], resources={"recon": recon}, tags=_range(d1, d3))
    assert result.success
    days = _by_day(result, "reports__daily_report")
    got = {
        d: (m["dagster/row_count"], m["day_money_at_risk_usd"], m["day_net_spend_usd"])
        for d, m in days.items()
    }
    assert got == {
        d1.isoformat(): (1, 4.0, 10.0),
        d2.isoformat(): (0, 0.0, 20.0),
        d3.isoformat(): (2, 4.0, 35.5),
    }
    assert all(m["findings"] == 3 for m in days.values())  # the run's totals stay under their own names
