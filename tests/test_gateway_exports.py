"""Console exports as the consoles write them (issue 18): presets with fixtures, BOM, `;`, JSONL,
currency symbols and thousands separators, units, top-ups, task exports with a cost, quarantine."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestration.config import GatewayConfig
from orchestration.gateways import client_for
from orchestration.gateways.files.client import parse_money

DAY = datetime(2026, 3, 14, tzinfo=UTC)
END = DAY + timedelta(days=1)
FIXTURES = Path(__file__).parent / "fixtures" / "exports"
NEVER = ("SECRET", "198.51.100.7", "203.0.113.50", "httpx", "curl", "PRIVATE PROMPT", "messages", "trace")


def _client(name: str, tmp_path: Path, **kw: object):
    shutil.copytree(FIXTURES / name, tmp_path / name)
    return client_for(GatewayConfig(name=name, dialect="files", path=tmp_path / name, preset=name, **kw))


def _clean(df) -> None:
    """No never-land value in anything recon would write."""
    flat = df.astype(str).to_csv()
    for bad in NEVER:
        assert bad not in flat, bad


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("$1,234.50", 1234.5),
        ("¥0.0040", 0.004),
        ("0.0040", 0.004),
        ("-$0.30", -0.3),
        ("1234.5 USD", 1234.5),
        ("US$12", 12.0),
    ],
)
def test_money_text(text: str, want: float) -> None:
    assert parse_money(text) == pytest.approx(want)


@pytest.mark.parametrize("text", ["$1.2.3", "12,34", "abc", "$"])
def test_money_garbage_is_an_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_money(text)


def test_laozhang_preset(tmp_path: Path) -> None:
    c = _client("laozhang", tmp_path)
    df = c.usage(DAY, END)
    assert sorted(df["request_id"]) == ["req-lz-1", "req-lz-2", "req-lz-3"]  # lz-5 is the next day
    one = df.set_index("request_id")
    assert one.loc["req-lz-1", "prompt_tokens"] == 1200 and one.loc["req-lz-1", "cost_usd"] == pytest.approx(
        0.004
    )
    assert one.loc["req-lz-2", "cost_usd"] == pytest.approx(1234.5)
    assert (
        one.loc["req-lz-3", "record_type"] == "error"
        and one.loc["req-lz-3", "error_code"] == "upstream_error"
    )
    assert one.loc["req-lz-1", "created_at"] == datetime(2026, 3, 14, 14, 30, 25, tzinfo=UTC)
    assert (
        one.loc["req-lz-1", "total_tokens"] == 1500 and one.loc["req-lz-2", "total_tokens"] == 120
    )  # "1,500"
    assert df["is_reserved"].isna().all() and df["settled_at"].isna().all()  # exports settle nothing
    _clean(df)
    q = c.last_quarantine
    assert q is not None and len(q) == 1
    assert q["quarantine_reason"].iloc[0].startswith("file=laozhang-2026-03-14.csv line=5 field=created_at")
    _clean(q)


def test_tokenopen_preset_bom_semicolon_ms_and_overlap(tmp_path: Path) -> None:
    df = _client("tokenopen", tmp_path).usage(DAY, END)
    assert len(df) == 3  # the 09:00 row is in both overlapping exports: it lands once
    assert df["record_key"].is_unique
    nine = df[df["created_at"] == DAY + timedelta(hours=9)].iloc[0]
    assert nine["duration_ms"] == 800  # "Duration (ms)": not x1000
    assert nine["quota"] == 500 and nine["cost_usd"] == pytest.approx(0.001)
    assert nine["model"] == "gpt-4o-mini"
    assert nine["total_tokens"] == 320  # "Tokens": a total with no prompt / completion split
    assert df["prompt_tokens"].isna().all()
    _clean(df)


def test_bare_duration_unit_from_config(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text(
        "Time,Model,Duration,Cost\n2026-03-14 01:00:00,m,1500,0.1\n", encoding="utf-8"
    )
    ms = client_for(GatewayConfig(name="x", dialect="files", path=tmp_path, duration_unit="ms")).usage(
        DAY, END
    )
    s = client_for(GatewayConfig(name="x", dialect="files", path=tmp_path)).usage(DAY, END)
    assert ms["duration_ms"].iloc[0] == 1500 and s["duration_ms"].iloc[0] == 1_500_000


def test_time_zone_and_columns_mapping(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("When,Spend,请求ID\n2026-03-14 08:00:00,$2.00,r1\n", encoding="utf-8")
    cfg = GatewayConfig(
        name="x",
        dialect="files",
        path=tmp_path,
        time_zone="Asia/Shanghai",
        columns={"When": "created_at", "Spend": "cost_usd"},
        amount_to_usd=0.5,
    )
    df = client_for(cfg).usage(DAY - timedelta(days=1), END)
    assert df["created_at"].iloc[0] == DAY  # 08:00 Shanghai = 00:00 UTC
    assert df["cost_usd"].iloc[0] == pytest.approx(1.0) and df["request_id"].iloc[0] == "r1"


def test_routescope_preset_jsonl_topup_and_task_export_with_cost(tmp_path: Path) -> None:
    c = _client("routescope", tmp_path)
    df = c.usage(DAY, END)
    one = df.set_index("request_id")
    assert one.loc["rs-1", "cost_usd"] == pytest.approx(0.3)  # Routescope quota is USD
    assert one.loc["rs-3", "record_type"] == "topup" and one.loc["rs-3", "cost_usd"] == pytest.approx(25.0)
    _clean(df)
    assert c.last_quarantine is not None and "line=4" in c.last_quarantine["quarantine_reason"].iloc[0]
    tasks = c.tasks(DAY, END)
    got = tasks.set_index("task_id")
    assert dict(zip(tasks["task_id"], tasks["status"], strict=False)) == {
        "rs-task-1": "failed",
        "rs-task-2": "succeeded",
    }
    assert got.loc["rs-task-1", "fail_reason"] == "upstream timeout"
    assert got.loc["rs-task-2", "cost_usd"] == pytest.approx(0.2)


def test_never_land_columns_are_dropped_even_when_mapped(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text(
        "Time,Cost,API Key,IP\n2026-03-14 01:00:00,0.1,sk-SECRET,198.51.100.7\n", encoding="utf-8"
    )
    cfg = GatewayConfig(name="x", dialect="files", path=tmp_path, columns={"API Key": "key_name"})
    df = client_for(cfg).usage(DAY, END)
    assert len(df) == 1 and df["token_name"].isna().all()
    _clean(df)


def test_an_export_row_keeps_its_content_key_when_it_carries_no_issue_18_field(tmp_path: Path) -> None:
    """Columns added with issue 18 enter the content hash only when set: a row without them keys as
    it did before they existed (held rows are not re-keyed), and a Tokens value tells rows apart."""
    from schemas.record_key import HASHED_WHEN_SET, record_key

    base = {"gateway": "x", "record_type": "consume", "created_at": DAY, "cost_usd": 0.1}
    unset = dict.fromkeys(HASHED_WHEN_SET)
    assert record_key({**base, **unset}) == record_key(base)
    assert record_key({**base, "total_tokens": 10}) != record_key({**base, "total_tokens": 11})
