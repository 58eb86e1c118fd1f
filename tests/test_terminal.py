"""The first ten minutes: `recon demo` prints a short, honest terminal and ends with the summary."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from orchestration import terminal

RECON = [sys.executable, "-m", "orchestration.cli"]


def test_dbt_log_goes_to_the_file_and_counts_nodes(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "dbt-build.log"
    with terminal.dbt_log(log) as sink:
        print("1 of 3 START sql table model main.a .... [RUN]")
        print("1 of 3 OK created sql table model main.a .... [\x1b[32mOK\x1b[0m in 0.1s]")
        print("2 of 3 FAIL 1 not_null_a_id .... [\x1b[31mFAIL 1\x1b[0m in 0.1s]")
        print("Done. PASS=1 WARN=0 ERROR=1 SKIP=0 NO-OP=0 TOTAL=2")
    text = log.read_text()
    assert "\x1b[" not in text and "1 of 3 OK created" in text
    assert (sink.done, sink.total, sink.failed) == (2, 2, 1)


def test_verbose_echoes_dbt_log(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(terminal._state, "verbose", True)
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    with terminal.dbt_log(tmp_path / "dbt.log"):
        print("1 of 1 OK created sql table model main.a")
    assert "1 of 1 OK created" in out.getvalue()


def test_version() -> None:
    p = subprocess.run([*RECON, "--version"], capture_output=True, text=True, check=True)
    assert p.stdout.startswith("recon, version ")


@pytest.fixture(scope="module")
def demo_output(tmp_path_factory) -> tuple[str, Path]:
    data = tmp_path_factory.mktemp("demo_terminal")
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["NO_COLOR"] = "1"
    p = subprocess.run(
        [*RECON, "demo", "--days", "3", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    return p.stderr + p.stdout, data


def test_demo_is_short_names_the_dbt_log_and_ends_with_the_summary(demo_output) -> None:
    text, data = demo_output
    lines = text.strip().splitlines()
    assert len(lines) < 60, text
    log = data.resolve() / "logs" / "dbt-build.log"
    assert f"dbt log: {log}" in text and "Done. PASS=" in log.read_text()
    assert "BetaWarning" not in text and "\x1b[" not in text
    assert "START sql" not in text  # dbt's own log stays in its file
    tail = text[text.index("recon summary") :]
    assert "mismatches" in tail and lines[-1].startswith("report: ")
    env_file = (data / "recon.env").read_text()
    assert "GATEWAY_TOKEN=" in env_file and "APP_DATABASE_URL=sqlite:///" in env_file
    done = re.search(r"dbt build: (\d+)/(\d+) nodes done, 0 failed", text)
    assert done and done.group(1) == done.group(2), text  # every node counted, the exposure's NO-OP too
    # the run's window and clock, where a hand `dbt build` finds them (README: "Run a model by hand")
    run_file = json.loads((data / "warehouse.duckdb.run.json").read_text())
    assert {"start_date", "end_date", "as_of", "rewrite_from", "lookback_days"} <= run_file.keys()
    assert f"reconciling {run_file['start_date']} .. {run_file['end_date']}" in text


def test_dbt_models_grouped_by_layer_and_owned() -> None:
    from orchestration.assets.dbt import OWNER, recon_dbt_models

    groups = {k.path[-1]: g for k, g in recon_dbt_models.group_names_by_key.items()}
    assert groups["stg_raw__usage_records"] == "staging"
    assert groups["fct_reconciliation_mismatches"] == "marts"
    assert any(g == "intermediate" for g in groups.values())
    assert set(groups.values()) <= {"staging", "intermediate", "marts"}
    assert all(spec.owners == [OWNER] for spec in recon_dbt_models.specs)
