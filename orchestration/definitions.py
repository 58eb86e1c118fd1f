"""The recon code location: assets, checks, the daily job and its schedule, resources.

`dagster dev` (or `make ui`) loads `defs`; the config path comes from the RECON_CONFIG env var at
run time (never read at import). `build_defs(config_path, as_of)` is what `recon run` uses.
"""

from __future__ import annotations

import dagster as dg
from dagster_dbt import DbtCliResource

from orchestration.alerts import AlertWebhook, alert_webhook
from orchestration.assets.dbt import dbt_resource, recon_dbt_models
from orchestration.assets.mart_checks import operator_checks
from orchestration.assets.raw_app import app_assets, app_jobs
from orchestration.assets.raw_gateway import gateway_tasks, usage_records
from orchestration.assets.report import daily_report
from orchestration.partitions import DAILY
from orchestration.resources import GatewaysResource, ReconResource
from orchestration.schedules import daily_schedule

ALL_ASSETS = [usage_records, gateway_tasks, app_jobs, app_assets, recon_dbt_models, daily_report]
ASSET_CHECKS = [operator_checks]  # on the marts, so the job's asset selection carries them

daily_job = dg.define_asset_job(
    "recon_daily",
    selection=dg.AssetSelection.assets(*ALL_ASSETS),
    partitions_def=DAILY,
    description="Extract, validate and land every source, dbt build the reconciliation, write the report.",
)


def build_defs(
    recon: ReconResource | None = None, dbt: DbtCliResource | None = None, webhook: AlertWebhook | None = None
) -> dg.Definitions:
    return dg.Definitions(
        assets=ALL_ASSETS,
        asset_checks=ASSET_CHECKS,
        jobs=[daily_job],
        schedules=[daily_schedule(daily_job)],
        resources={
            "recon": recon or ReconResource(config_path=dg.EnvVar("RECON_CONFIG")),
            "dbt": dbt or dbt_resource(),
            "alert_webhook": webhook or alert_webhook(),
            "gateways": GatewaysResource(),
        },
    )


defs = build_defs()
