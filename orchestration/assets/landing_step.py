"""The shared body of every raw asset: per day, extract -> validate (pandera) -> land -> report.

App records replace their day (`land_days`); gateway evidence is appended (`land_evidence_days`:
a batch of what changed against what recon holds plus one manifest row per gateway, see
`orchestration.evidence`).

A day's frame is validated as a whole; good rows replace the day's landed file, bad rows replace
its quarantine file, and the asset check fails (warn) naming source, partition, column, check and
row count. An extraction error raises before the day's files are touched, so nothing of a failed
partition lands.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import pandas as pd

from orchestration import terminal
from orchestration.assets.partition_metadata import record_day, usage_spend_usd
from orchestration.evidence import GatewayRead, land_extraction, write_new
from orchestration.landing import land_validated, partition_dir, quarantine_to_arrow, write_quarantine
from orchestration.partitions import iter_day_bounds
from orchestration.run_window import RunWindow
from schemas.validate import QUARANTINE_REASON, validate_frame

SCHEMA_CHECK = "schema_valid"

Extract = Callable[[date, datetime, datetime], pd.DataFrame]
# per gateway: what its read of the day was, and the frame it served (None when not read)
ExtractEvidence = Callable[[date, datetime, datetime], list[tuple[GatewayRead, pd.DataFrame | None]]]


def schema_check_spec(key: dg.AssetKey) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        SCHEMA_CHECK,
        asset=key,
        blocking=False,
        description="pandera contract of the canonical record; failing rows are quarantined beside the partition",
    )


def schema_check_result(failure_lines: list[str], quarantined: int) -> dg.AssetCheckResult:
    """The raw asset's `schema_valid` result: warns, naming each quarantine line, when rows failed."""
    return dg.AssetCheckResult(
        check_name=SCHEMA_CHECK,
        passed=not failure_lines,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "quarantined_rows": quarantined,
            "failures": dg.MetadataValue.md("\n".join(f"- {ln}" for ln in failure_lines) or "none"),
        },
    )


def _days(context: dg.AssetExecutionContext, window: RunWindow | None) -> list[date]:
    if window is None:
        window = RunWindow.from_partitions(context.partition_time_window, datetime.now(UTC), 0)
    return window.days


def land_days(
    context: dg.AssetExecutionContext,
    record: str,
    landing_dir: Path,
    extract: Extract,
    source: str,
    window: RunWindow | None = None,
) -> dg.MaterializeResult:
    """Run extract/validate/land for every day of the run's window (`ReconResource.window`; a bare
    context in a test: its partition range)."""
    days = _days(context, window)
    landed = quarantined = 0
    failure_lines: list[str] = []
    failures: list[dict] = []
    for i, (day, start, end) in enumerate(iter_day_bounds(days), 1):
        frame = extract(day, start, end)
        result = validate_frame(record, frame, source=source, partition=day.isoformat())
        land_validated(result, landing_dir, record, day)
        record_day(
            context,
            day,
            {"dagster/row_count": len(result.valid), "day_rows_quarantined": len(result.quarantine)},
        )
        landed += len(result.valid)
        quarantined += len(result.quarantine)
        failure_lines += result.lines()
        failures += result.failures
        context.log.info(
            f"{record} {day.isoformat()} ({i}/{len(days)}): landed {len(result.valid)} rows"
            + (f", quarantined {len(result.quarantine)}" if len(result.quarantine) else "")
        )
    terminal.step(
        f"landed {record}: {len(days)} day(s), {landed} rows"
        + (f", {quarantined} quarantined" if quarantined else "")
    )
    for line in failure_lines:
        context.log.warning(line)
    check = schema_check_result(failure_lines, quarantined)
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


def land_evidence_days(
    context: dg.AssetExecutionContext,
    record: str,
    landing_dir: Path,
    extract: ExtractEvidence,
    source: str,
    window: RunWindow | None = None,
) -> dg.MaterializeResult:
    """Extract/validate/append for every day of the run's window; a manifest row per gateway and day
    even when a gateway was not read (past retention, not closed yet), so coverage is data."""
    days = _days(context, window)
    landed = quarantined = new = changed = gone = 0
    partial: list[str] = []
    failure_lines: list[str] = []
    for i, (day, start, end) in enumerate(iter_day_bounds(days), 1):
        reads = extract(day, start, end)
        extracted_at = datetime.now(UTC)
        frames = [f for _, f in reads if f is not None and len(f.columns)]
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        result = validate_frame(record, frame, source=source, partition=day.isoformat())
        served_outside = [r.quarantined for r, _ in reads if r.quarantined is not None and len(r.quarantined)]
        quarantine = (
            pd.concat([result.quarantine, *served_outside], ignore_index=True)
            if served_outside
            else result.quarantine
        )
        for q in served_outside:
            failure_lines.append(
                f"{source} {day.isoformat()}: {len(q)} row(s) served outside their window: "
                f"{q[QUARANTINE_REASON].iloc[0]}"
            )
        out = land_extraction(result.valid, landing_dir, record, day, [r for r, _ in reads], extracted_at)
        if len(quarantine):  # quarantined gateway rows are evidence too: kept per extraction, never replaced
            write_new(
                quarantine_to_arrow(quarantine, record),
                partition_dir(landing_dir, record, day) / f"quarantine-{out.seq:06d}.parquet",
            )
        write_quarantine(quarantine, landing_dir, record, day)  # the latest extraction's, for the checks
        figures: dict[str, object] = {
            "dagster/row_count": len(result.valid),
            "day_rows_new": out.new,
            "day_rows_changed": out.changed,
            "day_rows_gone": out.gone,
            "day_rows_quarantined": len(quarantine),
            "day_complete": all(r.complete for r in out.reads),
        }
        if record == "usage_records":
            figures["day_spend_usd"] = usage_spend_usd(result.valid)
        record_day(context, day, figures)
        landed += len(result.valid)
        quarantined += len(quarantine)
        new, changed, gone = new + out.new, changed + out.changed, gone + out.gone
        failure_lines += result.lines()
        for r in out.reads:
            if not r.complete:
                partial.append(f"{r.gateway} {day.isoformat()}: {r.reason or 'not complete'}")
        context.log.info(
            f"{record} {day.isoformat()} ({i}/{len(days)}): landed {out.new} new, {out.changed} changed, "
            f"{out.gone} gone of {len(result.valid)} rows served (extraction {out.seq})"
            + (f", quarantined {len(quarantine)}" if len(quarantine) else "")
        )
    terminal.step(
        f"landed {record}: {len(days)} day(s), {new} new, {changed} changed, {gone} gone"
        + (f", {quarantined} quarantined" if quarantined else "")
        + (f", {len(partial)} not complete" if partial else "")
    )
    for line in failure_lines:
        context.log.warning(line)
    for line in partial:
        context.log.warning(f"{record} coverage: {line}")
    check = schema_check_result(failure_lines, quarantined)
    return dg.MaterializeResult(
        metadata={
            "rows_served": landed,
            "rows_new": new,
            "rows_changed": changed,
            "rows_gone": gone,
            "rows_quarantined": quarantined,
            "days": len(days),
            "days_not_complete": dg.MetadataValue.md("\n".join(f"- {ln}" for ln in partial) or "none"),
            "first_day": days[0].isoformat(),
            "last_day": days[-1].isoformat(),
        },
        check_results=[check],
    )
