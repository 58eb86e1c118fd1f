"""`reconciliation.start_date`: the Dagster partitions start there (not at a hard-coded 2025-01-01);
without it, at the first day recon has landed data for, or 90 days back when nothing has landed."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import yaml

from orchestration.config import load_config
from orchestration.partitions import DEFAULT_HISTORY_DAYS, configured_start, first_landed_day

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "recon.example.yaml"


def write_config(tmp_path: Path, start_date: str | None = None) -> Path:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["warehouse"] = {
        "path": str(tmp_path / "warehouse.duckdb"),
        "landing_dir": str(tmp_path / "landing"),
        "reports_dir": str(tmp_path / "reports"),
    }
    if start_date:
        data.setdefault("reconciliation", {})["start_date"] = start_date
    path = tmp_path / "recon.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_start_date_from_config_then_first_landed_day_then_90_days_back(tmp_path):
    cfg = load_config(write_config(tmp_path))
    assert configured_start(cfg, today=date(2026, 12, 3)) == date(2026, 12, 3).fromordinal(
        date(2026, 12, 3).toordinal() - DEFAULT_HISTORY_DAYS
    )
    for rel in ("usage_records/date=2026-10-05", "app_jobs/date=2026-09-30", "app_jobs/date=not-a-day"):
        (tmp_path / "landing" / rel).mkdir(parents=True)
    assert first_landed_day(tmp_path / "landing") == date(2026, 9, 30)
    assert configured_start(cfg) == date(2026, 9, 30)
    explicit = load_config(write_config(tmp_path, "2026-11-01"))
    assert explicit.reconciliation.start_date == date(2026, 11, 1)
    assert configured_start(explicit) == date(2026, 11, 1)
    assert "start_date" not in explicit.dbt_vars()  # a partition bound, not a dbt var


def _definitions_start(env: dict[str, str]) -> str:
    code = (
        "from orchestration.definitions import defs\n"
        "a = defs.resolve_assets_def(['reports', 'daily_report'])\n"
        "print(a.partitions_def.get_first_partition_key())"
    )
    full = {k: v for k, v in os.environ.items() if k not in ("RECON_CONFIG", "RECON_PARTITIONS_START")}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={**full, **env},
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=True,
    )
    return proc.stdout.strip().splitlines()[-1]


def test_the_ui_partitions_start_at_the_configs_start_date(tmp_path):
    assert _definitions_start({"RECON_CONFIG": str(write_config(tmp_path, "2026-11-01"))}) == "2026-11-01"
    (tmp_path / "landing" / "usage_records" / "date=2026-10-05").mkdir(parents=True)
    assert _definitions_start({"RECON_CONFIG": str(write_config(tmp_path))}) == "2026-10-05"
    assert _definitions_start({}) == "2025-01-01"  # no config: the old floor


def test_recon_run_refuses_a_day_before_start_date(tmp_path):
    cfg = write_config(tmp_path, "2026-11-01")
    env = {**os.environ, "APP_DATABASE_URL": f"sqlite:///{tmp_path / 'app.sqlite'}"}
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "recon"), "run", "--config", str(cfg), "--start", "2026-10-31"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr == (
        "recon: --start 2026-10-31 is before the partitions' start 2026-11-01 "
        "(reconciliation.start_date: the first day recon reconciles)\n"
    )
