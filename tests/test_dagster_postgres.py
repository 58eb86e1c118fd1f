"""The Dagster instance on PostgreSQL (issue 24 item 3), with the documented orchestration/dagster_postgres.yaml
copied to DAGSTER_HOME as docs/beyond-one-machine.md says: a real `recon run` records its run and events in
a real PostgreSQL server (tests/pg_server.py), and the real daemon records a schedule tick there.

Nothing is mocked. The schedule fires every minute here through RECON_SCHEDULE_CRON (the documented cron
override), so the test waits for the daemon's next minute: slow.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from urllib.parse import urlparse

import pytest
from pg_server import running_postgres
from recon_pipeline import REPO, pipeline
from sqlalchemy import create_engine, text

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

TEMPLATE = REPO / "orchestration" / "dagster_postgres.yaml"


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with running_postgres() as url:
        yield url


def _instance_env(pg_url: str, home: Path) -> dict[str, str]:
    u = urlparse(pg_url.replace("postgresql+psycopg2://", "postgresql://"))
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(TEMPLATE, home / "dagster.yaml")
    return {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": u.hostname,
        "DAGSTER_PG_PORT": str(u.port),
        "DAGSTER_PG_DB": u.path.lstrip("/"),
        "DAGSTER_PG_USER": u.username,
        "DAGSTER_PG_PASSWORD": "not-checked-by-trust-auth",
    }


def _scalar(pg_url: str, sql: str):
    eng = create_engine(pg_url)
    try:
        with eng.connect() as conn:
            return conn.execute(text(sql)).scalar()
    finally:
        eng.dispose()


def test_the_template_keeps_no_secret() -> None:
    body = TEMPLATE.read_text()
    assert "env: DAGSTER_PG_PASSWORD" in body
    assert "password: " not in body.replace("password:\n", "")  # only read from the environment


def test_a_recon_run_and_a_schedule_tick_are_recorded_in_postgresql(tmp_path: Path, pg_url: str) -> None:
    with pipeline(tmp_path / "data", end=date(2026, 11, 20), days=2, jobs_per_day=10) as e:
        env = {**e.env, **_instance_env(pg_url, tmp_path / "dagster_home")}
        run = subprocess.run(
            e.cmd(), cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False
        )
        assert run.returncode == 0, run.stderr[-3000:]
        assert not (tmp_path / "dagster_home" / "history" / "runs.db").exists()  # no SQLite run storage
        assert _scalar(pg_url, "select count(*) from runs where status = 'SUCCESS'") == 1
        materialized = _scalar(
            pg_url, "select count(*) from event_logs where dagster_event_type = 'ASSET_MATERIALIZATION'"
        )
        assert materialized >= 6  # every raw asset, the dbt models and the report, per partition

        env.update(RECON_CONFIG=str(e.config_path), RECON_SCHEDULE_CRON="* * * * *")
        dagster = str(Path(sys.executable).parent / "dagster")
        start = subprocess.run(
            [dagster, "schedule", "start", "recon_daily_schedule", "-m", "orchestration.definitions"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert start.returncode == 0, start.stderr[-3000:]
        assert (
            _scalar(pg_url, "select count(*) from jobs where job_type = 'SCHEDULE' and status = 'RUNNING'")
            == 1
        )

        daemon = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-m", "orchestration.definitions"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 240  # the next minute boundary plus the daemon's start
            ticks = 0
            while time.monotonic() < deadline and not ticks:
                assert daemon.poll() is None, daemon.stderr.read()[-3000:]
                ticks = _scalar(
                    pg_url, "select count(*) from job_ticks where status in ('SUCCESS', 'SKIPPED')"
                )
                time.sleep(2)
            assert ticks >= 1, "the daemon recorded no schedule tick in PostgreSQL within 4 minutes"
        finally:
            os.killpg(daemon.pid, signal.SIGTERM)  # the daemon and any run it launched
            try:
                daemon.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(daemon.pid, signal.SIGKILL)
                daemon.wait()
