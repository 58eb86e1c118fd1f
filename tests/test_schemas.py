"""pandera contracts: every check rejects its bad row into quarantine with the reason, good rows
still land, nothing is dropped, and the human lines name source, partition, column, check, count."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest

from schemas.canonical import RECORDS
from schemas.validate import QUARANTINE_REASON, SchemaContractError, canonical_dtypes, validate_frame

T0 = pd.Timestamp("2026-11-20T10:00:00Z")


def _typed(record: str, rows: list[dict]) -> pd.DataFrame:
    dtypes = canonical_dtypes(record)
    return pd.DataFrame({c: pd.Series([r.get(c) for r in rows], dtype=t) for c, t in dtypes.items()})


def good_usage(i: int) -> dict:
    return {
        "gateway": "main",
        "record_key": f"req-{i}",
        "record_type": "consume",
        "created_at": T0,
        "request_id": f"req-{i}",
        "model": "gpt-4o",
        "scene": "chat",
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "cache_tokens": 0,
        "quota": 150,
        "cost_usd": 0.0003,
        "duration_ms": 900,
        "is_stream": False,
        "model_ratio": 1.25,
        "completion_ratio": 4.0,
        "group_ratio": 1.0,
        "model_price": -1.0,
        "quota_per_unit": 500000.0,
        "is_task": False,
    }


def good_task(i: int) -> dict:
    return {
        "gateway": "main",
        "task_id": f"task_{i}",
        "status": "succeeded",
        "submitted_at": T0,
        "finished_at": T0 + pd.Timedelta(minutes=2),
        "quota": 20000,
        "cost_usd": 0.04,
        "is_cancelled": False,
        "platform": "kling",
        "action": "generate",
    }


def good_job(i: int) -> dict:
    return {
        "job_id": f"job-{i}",
        "user_id": f"u_{i:032x}",
        "created_at": T0,
        "scene": "image",
        "model": "flux",
        "request_id": f"req-{i}",
        "status": "succeeded",
        "terminal_at": T0 + pd.Timedelta(seconds=30),
        "expected_cost_usd": 0.04,
        "retry_count": 0,
    }


def good_asset(i: int) -> dict:
    return {
        "asset_id": f"a-{i}",
        "job_id": f"job-{i}",
        "created_at": T0,
        "kind": "png",
        "byte_size": 1024,
        "status": "available",
    }


GOOD: dict[str, Callable[[int], dict]] = {
    "usage_records": good_usage,
    "gateway_tasks": good_task,
    "app_jobs": good_job,
    "app_assets": good_asset,
}

# (record, what is wrong, change to one row, expected quarantine_reason)
CASES = [
    ("app_jobs", "empty job id", {"job_id": " "}, "job_id non_empty"),
    ("app_jobs", "null job id", {"job_id": None}, "job_id not_nullable"),
    (
        "app_jobs",
        "unknown status",
        {"status": "done"},
        "status isin(['pending', 'running', 'succeeded', 'failed', 'cancelled'])",
    ),
    (
        "app_jobs",
        "unknown scene",
        {"scene": "photo"},
        "scene isin(['chat', 'image', 'audio', 'video', 'embedding', 'rerank', 'music', '3d', 'other'])",
    ),
    (
        "app_jobs",
        "terminal before created",
        {"terminal_at": T0 - pd.Timedelta(seconds=1)},
        "terminal_at terminal_at_not_before_created_at",
    ),
    (
        "app_jobs",
        "failed job ended before it began",
        {"status": "failed", "terminal_at": T0 - pd.Timedelta(hours=1)},
        "terminal_at terminal_at_not_before_created_at",
    ),
    (
        "app_jobs",
        "negative expected cost",
        {"expected_cost_usd": -0.01},
        "expected_cost_usd greater_than_or_equal_to(0)",
    ),
    ("app_jobs", "negative retries", {"retry_count": -1}, "retry_count greater_than_or_equal_to(0)"),
    ("app_jobs", "empty request id", {"request_id": ""}, "request_id non_empty"),
    ("app_jobs", "missing created_at", {"created_at": None}, "created_at not_nullable"),
    ("app_assets", "negative size", {"byte_size": -1}, "byte_size greater_than_or_equal_to(0)"),
    ("app_assets", "unknown status", {"status": "gone"}, "status isin(['available', 'deleted', 'failed'])"),
    ("app_assets", "asset without job", {"job_id": None}, "job_id not_nullable"),
    ("app_assets", "empty asset id", {"asset_id": ""}, "asset_id non_empty"),
    (
        "gateway_tasks",
        "raw gateway status",
        {"status": "SUCCESS"},
        "status isin(['queued', 'running', 'succeeded', 'failed', 'unknown'])",
    ),
    (
        "gateway_tasks",
        "finished before submitted",
        {"finished_at": T0 - pd.Timedelta(minutes=1)},
        "finished_at finished_at_not_before_submitted_at",
    ),
    ("gateway_tasks", "negative task quota", {"quota": -5}, "quota greater_than_or_equal_to(0)"),
    ("gateway_tasks", "no submit time", {"submitted_at": None}, "submitted_at not_nullable"),
    ("gateway_tasks", "empty gateway", {"gateway": ""}, "gateway non_empty"),
    (
        "usage_records",
        "unknown record type",
        {"record_type": "charge"},
        "record_type isin(['consume', 'refund', 'error', 'topup', 'other'])",
    ),
    (
        "usage_records",
        "negative consume cost, not a settlement delta",
        {"cost_usd": -0.0001},
        "cost_usd consume_cost_non_negative_unless_settlement_delta",
    ),
    (
        "usage_records",
        "negative consume quota, not a settlement delta",
        {"quota": -50},
        "quota consume_quota_non_negative_unless_settlement_delta",
    ),
    (
        "usage_records",
        "half a settlement delta",
        {"quota": -50, "cost_usd": -0.0001, "pre_consumed_quota": 200},
        (
            "cost_usd consume_cost_non_negative_unless_settlement_delta; "
            "quota consume_quota_non_negative_unless_settlement_delta"
        ),
    ),
    (
        "usage_records",
        "positive refund",
        {"record_type": "refund", "cost_usd": 0.02},
        "cost_usd refund_cost_not_positive",
    ),
    (
        "usage_records",
        "negative prompt tokens",
        {"prompt_tokens": -1},
        "prompt_tokens greater_than_or_equal_to(0)",
    ),
    (
        "usage_records",
        "negative completion tokens",
        {"completion_tokens": -3},
        "completion_tokens greater_than_or_equal_to(0)",
    ),
    (
        "usage_records",
        "negative cache tokens",
        {"cache_tokens": -3},
        "cache_tokens greater_than_or_equal_to(0)",
    ),
    ("usage_records", "negative duration", {"duration_ms": -1}, "duration_ms greater_than_or_equal_to(0)"),
    (
        "usage_records",
        "scene outside the set",
        {"scene": "translation"},
        "scene isin(['chat', 'image', 'audio', 'video', 'embedding', 'rerank', 'music', '3d', 'other'])",
    ),
    (
        "usage_records",
        "model price below -1",
        {"model_price": -2.0},
        "model_price model_price_is_minus_one_or_non_negative",
    ),
    ("usage_records", "negative ratio", {"group_ratio": -1.0}, "group_ratio greater_than_or_equal_to(0)"),
    ("usage_records", "zero quota per unit", {"quota_per_unit": 0.0}, "quota_per_unit greater_than(0)"),
    ("usage_records", "empty record key", {"record_key": ""}, "record_key non_empty"),
]


@pytest.mark.parametrize(("record", "what", "change", "reason"), CASES, ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_each_check_quarantines_its_bad_row_with_the_reason(
    record: str, what: str, change: dict, reason: str
) -> None:
    rows = [GOOD[record](i) for i in range(4)]
    rows[2] = {**rows[2], **change}
    result = validate_frame(record, _typed(record, rows), source="test", partition="2026-11-20")
    assert len(result.quarantine) == 1, result.quarantine
    assert result.quarantine[QUARANTINE_REASON].iloc[0] == reason
    assert len(result.valid) == 3
    assert list(result.valid.columns) == list(RECORDS[record])
    column, check = reason.split("; ")[0].split(" ", 1)
    assert f"test 2026-11-20: column {column} failed {check} in 1 row" in result.lines()


@pytest.mark.parametrize("record", list(GOOD))
def test_good_rows_pass_untouched(record: str) -> None:
    frame = _typed(record, [GOOD[record](i) for i in range(5)])
    result = validate_frame(record, frame, source="test", partition="2026-11-20")
    assert result.ok and result.lines() == [] and result.quarantine.empty
    pd.testing.assert_frame_equal(result.valid, frame)


@pytest.mark.parametrize("kind", ["refund", "error", "topup"])
def test_negative_money_is_fine_outside_consume(kind: str) -> None:
    row = {**good_usage(1), "record_type": kind, "cost_usd": -0.02, "quota": -10000}
    assert validate_frame("usage_records", _typed("usage_records", [row]), source="t", partition="d").ok


def test_settlement_delta_consume_row_of_older_builds_may_be_negative() -> None:
    delta = {
        **good_usage(1),
        "record_key": "h-delta",
        "request_id": None,
        "task_id": "task_1",
        "is_task": True,
        "quota": -5000,
        "cost_usd": -0.01,
        "pre_consumed_quota": 20000,
        "actual_quota": 15000,
    }
    result = validate_frame(
        "usage_records", _typed("usage_records", [good_usage(0), delta]), source="t", partition="d"
    )
    assert result.ok, result.lines()
    assert sorted(result.valid["record_key"]) == ["h-delta", "req-0"]


def test_conflicting_duplicate_keys_all_go_to_quarantine() -> None:
    rows = [good_job(1), {**good_job(1), "status": "failed"}, good_job(2)]
    result = validate_frame("app_jobs", _typed("app_jobs", rows), source="app:jobs", partition="2026-11-20")
    assert result.valid["job_id"].tolist() == ["job-2"]
    assert result.quarantine["job_id"].tolist() == ["job-1", "job-1"]
    assert set(result.quarantine[QUARANTINE_REASON]) == {"job_id unique"}
    assert result.lines() == ["app:jobs 2026-11-20: column job_id failed unique in 2 rows"]


def test_exact_duplicate_rows_land_once_and_the_copy_is_quarantined() -> None:
    rows = [good_usage(1), good_usage(1), good_usage(2)]
    result = validate_frame("usage_records", _typed("usage_records", rows), source="gw:main", partition="d")
    assert result.valid["record_key"].tolist() == ["req-1", "req-2"]
    assert result.quarantine[QUARANTINE_REASON].tolist() == ["gateway+record_key duplicate_row"]


def test_usage_key_is_per_gateway() -> None:
    rows = [good_usage(1), {**good_usage(1), "gateway": "lab"}]
    assert validate_frame("usage_records", _typed("usage_records", rows), source="t", partition="d").ok


def test_nothing_is_dropped_and_reasons_accumulate_per_row() -> None:
    rows = [good_job(i) for i in range(6)]
    rows[1] = {**rows[1], "status": "weird", "retry_count": -2}
    rows[4] = {**rows[4], "job_id": ""}
    result = validate_frame("app_jobs", _typed("app_jobs", rows), source="s", partition="p")
    assert len(result.valid) + len(result.quarantine) == len(rows)
    reason = result.quarantine.set_index("job_id").loc["job-1", QUARANTINE_REASON]
    assert reason == (
        "retry_count greater_than_or_equal_to(0); "
        "status isin(['pending', 'running', 'succeeded', 'failed', 'cancelled'])"
    )
    by = {(f["column"], f["check"]): f for f in result.failures}
    assert by[("status", "isin(['pending', 'running', 'succeeded', 'failed', 'cancelled'])")]["examples"] == [
        "weird"
    ]
    assert all(
        set(f) == {"source", "partition", "column", "check", "row_count", "examples"} for f in result.failures
    )


def test_failures_never_echo_user_ids() -> None:
    rows = [good_job(1), {**good_job(1), "status": "failed"}]
    rows[0]["user_id"] = rows[1]["user_id"] = None
    raw = _typed("app_jobs", rows).astype(object)
    raw.loc[0, "user_id"] = b"\x00secret-user"  # unreadable as text
    result = validate_frame("app_jobs", raw, source="s", partition="p")
    user_failures = [f for f in result.failures if f["column"] == "user_id"]
    assert user_failures and all(f["examples"] == [] for f in user_failures)
    assert "secret-user" not in repr(result.failures) + " ".join(result.lines())


def test_naive_timestamps_are_quarantined_not_guessed() -> None:
    frame = _typed("app_assets", [good_asset(1), good_asset(2)])
    frame["created_at"] = frame["created_at"].dt.tz_localize(None)
    result = validate_frame("app_assets", frame, source="s", partition="p")
    assert result.valid.empty
    assert set(result.quarantine[QUARANTINE_REASON]) == {"created_at timestamp_has_time_zone"}
    assert result.lines() == ["s p: column created_at failed timestamp_has_time_zone in 2 rows"]


def test_other_time_zones_are_converted_to_utc() -> None:
    frame = _typed("app_assets", [good_asset(1)])
    frame["created_at"] = frame["created_at"].dt.tz_convert("Asia/Tokyo")
    result = validate_frame("app_assets", frame, source="s", partition="p")
    assert str(result.valid["created_at"].dtype) == "datetime64[us, UTC]"
    assert result.valid["created_at"].iloc[0] == T0


def test_untyped_values_are_cast_to_canonical_types() -> None:
    row = {
        "asset_id": 17,
        "job_id": "job-1",
        "created_at": "2026-11-20T19:00:00+09:00",
        "kind": "png",
        "byte_size": "2048",
        "status": "available",
    }
    result = validate_frame("app_assets", pd.DataFrame([row], dtype=object), source="s", partition="p")
    assert result.ok
    v = result.valid.iloc[0]
    assert v["asset_id"] == "17" and v["byte_size"] == 2048 and v["created_at"] == T0
    assert result.valid.dtypes.to_dict() == canonical_dtypes("app_assets")


def test_missing_and_extra_columns_break_the_contract() -> None:
    frame = _typed("app_assets", [good_asset(1)]).drop(columns=["status", "kind"])
    frame["ip"] = "10.0.0.1"
    with pytest.raises(SchemaContractError) as err:
        validate_frame("app_assets", frame, source="app:app_assets", partition="2026-11-20")
    msg = str(err.value)
    assert "missing column(s) kind, status" in msg and "unexpected column(s) ip" in msg
    assert "10.0.0.1" not in msg


def test_empty_frame_is_valid_and_typed() -> None:
    result = validate_frame("gateway_tasks", _typed("gateway_tasks", []), source="s", partition="p")
    assert result.ok and result.valid.empty
    assert result.valid.dtypes.to_dict() == canonical_dtypes("gateway_tasks")
