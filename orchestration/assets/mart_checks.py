"""The operator checks as Dagster asset checks on the marts they read, and the run's one webhook post.

One `@dg.multi_asset_check` evaluates every check of `operator_checks.CHECKS` (plain functions over
a read-only DuckDB connection) over the run's days after the dbt build, and yields each outcome as
an `AssetCheckResult` on its mart (`operator_checks.CHECK_MARTS`): the UI shows them on the marts,
`recon run` reads them from the run's check evaluations for its terminal lines. The same step then
posts the failing ones (plus pandera's quarantines) to the webhook, once per run. The checks are partitioned
like the marts: one evaluation covers the run's partition range, the window the dbt build used.
"""

import warnings
from collections.abc import Iterator

import dagster as dg

from orchestration.alerts import AlertWebhook
from orchestration.assets.operator_checks import (
    CHECK_MARTS,
    CHECKS,
    DESCRIPTIONS,
    CheckOutcome,
    Window,
    evaluate,
    quarantine_outcome,
)
from orchestration.check_outcome import ERROR
from orchestration.partitions import DAILY
from orchestration.reports.render import report_dir
from orchestration.resources import ReconResource
from orchestration.warehouse_lock import warehouse_lock

# DuckDB lets no other process open the file, even read-only, while dbt writes it (the dbt assets' pool).
DUCKDB_POOL = "duckdb_writer"

# Partitioned like the marts (DAILY), so a check run knows its range the way the assets do
# (`context.partition_time_window`); Dagster marks partitioned check specs as a preview, which
# nobody running recon can act on, so that warning is silenced here only.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.PreviewWarning)
    OPERATOR_CHECK_SPECS = [
        dg.AssetCheckSpec(
            name, asset=dg.AssetKey([CHECK_MARTS[name]]), description=DESCRIPTIONS[name], partitions_def=DAILY
        )
        for name in CHECKS
    ]


def to_result(outcome: CheckOutcome) -> dg.AssetCheckResult:
    """The outcome on its mart; its severity when it fails maps to Dagster's WARN / ERROR."""
    meta = {
        "summary": outcome.summary,
        "owner": outcome.owner,
        "failures": dg.MetadataValue.md("\n".join(f"- {f}" for f in outcome.failures) or "none"),
        **outcome.metadata,
    }
    return dg.AssetCheckResult(
        check_name=outcome.name,
        asset_key=dg.AssetKey([CHECK_MARTS[outcome.name]]),
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.ERROR if outcome.severity == ERROR else dg.AssetCheckSeverity.WARN,
        description=outcome.summary,
        metadata=meta,
    )


@dg.multi_asset_check(
    specs=OPERATOR_CHECK_SPECS,
    pool=DUCKDB_POOL,
    description="The operator checks over the run's days, then the webhook when one fails.",
)
def operator_checks(
    context: dg.AssetCheckExecutionContext, recon: ReconResource, alert_webhook: AlertWebhook
) -> Iterator[dg.AssetCheckResult]:
    cfg = recon.config
    window = recon.window(context)  # the run's days (one day, a backfill, --start/--end) and clock
    days = window.days
    with warehouse_lock(cfg.warehouse.path, log=context.log.info):
        outcomes = evaluate(
            cfg.warehouse.path, Window(window.first_day, window.last_day, window.as_of), cfg.alerts
        )
    for o in outcomes:
        if not o.passed:
            context.log.info(f"check {o.name} ({o.severity.lower()}): {o.summary}; owner: {o.owner}")
        yield to_result(o)
    money = next((o.metadata for o in outcomes if o.name == "money_at_risk"), {})
    alert_webhook.notify(
        [*outcomes, quarantine_outcome(cfg.warehouse.landing_dir, days)],
        days[0],
        days[-1],
        logger=context.log,
        run_id=context.run.run_id,
        money_at_risk_usd=money.get("money_at_risk_usd"),
        findings=money.get("findings"),
        report_path=str(report_dir(cfg.warehouse.reports_dir, days[0], days[-1]) / "report.html"),
    )
