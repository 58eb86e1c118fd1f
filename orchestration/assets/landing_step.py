"""The shared body of every raw asset: per day, extract -> validate (pandera) -> land -> report.

A day's frame is validated as a whole; good rows replace the day's landed file, bad rows replace
its quarantine file, and the asset check fails (warn) naming source, partition, column, check and
row count. An extraction error raises before the day's files are touched, so nothing of a failed
partition lands.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import dagster as dg
import pandas as pd

from orchestration.landing import land_validated
from orchestration.partitions import days_in_window, iter_day_bounds
from schemas.validate import validate_frame

SCHEMA_CHECK = "schema_valid"

Extract = Callable[[date, datetime, datetime], pd.DataFrame]


def schema_check_spec(key: dg.AssetKey) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        SCHEMA_CHECK, asset=key, blocking=False,
        description="pandera contract of the canonical record; failing rows are quarantined beside the partition",
    )


def land_days(
    context: dg.AssetExecutionContext,
    record: str,
    landing_dir: Path,
    extract: Extract,
    source: str,
) -> dg.MaterializeResult:
    """Run extract/validate/land for every day of the run's partition window."""
    days = days_in_window(context.partition_time_window)
    landed = quarantined = 0
    failure_lines: list[str] = []
    failures: list[dict] = []
    for i, (day, start, end) in enumerate(iter_day_bounds(days), 1):
        frame = extract(day, start, end)
        result = validate_frame(record, frame, source=source, partition=day.isoformat())
        land_validated(result, landing_dir, record, day)
        landed += len(result.valid)
        quarantined += len(result.quarantine)
        failure_lines += result.lines()
        failures += result.failures
        context.log.info(
            f"{record} {day.isoformat()} ({i}/{len(days)}): landed {len(result.valid)} rows"
            + (f", quarantined {len(result.quarantine)}" if len(result.quarantine) else "")
        )
    for line in failure_lines:
        context.log.warning(line)
    check = dg.AssetCheckResult(
        check_name=SCHEMA_CHECK,
        passed=not failure_lines,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "quarantined_rows": quarantined,
            "failures": dg.MetadataValue.md("\n".join(f"- {ln}" for ln in failure_lines) or "none"),
        },
    )
    return dg.MaterializeResult(
        metadata={
            "rows_landed": landed,
            "rows_quarantined": quarantined,
            "days": len(days),
            "first_day": days[0].isoformat(),
            "last_day": days[-1].isoformat(),
        },
        check_results=[check],
    )
