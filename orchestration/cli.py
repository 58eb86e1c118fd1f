"""The `recon` command (click): demo, run, check, report, trace, sandbox, ui. docs/contracts.md is the contract."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import nullcontext, suppress
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import click

from orchestration.config import ConfigError, load_config
from orchestration.resources import parse_as_of


class DateParam(click.ParamType):
    name = "DATE"

    def convert(self, value, param, ctx):
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.fail(f"not a date (YYYY-MM-DD): {value!r}", param, ctx)


class TimestampParam(click.ParamType):
    name = "TIMESTAMP"

    def convert(self, value, param, ctx):
        try:
            return parse_as_of(value)
        except ValueError:
            self.fail(f"not an ISO-8601 timestamp: {value!r}", param, ctx)


def _fail(msg: str, code: int = 1) -> None:
    click.echo(f"recon: {msg}", err=True)
    sys.exit(code)


def _yesterday() -> date:
    return datetime.now(UTC).date() - timedelta(days=1)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="recon", prog_name="recon")
def main() -> None:
    """Daily reconciliation of AI gateway usage against your app's jobs and assets."""


@main.command()
@click.option(
    "--config", "config_path", required=True, type=click.Path(dir_okay=False), help="recon YAML config"
)
@click.option("--start", required=True, type=DateParam(), help="first UTC day (YYYY-MM-DD)")
@click.option("--end", type=DateParam(), help="last UTC day, inclusive (default: --start)")
@click.option("--as-of", "as_of", type=TimestampParam(), help="fix 'now' (UTC) for a reproducible report")
@click.option("--full-refresh", is_flag=True, help="rebuild the incremental marts from scratch")
@click.option("--verbose", "-v", is_flag=True, help="show Dagster's log and dbt's whole log")
def run(
    config_path: str, start: date, end: date | None, as_of: datetime | None, full_refresh: bool, verbose: bool
) -> None:
    """Materialize every asset for the UTC days START..END with CONFIG."""
    from orchestration import terminal
    from orchestration.preflight import check_days
    from orchestration.reports.summary import format_summary
    from orchestration.runner import RunFailed, run_range

    end = end or start
    if end < start:
        _fail(f"date range is backwards: --start {start.isoformat()} is after --end {end.isoformat()}", 2)
    try:
        cfg_start = load_config(config_path).reconciliation.start_date
    except ConfigError:
        cfg_start = None  # run_range reports it, after the days are checked
    try:
        check_days(start, end, start=cfg_start)  # without a start_date a backfill reaches back to any day
    except ConfigError as exc:
        _fail(str(exc), 2)
    try:
        terminal.enable(verbose)
        outcome = run_range(
            config_path, start, end, as_of or parse_as_of(None), full_refresh=full_refresh, quiet=not verbose
        )
    except ConfigError as exc:
        _fail(f"config error: {exc}", 2)
    except RunFailed as exc:
        _fail(f"run failed ({start.isoformat()}..{end.isoformat()}): {exc}", 1)
    _echo_check_failures(outcome.check_failures)
    click.echo(f"dbt log: {outcome.dbt_log}\n")
    click.echo(format_summary(outcome.summary))


@main.command()
@click.option(
    "--config", "config_path", required=True, type=click.Path(dir_okay=False), help="recon YAML config"
)
def check(config_path: str) -> None:
    """Check CONFIG the way `dbt debug` does: config, env vars, each gateway (one request), the app
    database (its queries on an empty window) and the warehouse; one line per part."""
    from rich.console import Console

    from orchestration.preflight import check_all

    parts = check_all(config_path)
    out = Console(highlight=False, soft_wrap=True)
    for p in parts:
        mark = "[green]ok[/green]  " if p.ok else "[red]FAIL[/red]"
        out.print(f"{mark} {p.name}: ", end="", markup=True)
        out.print(p.detail, markup=False)
    failed = [p.name for p in parts if not p.ok]
    if failed:
        _fail(f"check failed: {', '.join(failed)}", 1)
    click.echo(f"all {len(parts)} parts ok")


