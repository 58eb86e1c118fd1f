"""Task settlements that older new-api builds wrote as type-4 "system" rows: quota 0, the amount only
in the text.

Before 2026-02 upstream main refunded a failed task with a system log row instead of a type-6
refund row. Its text is built from a fixed format and `LogQuota` (quota rendered for display):
  "异步任务执行失败 <task id>，补偿 <amount>"            (service/task_polling, zh)
  "Video async task failed <task id>, refund <amount>"   (video task polling, en)
where <amount> is, by the console's quota display setting, "＄0.040000 额度" (USD, also "$"), a
number followed by "USD", "20000 点额度" / "點額度" (raw quota points), or a local currency ("¥",
a custom symbol) that cannot be turned into USD without the console's exchange rate.

`parse` turns such a text into the task id and the amount as quota and USD. A text that is a task
settlement but whose amount cannot be read comes back with `quota is None`: the caller lands it as
a refund without an amount, which pandera quarantines (``money_row_has_cost``) with its reason
rather than counting it as zero. Any other system row (sign-up gifts, check-ins, notices) is not a
settlement: `parse` returns None and the row stays `other`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# "<failed> <task id>, <refund> <amount>" in either language; full- or half-width comma
_SETTLEMENT = re.compile(
    r"(?:异步任务执行失败|async task failed)\s*(?P<task>[^\s，,]+)\s*[，,]\s*(?:补偿|退还|refund(?:ed)?)\s*(?P<amount>.+)$",
    re.IGNORECASE,
)
# looser wording seen on forks: a refund word and a new-style task id anywhere in the text
_REFUND_WORD = re.compile(r"补偿|退还|退款|refund", re.IGNORECASE)
_TASK_TOKEN = re.compile(r"\b(task_[A-Za-z0-9]+)\b")
_USD = re.compile(r"^[＄$]\s*(?P<n>\d+(?:\.\d+)?)|(?P<m>\d+(?:\.\d+)?)\s*USD\b", re.IGNORECASE)
_USD_ANYWHERE = re.compile(r"[＄$]\s*(?P<n>\d+(?:\.\d+)?)|(?P<m>\d+(?:\.\d+)?)\s*USD\b", re.IGNORECASE)
_POINTS = re.compile(r"^(?P<n>\d+)\s*(?:点额度|點額度|点|quota)")
_POINTS_ANYWHERE = re.compile(r"(?P<n>\d+)\s*(?:点额度|點額度)")


@dataclass(frozen=True)
class SystemSettlement:
    """A task refund read from a system row's text; quota/usd None when the amount is unreadable."""

    task_id: str
    quota: int | None
    usd: float | None
    why: str = ""


def _amount(text: str, qpu: float, anywhere: bool) -> tuple[int | None, float | None, str]:
    text = text.strip()
    m = _USD_ANYWHERE.search(text) if anywhere else _USD.search(text)
    if m:
        usd = float(m.group("n") or m.group("m"))
        return round(usd * qpu), usd, ""
    m = (_POINTS_ANYWHERE if anywhere else _POINTS).search(text)
    if m:
        q = int(m.group("n"))
        return q, q / qpu, ""
    return None, None, f"system row amount {text[:40]!r} is not USD or quota points"


def parse(content: object, qpu: float) -> SystemSettlement | None:
    """The task settlement a system row's text records, or None when the text is no settlement."""
    if not isinstance(content, str) or not content.strip():
        return None
    text = content.strip()
    m = _SETTLEMENT.search(text)
    if m:
        quota, usd, why = _amount(m.group("amount"), qpu, anywhere=False)
        return SystemSettlement(m.group("task"), quota, usd, why)
    if _REFUND_WORD.search(text):
        t = _TASK_TOKEN.search(text)
        if t:
            quota, usd, why = _amount(text, qpu, anywhere=True)
            return SystemSettlement(t.group(1), quota, usd, why)
    return None
