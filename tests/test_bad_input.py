"""Bad input, one test per kind: each gets exactly one clear error line or a quarantine reason that
names source, partition, field and row(s) — never a silent drop, never a silent zero.

Gateway inputs go over real loopback HTTP (the sandbox, or a tiny stdlib server for answers the
sandbox does not produce); app inputs through a real SQLite database; the CLI through `recon`.
The catalogue (input -> what it gets -> test) is the table in RELIABILITY.md. Cases an older test
already proves are named there and not repeated here, except where the exact line is pinned below.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from orchestration.app_sources import extract_app_records
from orchestration.cli import main as recon_cli
from orchestration.config import AppConfig, GatewayConfig
from orchestration.demo import DEMO_ENV, demo_config
from orchestration.errors import ExtractionError, GatewayAuthError, InvalidRecordError
from orchestration.evidence import read_held, read_manifest
from orchestration.gateways import client_for
from orchestration.landing import land_validated, partition_file, read_partition, read_quarantine
from orchestration.sandbox import SANDBOX_TOKEN, SANDBOX_USER_ID
from orchestration.sandbox.app_db import write_app_db
from orchestration.sandbox.bulk import bulk_scenario
from orchestration.sandbox.scenario import build_scenario
from orchestration.sandbox.server import serve
from schemas.validate import validate_frame

REPO = Path(__file__).resolve().parents[1]
KEY = b"bad-input-test-key"
# The scenario's last day, pinned: the error lines asserted below name its first day (2026-11-20). A
# scenario's default end is yesterday, which made these tests pass only on the day they were written.
SCENARIO_END = date(2026, 11, 21)


@pytest.fixture(autouse=True, scope="module")
def _env() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BI_TOKEN", SANDBOX_TOKEN)
        mp.setenv("BI_USER", str(SANDBOX_USER_ID))
        yield


def gw(url: str, **kw) -> GatewayConfig:
    base = {
        "name": "main",
        "dialect": "newapi",
        "base_url": url,
        "token_env": "BI_TOKEN",
        "user_id_env": "BI_USER",
        "max_attempts": 2,
        "max_concurrency": 4,
    }
    base.update(kw)
    return GatewayConfig(**base)


def extract_day(mutate: Callable[[dict], None] | None = None, **cfg) -> tuple[pd.DataFrame, dict, datetime]:
    """Usage of the first day of a small scenario, with one consume row changed by `mutate` after
    the sandbox indexed it (so the server still selects it by its true time, as a real one would)."""
    sc = build_scenario(seed=11, end=SCENARIO_END, days=2, jobs_per_day=20)
    day = sc.range_start
    lo = day.timestamp()
    victim = next(
        r
        for r in sc.newapi_logs
        if r.get("request_id") and r["type"] == 2 and lo + 1800 < r["created_at"] < lo + 86400
    )
    original = dict(victim)
    with serve(sc) as url:
        if mutate:
            mutate(victim)
        cl = client_for(gw(url, **cfg))
        cl.now, cl.backoff_base = sc.as_of, 0.01
        return cl.usage(day, day + timedelta(days=1)), original, day


def validate_usage(df: pd.DataFrame, day: datetime):
    return validate_frame("usage_records", df, source="gateways:main", partition=day.date().isoformat())


@pytest.fixture(scope="module")
def baseline() -> pd.DataFrame:
    df, _, _ = extract_day()
    return df


# --------------------------------------------------------------------------------------------------
# schema drift from the gateway


def test_drift_new_fields_are_ignored_and_the_day_lands_unchanged(baseline: pd.DataFrame) -> None:
    def add(v: dict) -> None:
        v["brand_new_field"] = {"nested": [1, 2]}
        other = json.loads(v["other"])
        other["brand_new_ratio"] = 9.9
        v["other"] = json.dumps(other)

    df, _, _ = extract_day(add)
    pd.testing.assert_frame_equal(df, baseline)
    assert list(df.columns) == list(baseline.columns)  # nothing new can reach a landed column


def test_drift_missing_created_at_fails_the_extraction_naming_field_and_row() -> None:
    with pytest.raises(InvalidRecordError) as err:
        extract_day(lambda v: v.pop("created_at"))
    msg = str(err.value)
    assert msg.startswith("gateway=main partition=2026-11-20 endpoint=/api/log/self window=[2026-11-20T")
    assert "invalid row: field=created_at row=request_id=" in msg and "missing or zero created_at" in msg
    assert "\n" not in msg


def test_drift_missing_type_fails_instead_of_landing_money_as_other() -> None:
    with pytest.raises(InvalidRecordError) as err:
        extract_day(lambda v: v.pop("type"))
    msg = str(err.value)
    assert "gateway=main partition=2026-11-20" in msg
    assert "invalid row: field=type row=request_id=" in msg and "missing type" in msg


def test_drift_missing_quota_quarantines_the_charge_instead_of_landing_a_silent_zero(tmp_path: Path) -> None:
    df, victim, day = extract_day(lambda v: v.pop("quota"))
    result = validate_usage(df, day)
    assert result.lines() == ["gateways:main 2026-11-20: column cost_usd failed money_row_has_cost in 1 row"]
    landed = land_validated(result, tmp_path, "usage_records", day.date())
    q = read_quarantine(tmp_path, "usage_records", day.date())
    assert list(q["request_id"]) == [victim["request_id"]]
    assert list(q["quarantine_reason"]) == ["cost_usd money_row_has_cost"]
    assert landed.rows + landed.quarantined == len(df)  # every row once, in one of the two files
    assert victim["request_id"] not in set(
        read_partition(tmp_path, "usage_records", day.date())["request_id"]
    )


def test_drift_number_as_string_is_read_as_the_number(baseline: pd.DataFrame) -> None:
    def stringify(v: dict) -> None:
        for k in ("quota", "prompt_tokens", "completion_tokens", "use_time", "type", "created_at"):
            v[k] = str(v[k])

    df, _, _ = extract_day(stringify)
    pd.testing.assert_frame_equal(df, baseline)


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("quota", "12abc", "quota"),
        ("prompt_tokens", "many", "prompt_tokens"),
        ("other", json.dumps({"model_ratio": "1.5x"}), "other.model_ratio"),
    ],
)
def test_drift_unreadable_number_names_the_field(field: str, value: str, named: str) -> None:
    with pytest.raises(InvalidRecordError) as err:
        extract_day(lambda v: v.__setitem__(field, value))
    msg = str(err.value)
    assert f"invalid row: field={named} row=request_id=" in msg and "not a number" in msg
    assert "gateway=main partition=2026-11-20" in msg


# --------------------------------------------------------------------------------------------------
# malformed `other`, success:false, milliseconds


def test_malformed_other_json_fails_naming_gateway_partition_field_and_row() -> None:
    with pytest.raises(InvalidRecordError) as err:
        extract_day(lambda v: v.__setitem__("other", '{"model_ratio": 1.5, "admin_info": {'))
    msg = str(err.value)
    assert "gateway=main partition=2026-11-20 endpoint=/api/log/self" in msg
    assert "invalid row: field=other row=request_id=" in msg and msg.endswith("malformed JSON in `other`")


class _SuccessFalse(BaseHTTPRequestHandler):
    """A console that answers HTTP 200 with success:false and a given message."""

    message = ""

    def log_message(self, *_a: object) -> None:
        pass

    def do_GET(self) -> None:
        body = json.dumps({"success": False, "message": self.message}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def success_false(message: str) -> Iterator[str]:
    handler = type("H", (_SuccessFalse,), {"message": message})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.mark.parametrize(
    ("message", "error", "tail"),
    [
        ("database is locked", ExtractionError, "gateway answered success:false: database is locked"),
        (
            "无权进行此操作，access token 无效",
            GatewayAuthError,
            "check the environment variable(s) BI_TOKEN (token_env) and BI_USER (user_id_env)",
        ),
        ("", GatewayAuthError, "gateway answered success:false (no message)"),
    ],
)
def test_http_200_with_success_false_is_an_error_never_an_empty_day(
    message: str, error: type, tail: str
) -> None:
    day = datetime(2026, 11, 20, tzinfo=UTC)
    with success_false(message) as url:
        cl = client_for(gw(url))
        cl.now, cl.backoff_base = day + timedelta(days=2), 0.01
        with pytest.raises(error) as err:
            cl.usage(day, day + timedelta(days=1))
    msg = str(err.value)
    assert type(err.value) is error
    assert msg.startswith("gateway=main endpoint=/api/log/self window=[2026-11-20T")
    assert tail in msg and "\n" not in msg and SANDBOX_TOKEN not in msg


def test_usage_timestamp_in_milliseconds_lands_at_the_right_second(baseline: pd.DataFrame) -> None:
    df, victim, _ = extract_day(lambda v: v.__setitem__("created_at", v["created_at"] * 1000))
    pd.testing.assert_frame_equal(df, baseline)
    row = df[df["request_id"] == victim["request_id"]]
    assert row["created_at"].iloc[0] == pd.Timestamp(victim["created_at"], unit="s", tz="UTC")


def test_task_times_in_milliseconds_land_at_the_right_second() -> None:
    sc = build_scenario(seed=11, end=SCENARIO_END, days=2, jobs_per_day=20)
    day = sc.range_start
    ms_tasks = [t for t in sc.newapi_tasks if t["submit_time"] > 10**11]
    assert ms_tasks, "the sandbox serves Midjourney-style tasks with millisecond times"
    with serve(sc) as url:
        cl = client_for(gw(url))
        cl.now = sc.as_of
        tasks = pd.concat([cl.tasks(day + timedelta(days=i), day + timedelta(days=i + 1)) for i in range(2)])
    got = tasks.set_index("task_id")["submitted_at"]
    for t in ms_tasks:
        assert got[t["task_id"]] == pd.Timestamp(t["submit_time"], unit="ms", tz="UTC")


# --------------------------------------------------------------------------------------------------
# the app database

DAY = date(2026, 11, 20)
START = datetime(2026, 11, 20, tzinfo=UTC)
END = START + timedelta(days=1)
JOBS_QUERY = """
select j.id as job_id, j.account as user_id, j.created as created_at, 'image' as scene, 'flux' as model,
       j.req as request_id, null as task_id, 'succeeded' as status, j.done as terminal_at,
       null as billing_transaction_id, 0.04 as expected_cost_usd, 0 as retry_count
