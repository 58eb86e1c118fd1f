"""A careless operator (issue 17): dates outside the partitions, config mistakes that only show at
run time, a warehouse path at the wrong file, a second command on one data dir, an app database
connection that could write. Each must stop before any extraction with one line (exit 2), or be
refused by the database itself."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from support.net import closed_port

from orchestration.app_sources import app_engine, check_app_queries
from orchestration.cli import main as recon_cli
from orchestration.config import ConfigError
from orchestration.demo import DEMO_ENV, demo_config
from orchestration.partitions import partitions_start
from orchestration.runner import one_line

try:  # tests/ is a rootdir-importable folder, not a package
    from test_app_sources import SQLITE_ASSETS_QUERY, SQLITE_DDL, SQLITE_JOBS_QUERY, app_config, load_app_data
except ImportError:  # pragma: no cover
    from tests.test_app_sources import (
        SQLITE_ASSETS_QUERY,
        SQLITE_DDL,
        SQLITE_JOBS_QUERY,
        app_config,
        load_app_data,
    )

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def app_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    load_app_data(url, SQLITE_DDL)
    monkeypatch.setenv("APP_DATABASE_URL", url)
    monkeypatch.setenv("RECON_PSEUDONYM_KEY", "k")
    for k, v in DEMO_ENV.items():
        monkeypatch.setenv(k, v)
    return url


def write_config(
    tmp_path: Path, jobs: str = SQLITE_JOBS_QUERY, assets: str = SQLITE_ASSETS_QUERY, **warehouse
) -> Path:
    cfg = demo_config("http://127.0.0.1:9", tmp_path / "data", jobs, assets)
    cfg["warehouse"].update({k: str(v) for k, v in warehouse.items()})
    path = tmp_path / "recon.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def run_cli(args: list[str]):
    return CliRunner().invoke(recon_cli, args)


# ---- 9. dates outside the partitions


def test_a_day_before_the_partitions_start_is_refused_up_front_naming_the_start(tmp_path: Path) -> None:
    before = (partitions_start() - timedelta(days=1)).isoformat()
    res = run_cli(["run", "--config", str(tmp_path / "none.yaml"), "--start", before])
    assert res.exit_code == 2
    assert res.stderr == (
        f"recon: --start {before} is before the partitions' start "
        f"{partitions_start().isoformat()} (reconciliation.start_date: the first day recon reconciles)\n"
    )
    assert not (tmp_path / "data").exists()


def test_a_day_that_has_not_ended_is_refused(tmp_path: Path) -> None:
    today = datetime.now(UTC).date()
    for day in (today, today + timedelta(days=3)):
        res = run_cli(["run", "--config", str(tmp_path / "none.yaml"), "--start", day.isoformat()])
        assert res.exit_code == 2, res.output
        assert f"--end {day.isoformat()} has not ended yet" in res.stderr
        assert f"is {(today - timedelta(days=1)).isoformat()} (UTC)" in res.stderr
    assert not (tmp_path / "data").exists()


# ---- 10. config-time errors found by the preflight, before extraction


@pytest.mark.parametrize(
    ("jobs", "line"),
    [
        (
            SQLITE_JOBS_QUERY.replace("o.engine as model,", ""),
            "app.jobs_query: the query does not return the canonical column(s) model",
        ),
        (
            SQLITE_JOBS_QUERY.replace("datetime(o.placed_at) >= :start and ", ""),
            "app.jobs_query: the query must filter on the window with :start",
        ),
        (
            SQLITE_JOBS_QUERY.replace("from render_orders o", "from render_order o"),
            "app.jobs_query: query failed: OperationalError: no such table: render_order",
        ),
    ],
)
def test_a_broken_jobs_query_fails_the_preflight_with_exit_2(
    tmp_path: Path, app_db: str, jobs: str, line: str
) -> None:
    cfg = write_config(tmp_path, jobs=jobs)
    res = run_cli(["run", "--config", str(cfg), "--start", "2026-11-20"])
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("recon: config error: ") and line in res.stderr
    assert len(res.stderr.splitlines()) == 1
    assert not (tmp_path / "data" / "landing").exists()  # nothing extracted


def test_a_warehouse_path_at_a_sqlite_file_is_refused(tmp_path: Path, app_db: str) -> None:
    sqlite_file = tmp_path / "not_duck.db"
    eng = create_engine(f"sqlite:///{sqlite_file}")
    with eng.begin() as conn:
        conn.execute(text("create table t (x int)"))
    eng.dispose()
    before = sqlite_file.read_bytes()
    cfg = write_config(tmp_path, path=sqlite_file)
    for args in (["run", "--config", str(cfg), "--start", "2026-11-20"], ["report", "--config", str(cfg)]):
        res = run_cli(args)
        assert res.exit_code == 2, res.output
        assert res.stderr == (
            f"recon: config error: warehouse.path: {sqlite_file} is a SQLite database; "
            f"point warehouse.path at a DuckDB file or a new path\n"
        )
    assert sqlite_file.read_bytes() == before
    assert not (tmp_path / "data" / "landing").exists()


def test_disk_full_during_dbt_says_no_space_left_on_device(tmp_path: Path) -> None:
    """dagster-dbt's failure names the model; the cause is further down its text or only in dbt.log."""
    message = (
        "The dbt CLI process with command\n\ndbt build --vars {...}\n\nfailed with exit code 1. "
        "Check the stdout in the Dagster compute logs for the full information about the error.\n\n"
        "Errors parsed from dbt logs:\n\n"
        "Failure in model fct_settlements (models/marts/fct_settlements.sql)\n"
        "ERROR creating sql table model main.fct_settlements ........ [ERROR in 0.41s]\n"
        '  IO Error: Could not write file "/data/warehouse.duckdb.wal": No space left on device\n'
    )
    assert one_line(message) == (
        "dbt: ERROR creating sql table model main.fct_settlements "
        "........ [ERROR in 0.41s]: no space left on device"
    )
    # The cause only in dbt's own log (the path the step's text names or the project's logs/dbt.log).
    log = tmp_path / "dbt.log"
    log.write_text(
        "12:00:01 Began running node model.recon.fct_settlements\n"
        "12:00:02 Runtime Error in model fct_settlements: [Errno 28] No space left on device\n"
    )
    short = message.replace(
        '  IO Error: Could not write file "/data/warehouse.duckdb.wal": No space left on device\n', ""
    )
    assert one_line(short, dbt_logs=[log]).endswith(": no space left on device")
    assert one_line(short, dbt_logs=[tmp_path / "absent.log"]).endswith("[ERROR in 0.41s]")


