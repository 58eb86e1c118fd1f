"""App sources on a real PostgreSQL server: the same app data and expectations as the SQLite test.

The server is a throwaway one on loopback (tests/pg_server.py), whose own time zone is deliberately not
UTC (Asia/Kathmandu, +05:45) so a session that forgot to use UTC would be caught. The test is skipped only
when no server can be started, with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from pg_server import running_postgres
from sqlalchemy import create_engine, text

from orchestration.app_sources import extract_app_records

try:  # tests/ is a rootdir-importable folder, not a package
    from test_app_sources import (
        ASSET_STATUS_CASE,
        END,
        KEY,
        SCENE_CASE,
        SQLITE_DDL,
        START,
        STATUS_CASE,
        app_config,
        load_app_data,
        run_and_check,
    )
except ImportError:  # pragma: no cover - if tests/ becomes a package
    from tests.test_app_sources import (
        ASSET_STATUS_CASE,
        END,
        KEY,
        SCENE_CASE,
        SQLITE_DDL,
        START,
        STATUS_CASE,
        app_config,
        load_app_data,
        run_and_check,
    )

pytestmark = pytest.mark.postgres

# The app keeps ISO text for orders (as the SQLite app does) and a real `timestamp without time
# zone` for deliverables.
PG_DDL = [
    (
        "create table render_orders (order_no text, customer_ref text, placed_at text, kind_code text, "
        "engine text, gw_request text, gw_task text, state text, finished_at text, tx_ref text, "
        "price_micros bigint, attempts integer, internal_note text)"
    ),
    (
        "create table deliverables (file_uuid text, order_no text, made_at timestamp without time zone, "
        "media text, size_bytes bigint, visible integer)"
    ),
]
# Text columns are cast in SQL; created_at comes back as the app's text, terminal_at as timestamptz,
# money as numeric (Decimal), the asset time as a naive timestamp: every form the reader must take.
PG_JOBS_QUERY = f"""
select o.order_no as job_id, o.customer_ref as user_id, o.placed_at as created_at, {SCENE_CASE} as scene,
       o.engine as model, o.gw_request as request_id, o.gw_task as task_id, {STATUS_CASE} as status,
       nullif(o.finished_at, '')::timestamptz as terminal_at, o.tx_ref as billing_transaction_id,
       o.price_micros / 1000000.0 as expected_cost_usd, o.attempts as retry_count
from render_orders o
where o.placed_at::timestamptz >= :start and o.placed_at::timestamptz < :end
"""
PG_ASSETS_QUERY = f"""
select d.file_uuid as asset_id, d.order_no as job_id, d.made_at as created_at, d.media as kind,
       d.size_bytes as byte_size, {ASSET_STATUS_CASE} as status
from deliverables d
where d.made_at >= :start and d.made_at < :end
"""


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with running_postgres() as url:
        yield url


@pytest.fixture
def pg_app(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    eng = create_engine(pg_url)
    with eng.begin() as conn:
        conn.execute(text("drop table if exists render_orders, deliverables"))
    eng.dispose()
    load_app_data(pg_url, PG_DDL)
    monkeypatch.setenv("APP_DATABASE_URL", pg_url)
    monkeypatch.setenv("RECON_PSEUDONYM_KEY", KEY.decode())
    yield app_config(jobs=PG_JOBS_QUERY, assets=PG_ASSETS_QUERY)


def test_server_time_zone_is_not_utc(pg_url: str) -> None:
    """Guards the test itself: the UTC result below must not come from a UTC server default."""
    eng = create_engine(pg_url)
    with eng.connect() as conn:
        assert conn.execute(text("show timezone")).scalar() == "Asia/Kathmandu"
    eng.dispose()


def test_postgres_mapping_lands_correct_canonical_records(pg_app, tmp_path: Path) -> None:
    run_and_check(pg_app, tmp_path / "landing", "postgres")


def test_postgres_and_sqlite_land_the_same_rows(
    pg_app, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pg_jobs = extract_app_records(pg_app, "app_jobs", START, END)
    sqlite_url = f"sqlite:///{tmp_path / 'app.db'}"
    load_app_data(sqlite_url, SQLITE_DDL)
    monkeypatch.setenv("APP_DATABASE_URL", sqlite_url)
    lite_jobs = extract_app_records(app_config(), "app_jobs", START, END)
    key = ["job_id", "status"]
    pd.testing.assert_frame_equal(
        pg_jobs.sort_values(key).reset_index(drop=True), lite_jobs.sort_values(key).reset_index(drop=True)
    )


def test_postgres_local_time_zone_does_not_matter(
    pg_app, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "America/Adak")
    monkeypatch.setenv("PGTZ", "Pacific/Kiritimati")  # libpq would otherwise pick this session zone
    time.tzset()
    try:
        run_and_check(pg_app, tmp_path / "landing", "postgres")
    finally:
        monkeypatch.undo()
        time.tzset()


# ---- issue 17: a hostile mapping query cannot write; the documented URL works; which failure


def test_a_mapping_query_cannot_delete_the_apps_rows(
    pg_app, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """psycopg2 sends `delete ...; commit; select ...` as one string: the session must refuse the write."""
    from orchestration.errors import ExtractionError

    eng = create_engine(pg_url)
    with eng.connect() as conn:
        before = conn.execute(text("select count(*) from render_orders")).scalar()
    hostile = app_config(jobs="delete from render_orders; commit; " + PG_JOBS_QUERY, assets=PG_ASSETS_QUERY)
    with pytest.raises(ExtractionError, match="read-only transaction"):
        extract_app_records(hostile, "app_jobs", START, END, key=KEY)
    with eng.connect() as conn:
        assert conn.execute(text("select count(*) from render_orders")).scalar() == before > 0
    eng.dispose()


def test_the_documented_postgresql_url_works(
    pg_app, pg_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("APP_DATABASE_URL", pg_url.replace("postgresql+psycopg2://", "postgresql://"))
    run_and_check(pg_app, tmp_path / "landing", "postgres")


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda u: u.rsplit("/", 1)[0] + "/no_such_db", "unknown database"),
        (lambda u: u.replace("postgres@", "nobody@"), "authentication failed: the user does not exist"),
    ],
)
def test_a_connection_failure_says_which(pg_url: str, monkeypatch: pytest.MonkeyPatch, change, says) -> None:
    from orchestration.app_sources import check_app_queries
    from orchestration.errors import ExtractionError

    monkeypatch.setenv("APP_DATABASE_URL", change(pg_url.replace("postgresql+psycopg2://", "postgresql://")))
    with pytest.raises(ExtractionError, match=says):
        check_app_queries(app_config(jobs=PG_JOBS_QUERY, assets=PG_ASSETS_QUERY))