@main.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False))
@click.option("--date", "day", type=DateParam(), help="report date (default: yesterday UTC)")
@click.option("--start", type=DateParam(), help="first UTC day of an explicit range (instead of --date)")
@click.option("--end", type=DateParam(), help="last UTC day of the range, inclusive (default: --start)")
@click.option("--as-of", "as_of", type=TimestampParam())
def report(
    config_path: str, day: date | None, start: date | None, end: date | None, as_of: datetime | None
) -> None:
    """Print the mismatch summary and write the HTML/CSV report from the current marts, in a folder
    named for its days (reports_dir/<day>/ or reports_dir/<first>_<last>/)."""
    from orchestration.preflight import check_warehouse_file
    from orchestration.reports.render import render_report
    from orchestration.reports.summary import collect_summary, format_summary
    from orchestration.run_window import RunWindow
    from orchestration.warehouse_lock import warehouse_lock

    try:
        cfg = load_config(config_path)
    except ConfigError as exc:
        _fail(f"config error: {exc}", 2)
    if not Path(cfg.warehouse.path).exists():
        _fail(f"no warehouse at {cfg.warehouse.path}: run `recon run` first", 1)
    try:
        check_warehouse_file(cfg.warehouse.path)
    except ConfigError as exc:
        _fail(f"config error: {exc}", 2)
    as_of, lookback = as_of or parse_as_of(None), cfg.reconciliation.lookback_days
    if start is not None or end is not None:
        if day is not None or start is None:
            _fail("give either --date or --start [--end], not both", 2)
        if (end or start) < start:
            _fail(f"date range is backwards: --start {start.isoformat()} is after --end {end.isoformat()}", 2)
        window = RunWindow(start, end or start, as_of, lookback)
    else:
        # The same days a scheduled run for `day` covers: the day and its lookback window.
        window = RunWindow.for_day(day or _yesterday(), as_of, lookback)
    with warehouse_lock(cfg.warehouse.path, log=lambda m: click.echo(m, err=True)):
        summary = collect_summary(cfg, window.days)
        summary.report_path = render_report(
            summary,
            cfg.warehouse.path,
            cfg.warehouse.reports_dir,
            window.as_of,
            links=cfg.report.model_dump(),
        )
    click.echo(format_summary(summary))


@main.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False))
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json", "packet"]), default="text", show_default=True
)
@click.argument("ident", metavar="ID")
def trace(config_path: str, fmt: str, ident: str) -> None:
    """Everything recon holds about one job, request, task or billing-transaction ID."""
    import duckdb

    from orchestration.trace import TraceAmbiguous, TraceNotFound, build_trace, to_json, to_packet, to_text

    try:
        cfg = load_config(config_path)
    except ConfigError as exc:
        _fail(f"config error: {exc}", 2)
    try:
        t = build_trace(cfg.warehouse.path, ident, cfg.warehouse.landing_dir)
    except TraceNotFound as exc:
        _fail(f"trace: {exc}", 1)
    except TraceAmbiguous as exc:
        _fail(f"trace: {exc}", 3)
    except duckdb.Error as exc:  # e.g. a run holds the file: one line, not a traceback
        _fail(f"trace: cannot read the warehouse {cfg.warehouse.path}: {str(exc).splitlines()[0]}", 1)
    click.echo({"text": to_text, "json": to_json, "packet": to_packet}[fmt](t))


@main.command()
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 90))
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--data-dir", default="data", show_default=True, type=click.Path(file_okay=False))
@click.option("--verbose", "-v", is_flag=True, help="show Dagster's log and dbt's whole log")
def demo(days: int, seed: int, data_dir: str, verbose: bool) -> None:
    """Run the whole job on the embedded default: sandbox gateway + SQLite + DuckDB."""
    from orchestration import terminal
    from orchestration.data_dir_lock import DataDirBusy
    from orchestration.demo import demo_environment, score_against_truth
    from orchestration.reports.summary import format_summary
    from orchestration.runner import RunFailed, run_range

    t0 = time.monotonic()
    terminal.enable(verbose)
    try:
        with demo_environment(Path(data_dir), days, seed) as setup:
            outcome = _demo_run(setup, run_range, quiet=not verbose)
    except DataDirBusy as exc:
        _fail(str(exc), 2)
    except (ConfigError, RunFailed) as exc:
        _fail(f"demo failed: {exc}", 1)
    _echo_check_failures(outcome.check_failures)
    sc = score_against_truth(outcome.cfg.warehouse.path, setup.truth_path)
    click.echo(
        f"against the scenario's truth ({setup.truth_path}): {len(sc.true_positive)} of "
        f"{len(sc.true_positive) + len(sc.false_negative)} injected findings found, "
        f"{len(sc.false_positive)} unexpected (precision {sc.precision:.2f}, recall {sc.recall:.2f})"
    )
    # The sandbox lives only while `recon demo`/`recon ui` runs: say what can be run again, and how.
    click.echo(
        f"config: {setup.config_path} (dummy secrets: {setup.env_path})\n"
        f"  report again: . {setup.env_path} && recon report --config {setup.config_path} "
        f"--start {setup.first.isoformat()} --end {setup.last.isoformat()} --as-of {setup.as_of.isoformat()}\n"
        f"  run again: recon demo --data-dir {data_dir} (its sandbox gateway is served only meanwhile); "
        f"your own setup: recon ui --config YOUR.yaml\n"
        f"dbt log: {outcome.dbt_log}; done in {time.monotonic() - t0:.1f}s\n"
    )
    click.echo(format_summary(outcome.summary))