from jobs j left join tags t on t.job = j.id
where j.created >= :start and j.created < :end
"""
ASSETS_QUERY = """
select id as asset_id, job as job_id, created as created_at, 'image' as kind, 1 as byte_size,
       'available' as status from assets where created >= :start and created < :end
"""


@pytest.fixture
def app_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[AppConfig, Callable[[str, dict], None]]:
    url = f"sqlite:///{tmp_path / 'app.sqlite'}"
    eng = create_engine(url)
    with eng.begin() as c:
        c.execute(text("create table jobs (id text, account text, created text, req text, done)"))
        c.execute(text("create table tags (job text, tag text)"))
        c.execute(text("create table assets (id text, job text, created text)"))
    monkeypatch.setenv("BI_APP_DB", url)
    app = AppConfig(database_url_env="BI_APP_DB", jobs_query=JOBS_QUERY, assets_query=ASSETS_QUERY)

    def insert(table: str, row: dict) -> None:
        with eng.begin() as c:
            c.execute(
                text(f"insert into {table} ({', '.join(row)}) values ({', '.join(':' + k for k in row)})"),
                row,
            )

    yield app, insert
    eng.dispose()


def test_app_query_returning_duplicate_job_ids(app_db, tmp_path: Path) -> None:
    """A join that repeats a job (two tags) lands it once and quarantines the copy; the same job id
    with different content is all quarantined (picking one would be a guess)."""
    app, insert = app_db
    insert("jobs", {"id": "job-1", "account": "alice", "created": "2026-11-20 01:00:00", "req": "r1"})
    insert("tags", {"job": "job-1", "tag": "a"})
    insert("tags", {"job": "job-1", "tag": "b"})
    insert("jobs", {"id": "job-2", "account": "bob", "created": "2026-11-20 02:00:00", "req": "r2"})
    insert("jobs", {"id": "job-2", "account": "bob", "created": "2026-11-20 02:00:00", "req": "r2-retry"})
    insert("jobs", {"id": "job-3", "account": "carol", "created": "2026-11-20 03:00:00", "req": "r3"})
    df = extract_app_records(app, "app_jobs", START, END, key=KEY)
    result = validate_frame("app_jobs", df, source="app:app_jobs", partition=DAY.isoformat())
    assert result.lines() == [
        "app:app_jobs 2026-11-20: column job_id failed duplicate_row in 1 row",
        "app:app_jobs 2026-11-20: column job_id failed unique in 2 rows",
    ]
    land_validated(result, tmp_path, "app_jobs", DAY)
    landed = read_partition(tmp_path, "app_jobs", DAY)
    q = read_quarantine(tmp_path, "app_jobs", DAY)
    assert sorted(landed["job_id"]) == ["job-1", "job-3"]
    assert sorted(zip(q["job_id"], q["request_id"], q["quarantine_reason"], strict=False)) == [
        ("job-1", "r1", "job_id duplicate_row"),
        ("job-2", "r2", "job_id unique"),
        ("job-2", "r2-retry", "job_id unique"),
    ]


@pytest.mark.parametrize(
    "value",
    [1795136400000, 1795136400, "1795136400000"],
    ids=["epoch ms", "epoch seconds", "epoch ms as text"],
)
def test_app_timestamp_as_epoch_number_is_quarantined_not_guessed(app_db, value) -> None:
    app, insert = app_db
    insert(
        "jobs", {"id": "job-1", "account": "a", "created": "2026-11-20 01:00:00", "req": "r1", "done": value}
    )
    insert(
        "jobs",
        {
            "id": "job-2",
            "account": "b",
            "created": "2026-11-20 02:00:00",
            "req": "r2",
            "done": "2026-11-20 02:00:30",
        },
    )
    df = extract_app_records(app, "app_jobs", START, END, key=KEY)
    result = validate_frame("app_jobs", df, source="app:app_jobs", partition=DAY.isoformat())
    assert result.lines() == ["app:app_jobs 2026-11-20: column terminal_at failed parse_timestamp in 1 row"]
    assert result.failures[0]["examples"] == [str(value)]
    assert list(result.quarantine["job_id"]) == ["job-1"] and list(result.valid["job_id"]) == ["job-2"]


# --------------------------------------------------------------------------------------------------
# the command line: a backwards range, a missing env var


def test_backwards_date_range_is_one_line_and_exit_2(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        recon_cli,
        ["run", "--config", str(tmp_path / "none.yaml"), "--start", "2026-11-20", "--end", "2026-11-19"],
    )
    assert res.exit_code == 2
    assert res.stderr == "recon: date range is backwards: --start 2026-11-20 is after --end 2026-11-19\n"
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("unset", "key"),
    [
        ("TOKENLAB_TOKEN", "gateways[1].token_env"),
        ("GATEWAY_USER_ID", "gateways[0].user_id_env"),
        ("APP_DATABASE_URL", "app.database_url_env"),
    ],
)
def test_config_with_a_missing_env_var_fails_before_any_extraction(
    tmp_path: Path, monkeypatch, unset, key
) -> None:
    cfg = tmp_path / "recon.yaml"
    cfg.write_text(
        yaml.safe_dump(demo_config("http://127.0.0.1:9", tmp_path / "data", JOBS_QUERY, ASSETS_QUERY))
    )
    for k, v in {**DEMO_ENV, "APP_DATABASE_URL": "sqlite://"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv(unset)
    res = CliRunner().invoke(recon_cli, ["run", "--config", str(cfg), "--start", "2026-11-20"])
    assert res.exit_code == 2
    assert res.stderr == f"recon: config error: {cfg}: {key}: environment variable {unset} is not set\n"
    assert not (tmp_path / "data").exists()  # nothing extracted, nothing written


# --------------------------------------------------------------------------------------------------
# an empty day; a big day


@pytest.mark.slow
def test_an_empty_day_is_a_real_zero_not_an_error(tmp_path: Path) -> None:
    """A day with no gateway rows and no app rows: `recon run` exits 0, every app source lands a typed
    empty file and every gateway source a complete manifest row serving 0 rows (so "nothing happened"
    is recorded, not "nothing was read"), the summary says 0."""
    import duckdb

    sc = build_scenario(seed=7, end=date(2026, 11, 20), days=2, jobs_per_day=10)
    data = tmp_path / "data"
    (data / "demo").mkdir(parents=True)
    jobs_q, assets_q = write_app_db(sc, data / "demo" / "app.sqlite")
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env.update(
        DEMO_ENV,
        APP_DATABASE_URL=f"sqlite:///{data / 'demo' / 'app.sqlite'}",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    )
    empty_day = date(2026, 11, 10)
    with serve(sc) as url:
        cfg = data / "recon.yaml"
        cfg.write_text(yaml.safe_dump(demo_config(str(url), data, jobs_q, assets_q)))
        p = subprocess.run(
            [
                sys.executable,
                "-m",
                "orchestration.cli",
                "run",
                "--config",
                str(cfg),
                "--start",
                empty_day.isoformat(),
                "--as-of",
                sc.as_of.isoformat(),
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    assert p.returncode == 0, p.stderr[-3000:]
    for record in ("app_jobs", "app_assets"):
        f = partition_file(data / "landing", record, empty_day)
        assert f.exists() and pq.read_metadata(f).num_rows == 0, record
    for record in ("usage_records", "gateway_tasks"):
        m = read_manifest(data / "landing", record, empty_day)
        assert set(m["gateway"]) == {"main", "lab"} and m["complete"].all(), (record, m)
        assert (m["rows_served"] == 0).all() and (m["rows_held"] == 0).all(), record
        assert read_held(data / "landing", record, empty_day) is None  # nothing landed: nothing was there
    for record in ("usage_records", "gateway_tasks", "app_jobs", "app_assets"):
        assert f"  {record}" in p.stdout
    counts = {ln.split()[0]: ln.split()[1:] for ln in p.stdout.splitlines() if ln.strip()}
    assert all(counts[r] == ["0"] for r in ("usage_records", "gateway_tasks", "app_jobs", "app_assets")), (
        p.stdout
    )
    assert counts["total"] == ["0", "0.000000"], p.stdout
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        assert con.execute("select count(*) from fct_reconciliation_mismatches").fetchone()[0] == 0
    finally:
        con.close()


def test_a_day_larger_than_the_window_budget_is_split_paged_and_lands_every_row(tmp_path: Path) -> None:
    """30,000 rows in one day against a client whose window budget is 2,000 rows (page_size 20 ×
    100) and whose big-window budget is 640 rows: the day is split, paged and streamed window by
    window, and every row lands exactly once with every cent."""
    n = 30_000
    day = date(2026, 11, 20)
    b = bulk_scenario(n, day, seed=3)
    start = datetime(2026, 11, 20, tzinfo=UTC)
    with serve(b) as url:
        cl = client_for(gw(url, page_size=20, window_minutes=1440, max_concurrency=8))
        cl.now, cl.backoff_base = b.as_of, 0.01
        logs: list[str] = []
        cl.log = logs.append
        df = cl.usage(start, start + timedelta(days=1))
    assert any("split into" in ln for ln in logs), logs[:5]
    assert len(df) == n and df["record_key"].is_unique
    rows = [b.row(i) for i in range(n)]
    assert int(df["quota"].sum()) == sum(r["quota"] for r in rows)
    result = validate_frame("usage_records", df, source="gateways:main", partition=day.isoformat())
    assert result.ok, result.lines()
    land_validated(result, tmp_path, "usage_records", day)
    assert pq.read_metadata(partition_file(tmp_path, "usage_records", day)).num_rows == n
