"""The run parameters every contender uses: dbt_project.yml's var defaults plus the day's vars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

DBT_PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"
RESULT_COLUMNS = [
    "kind",
    "mismatch_type",
    "job_id",
    "task_id",
    "request_id",
    "amount_usd",
    "settlement_status",
]


def run_params(day_vars: dict[str, Any]) -> dict[str, Any]:
    """dbt's vars (defaults from dbt_project.yml, overridden by `day_vars`) as plain numbers."""
    defaults = yaml.safe_load((DBT_PROJECT / "dbt_project.yml").read_text())["vars"]
    v = {**defaults, **day_vars}
    return {
        "as_of": v["as_of"],
        "window_us": round(float(v["settlement_window_hours"]) * 3_600_000_000),
        "late_us": round(float(v["late_after_minutes"]) * 60_000_000),
        "sla_us": round(float(v["stuck_task_sla_minutes"]) * 60_000_000),
        "tol_usd": float(v["cost_tolerance_usd"]),
        "tol_ratio": float(v["cost_tolerance_ratio"]),
        "quota_tol": float(v["quota_tolerance_units"]),
    }
