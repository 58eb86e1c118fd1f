"""App sources on SQLite: a non-canonical app schema (own tables, columns, status words, prices in
micros, ISO-text timestamps in several spellings) mapped by SQL lands as correct canonical records.

The app data, the mapping queries and the expected canonical rows live here and are reused by
tests/test_app_sources_postgres.py, so both databases are held to the same expectations.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from sqlalchemy import create_engine, text

from orchestration.app_sources import bind_params, check_app_queries, extract_app_records, sqlite_bound
from orchestration.config import AppConfig, ConfigError
from orchestration.errors import ExtractionError
from orchestration.landing import land_validated, read_partition, read_quarantine
from orchestration.pseudonymize import DEMO_KEY, pseudonymize_user_id
from schemas.canonical import RECORDS
from schemas.validate import canonical_dtypes, validate_frame

DAY = date(2026, 11, 20)
START = datetime(2026, 11, 20, tzinfo=UTC)
END = datetime(2026, 11, 21, tzinfo=UTC)
KEY = b"test-pseudonym-key"

# The app's own order table: its names, its status words, money in micros, timestamps as text.
ORDER_COLUMNS = (
    "order_no",
    "customer_ref",
    "placed_at",
    "kind_code",
    "engine",
    "gw_request",
    "gw_task",
    "state",
    "finished_at",
    "tx_ref",
    "price_micros",
    "attempts",
)
ORDERS = [
    # the first second of the day is inside the half-open window
    (
        "ord-001",
        "alice@example.com",
        "2026-11-20 00:00:00",
        "IMG",
        "flux-pro",
        "req-a1",
        None,
        "DONE",
        "2026-11-20 00:00:42",
        "tx-1",
        40000,
        0,
    ),
    (
        "ord-002",
        "1001",
        "2026-11-20T09:15:30Z",
        "VID",
        "kling-v2",
        None,
        "task_abc",
        "ERR",
        "2026-11-20T09:20:00Z",
        None,
        1250000,
        1,
    ),
    # +02:00 offset: 01:30 local on the 21st is 23:30 UTC on the 20th
    (
        "ord-003",
        "1002",
        "2026-11-21T01:30:00+02:00",
        "SONG",
        "suno-v4",
        None,
        "task_def",
        "WORKING",
        None,
        None,
        500000,
        0,
    ),
    (
        "ord-004",
        "bob-77",
        "2026-11-20T12:00:00.250Z",
        "TXT",
        "gpt-4o",
        "req-b2",
        None,
        "ABORTED",
        "2026-11-20T12:00:05.500Z",
        None,
        0,
        2,
    ),
    # empty text means NULL
    (
        "ord-005",
        "carol",
        "2026-11-20 18:45:00",
        "IMG",
        "flux-pro",
        "req-c3",
        None,
        "QUEUED",
        "",
        "",
        None,
        None,
    ),
    # outside the window: the last second of the day before, the first instant of the day after
    (
        "ord-000",
        "zed",
        "2026-11-19 23:59:59",
        "IMG",
        "flux-pro",
        "req-z0",
        None,
        "DONE",
        "2026-11-20 00:00:10",
        None,
        40000,
        0,
    ),
    (
        "ord-006",
        "zed",
        "2026-11-21T00:00:00Z",
        "IMG",
        "flux-pro",
        "req-z6",
        None,
        "DONE",
        "2026-11-21T00:01:00Z",
        None,
        40000,
        0,
    ),
    # bad rows inside the window, one per check
    (
        "ord-007",
        "dan",
        "2026-11-20 08:00:00",
        "IMG",
        "flux-pro",
        "req-d7",
        None,
        "LOST",
        None,
        None,
        40000,
        0,
    ),
    (
        "ord-008",
        "eve",
        "2026-11-20 07:00:00",
        "IMG",
        "flux-pro",
        "req-e8",
        None,
        "DONE",
        "2026-11-20 06:00:00",
        None,
        40000,
        0,
    ),
    (
        "ord-009",
        "frank",
        "2026-11-20 05:00:00",
        "IMG",
        "flux-pro",
        "req-f9",
        None,
        "DONE",
        "2026-11-20 05:01:00",
        None,
        40000,
        0,
    ),
    (
        "ord-009",
        "frank",
        "2026-11-20 05:00:00",
        "IMG",
        "flux-pro",
        "req-f9",
        None,
        "ERR",
        "2026-11-20 05:01:00",
        None,
        40000,
        0,
    ),
]
RAW_USER_IDS = sorted({r[1] for r in ORDERS})

DELIVERABLE_COLUMNS = ("file_uuid", "order_no", "made_at", "media", "size_bytes", "visible")
DELIVERABLES = [
    ("f-1", "ord-001", "2026-11-20 00:00:43", "png", 1048576, 1),
    ("f-2", "ord-004", "2026-11-20 12:00:06", "txt", 2048, 0),
    ("f-3", "ord-002", "2026-11-20 09:21:00", "mp4", -5, 1),  # negative size: quarantined
    ("f-4", "ord-003", "2026-11-21 00:10:00", "mp3", 10, 1),  # next day: not in this window
    ("f-5", "ord-002", "2026-11-20 09:22:00", "mp4", None, 2),
]

SCENE_CASE = (
    "case o.kind_code when 'IMG' then 'image' when 'VID' then 'video' when 'SONG' then 'music' "
    "when 'TXT' then 'chat' else 'other' end"
)
STATUS_CASE = (
    "case o.state when 'DONE' then 'succeeded' when 'ERR' then 'failed' when 'ABORTED' then "
    "'cancelled' when 'WORKING' then 'running' when 'QUEUED' then 'pending' else o.state end"
)
ASSET_STATUS_CASE = "case d.visible when 1 then 'available' when 0 then 'deleted' else 'failed' end"

SQLITE_DDL = [
    (
        "create table render_orders (order_no text, customer_ref text, placed_at text, kind_code text, "
        "engine text, gw_request text, gw_task text, state text, finished_at text, tx_ref text, "
        "price_micros integer, attempts integer, internal_note text)"
    ),
    (
        "create table deliverables (file_uuid text, order_no text, made_at text, media text, "
        "size_bytes integer, visible integer)"
    ),
]
# jobs: datetime() normalizes every ISO spelling (T/space, Z, offsets) to UTC before comparing.
SQLITE_JOBS_QUERY = f"""
select o.order_no as job_id, o.customer_ref as user_id, o.placed_at as created_at, {SCENE_CASE} as scene,
       o.engine as model, o.gw_request as request_id, o.gw_task as task_id, {STATUS_CASE} as status,
       o.finished_at as terminal_at, o.tx_ref as billing_transaction_id,
       o.price_micros / 1000000.0 as expected_cost_usd, o.attempts as retry_count,
       o.internal_note as note
