"""Run the daily job for a range of UTC days in this process, and say in one line what went wrong.

Used by `recon run` and `recon demo`. Findings never fail a run; a config error, an extraction
failure, a failed dbt model or a broken schema contract do.
"""

from __future__ import annotations

import os
import re
import sys
import warnings
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import dagster as dg

from orchestration.config import ReconConfig, check_env, load_config
from orchestration.gateways.interrupts import RunInterrupted, SignalWatch, watch_run
from orchestration.partitions import days_between
from orchestration.preflight import check_app, check_gateways, check_landing, check_warehouse_file
from orchestration.reports import marts
from orchestration.reports.summary import Summary, collect_summary
from orchestration.schedules import range_tags
from orchestration.scrub import install_log_scrubber, register_config, scrub
from orchestration.warehouse_lock import rebuilt_by_another, warehouse_lock


class RunFailed(RuntimeError):
    """The run could not produce a trustworthy report; the message is the one line to print."""


@dataclass
class RunOutcome:
    cfg: ReconConfig
    days: list[date]
    as_of: datetime
    summary: Summary
    check_failures: list[str] = field(default_factory=list)
    run_id: str = ""
    dbt_log: Path | None = None


def _instance() -> dg.DagsterInstance:
    """The persistent instance under DAGSTER_HOME when set up (so `make ui` shows CLI runs)."""
    home = os.environ.get("DAGSTER_HOME")
    if home and Path(home, "dagster.yaml").exists():
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.ephemeral()


DISK_FULL_MARKERS = ("no space left on device", "errno 28", "disk is full", "not enough space on the disk")
_DBT_LOG = re.compile(r"view the dbt debug log: (\S+dbt\.log)")


def _disk_full(message: str, dbt_logs: list[Path]) -> bool:
    """Whether the failure was a full disk: said anywhere in the text, or only in dbt's own log."""
    if any(m in message.lower() for m in DISK_FULL_MARKERS):
        return True
    for log in dbt_logs:
        try:
            with Path(log).open(encoding="utf-8", errors="replace") as fh:
                if any(any(m in line.lower() for m in DISK_FULL_MARKERS) for line in fh):
                    return True
        except OSError:
            continue
    return False


def one_line(message: str, dbt_logs: list[Path] | None = None) -> str:
    """The line of an error message a person needs: dbt's first ERROR line, else the first line.
    A dbt failure caused by a full disk says so ("no space left on device"), since dbt's ERROR line
    names only the model; `dbt_logs` default to the debug log dagster-dbt's message names."""
    lines = [ln.strip() for ln in message.strip().splitlines() if ln.strip()]
    if "Errors parsed from dbt logs:" in lines:
        after = lines[lines.index("Errors parsed from dbt logs:") + 1 :]
        errors = [ln for ln in after if "ERROR" in ln or "FAIL" in ln]
        line = "dbt: " + (errors[0] if errors else (after[0] if after else "build failed"))
        logs = dbt_logs if dbt_logs is not None else [Path(m) for m in _DBT_LOG.findall(message)]
        return f"{line}: no space left on device" if _disk_full(message, logs) else line
    return lines[0] if lines else "unknown error"


def _first_failure(result: dg.ExecuteInProcessResult, signals: SignalWatch | None = None) -> str:
    """The first failed step and its one line; a step a signal stopped says which signal (Dagster's
    own interrupt names none)."""
    sig = signals.first() if signals is not None else None
    for ev in result.all_events:
        if ev.event_type == dg.DagsterEventType.STEP_FAILURE:
            data = ev.step_failure_data
            # A dg.Failure carries our one-line description; other errors carry the exception text.
            desc = getattr(data.user_failure_data, "description", None)
            cause = data.error.cause if data.error and data.error.cause else data.error
            msg = desc or (cause.message if cause else "unknown error")
            if sig is not None and f"by {sig.name}" not in msg:
                msg = f"stopped by {sig.name}"
            return f"step {ev.step_key} failed: {scrub(one_line(msg))}"
    return f"stopped by {sig.name} before any step ran" if sig else "run failed before any step ran"


