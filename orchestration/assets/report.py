"""The report asset: reads the marts after dbt, writes HTML + CSVs, shows the summary in the UI.

The operator checks and the webhook are not here: they are asset checks on the marts they read
(`orchestration.assets.mart_checks`), in the same run.
"""

import dagster as dg

from orchestration.assets.partition_metadata import record_day, report_day_figures
from orchestration.partitions import DAILY, SINGLE_RUN
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
    pool=DUCKDB_POOL,
    description="The mismatch report people read: report.html and one CSV per mismatch code under "
    "`reports_dir/<the run's days>/` (with a trail page per finding). The operator checks are on the marts they read.",
)
def daily_report(context: dg.AssetExecutionContext, recon: ReconResource) -> dg.MaterializeResult:
    cfg = recon.config
    window = recon.window(context)
    days, as_of = window.days, window.as_of
    with warehouse_lock(cfg.warehouse.path, log=context.log.info), marts.reading(cfg.warehouse.path):
        if _built_in_this_run(context):
            changed = rebuilt_by_another(cfg.warehouse.path, context.run.run_id)
            if changed:
                raise dg.Failure(description=changed)
        summary = collect_summary(cfg, days)
        path = render_report(
            summary, cfg.warehouse.path, cfg.warehouse.reports_dir, as_of, links=cfg.report.model_dump()
        )
        per_day = report_day_figures(cfg.warehouse.path, days)
    for day, figures in per_day.items():
        record_day(context, day, figures)
    summary.report_path = path
    context.log.info(f"report written: {path}")
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
            "preview": dg.MetadataValue.md(markdown_preview(summary)),
        },
    )
