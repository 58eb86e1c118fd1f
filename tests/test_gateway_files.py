"""The `files` dialect: console exports (CSV / JSON / JSON lines) in a folder, any naming, any range."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestration.config import GatewayConfig
from orchestration.errors import ExtractionError
from orchestration.gateways import client_for

DAY = datetime(2026, 3, 14, tzinfo=UTC)
HEAD = [
    "Time",
    "Model",
    "Key Name",
    "Group",
    "Input Tokens",
    "Output Tokens",
    "Cost (USD)",
    "Duration (s)",
    "Request ID",
    "Status",
    "Error Code",
    "API Key",
    "IP",
]


def _usage_row(i: int, t: datetime, status: str = "success", cost: float = 0.01) -> list:
    return [
        t.strftime("%Y-%m-%d %H:%M:%S"),
        "gpt-4o",
        "prod-key",
        "default",
        100 + i,
        20,
        cost,
        1.5,
        f"req-{i}",
        status,
        "" if status == "success" else "upstream_error",
        "sk-LEAKED-KEY-123",
        "203.0.113.9",
    ]


def _write_csv(path: Path, rows: list[list]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HEAD)
        w.writerows(rows)


def _cfg(tmp_path: Path) -> GatewayConfig:
    return GatewayConfig(name="console", dialect="files", path=tmp_path)


@pytest.fixture
def exports(tmp_path: Path) -> Path:
    # a per-day CSV (Laozhang style) with rows on both window edges and one from the next day
    day_rows = [_usage_row(i, DAY + timedelta(minutes=7 * i)) for i in range(10)]
    day_rows.append(_usage_row(10, DAY))  # exactly at the start: in
    day_rows.append(_usage_row(11, DAY + timedelta(days=1)))  # exactly at the end: out (next day)
    day_rows.append(_usage_row(12, DAY + timedelta(hours=3), status="failed", cost=0))
    _write_csv(tmp_path / "laozhang-2026-03-14.csv", day_rows)
    # a JSON range export (TokenOpen style) overlapping the same day: two rows repeat the CSV exactly
    recs = [
        {
            "created_at": (DAY + timedelta(minutes=7 * i)).isoformat(),
            "model": "gpt-4o",
            "key_name": "prod-key",
            "group": "default",
            "prompt_tokens": 100 + i,
            "completion_tokens": 20,
            "cost_usd": 0.01,
            "duration": 1.5,
            "request_id": f"req-{i}",
            "status": "success",
            "ip": "203.0.113.9",
        }
        for i in (0, 1)
    ]
    recs.append(
        {
            "created_at": (DAY - timedelta(hours=2)).isoformat(),
            "model": "gpt-4o",
            "cost_usd": 0.5,
            "request_id": "req-yesterday",
            "status": "success",
        }
    )
    recs.append(
        {
            "created_at": (DAY + timedelta(hours=5)).isoformat(),
            "model": "kling-v1",
            "cost_usd": 0.3,
            "request_id": "req-refund-1",
            "task_id": "task-9",
            "type": "refund",
            "status": "success",
        }
    )
    (tmp_path / "export_range.json").write_text(json.dumps({"data": {"records": recs}}), encoding="utf-8")
    # a task log
    with (tmp_path / "tasks.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["Task ID", "Platform", "Status", "Failure Reason", "Submit Time", "Finish Time"])
        w.writerow(
            [
                "task-9",
                "kling",
                "FAILURE",
                "upstream timeout",
                (DAY + timedelta(hours=4)).isoformat(),
                (DAY + timedelta(hours=5)).isoformat(),
            ]
        )
        w.writerow(
            ["task-10", "kling", "completed", "", int((DAY + timedelta(hours=6)).timestamp() * 1000), ""]
        )
        w.writerow(["task-old", "kling", "SUCCESS", "", (DAY - timedelta(hours=6)).isoformat(), ""])
    return tmp_path


def test_exports_filtered_to_the_day_deduplicated_and_typed(exports: Path) -> None:
    logs: list[str] = []
    df = client_for(_cfg(exports), logs.append).usage(DAY, DAY + timedelta(days=1))
    # 10 regular + start-edge + failed + refund; not the end-edge row, not yesterday's
    assert len(df) == 13
    assert df["record_key"].is_unique
    assert set(df["request_id"]) == {f"req-{i}" for i in (*range(11), 12)} | {"req-refund-1"}
    assert (df["created_at"] >= DAY).all() and (df["created_at"] < DAY + timedelta(days=1)).all()
    refund = df[df["record_type"] == "refund"].iloc[0]
    assert refund["cost_usd"] == pytest.approx(-0.3) and refund["task_id"] == "task-9"
    failed = df[df["request_id"] == "req-12"].iloc[0]
    assert failed["record_type"] == "error" and failed["error_code"] == "upstream_error"
    assert df.loc[df["request_id"] == "req-3", "duration_ms"].iloc[0] == 1500
    assert df["cost_usd"].sum() == pytest.approx(0.01 * 11 - 0.3)
    assert str(df["created_at"].dtype) == "datetime64[us, UTC]"
    flat = df.astype(str).to_csv()
    assert "sk-LEAKED" not in flat and "203.0.113.9" not in flat
    assert any("13 records" in line for line in logs)


def test_task_exports_map_statuses_and_millisecond_times(exports: Path) -> None:
    df = client_for(_cfg(exports)).tasks(DAY, DAY + timedelta(days=1))
    got = dict(zip(df["task_id"], df["status"], strict=False))
    assert got == {"task-9": "failed", "task-10": "succeeded"}
    t10 = df[df["task_id"] == "task-10"].iloc[0]
    assert t10["submitted_at"] == DAY + timedelta(hours=6)
    assert df.loc[df["task_id"] == "task-9", "fail_reason"].iloc[0] == "upstream timeout"


def test_export_rows_are_keyed_by_content_so_repeats_land_once_and_differences_stay(exports: Path) -> None:
    before = client_for(_cfg(exports)).usage(DAY, DAY + timedelta(days=1))
    _write_csv(exports / "y-overlap.csv", [_usage_row(3, DAY + timedelta(minutes=21))])
    same = client_for(_cfg(exports)).usage(DAY, DAY + timedelta(days=1))
    assert sorted(same["record_key"]) == sorted(before["record_key"])  # an exact repeat lands once
    _write_csv(exports / "z-reexport.csv", [_usage_row(3, DAY + timedelta(minutes=21), cost=0.02)])
    got = client_for(_cfg(exports)).usage(DAY, DAY + timedelta(days=1))
    assert len(got) == len(before) + 1 and got["record_key"].is_unique
    assert (got["request_id"] == "req-3").sum() == 2 and got["record_key"].str.startswith("h:").all()


def test_unreadable_timestamp_is_quarantined_with_file_line_and_field(exports: Path) -> None:
    row = _usage_row(20, DAY)
    row[0] = "yesterday-ish"
    _write_csv(exports / "broken.csv", [row])
    client = client_for(_cfg(exports))
    df = client.usage(DAY, DAY + timedelta(days=1))
    assert len(df) == 13  # one bad row never aborts the day
    q = client.last_quarantine
    assert q is not None and len(q) == 1
    assert q["quarantine_reason"].iloc[0].startswith("file=broken.csv line=2 field=created_at")


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    cfg = GatewayConfig(name="console", dialect="files", path=tmp_path / "nope")
    with pytest.raises(ExtractionError, match="export folder .* does not exist"):
        client_for(cfg).usage(DAY, DAY + timedelta(days=1))
