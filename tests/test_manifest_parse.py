"""The dbt manifest is parsed once when several processes start at once on a stale one (two `recon
run`s on a fresh clone, the test workers, a code server): they take turns on a lock and the others
read the finished manifest. Real `dbt parse` runs on a copy of the project in a temp dir."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from orchestration.assets.dbt import DBT_PROJECT_DIR

REPO = Path(__file__).resolve().parents[1]

CALL = """
import sys
from dagster_dbt import DbtProject
from orchestration.assets.dbt import parse_if_stale
project = DbtProject(project_dir=sys.argv[1], profiles_dir=sys.argv[1])
print("parsed" if parse_if_stale(project) else "fresh")
"""


def start(project: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CALL, str(project)],
        cwd=REPO,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
    )


def finish(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    return out.strip().splitlines()[-1]


def test_processes_starting_at_once_parse_a_stale_manifest_once(tmp_path: Path) -> None:
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    manifest = project / "target" / "manifest.json"

    both = [start(project), start(project)]  # no manifest yet: both find it stale
    assert sorted(finish(p) for p in both) == ["fresh", "parsed"]
    nodes = json.loads(manifest.read_text())["nodes"]
    assert any(k.startswith("model.recon.fct_reconciliation_mismatches") for k in nodes)

    assert finish(start(project)) == "fresh"  # up to date: nothing to do
    model = next((project / "models").rglob("*.sql"))
    later = manifest.stat().st_mtime + 10
    os.utime(model, (later, later))  # a model edited after the last parse
    assert finish(start(project)) == "parsed"
