"""The report asset: reads the marts after dbt, writes HTML + CSVs, shows the summary in the UI."""


import dagster as dg

from orchestration.partitions import DAILY, SINGLE_RUN, days_in_window
from orchestration.reports.render import markdown_preview, render_report
from orchestration.reports.summary import collect_summary
from orchestration.resources import ReconResource

MART_KEYS = [dg.AssetKey(["fct_reconciliation_mismatches"]), dg.AssetKey(["fct_settlements"])]


@dg.asset(
    key=["reports", "daily_report"],
    deps=MART_KEYS,
    partitions_def=DAILY,
    backfill_policy=SINGLE_RUN,
    group_name="reports",
    kinds={"html", "csv"},
    description="The mismatch report people read: report.html and one CSV per mismatch code under "
    "reports_dir/<last day of the run>/.",
)
def daily_report(context: dg.AssetExecutionContext, recon: ReconResource) -> dg.MaterializeResult:
    cfg = recon.load()
    days = days_in_window(context.partition_time_window)
    summary = collect_summary(cfg, days)
    path = render_report(summary, cfg.warehouse.path, cfg.warehouse.reports_dir, recon.now())
    summary.report_path = path
    context.log.info(f"report written: {path}")
    return dg.MaterializeResult(
        metadata={
            "report_path": dg.MetadataValue.path(str(path)),
            "findings": summary.total_findings,
            "money_at_risk_usd": float(round(summary.money_at_risk, 6)),
            **{f"count_{k}": n for k, (n, _usd) in summary.mismatches.items()},
            **{f"settlement_{k}": n for k, n in summary.settlements.items()},
            "preview": dg.MetadataValue.md(markdown_preview(summary)),
        }
    )
