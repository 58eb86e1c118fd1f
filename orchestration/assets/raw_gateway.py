"""Raw gateway assets: usage records and gateway tasks, per UTC day, from every configured gateway."""


from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import date, datetime
from pathlib import Path

import dagster as dg
import pandas as pd

from orchestration.assets.landing_step import land_days, schema_check_spec
from orchestration.assets.retry import HTTP_RETRY, no_retry_for_permanent_errors
from orchestration.config import ReconConfig
from orchestration.gateways import client_for
from orchestration.gateways.base import GatewayClient
from orchestration.landing import read_partition
from orchestration.partitions import DAILY, SINGLE_RUN
from orchestration.resources import ReconResource

USAGE_KEY = dg.AssetKey(["raw", "usage_records"])
TASKS_KEY = dg.AssetKey(["raw", "gateway_tasks"])
APP_JOBS_KEY = dg.AssetKey(["raw", "app_jobs"])


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if f is not None and len(f.columns)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


@contextmanager
def gateway_clients(cfg: ReconConfig, log: Callable[[str], None]) -> Iterator[list[GatewayClient]]:
    """One client per configured gateway, all closed when the step ends, however it ends."""
    with ExitStack() as stack:
        yield [stack.enter_context(client_for(g, log=log)) for g in cfg.gateways]


def _source(cfg: ReconConfig) -> str:
    return "gateways:" + ",".join(g.name for g in cfg.gateways)


def known_task_ids(landing_dir: Path, day: date) -> list[str]:
    """Task ids the day's landed app jobs and usage records mention (a charged task the app lost
    track of, e.g. the first of a duplicate create, is only reachable through its usage rows)."""
    ids: set[str] = set()
    for record in ("app_jobs", "usage_records"):
        frame = read_partition(landing_dir, record, day)
        if frame is not None:
            ids |= set(frame["task_id"].dropna().astype(str))
    return sorted(ids - {""})


@dg.asset(
    key=USAGE_KEY,
    partitions_def=DAILY,
    backfill_policy=SINGLE_RUN,
    retry_policy=HTTP_RETRY,
    check_specs=[schema_check_spec(USAGE_KEY)],
    group_name="raw",
    kinds={"python", "parquet"},
    description="Usage records (charges, refunds, errors, topups) of every gateway, landed per UTC day.",
)
def usage_records(context: dg.AssetExecutionContext, recon: ReconResource) -> dg.MaterializeResult:
    with no_retry_for_permanent_errors():
        cfg = recon.load()
        with gateway_clients(cfg, context.log.info) as clients:
            def extract(day: date, start: datetime, end: datetime) -> pd.DataFrame:
                return _concat([c.usage(start, end) for c in clients])

            return land_days(context, "usage_records", cfg.warehouse.landing_dir, extract, source=_source(cfg))


@dg.asset(
    key=TASKS_KEY,
    deps=[APP_JOBS_KEY, USAGE_KEY],
    partitions_def=DAILY,
    backfill_policy=SINGLE_RUN,
    retry_policy=HTTP_RETRY,
    check_specs=[schema_check_spec(TASKS_KEY)],
    group_name="raw",
    kinds={"python", "parquet"},
    description="Async gateway tasks (status, finish time, quota) per UTC day of submission. Dialects that "
    "can only look tasks up by id use the task ids of the app jobs and the usage records landed for the day.",
)
def gateway_tasks(context: dg.AssetExecutionContext, recon: ReconResource) -> dg.MaterializeResult:
    with no_retry_for_permanent_errors():
        cfg = recon.load()
        with gateway_clients(cfg, context.log.info) as clients:
            def extract(day: date, start: datetime, end: datetime) -> pd.DataFrame:
                known = known_task_ids(cfg.warehouse.landing_dir, day)
                return _concat([c.tasks(start, end, known) for c in clients])

            return land_days(context, "gateway_tasks", cfg.warehouse.landing_dir, extract, source=_source(cfg))
