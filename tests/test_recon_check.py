"""`recon check --config FILE` (the `dbt debug` of recon) over real HTTP against the sandbox gateway and
a real SQLite app database: a line per part, exit 0 only when every part passes; and `recon run`
stops on the same preflight before any extraction (a closed port fails once, not retried)."""

from __future__ import annotations

import socket
import subprocess
import time
from datetime import date
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from orchestration import scrub
from orchestration.cli import main

try:  # tests/ is a rootdir-importable folder, not a package
    from recon_pipeline import pipeline
except ImportError:  # pragma: no cover
    from tests.recon_pipeline import pipeline

PARTS = ("config", "env", "gateway main", "gateway lab", "app db", "warehouse")


@pytest.fixture(autouse=True)
def _clean_registry():
    scrub.reset_for_tests()
    yield
    scrub.reset_for_tests()


@pytest.fixture()
def env(tmp_path: Path, monkeypatch):
    with pipeline(tmp_path / "data", end=date(2026, 11, 20), days=1, jobs_per_day=4) as e:
        for k, v in e.env.items():
            monkeypatch.setenv(k, v)
        yield e


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _edit(e, change) -> Path:
    data = yaml.safe_load(e.config_path.read_text())
    change(data)
    path = e.config_path.with_name("edited.yaml")
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _check(path: Path):
    result = CliRunner().invoke(main, ["check", "--config", str(path)])
    lines = {
        ln.split(": ", 1)[0].split(None, 1)[1]: ln
        for ln in result.stdout.splitlines()
        if ln.startswith(("ok ", "FAIL "))
    }
    return result, lines


def test_a_good_config_passes_with_a_line_per_part(env):
    result, lines = _check(env.config_path)
    assert result.exit_code == 0, result.output
    assert tuple(lines) == PARTS
    assert all(ln.startswith("ok ") for ln in lines.values()), lines
    assert "token accepted" in lines["gateway main"] and "token accepted" in lines["gateway lab"]
    assert "all 6 parts ok" in result.stdout


def test_a_missing_env_var_names_the_variable_and_skips_its_gateway(env, monkeypatch):
    monkeypatch.delenv("GATEWAY_TOKEN")
    result, lines = _check(env.config_path)
    assert result.exit_code == 1
    assert lines["env"].startswith("FAIL") and "gateways[0].token_env: GATEWAY_TOKEN" in lines["env"]
    assert (
        lines["gateway main"].startswith("FAIL") and "skipped: GATEWAY_TOKEN not set" in lines["gateway main"]
    )
    assert lines["gateway lab"].startswith("ok ") and lines["app db"].startswith("ok ")
    assert "check failed: env, gateway main" in result.stderr


def test_an_unreachable_gateway_is_named_once_without_retrying(env):
    port = _closed_port()
    path = _edit(env, lambda d: d["gateways"][0].update(base_url=f"http://127.0.0.1:{port}"))
    t0 = time.monotonic()
    result, lines = _check(path)
    assert result.exit_code == 1
    assert lines["gateway main"].startswith("FAIL")
    assert f"gateways.main: GET http://127.0.0.1:{port}/api/log/self: cannot connect" in lines["gateway main"]
    assert "check base_url" in lines["gateway main"]
    assert lines["gateway lab"].startswith("ok ")
    assert time.monotonic() - t0 < 60  # one refused connection, not a retry budget (900 s by default)


def test_a_wrong_token_is_refused_naming_the_env_var(env, monkeypatch):
    monkeypatch.setenv("GATEWAY_TOKEN", "not-the-token")
    monkeypatch.setenv("TOKENLAB_TOKEN", "mt-not-the-token")
    result, lines = _check(env.config_path)
    assert result.exit_code == 1
    assert (
        "token refused (success:false)" in lines["gateway main"]
        and "GATEWAY_TOKEN (token_env)" in lines["gateway main"]
    )
    assert (
        "token refused, HTTP 401" in lines["gateway lab"]
        and "TOKENLAB_TOKEN (token_env)" in lines["gateway lab"]
    )
    assert "not-the-token" not in result.output  # a secret is never printed, even a wrong one


def test_an_app_query_missing_a_column_fails_the_app_db_part(env):
    def drop_status(d):
        q = d["app"]["jobs_query"]
        d["app"]["jobs_query"] = q.replace(" as status,", " as job_state,", 1)
        assert d["app"]["jobs_query"] != q

    result, lines = _check(_edit(env, drop_status))
    assert result.exit_code == 1
    assert (
        lines["app db"].startswith("FAIL")
        and "app.jobs_query" in lines["app db"]
        and "status" in lines["app db"]
    )
    assert all(lines[p].startswith("ok ") for p in PARTS if p != "app db")


def test_a_broken_config_is_the_config_part(tmp_path):
    path = tmp_path / "recon.yaml"
    path.write_text("gateways: []\n")
    result, lines = _check(path)
    assert result.exit_code == 1 and list(lines) == ["config"] and "gateways" in lines["config"]


@pytest.mark.slow
def test_recon_run_stops_before_extraction_on_a_closed_port(env):
    path = _edit(env, lambda d: d["gateways"][0].update(base_url=f"http://127.0.0.1:{_closed_port()}"))
    p = subprocess.run(
        env.cmd(config=path), env=env.env, capture_output=True, text=True, timeout=600, check=False
    )
    assert p.returncode == 2, p.stderr[-2000:]
    last = p.stderr.strip().splitlines()[-1]
    assert (
        last.startswith("recon: config error: gateways.main: GET http://127.0.0.1:")
        and "cannot connect" in last
    )
    assert not (env.data_dir / "landing").exists()  # nothing was extracted, nothing landed