def _check_lines(result: dg.ExecuteInProcessResult) -> list[str]:
    lines = []
    for ev in result.get_asset_check_evaluations():
        if not ev.passed:
            text = ev.metadata.get("failures")
            body = text.value if text is not None else ev.check_name
            for ln in str(body).splitlines():
                ln = ln.removeprefix("- ").strip()
                if ln and ln != "none":
                    lines.append(f"check {ev.asset_key.to_user_string()}:{ev.check_name}: {ln}")
    return lines


def quiet_library_warnings() -> None:
    """Hide warnings nobody running recon can act on (dagster's BetaWarning for backfill_policy)."""
    warnings.filterwarnings("ignore", category=dg.BetaWarning)


def run_range(
    config_path: str | Path,
    first: date,
    last: date,
    as_of: datetime,
    full_refresh: bool = False,
    quiet: bool = False,
) -> RunOutcome:
    """The run, its report and its summary; a SIGINT/SIGTERM at any point of it fails it (RunFailed
    naming the signal), also one Dagster recorded between two steps and would otherwise forget."""
    with watch_run() as signals:
        try:
            return _run_range(config_path, first, last, as_of, full_refresh, quiet, signals)
        except RunInterrupted as exc:
            raise RunFailed(str(exc)) from None


def _run_range(
    config_path: str | Path,
    first: date,
    last: date,
    as_of: datetime,
    full_refresh: bool,
    quiet: bool,
    signals: SignalWatch,
) -> RunOutcome:
    config_path = str(Path(config_path).resolve())
    cfg = load_config(config_path)
    check_env(cfg)  # every secret present before any extraction starts (and before the heavy import)
    register_config(cfg)  # and known to the scrubber, for the lines this process prints
    install_log_scrubber()
    check_warehouse_file(cfg.warehouse.path)
    check_landing(cfg)  # an s3:// landing: the bucket exists and the credentials list it
    check_app(cfg)  # the mapping queries on an empty window: columns, :start/:end, driver, connection
    # each gateway once, never retried: a wrong base_url or token stops the run here, before extraction
    check_gateways(cfg, warn=lambda m: print(scrub(m), file=sys.stderr))

    quiet_library_warnings()
    from orchestration.definitions import build_defs  # heavy import (parses dbt manifest): only when run
    from orchestration.resources import ReconResource

    days = days_between(first, last)
    defs = build_defs(ReconResource(config_path=config_path, as_of=as_of.isoformat()))
    job = defs.resolve_job_def("recon_daily")
    run_config = {
        "loggers": {"console": {"config": {"log_level": "WARNING" if quiet else "INFO"}}},
        "ops": {"recon_dbt_models": {"config": {"full_refresh": full_refresh}}},
    }
    # One lock from the first step to the printed summary: another run cannot rebuild the marts
    # between this run's dbt build and its report, checks, webhook and summary (the steps re-enter it).
    with warehouse_lock(cfg.warehouse.path, log=lambda m: print(m, file=sys.stderr)):
        result = job.execute_in_process(
            run_config=run_config, instance=_instance(), raise_on_error=False, tags=range_tags(first, last)
        )
        if not result.success:
            raise RunFailed(_first_failure(result, signals))
        sig = signals.first()
        if sig is not None:  # landed between two steps' code: Dagster recorded it, then let the run end
            raise RunFailed(f"stopped by {sig.name} (the build or the report may be incomplete)")
        changed = rebuilt_by_another(cfg.warehouse.path, result.run_id)
        if changed:
            raise RunFailed(changed)
        with marts.reading(cfg.warehouse.path):  # one connection for the summary's dozen reads
            summary = collect_summary(cfg, days)
        if (sig := signals.first()) is not None:
            raise RunFailed(f"stopped by {sig.name}")
    for ev in result.get_asset_materialization_events():
        path = ev.materialization.metadata.get("report_path")
        if path is not None:
            summary.report_path = Path(path.value)
    from orchestration.terminal import dbt_log_path

    return RunOutcome(
        cfg, days, as_of, summary, _check_lines(result), result.run_id, dbt_log_path(cfg.warehouse.path)
    )
