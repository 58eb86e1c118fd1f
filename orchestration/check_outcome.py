"""What one operator check found: a plain value with no Dagster in it.

A leaf module so the checks (`orchestration.assets.operator_checks`), the webhook
(`orchestration.alerts`) and the terminal share one type without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WARN, ERROR = "WARN", "ERROR"


@dataclass
class CheckOutcome:
    name: str
    passed: bool
    severity: str  # the severity it has when it fails: WARN or ERROR
    summary: str
    owner: str
    failures: list[str] = field(default_factory=list)
    metadata: dict[str, object] = field(default_factory=dict)
