"""The report asset: reads the marts after dbt, writes HTML + CSVs, shows the summary in the UI.

It also evaluates the operator checks (`operator_checks.OPERATOR_CHECK_SPECS`, shown in the UI on
this asset) over the run's days and, when `RECON_ALERT_WEBHOOK_URL` is set and a check fails,
posts a short JSON summary. Neither a failing check nor a failed post fails the run.
"""

import dagster as dg

from orchestration import alerts
from orchestration.assets.operator_checks import (
    OPERATOR_CHECK_SPECS,
    Window,
    evaluate,
    quarantine_outcome,
)
from orchestration.assets.partition_metadata import record_day, report_day_figures
from orchestration.partitions import DAILY, SINGLE_RUN, days_in_window
from orchestration.reports import marts
from orchestration.reports.render import markdown_preview, render_report
from orchestration.reports.summary import collect_summary
from orchestration.resources import ReconResource
from orchestration.warehouse_lock import rebuilt_by_another, warehouse_lock

# DuckDB lets no other process open the file, even read-only, while dbt writes it: the report
# reads in the same size-1 pool as dbt (orchestration.assets.dbt.DUCKDB_POOL) so it waits instead.
DUCKDB_POOL = "duckdb_writer"

MART_KEYS = [
    dg.AssetKey([name])
    for name in (
        "fct_reconciliation_mismatches",
        "fct_settlements",
        "fct_settlement_lag_daily",
        "fct_spend_daily",
        "fct_spend_by_channel_daily",
        "fct_error_alerts_daily",
        "fct_mismatch_history",
        "fct_high_token_requests",
        "fct_gateway_totals_daily",
        "fct_usage_daily",
        "fct_usage_by_user_daily",
        "fct_throughput_daily",
        "fct_latency_daily",
        "fct_soft_failures_daily",
    )
]


def _built_in_this_run(context: dg.AssetExecutionContext) -> bool:
    """Whether this run also ran the dbt build (a report-only run reads whatever build is there)."""
    selection = context.run.asset_selection
    return selection is None or any(k in selection for k in MART_KEYS)


@dg.asset(
    key=["reports", "daily_report"],
    deps=MART_KEYS,
    partitions_def=DAILY,
    backfill_policy=SINGLE_RUN,
    group_name="reports",
    kinds={"html", "csv"},
    check_specs=OPERATOR_CHECK_SPECS,
    pool=DUCKDB_POOL,
    description="The mismatch report people read: report.html and one CSV per mismatch code under "
    "`reports_dir/<the run's days>/` (with a trail page per finding), plus the operator checks (money at risk, new codes, stuck "
    "tasks, settlement p95, gateway 401/402/429/5xx, spend anomaly).",
)
def daily_report(context: dg.AssetExecutionContext, recon: ReconResource) -> dg.MaterializeResult:
    cfg = recon.load()
    days = days_in_window(context.partition_time_window)
    as_of = recon.now()
    with warehouse_lock(cfg.warehouse.path, log=context.log.info), marts.reading(cfg.warehouse.path):
        if _built_in_this_run(context):
            changed = rebuilt_by_another(cfg.warehouse.path, context.run.run_id)
            if changed:
                raise dg.Failure(description=changed)
        summary = collect_summary(cfg, days)
        path = render_report(summary, cfg.warehouse.path, cfg.warehouse.reports_dir, as_of,
                             links=cfg.report.model_dump())
        outcomes = evaluate(cfg.warehouse.path, Window(days[0], days[-1], as_of), cfg.alerts)
        per_day = report_day_figures(cfg.warehouse.path, days)
    for day, figures in per_day.items():
        record_day(context, day, figures)
    summary.report_path = path
    context.log.info(f"report written: {path}")

    failing = [o for o in outcomes if not o.passed]
    for o in failing:
        context.log.info(f"check {o.name} ({o.severity.lower()}): {o.summary}; owner: {o.owner}")
    alerts.notify(
        [*outcomes, quarantine_outcome(cfg.warehouse.landing_dir, days)],
        days[0],
        days[-1],
        logger=context.log,
        run_id=context.run.run_id,
        money_at_risk_usd=summary.money_at_risk,
        findings=summary.total_findings,
        report_path=str(path),
    )
    return dg.MaterializeResult(
        metadata={
            "report_path": dg.MetadataValue.path(str(path)),
            "findings": summary.total_findings,
            "money_at_risk_usd": float(round(summary.money_at_risk, 6)),
            **{f"count_{k}": n for k, (n, _usd) in summary.mismatches.items()},
            **{f"settlement_{k}": n for k, n in summary.settlements.items()},
            "net_spend_usd": float(round(summary.net_spend_usd, 6)),
            "spend_anomaly_days": summary.spend_anomaly_days,
            "error_alerts": summary.error_alerts,
            "checks_failing": ", ".join(o.name for o in failing) or "none",
            "preview": dg.MetadataValue.md(markdown_preview(summary)),
        },
        check_results=[o.to_result() for o in outcomes],
    )
