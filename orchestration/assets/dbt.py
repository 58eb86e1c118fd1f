"""The dbt project as Dagster assets: one `dbt build` for the whole partition range of a run."""


import fcntl
import json
import os
import sys
from datetime import date, datetime
from pathlib import Path

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from orchestration import terminal
from orchestration.config import ReconConfig
from orchestration.partitions import DAILY, SINGLE_RUN, days_in_window
from orchestration.resources import ReconResource
from orchestration.warehouse_lock import warehouse_lock, write_build_stamp

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
DUCKDB_POOL = "duckdb_writer"  # size 1: only one process writes the DuckDB file at a time

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def dbt_executable() -> str:
    """The venv's dbt beside this interpreter, so a PATH without the venv still finds the right one."""
    local = Path(sys.executable).parent / "dbt"
    return str(local) if local.exists() else "dbt"


def ensure_manifest(project: DbtProject = dbt_project) -> Path:
    """The project's manifest, parsed first when it is missing or older than any model/macro/test file.

    `prepare_if_dev()` only acts under `dagster dev`; the CLI, tests and a fresh clone need this.
    """
    parse_if_stale(project)
    return Path(project.manifest_path)


def parse_if_stale(project: DbtProject) -> bool:
    """Run `dbt parse` when the manifest is stale; True when this call parsed. Processes that start at
    once (two runs, test workers, a code server) take turns on a lock in the target dir and look again
    once they hold it, so one parses and the others read its finished manifest, never a half-written one."""
    project_dir = Path(project.project_dir)
    manifest = Path(project.manifest_path)
    manifest.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(manifest.parent / ".parse.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        sources = [p for d in ("models", "macros", "tests", "seeds") for p in (project_dir / d).rglob("*")
                   if p.is_file()] + [project_dir / "dbt_project.yml"]
        newest = max((p.stat().st_mtime for p in sources), default=0.0)
        if manifest.exists() and manifest.stat().st_mtime >= newest:
            return False
        # What project.preparer.prepare() does, but with the venv's dbt rather than whatever is on PATH.
        dbt = DbtCliResource(project_dir=project, profiles_dir=str(project.profiles_dir or project_dir),
                             dbt_executable=dbt_executable())
        dbt.cli(["parse", "--quiet"], target_path=Path(project.target_path)).wait()
        return True
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def dbt_vars(cfg: ReconConfig, days: list[date], as_of: datetime) -> dict[str, str | float | int]:
    """The `--vars` of a run: the days it touches, the clock, and the reconciliation thresholds."""
    return {
        "start_date": days[0].isoformat(),
        "end_date": days[-1].isoformat(),
        "as_of": as_of.isoformat(),
        **cfg.dbt_vars(),
    }


def dbt_env(cfg: ReconConfig) -> dict[str, str]:
    """Env for the dbt subprocess: where the landing Parquet and the DuckDB file are."""
    return {
        "RECON_LANDING_DIR": str(cfg.warehouse.landing_dir),
        "RECON_WAREHOUSE_PATH": str(cfg.warehouse.path),
    }


LAYERS = ("staging", "intermediate", "marts")
OWNER = "team:recon"


class ReconDbtTranslator(DagsterDbtTranslator):
    """dbt models grouped by layer (the folder under models/) in the UI, each owned by the recon team."""

    def get_group_name(self, dbt_resource_props):
        fqn = dbt_resource_props.get("fqn") or []
        layer = fqn[1] if dbt_resource_props.get("resource_type") == "model" and len(fqn) > 2 else None
        return layer if layer in LAYERS else super().get_group_name(dbt_resource_props)

    def get_owners(self, dbt_resource_props):
        return [OWNER]


class DbtConfig(dg.Config):
    full_refresh: bool = False


@dbt_assets(
    manifest=ensure_manifest(),
    project=dbt_project,
    dagster_dbt_translator=ReconDbtTranslator(),
    partitions_def=DAILY,
    backfill_policy=SINGLE_RUN,
    pool=DUCKDB_POOL,
)
def recon_dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, recon: ReconResource, config: DbtConfig
):
    cfg = recon.load()
    days = days_in_window(context.partition_time_window)
    variables = dbt_vars(cfg, days, recon.now())
    # dbt reads these through env_var() in profiles.yml and the raw sources; the step runs in its
    # own process under `dagster dev` and in the CLI's process otherwise.
    os.environ.update(dbt_env(cfg))
    Path(cfg.warehouse.path).parent.mkdir(parents=True, exist_ok=True)
    args = ["build", "--vars", json.dumps(variables)]
    if config.full_refresh:
        args.append("--full-refresh")
    context.log.info(f"dbt build for {variables['start_date']}..{variables['end_date']} as of {variables['as_of']}")
    with warehouse_lock(cfg.warehouse.path, log=context.log.info):
        # dagster-dbt echoes dbt's whole log to stdout: it goes to a file, the terminal gets n/N
        with terminal.dbt_log(terminal.dbt_log_path(cfg.warehouse.path)):
            yield from dbt.cli(args, context=context).stream()
        # which run's build the marts now hold: the report (and `recon run`'s summary) check it
        write_build_stamp(cfg.warehouse.path, context.run.run_id, variables["start_date"],
                          variables["end_date"], variables["as_of"])


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=dbt_project, profiles_dir=str(DBT_PROJECT_DIR), dbt_executable=dbt_executable())