from render_orders o
where datetime(o.placed_at) >= :start and datetime(o.placed_at) < :end
"""
# assets: plain text comparison against UTC text stored with a space
SQLITE_ASSETS_QUERY = f"""
select d.file_uuid as asset_id, d.order_no as job_id, d.made_at as created_at, d.media as kind,
       d.size_bytes as byte_size, {ASSET_STATUS_CASE} as status
from deliverables d
where d.made_at >= :start and d.made_at < :end
"""


def ts(s: str) -> pd.Timestamp:
    return pd.Timestamp(s).tz_convert("UTC") if pd.Timestamp(s).tzinfo else pd.Timestamp(s, tz="UTC")


def pseudo(raw: str, key: bytes = KEY) -> str:
    return "u_" + hmac.new(key, raw.encode(), hashlib.sha256).hexdigest()[:32]


def expected_jobs(key: bytes = KEY) -> pd.DataFrame:
    """The canonical rows a correct mapping lands for DAY, written out by hand."""
    rows = [
        (
            "ord-001",
            pseudo("alice@example.com", key),
            ts("2026-11-20T00:00:00Z"),
            "image",
            "flux-pro",
            "req-a1",
            None,
            "succeeded",
            ts("2026-11-20T00:00:42Z"),
            "tx-1",
            0.04,
            0,
        ),
        (
            "ord-002",
            pseudo("1001", key),
            ts("2026-11-20T09:15:30Z"),
            "video",
            "kling-v2",
            None,
            "task_abc",
            "failed",
            ts("2026-11-20T09:20:00Z"),
            None,
            1.25,
            1,
        ),
        (
            "ord-003",
            pseudo("1002", key),
            ts("2026-11-20T23:30:00Z"),
            "music",
            "suno-v4",
            None,
            "task_def",
            "running",
            None,
            None,
            0.5,
            0,
        ),
        (
            "ord-004",
            pseudo("bob-77", key),
            ts("2026-11-20T12:00:00.250Z"),
            "chat",
            "gpt-4o",
            "req-b2",
            None,
            "cancelled",
            ts("2026-11-20T12:00:05.500Z"),
            None,
            0.0,
            2,
        ),
        (
            "ord-005",
            pseudo("carol", key),
            ts("2026-11-20T18:45:00Z"),
            "image",
            "flux-pro",
            "req-c3",
            None,
            "pending",
            None,
            None,
            None,
            None,
        ),
    ]
    return _frame("app_jobs", rows)


def expected_assets() -> pd.DataFrame:
    rows = [
        ("f-1", "ord-001", ts("2026-11-20T00:00:43Z"), "png", 1048576, "available"),
        ("f-2", "ord-004", ts("2026-11-20T12:00:06Z"), "txt", 2048, "deleted"),
        ("f-5", "ord-002", ts("2026-11-20T09:22:00Z"), "mp4", None, "failed"),
    ]
    return _frame("app_assets", rows)


def _frame(record: str, rows: list[tuple]) -> pd.DataFrame:
    dtypes = canonical_dtypes(record)
    cols = list(dtypes)
    # rows may stop before the optional columns (token_name, prompt/completion_tokens): null
    data = {c: [r[i] if i < len(r) else None for r in rows] for i, c in enumerate(cols)}
    out = {}
    for c, t in dtypes.items():
        if isinstance(t, pd.DatetimeTZDtype):
            out[c] = pd.Series([pd.NaT if v is None else v for v in data[c]], dtype=t)
        else:
            out[c] = pd.Series([pd.NA if v is None else v for v in data[c]], dtype=t)
    return pd.DataFrame(out)


def app_config(
    url_env: str = "APP_DATABASE_URL", jobs: str = SQLITE_JOBS_QUERY, assets: str = SQLITE_ASSETS_QUERY
) -> AppConfig:
    return AppConfig(
        database_url_env=url_env,
        jobs_query=jobs,
        assets_query=assets,
        pseudonym_key_env="RECON_PSEUDONYM_KEY",
    )


def load_app_data(url: str, ddl: list[str]) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        for stmt in ddl:
            conn.execute(text(stmt))
        conn.execute(
            text(
                f"insert into render_orders ({', '.join(ORDER_COLUMNS)}) values "
                f"({', '.join(':' + c for c in ORDER_COLUMNS)})"
            ),
            [dict(zip(ORDER_COLUMNS, r, strict=True)) for r in ORDERS],
        )
        conn.execute(
            text(
                f"insert into deliverables ({', '.join(DELIVERABLE_COLUMNS)}) values "
                f"({', '.join(':' + c for c in DELIVERABLE_COLUMNS)})"
            ),
            [dict(zip(DELIVERABLE_COLUMNS, r, strict=True)) for r in DELIVERABLES],
        )
    engine.dispose()


def sorted_frame(df: pd.DataFrame, key: str) -> pd.DataFrame:
    return df.sort_values(key, kind="mergesort").reset_index(drop=True)


def run_and_check(app: AppConfig, landing: Path, source: str) -> dict[str, pd.DataFrame]:
    """Extract, validate and land both app records for DAY; assert the canonical result. Shared
    by the SQLite and PostgreSQL tests."""
    out: dict[str, pd.DataFrame] = {}
    for record, key_col, expected in (
        ("app_jobs", "job_id", expected_jobs()),
        ("app_assets", "asset_id", expected_assets()),
    ):
        df = extract_app_records(app, record, START, END)
        result = validate_frame(record, df, source=f"{source}:{record}", partition=DAY.isoformat())
        land_validated(result, landing, record, DAY)
        landed = read_partition(landing, record, DAY)
        assert list(landed.columns) == list(canonical_dtypes(record))
        pd.testing.assert_frame_equal(sorted_frame(landed, key_col), sorted_frame(expected, key_col))
        out[record] = read_quarantine(landing, record, DAY)
    jobs_q = out["app_jobs"]
    reasons = dict(zip(jobs_q["job_id"] + "/" + jobs_q["status"], jobs_q["quarantine_reason"], strict=True))
    assert reasons == {
        "ord-007/LOST": "status isin(['pending', 'running', 'succeeded', 'failed', 'cancelled'])",
        "ord-008/succeeded": "terminal_at terminal_at_not_before_created_at",
        "ord-009/succeeded": "job_id unique",
        "ord-009/failed": "job_id unique",
    }
    assets_q = out["app_assets"]
    assert assets_q["asset_id"].tolist() == ["f-3"]
    assert assets_q["quarantine_reason"].tolist() == ["byte_size greater_than_or_equal_to(0)"]
    return out


@pytest.fixture
def sqlite_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppConfig:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    load_app_data(url, SQLITE_DDL)
    monkeypatch.setenv("APP_DATABASE_URL", url)
    monkeypatch.setenv("RECON_PSEUDONYM_KEY", KEY.decode())
    return app_config()


@pytest.fixture
def local_tz(monkeypatch: pytest.MonkeyPatch):
    """Run with a far-from-UTC local time zone, restored afterwards."""

    def set_tz(name: str) -> None:
        monkeypatch.setenv("TZ", name)
        time.tzset()

    yield set_tz
    monkeypatch.undo()
    time.tzset()


def test_sqlite_mapping_lands_correct_canonical_records(sqlite_app: AppConfig, tmp_path: Path) -> None:
    run_and_check(sqlite_app, tmp_path / "landing", "sqlite")


def test_optional_fallback_columns_land_when_the_query_returns_them(sqlite_app: AppConfig) -> None:
    """token_name / prompt_tokens / completion_tokens are optional (the id-less fallback match):
    a query without them lands them null (above); one with them lands what it returns."""
    query = SQLITE_JOBS_QUERY.replace(
        "o.internal_note as note",
        "o.internal_note as note, 'app-key' as token_name, 120 as prompt_tokens, "
        "cast(null as integer) as completion_tokens",
    )
    app = app_config(jobs=query)
    check_app_queries(app)
    got = extract_app_records(app, "app_jobs", START, END)
    assert list(got.columns) == list(RECORDS["app_jobs"])
    assert set(got["token_name"]) == {"app-key"} and set(got["prompt_tokens"]) == {120}
    assert got["completion_tokens"].isna().all()


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "America/Adak", "Asia/Kathmandu"])
def test_local_time_zone_does_not_change_what_lands(
    sqlite_app: AppConfig, tmp_path: Path, local_tz, zone: str
) -> None:
    local_tz(zone)
    assert time.localtime().tm_gmtoff != 0
    run_and_check(sqlite_app, tmp_path / "landing", "sqlite")


def test_naive_window_bounds_are_utc_not_local(sqlite_app: AppConfig, local_tz) -> None:
    local_tz("Pacific/Kiritimati")
    naive = extract_app_records(sqlite_app, "app_jobs", START.replace(tzinfo=None), END.replace(tzinfo=None))
    aware = extract_app_records(sqlite_app, "app_jobs", START, END)
    pd.testing.assert_frame_equal(naive, aware)


def test_sqlite_bounds_are_canonical_datetime_text() -> None:
    assert sqlite_bound(START) == "2026-11-20 00:00:00"
    assert sqlite_bound(datetime(2026, 11, 20, 1, 2, 3, 4500, tzinfo=UTC)) == "2026-11-20 01:02:03.004500"
    params = bind_params("postgresql", START, END)
    assert params["start"] == START and params["start"].tzinfo is not None


def test_missing_canonical_columns_is_a_clear_error_before_anything_lands(
    sqlite_app: AppConfig, tmp_path: Path
) -> None:
    query = SQLITE_JOBS_QUERY.replace(f"{STATUS_CASE} as status,", "").replace(
        "o.finished_at as terminal_at,", "o.finished_at as done_at,"
    )
    app = app_config(jobs=query)
    with pytest.raises(ConfigError) as err:
        extract_app_records(app, "app_jobs", START, END)
    msg = str(err.value)
    assert "app.jobs_query" in msg
    assert "status" in msg and "terminal_at" in msg
    assert "job_id" not in msg.split("(it returns")[0]
    assert not (tmp_path / "landing").exists()


def test_query_without_window_parameters_is_rejected(sqlite_app: AppConfig) -> None:
    app = app_config(assets=SQLITE_ASSETS_QUERY.replace("and d.made_at < :end", ""))
    with pytest.raises(ConfigError, match=r"app.assets_query: .*:end"):
        extract_app_records(app, "app_assets", START, END)


def test_rows_a_query_returns_outside_the_window_are_quarantined(sqlite_app: AppConfig) -> None:
    loose = SQLITE_ASSETS_QUERY.replace(
        "where d.made_at >= :start and d.made_at < :end", "where :start is not null and :end is not null"
    )
    df = extract_app_records(app_config(assets=loose), "app_assets", START, END)
    result = validate_frame("app_assets", df, source="sqlite:app_assets", partition=DAY.isoformat())
    assert sorted(result.valid["asset_id"]) == ["f-1", "f-2", "f-5"]
    q = result.quarantine.set_index("asset_id")["quarantine_reason"].to_dict()
    assert q == {"f-3": "byte_size greater_than_or_equal_to(0)", "f-4": "created_at inside_window"}
    assert "sqlite:app_assets 2026-11-20: column created_at failed inside_window in 1 row" in result.lines()


def test_unreadable_values_are_quarantined_not_dropped(sqlite_app: AppConfig, tmp_path: Path) -> None:
    engine = create_engine(os.environ["APP_DATABASE_URL"])
    with engine.begin() as conn:
        conn.execute(
            text(
                "insert into render_orders (order_no, customer_ref, placed_at, state, finished_at, "
                "attempts) values ('ord-bad', 'x', '2026-11-20 03:00:00', 'DONE', 'soon', 'two')"
            )
        )
    engine.dispose()
    df = extract_app_records(sqlite_app, "app_jobs", START, END)
    result = validate_frame("app_jobs", df, source="sqlite:app_jobs", partition=DAY.isoformat())
    bad = result.quarantine.set_index("job_id").loc["ord-bad"]
    assert bad["quarantine_reason"] == "retry_count parse_integer; terminal_at parse_timestamp"
    assert len(result.valid) + len(result.quarantine) == 10  # every row of the window, once
    failures = {(f["column"], f["check"]): f for f in result.failures}
    assert failures[("terminal_at", "parse_timestamp")]["examples"] == ["soon"]


def test_missing_database_url_names_the_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APP_DB_NOT_SET", raising=False)
    with pytest.raises(ConfigError, match="app.database_url_env: environment variable APP_DB_NOT_SET"):
        extract_app_records(app_config(url_env="APP_DB_NOT_SET"), "app_jobs", START, END)


def test_query_error_is_one_line_without_the_url(sqlite_app: AppConfig) -> None:
    app = app_config(jobs="select * from no_such_table where created_at >= :start and created_at < :end")
    with pytest.raises(ExtractionError) as err:
        extract_app_records(app, "app_jobs", START, END)
    assert "no such table: no_such_table" in str(err.value)
    assert "sqlite:///" not in str(err.value) and "\n" not in str(err.value)


def test_pseudonymization_leaves_no_raw_user_id_anywhere(
    sqlite_app: AppConfig, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    landing = tmp_path / "landing"
    quarantine = run_and_check(sqlite_app, landing, "sqlite")
    jobs = read_partition(landing, "app_jobs", DAY)
    assert set(jobs["user_id"]) == {
        pseudo(r) for r in ("alice@example.com", "1001", "1002", "bob-77", "carol")
    }
    assert quarantine["app_jobs"]["user_id"].str.startswith("u_").all()
    files = sorted(landing.rglob("*"))
    assert any(f.name == "quarantine.parquet" for f in files)
    for f in files:
        if not f.is_file():
            continue
        table = pq.read_table(f)
        cells = " ".join(str(v) for col in table.columns for v in col.to_pylist())
        raw_bytes = f.read_bytes()
        for raw in RAW_USER_IDS:
            assert raw not in cells, f"{raw} in {f}"
            assert raw.encode() not in raw_bytes
    for raw in RAW_USER_IDS:
        assert raw not in caplog.text


def test_pseudonyms_are_keyed_and_stable() -> None:
    assert pseudonymize_user_id("1001", KEY) == pseudo("1001") == pseudonymize_user_id(1001, KEY)
    assert pseudonymize_user_id("1001", b"another-key") != pseudonymize_user_id("1001", KEY)
    assert pseudonymize_user_id(None, KEY) is None
    # a plain unkeyed hash of the id would be guessable; the pseudonym is not it
    assert hashlib.sha256(b"1001").hexdigest()[:32] not in pseudonymize_user_id("1001", KEY)


def test_unset_key_uses_the_demo_key_with_a_warning(
    sqlite_app: AppConfig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import orchestration.pseudonymize as pz

    monkeypatch.delenv("RECON_PSEUDONYM_KEY")
    monkeypatch.setattr(pz, "_warned", set())
    with caplog.at_level(logging.WARNING, logger="orchestration.pseudonymize"):
        df = extract_app_records(sqlite_app, "app_jobs", START, END)
    assert "RECON_PSEUDONYM_KEY is not set" in caplog.text
    assert pseudo("alice@example.com", DEMO_KEY) in set(df["user_id"])


def test_landing_the_same_window_twice_gives_byte_identical_files(
    sqlite_app: AppConfig, tmp_path: Path
) -> None:
    landing = tmp_path / "landing"

    def materialize() -> dict[str, str]:
        for record in ("app_jobs", "app_assets"):
            df = extract_app_records(sqlite_app, record, START, END)
            land_validated(
                validate_frame(record, df, source="app", partition=DAY.isoformat()), landing, record, DAY
            )
        return {
            str(p.relative_to(landing)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(landing.rglob("*.parquet"))
        }

    first = materialize()
    assert len(first) == 4  # two partitions, each with its quarantine file
    assert materialize() == first


def test_sandbox_app_database_lands_the_scenarios_expected_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo app DB (its own vocabulary, julianday() window filter) extracts to exactly the
    canonical rows the sandbox scenario says a perfect extraction produces."""
    from datetime import timedelta

    from orchestration.pseudonymize import pseudonymize_series
    from orchestration.sandbox.app_db import write_app_db
    from orchestration.sandbox.scenario import build_scenario

    scenario = build_scenario(seed=7, end=DAY, days=3)
    jobs_q, assets_q = write_app_db(scenario, tmp_path / "demo.db")
    monkeypatch.setenv("APP_DATABASE_URL", f"sqlite:///{tmp_path / 'demo.db'}")
    monkeypatch.setenv("RECON_PSEUDONYM_KEY", KEY.decode())
    app = app_config(jobs=jobs_q, assets=assets_q)
    expected = scenario.canonical()
    expected["app_jobs"]["user_id"] = pseudonymize_series(expected["app_jobs"]["user_id"], KEY)
    for record, key_col in (("app_jobs", "job_id"), ("app_assets", "asset_id")):
        frames = []
        for back in range(3):
            start = START - timedelta(days=back)
            result = validate_frame(
                record,
                extract_app_records(app, record, start, start + timedelta(days=1)),
                source="demo",
                partition=start.date().isoformat(),
            )
            assert result.ok, result.lines()
            frames.append(result.valid)
        got = sorted_frame(pd.concat(frames, ignore_index=True), key_col)
        pd.testing.assert_frame_equal(got, sorted_frame(expected[record], key_col))


def test_preflight_checks_both_queries_before_any_extraction(sqlite_app: AppConfig) -> None:
    from orchestration.app_sources import check_app_queries

    check_app_queries(sqlite_app)  # the good mapping passes
    bad = app_config(
        assets=SQLITE_ASSETS_QUERY.replace("d.size_bytes as byte_size,", "").replace(
            "d.media as kind,", "d.media as media_kind,"
        )
    )
    with pytest.raises(ConfigError, match=r"app.assets_query: .*canonical column\(s\) kind, byte_size"):
        check_app_queries(bad)
