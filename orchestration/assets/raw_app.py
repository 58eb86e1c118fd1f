"""Raw app assets: the app's own job and asset rows, read with the config's mapping queries."""

from datetime import date, datetime

import dagster as dg
import pandas as pd

from orchestration.app_sources import extract_app_records
from orchestration.assets.landing_step import land_days, schema_check_spec
from orchestration.assets.retry import no_retry_for_permanent_errors
from orchestration.gateways.interrupts import stop_on_signals
from orchestration.partitions import DAILY, SINGLE_RUN
from orchestration.resources import ReconResource

APP_JOBS_KEY = dg.AssetKey(["raw", "app_jobs"])
APP_ASSETS_KEY = dg.AssetKey(["raw", "app_assets"])


def _app_asset(record: str, key: dg.AssetKey, description: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=record,
        key_prefix=["raw"],
        partitions_def=DAILY,
        backfill_policy=SINGLE_RUN,
        check_specs=[schema_check_spec(key)],
        group_name="raw",
        kinds={"python", "parquet", "sql"},
        description=description,
    )
    def _asset(context: dg.AssetExecutionContext, recon: ReconResource) -> dg.MaterializeResult:
        with no_retry_for_permanent_errors(), stop_on_signals():
            cfg = recon.config

            def extract(day: date, start: datetime, end: datetime) -> pd.DataFrame:
                return extract_app_records(cfg.app, record, start, end)

            return land_days(
                context,
                record,
                cfg.warehouse.landing_dir,
                extract,
                source=f"app:{record}",
                window=recon.window(context),
            )

    return _asset


app_jobs = _app_asset(
    "app_jobs", APP_JOBS_KEY, "The app's jobs (user id pseudonymized) per UTC day of creation."
)
app_assets = _app_asset(
    "app_assets", APP_ASSETS_KEY, "What users received (the app's asset rows) per UTC day."
)
