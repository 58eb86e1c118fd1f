"""The dbt project as Dagster assets: one `dbt build` for the whole partition range of a run."""

import fcntl
import importlib.metadata
import json
import os
import shutil
import signal
import subprocess
import sys
from functools import cached_property
from pathlib import Path

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from orchestration import terminal
from orchestration.config import ReconConfig
from orchestration.partitions import DAILY, SINGLE_RUN
from orchestration.resources import ReconResource
from orchestration.run_values import PER_RUN, write_run_values
from orchestration.run_window import RunWindow
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
        sources = [
            p
            for d in ("models", "macros", "tests", "seeds")
            for p in (project_dir / d).rglob("*")
            if p.is_file()
        ] + [project_dir / "dbt_project.yml"]
        newest = max((p.stat().st_mtime for p in sources), default=0.0)
        if manifest.exists() and manifest.stat().st_mtime >= newest:
            return False
        # What project.preparer.prepare() does, but with the venv's dbt rather than whatever is on PATH.
        dbt = DbtCliResource(
            project_dir=project,
            profiles_dir=str(project.profiles_dir or project_dir),
            dbt_executable=dbt_executable(),
        )
        dbt.cli(["parse", "--quiet"], target_path=Path(project.target_path)).wait()
        return True
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def dbt_vars(cfg: ReconConfig, window: RunWindow) -> dict[str, str | float | int]:
    """The values of a run: its window (start_date, end_date, as_of, rewrite_from) and the thresholds."""
    return {**window.run_values(), **cfg.dbt_vars()}


def build_args(variables: dict[str, str | float | int], full_refresh: bool = False) -> list[str]:
    """`dbt build` with the thresholds as --vars (the same every run of a config, so the parse is
    reused) and without the per-run values, which dbt reads from the run file (orchestration/run_values.py)."""
    args = [
        "build",
        "--vars",
        json.dumps({k: v for k, v in variables.items() if k not in PER_RUN}, sort_keys=True),
        # dbt's advice: unit tests belong in development and CI (tests/test_dbt_models.py runs them
        # all), not in every production build, where they cost about a third of the build
        "--exclude-resource-type",
        "unit_test",
    ]
    return [*args, "--full-refresh"] if full_refresh else args


def keep_partial_parse(run_target: Path, project: DbtProject = dbt_project) -> None:
    """Copy a build's partial_parse.msgpack back into the project's target/. dagster-dbt copies the one
    in target/ into each run's own target dir; that one comes from `dbt parse` without --vars, so without
    this every build (which has the thresholds as --vars) would re-parse the project from scratch. The
    copy goes through a temp file and a rename: another run copying it at the same time reads a whole one."""
    src = Path(project.project_dir) / run_target / "partial_parse.msgpack"  # an absolute run_target stays
    dest_dir = Path(project.project_dir) / project.target_path
    if not src.exists() or src.parent.resolve() == dest_dir.resolve():
        return
    tmp = dest_dir / f".partial_parse.{os.getpid()}.tmp"
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest_dir / "partial_parse.msgpack")
    except OSError:
        tmp.unlink(missing_ok=True)  # only a speed-up: a failed copy costs the next run a full parse


def dbt_env(cfg: ReconConfig) -> dict[str, str]:
    """Env for the dbt subprocess: where the landing Parquet and the DuckDB file are, and DuckDB's memory
    limit when the config sets one (else the environment's RECON_DUCKDB_MEMORY_LIMIT, else profiles.yml's)."""
    env = {
        "RECON_LANDING_DIR": str(cfg.warehouse.landing_dir),
        "RECON_WAREHOUSE_PATH": str(cfg.warehouse.path),
        "RECON_LANDING_ENDPOINT_URL": cfg.warehouse.landing_endpoint_url or "",
    }
    if cfg.warehouse.memory_limit:
        env["RECON_DUCKDB_MEMORY_LIMIT"] = cfg.warehouse.memory_limit
    return env


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

    def get_asset_check_spec(self, asset_spec, manifest, unique_id, project):
        """dagster-dbt names a check after the dbt test but leaves its description out: put it in."""
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        test = manifest.get("nodes", {}).get(unique_id, {})
        if spec is None or spec.description or not test.get("description"):
            return spec
        return spec._replace(description=test["description"])


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
    cfg = recon.config
    variables = dbt_vars(cfg, recon.window(context))
    # dbt reads these through env_var() in profiles.yml and the raw sources; the step runs in its
    # own process under `dagster dev` and in the CLI's process otherwise.
    os.environ.update(dbt_env(cfg))
    Path(cfg.warehouse.path).parent.mkdir(parents=True, exist_ok=True)
    args = build_args(variables, config.full_refresh)
    context.log.info(
        f"dbt build for {variables['start_date']}..{variables['end_date']} as of {variables['as_of']}"
    )
    with warehouse_lock(cfg.warehouse.path, log=context.log.info):
        write_run_values(cfg.warehouse.path, variables)  # the window and clock dbt reads (run_vars.sql)
        # dagster-dbt echoes dbt's whole log to stdout: it goes to a file, the terminal gets n/N
        with terminal.dbt_log(terminal.dbt_log_path(cfg.warehouse.path)):
            invocation = dbt.cli(args, context=context)
            try:
                yield from invocation.stream()
            except BaseException:
                stop_dbt(invocation.process)
                raise
        keep_partial_parse(invocation.target_path)
        # which run's build the marts now hold: the report (and `recon run`'s summary) check it
        write_build_stamp(
            cfg.warehouse.path,
            context.run.run_id,
            variables["start_date"],
            variables["end_date"],
            variables["as_of"],
        )


def stop_dbt(process, timeout_s: float = 20.0) -> None:
    """An interrupted step stops its dbt: dagster-dbt forwards the interrupt only when it lands while it
    reads dbt's output, not while it turns an event into Dagster's, so dbt could go on building alone."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)  # dbt cancels its queries and writes run_results.json
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class ReconDbtCli(DbtCliResource):
    """dagster-dbt's resource without two start-up costs recon never uses: before every command it runs
    `dbt --version` in a subprocess and builds a dbt adapter in this process (for column metadata and
    row counts, which recon does not fetch); each imports dbt, seconds apiece on a loaded machine."""

    @cached_property
    def _cli_version(self):
        from packaging import version

        return version.parse(importlib.metadata.version("dbt-core"))  # the venv's dbt is this dbt-core

    def _initialize_dbt_core_adapter(self, args):
        return None


def dbt_resource() -> DbtCliResource:
    return ReconDbtCli(
        project_dir=dbt_project, profiles_dir=str(DBT_PROJECT_DIR), dbt_executable=dbt_executable()
    )
