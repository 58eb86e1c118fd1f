"""Raw gateway assets: usage records and gateway tasks, per UTC day, from every configured gateway."""

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd

from orchestration.assets.landing_step import land_evidence_days, schema_check_spec
from orchestration.assets.retry import HTTP_RETRY, no_retry_for_permanent_errors
from orchestration.config import ReconConfig
from orchestration.errors import ExtractionError
from orchestration.evidence import GatewayRead, read_held
from orchestration.gateway_totals import land_totals
from orchestration.gateways.base import GatewayClient
from orchestration.gateways.interrupts import stop_on_signals
from orchestration.landing import read_partition
from orchestration.partitions import DAILY, SINGLE_RUN
from orchestration.resources import GatewaysResource, ReconResource

USAGE_KEY = dg.AssetKey(["raw", "usage_records"])
TASKS_KEY = dg.AssetKey(["raw", "gateway_tasks"])
APP_JOBS_KEY = dg.AssetKey(["raw", "app_jobs"])


def gateway_clients(
    cfg: ReconConfig, log: Callable[[str], None]
) -> AbstractContextManager[list[GatewayClient]]:
    """One client per configured gateway, all closed when the step ends (`GatewaysResource.clients`)."""
    return GatewaysResource().clients(cfg, log)


def _source(cfg: ReconConfig) -> str:
    return "gateways:" + ",".join(g.name for g in cfg.gateways)


def known_task_ids(landing_dir: Path, day: date) -> list[str]:
    """Task ids the day's landed app jobs and held usage records mention (a charged task the app lost
    track of, e.g. the first of a duplicate create, is only reachable through its usage rows)."""
    ids: set[str] = set()
    for frame in (read_partition(landing_dir, "app_jobs", day), read_held(landing_dir, "usage_records", day)):
        if frame is not None:
            ids |= set(frame["task_id"].dropna().astype(str))
    return sorted(ids - {""})


def past_retention(client: GatewayClient, day: date, now: datetime) -> str:
    """Why the gateway can no longer be trusted to hold `day` in full ("" when it can): a day that
    began more than `retention_days` before now may be (partly) deleted, so it is never re-read."""
    keep = client.cfg.retention_days
    if keep is None:
        return ""
    start = datetime(day.year, day.month, day.day, tzinfo=now.tzinfo)
    if start >= now - timedelta(days=keep):
        return ""
    return f"past retention_days={keep}: not re-read, what recon holds stands"


def read_each(
    clients: list[GatewayClient],
    day: date,
    start: datetime,
    end: datetime,
    now: datetime | None,
    call: Callable[[GatewayClient], pd.DataFrame],
) -> list[tuple[GatewayRead, pd.DataFrame | None]]:
    """One gateway after the other: its frame and the manifest facts of its read (`now` given: the
    retention of usage logs applies; tasks are not deleted by retention)."""
    out: list[tuple[GatewayRead, pd.DataFrame | None]] = []
    for c in clients:
        why = past_retention(c, day, now) if now is not None else ""
        if why:
            out.append(
                (
                    GatewayRead(
                        c.cfg.name,
                        extracted=False,
                        complete=False,
                        reason=why,
                        window_start=start,
                        window_end=end,
                    ),
                    None,
                )
            )
            continue
        c.last_read, c.last_quarantine = None, None
        frame = call(c)
        rc = c.last_read
        read = GatewayRead(
            c.cfg.name,
            extracted=True,
            complete=True if rc is None else rc.complete,
            reason="" if rc is None else rc.reason,
            whole_day=True if rc is None else rc.whole_day,
            rows_served=len(frame),
            window_start=start,
            window_end=end,
            # a shared account's token_names / groups: what the read was narrowed to (issue 18)
            filter=" ".join(f for f in ("" if rc is None else rc.filter, c.cfg.scope()) if f),
            quarantined=c.last_quarantine,
        )
        out.append((read, frame))
    return out


def land_gateway_totals(
    clients: list[GatewayClient],
    reads: list[tuple[GatewayRead, pd.DataFrame | None]],
    landing_dir: Path,
    day: date,
    start: datetime,
    end: datetime,
    warn: Callable[[str], None],
) -> None:
    """The day's own totals of every gateway whose detail rows were just read in full (a partial read
    would disagree by construction), landed as their own append-only evidence. A total that cannot be
    read is a warning, never a failed day: the detail rows are the evidence, the total a cross-check
    (the gateway_totals check then compares fewer days)."""
    got = []
    for c, (read, _) in zip(clients, reads, strict=True):
        if not (read.extracted and read.complete):
            continue
        try:
            t = c.totals(start, end)
        except ExtractionError as exc:
            warn(
                f"gateway={c.cfg.name} partition={day.isoformat()}: the gateway's own total was not read, "
                f"not compared: {exc}"
            )
            continue
        if t is not None:
            got.append(t)
    land_totals(landing_dir, day, got, datetime.now(UTC))


@dg.asset(
    key=USAGE_KEY,
    partitions_def=DAILY,
    backfill_policy=SINGLE_RUN,
    retry_policy=HTTP_RETRY,
    check_specs=[schema_check_spec(USAGE_KEY)],
    group_name="raw",
    kinds={"python", "parquet"},
    description="Usage records (charges, refunds, errors, topups) of every gateway, appended per UTC day: "
    "a batch of what changed against what recon holds plus a manifest row per gateway (never overwritten).",
)
def usage_records(
    context: dg.AssetExecutionContext, recon: ReconResource, gateways: GatewaysResource
) -> dg.MaterializeResult:
    with no_retry_for_permanent_errors(), stop_on_signals():
        cfg = recon.config
        with gateways.clients(cfg, context.log.info) as clients:
            now = recon.now()

            def extract(
                day: date, start: datetime, end: datetime
            ) -> list[tuple[GatewayRead, pd.DataFrame | None]]:
                reads = read_each(clients, day, start, end, now, lambda c: c.usage(start, end))
                land_gateway_totals(
                    clients, reads, cfg.warehouse.landing_dir, day, start, end, context.log.warning
                )
                return reads

            return land_evidence_days(
                context,
                "usage_records",
                cfg.warehouse.landing_dir,
                extract,
                source=_source(cfg),
                window=recon.window(context),
            )


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
def gateway_tasks(
    context: dg.AssetExecutionContext, recon: ReconResource, gateways: GatewaysResource
) -> dg.MaterializeResult:
    with no_retry_for_permanent_errors(), stop_on_signals():
        cfg = recon.config
        with gateways.clients(cfg, context.log.info) as clients:

            def extract(
                day: date, start: datetime, end: datetime
            ) -> list[tuple[GatewayRead, pd.DataFrame | None]]:
                known = known_task_ids(cfg.warehouse.landing_dir, day)
                return read_each(clients, day, start, end, None, lambda c: c.tasks(start, end, known))

            return land_evidence_days(
                context,
                "gateway_tasks",
                cfg.warehouse.landing_dir,
                extract,
                source=_source(cfg),
                window=recon.window(context),
            )
