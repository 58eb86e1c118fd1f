"""Old new-api builds settled failed tasks with type-4 "system" rows (quota 0, amount only in the
text): the normalizer reads the amount and task id from the real wordings, and a settlement whose
amount it cannot read lands nowhere but in quarantine with its reason, never as a silent zero."""

from __future__ import annotations

import json

import pytest

from orchestration.gateways.newapi.rows import usage_row
from orchestration.gateways.newapi.system_rows import parse
from orchestration.gateways.normalize import USAGE_COLS, table_from_rows, to_frame
from schemas.validate import QUARANTINE_REASON, validate_frame

QPU = 500_000.0
T0 = 1_780_000_000


def system_row(content: str, i: int = 0) -> dict:
    return {
        "id": i,
        "created_at": T0 + i,
        "type": 4,
        "content": content,
        "username": "u",
        "token_name": "",
        "model_name": "",
        "quota": 0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "use_time": 0,
        "is_stream": False,
        "group": "",
        "ip": "",
        "other": "",
    }


@pytest.mark.parametrize(
    ("text", "task", "quota", "usd"),
    [
        ("异步任务执行失败 task_abc123，补偿 ＄0.040000 额度", "task_abc123", 20000, 0.04),
        ("异步任务执行失败 task_abc123，补偿 20000 点额度", "task_abc123", 20000, 0.04),
        ("异步任务执行失败 8d1c-77, 补偿 ＄0.1 额度", "8d1c-77", 50000, 0.1),  # any task id, half-width comma
        ("Video async task failed task_v9, refund ＄0.350000 额度", "task_v9", 175000, 0.35),
        ("Video async task failed task_v9, refund 0.350000 USD", "task_v9", 175000, 0.35),
        ("refund $0.35 for task_y", "task_y", 175000, 0.35),  # a fork's looser wording
    ],
)
def test_task_refund_text_gives_task_id_and_amount(text: str, task: str, quota: int, usd: float) -> None:
    got = parse(text, QPU)
    assert got is not None and got.task_id == task
    assert got.quota == quota and got.usd == pytest.approx(usd)


@pytest.mark.parametrize(
    "text", ["新用户注册赠送 ＄0.500000 额度", "用户签到，获得额度 ＄0.01 额度", "system notice", "", None]
)
def test_other_system_rows_are_not_settlements(text: str | None) -> None:
    assert parse(text, QPU) is None


@pytest.mark.parametrize(
    "text",
    ["异步任务执行失败 task_cny，补偿 ¥0.280000 额度", "Video async task failed task_x, refund ¤3 额度"],
)
def test_a_settlement_in_a_local_currency_has_no_amount(text: str) -> None:
    got = parse(text, QPU)
    assert got is not None and got.quota is None and got.usd is None and "not USD" in got.why


def test_normalizer_lands_the_system_refund_as_a_task_refund_without_its_text() -> None:
    row = dict(
        zip(
            USAGE_COLS,
            usage_row(system_row("异步任务执行失败 task_abc，补偿 ＄0.040000 额度"), "main", QPU),
            strict=False,
        )
    )
    assert row["record_type"] == "refund" and row["task_id"] == "task_abc"
    assert row["quota"] == 20000 and row["cost_usd"] == pytest.approx(-0.04)
    assert row["request_id"] is None and row["record_key"].startswith("n:")
    assert "异步" not in json.dumps(row, default=str)  # the text itself never lands
    notice = dict(zip(USAGE_COLS, usage_row(system_row("system notice", 1), "main", QPU), strict=False))
    assert notice["record_type"] == "other" and notice["cost_usd"] == 0


def test_an_unreadable_settlement_amount_is_quarantined_not_zero() -> None:
    rows = [
        usage_row(system_row("异步任务执行失败 task_ok，补偿 20000 点额度", 0), "main", QPU),
        usage_row(system_row("异步任务执行失败 task_cny，补偿 ¥0.280000 额度", 1), "main", QPU),
    ]
    frame = to_frame(table_from_rows(rows, "usage_records"))
    result = validate_frame("usage_records", frame, source="gateway:main", partition="2026-05-28")
    assert list(result.valid["task_id"]) == ["task_ok"]
    assert list(result.quarantine["task_id"]) == ["task_cny"]
    assert "money_row_has_cost" in result.quarantine[QUARANTINE_REASON].iloc[0]
    assert any("money_row_has_cost" in line and "1 row" in line for line in result.lines())
