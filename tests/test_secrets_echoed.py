"""Secrets a gateway echoes back (issue 17 item 2) and raw user ids in SQLAlchemy's DEBUG lines.

A tiny loopback gateway answers every request by repeating the Authorization and New-Api-User
headers it was sent: once as HTTP 200 `success:false`, once as an HTTP 400 body. A real `recon run`
(child process, persistent DAGSTER_HOME with SQLAlchemy and httpx logs captured at DEBUG) fails on
it; the token, the user id header and the app's raw user ids must appear in no line printed and no
file written (Dagster's run database, compute logs, the data dir). Before the fix the token landed
in the step failure, the run database and the printed line."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, text

from orchestration import scrub
from orchestration.demo import demo_config
from orchestration.errors import ExtractionError, GatewayAuthError
from orchestration.sandbox.app_db import write_app_db
from orchestration.sandbox.scenario import build_scenario

try:  # tests/ is a rootdir-importable folder, not a package
    from test_secrets_everywhere import texts_of
except ImportError:  # pragma: no cover
    from tests.test_secrets_everywhere import texts_of

REPO = Path(__file__).resolve().parents[1]
TOKEN = "gwtok-echo-5ecret-77aa"
LAB_TOKEN = "mt-echo-5ecret-lab-31c"
RAW_USER = "raw-user-echo-5ecret"


def echo_server(status: int) -> ThreadingHTTPServer:
    class Echo(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            said = (
                f"invalid credentials: Authorization: {self.headers.get('Authorization')} "
                f"New-Api-User: {self.headers.get('New-Api-User')}"
            )
            body = json.dumps({"success": False, "message": said, "error": {"message": said}}).encode()
            code = status
            if "end_timestamp=1&" in self.path + "&" or "endDate=1970-" in self.path:
                # the preflight's one request (an empty 1970 window) is taken, so the run reaches the
                # extraction steps this test is about (test_recon_check covers a refused preflight)
                body, code = (
                    json.dumps({"success": True, "message": "", "data": {"items": [], "total": 0}}).encode(),
                    200,
                )
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    srv.handle_error = lambda *_a: None  # a client that closes early is not this test's concern
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


@pytest.fixture(autouse=True)
def _clean_registry():
    scrub.reset_for_tests()
    yield
    scrub.reset_for_tests()


def test_an_extraction_error_never_carries_a_registered_secret(monkeypatch) -> None:
    monkeypatch.setenv("EC_TOKEN", TOKEN)
    monkeypatch.setenv("EC_USER", "1")
    monkeypatch.setenv("RECON_ALERT_WEBHOOK_URL", "https://hooks.example/T0/hook-5ecret-path")
    scrub.register_env(["EC_TOKEN"], ["EC_USER"])
    err = GatewayAuthError(
        f"gateway answered success:false (Bearer {TOKEN}, New-Api-User: 1, 1 row); "
        f"posted to https://hooks.example/T0/hook-5ecret-path"
    )
    assert str(err) == (
        "gateway answered success:false (Bearer <redacted>, New-Api-User: <redacted>, 1 row); "
        "posted to <redacted>"
    )
    assert isinstance(err, ExtractionError)


def test_log_lines_are_scrubbed_on_every_handler(monkeypatch, caplog) -> None:
    monkeypatch.setenv("EC_TOKEN", TOKEN)
    scrub.register_env(["EC_TOKEN"])
    scrub.install_log_scrubber()
    with caplog.at_level(logging.INFO):
        logging.getLogger("httpx.some.child").info("echoed %s back", TOKEN)
        try:
            raise ValueError(f"body said {TOKEN}")
        except ValueError:
            logging.getLogger("orchestration.x").exception("failed")
    assert TOKEN not in caplog.text and "echoed <redacted> back" in caplog.text


def test_sqlalchemy_debug_lines_hold_no_raw_user_id(tmp_path: Path, monkeypatch, caplog) -> None:
    from orchestration.app_sources import extract_app_records
    from orchestration.config import AppConfig

    url = f"sqlite:///{tmp_path / 'app.sqlite'}"
    eng = create_engine(url)
    with eng.begin() as c:
        c.execute(text("create table jobs (id text, account text, created text)"))
        c.execute(text(f"insert into jobs values ('j1', '{RAW_USER}@example.com', '2026-11-20 01:00:00')"))
    eng.dispose()
    monkeypatch.setenv("EC_DB", url)
    q = (
        "select id as job_id, account as user_id, created as created_at, 'image' as scene, 'm' as model, "
        "'r' as request_id, null as task_id, 'succeeded' as status, null as terminal_at, "
        "null as billing_transaction_id, 0.1 as expected_cost_usd, 0 as retry_count from jobs "
        "where created >= :start and created < :end"
    )
    app = AppConfig(database_url_env="EC_DB", jobs_query=q, assets_query=q)
    with caplog.at_level(logging.DEBUG, logger="sqlalchemy.engine"):
        df = extract_app_records(
            app, "app_jobs", datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC), key=b"k"
        )
    assert len(df) == 1 and "select id as job_id" in caplog.text  # DEBUG was on and logged the SQL
    assert RAW_USER not in caplog.text


@pytest.mark.slow
@pytest.mark.parametrize("status", [200, 400], ids=["success_false", "http_400"])
def test_a_gateway_echoing_the_token_leaves_it_nowhere(tmp_path: Path, status: int) -> None:
    sc = build_scenario(seed=5, end=date(2026, 11, 20), days=1, jobs_per_day=6)
    for i, j in enumerate(sc.app_jobs):
        j["account_ref"] = f"{RAW_USER}-{i}@example.com"
    data, home, app_dir = tmp_path / "data", tmp_path / "home", tmp_path / "app"
    for d in (data, home, app_dir):
        d.mkdir()
    dagster_yaml = yaml.safe_load((REPO / "orchestration" / "dagster_home.yaml").read_text())
    dagster_yaml["python_logs"] = {
        "managed_python_loggers": ["sqlalchemy.engine", "httpx"],
        "python_log_level": "DEBUG",
    }
    (home / "dagster.yaml").write_text(yaml.safe_dump(dagster_yaml))
    jobs_q, assets_q = write_app_db(sc, app_dir / "app.sqlite")
    srv = echo_server(status)
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}"
        cfg = demo_config(url, data, jobs_q, assets_q)
        for g in cfg["gateways"]:
            g["base_url"], g["max_attempts"] = url, 1
        cfg_path = data / "recon.yaml"
        cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "RECON_"))}
        env.update(
            {
                "GATEWAY_TOKEN": TOKEN,
                "GATEWAY_USER_ID": "1",
                "TOKENLAB_TOKEN": LAB_TOKEN,
                "TOKENLAB_API_KEY": "sk-echo-lab-key",  # the demo config polls tasks with the API key
                "APP_DATABASE_URL": f"sqlite:///{app_dir / 'app.sqlite'}",
                "RECON_PSEUDONYM_KEY": "k-echo",
                "DAGSTER_HOME": str(home),
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            }
        )
        day = (sc.end - timedelta(days=0)).isoformat()
        p = subprocess.run(
            [
                sys.executable,
                "-m",
                "orchestration.cli",
                "run",
                "--config",
                str(cfg_path),
                "--start",
                day,
                "--as-of",
                sc.as_of.isoformat(),
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    finally:
        srv.shutdown()
    assert p.returncode == 1, p.stderr[-3000:]
    last = p.stderr.strip().splitlines()[-1]
    assert "step raw__usage_records failed" in last and "<redacted>" in last, last
    haystacks = {"stdout": [p.stdout], "stderr": [p.stderr]}
    files = [f for root in (data, home) for f in root.rglob("*") if f.is_file()]
    for f in files:
        haystacks[str(f)] = texts_of(f)
    assert any(f.suffix == ".db" for f in files), "Dagster's run database was written"
    assert any("as job_id" in t for f in files if f.suffix == ".db" for t in texts_of(f)), (
        "SQLAlchemy's DEBUG lines reached the run database (else the raw-id check proves nothing)"
    )
    leaks = [
        f"{s!r} in {where}"
        for where, texts in haystacks.items()
        for s in (TOKEN, LAB_TOKEN, RAW_USER, "New-Api-User: 1")
        if any(s in t for t in texts)
    ]
    assert not leaks, "\n".join(leaks[:20])