def _echo_check_failures(lines: list[str]) -> None:
    """One line per failed operator check (its first failure and how many more): the report lists all."""
    by_check: dict[str, list[str]] = {}
    for line in lines:
        by_check.setdefault(line.split(": ", 1)[0], []).append(line)
    for group in by_check.values():
        more = f" (+{len(group) - 1} more in the report)" if len(group) > 1 else ""
        click.echo(f"warning: {group[0]}{more}", err=True)


def _demo_run(setup, run_range, quiet: bool = True):
    """The demo's run, inside its environment (sandbox up, data dir locked)."""
    click.echo(
        f"sandbox gateway up; reconciling {setup.first.isoformat()} .. {setup.last.isoformat()} "
        f"as of {setup.as_of.isoformat()}",
        err=True,
    )
    return run_range(setup.config_path, setup.first, setup.last, setup.as_of, full_refresh=True, quiet=quiet)


@main.command()
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535))
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 90))
@click.option(
    "--limit",
    default=None,
    metavar="N/SECONDS",
    help="behave like new-api's rate limiter: N requests per SECONDS per client, then 429 with an "
    "empty body and no Retry-After (new-api's default is 180/180)",
)
def sandbox(port: int, seed: int, days: int, limit: str | None) -> None:
    """Serve the sandbox gateway (new-api + TokenLab dialects) with the seeded demo scenario."""
    from orchestration.sandbox.faults import Faults
    from orchestration.sandbox.server import run_sandbox

    faults = None
    if limit:
        try:
            n, secs = limit.split("/", 1)
            faults = Faults(limit_requests=int(n), limit_window_s=float(secs))
        except ValueError as exc:
            raise click.BadParameter(
                f"expected N/SECONDS like 180/180 ({exc})", param_hint="--limit"
            ) from None
    run_sandbox(port=port, seed=seed, days=days, faults=faults)


@main.command()
@click.option("--port", default=3000, show_default=True, type=int, help="Dagster UI port")
@click.option("--data-dir", default="data", show_default=True, type=click.Path(file_okay=False))
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, exists=True),
    help="your own recon YAML (default: the demo setup with its sandbox gateway)",
)
def ui(port: int, data_dir: str, config_path: str | None) -> None:
    """Start `dagster dev` on the demo setup (sandbox gateway served while the UI runs), or on --config."""
    from orchestration.data_dir_lock import DataDirBusy
    from orchestration.demo import demo_environment

    home = os.environ.get("DAGSTER_HOME") or str(Path(".dagster_home").resolve())
    if config_path:
        try:
            load_config(config_path)
        except ConfigError as exc:
            _fail(f"config error: {exc}", 2)
        _ui(nullcontext(SimpleNamespace(env={}, config_path=Path(config_path).resolve())), home, port)
        return
    try:
        _ui(demo_environment(Path(data_dir), 7, 7, command="ui"), home, port)
    except DataDirBusy as exc:
        _fail(str(exc), 2)


def _ui(environment, home: str, port: int) -> None:
    with environment as setup:
        env = {**os.environ, **setup.env, "RECON_CONFIG": str(setup.config_path), "DAGSTER_HOME": home}
        click.echo(
            f"config {setup.config_path}; DAGSTER_HOME {home}; UI on http://127.0.0.1:{port}", err=True
        )
        bin_dir = Path(sys.executable).parent
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"  # dagster-dbt needs the venv's dbt
        with suppress(KeyboardInterrupt):
            subprocess.run(
                [str(bin_dir / "dagster"), "dev", "-m", "orchestration.definitions", "-p", str(port)],
                env=env,
                check=False,
            )


if __name__ == "__main__":
    main()