# ---- 6. the documented postgresql:// URL, a missing driver, which connection failure


def test_a_url_whose_driver_is_not_installed_is_a_config_error_before_extraction(
    tmp_path: Path, app_db: str, monkeypatch
) -> None:
    monkeypatch.setenv("APP_DATABASE_URL", "postgresql+pg8000://recon@127.0.0.1:9/app")
    with pytest.raises(ConfigError, match=r"names a database driver that is not installed \(pg8000\)"):
        app_engine(app_config())
    res = run_cli(["run", "--config", str(write_config(tmp_path)), "--start", "2026-11-20"])
    assert res.exit_code == 2 and "driver that is not installed (pg8000)" in res.stderr
    assert not (tmp_path / "data" / "landing").exists()


def test_the_documented_postgresql_url_has_its_driver() -> None:
    eng = create_engine("postgresql://recon@127.0.0.1:9/app")  # psycopg 3 under SQLAlchemy 2.1
    assert eng.dialect.driver == "psycopg"
    eng.dispose()


def test_an_unreachable_host_says_so(tmp_path: Path, app_db: str, monkeypatch) -> None:
    monkeypatch.setenv("APP_DATABASE_URL", f"postgresql://recon:s3cret-pw@127.0.0.1:{closed_port()}/app")
    res = run_cli(["run", "--config", str(write_config(tmp_path)), "--start", "2026-11-20"])
    assert res.exit_code == 2, res.output
    assert res.stderr == (
        "recon: config error: app: cannot connect to the app database (env APP_DATABASE_URL): "
        "host unreachable (check the host and port in the URL, and that the server runs)\n"
    )
    assert "s3cret-pw" not in res.output


# ---- 5. the app database is opened read-only


def test_the_sqlite_app_database_is_opened_read_only(tmp_path: Path, app_db: str) -> None:
    eng = app_engine(app_config())
    try:
        with eng.connect() as conn:
            with pytest.raises(OperationalError, match="readonly"):
                conn.execute(text("delete from render_orders"))
                conn.commit()
            assert conn.execute(text("select count(*) from render_orders")).scalar() > 0
    finally:
        eng.dispose()
    check_app_queries(app_config())  # reading still works


# ---- 8. two commands on one data dir


def test_a_second_command_on_a_data_dir_in_use_refuses_and_touches_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys, time\nfrom pathlib import Path\n"
                "from orchestration.data_dir_lock import data_dir_lock\n"
                f"with data_dir_lock(Path({str(data)!r}), 'demo'):\n    print('held', flush=True)\n    time.sleep(120)\n"
            ),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        for args in (["ui", "--data-dir", str(data), "--port", "1"], ["demo", "--data-dir", str(data)]):
            t0 = time.monotonic()
            res = run_cli(args)
            assert res.exit_code == 2, res.output
            assert res.stderr == (
                f"recon: data dir {data.resolve()} is in use by recon demo (pid {holder.pid}); "
                f"wait for it to finish or pass another --data-dir\n"
            )
            assert time.monotonic() - t0 < 30  # refused at once, not after waiting
        assert not (data / "demo").exists() and not (data / "recon.yaml").exists()
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.slow
def test_a_real_full_disk_under_the_warehouse_says_no_space_left_on_device(tmp_path: Path) -> None:
    """The warehouse on a 256 KiB tmpfs (needs the right to mount: skipped elsewhere)."""
    import shutil

    from recon_pipeline import pipeline

    mnt = tmp_path / "full"
    mnt.mkdir()
    if (
        not shutil.which("mount")
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True, check=False
        ).returncode
        != 0
    ):
        pytest.skip("cannot mount a small tmpfs here (needs root / CAP_SYS_ADMIN)")
    try:
        with pipeline(tmp_path / "data", end=datetime(2026, 11, 20).date(), days=2, jobs_per_day=10) as e:
            cfg = yaml.safe_load(e.config_path.read_text())
            cfg["warehouse"]["path"] = str(mnt / "warehouse.duckdb")
            e.config_path.write_text(yaml.safe_dump(cfg))
            p = subprocess.run(
                e.cmd(), cwd=REPO, env=e.env, capture_output=True, text=True, timeout=900, check=False
            )
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
    assert p.returncode == 1, p.stderr[-2000:]
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith("recon: run failed (2026-11-19..2026-11-20): step recon_dbt_models failed: ")
    assert "no space left on device" in last.lower()
