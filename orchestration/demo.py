"""`recon demo`: the whole job on the embedded default, end to end, in one command.

Builds the seeded sandbox scenario, serves it on a free loopback port, writes the demo SQLite app
database and a config that points at both, runs the last N days through Dagster and dbt into
data/, and prints the summary (plus how the findings score against the scenario's truth).
The sandbox's dummy secrets (public test values, never real ones) go into this process's
environment and into data/recon.env, so `recon report --config data/recon.yaml` works afterwards.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import yaml

from orchestration import sandbox
from orchestration.data_dir_lock import data_dir_lock
from orchestration.sandbox.app_db import write_app_db
from orchestration.sandbox.scenario import build_scenario, write_truth
from orchestration.sandbox.scoring import Score, score
from orchestration.sandbox.server import serve

DEMO_ENV = {
    "GATEWAY_TOKEN": sandbox.SANDBOX_TOKEN,
    "GATEWAY_USER_ID": str(sandbox.SANDBOX_USER_ID),
    "TOKENLAB_TOKEN": sandbox.TOKENLAB_TOKEN,
    "TOKENLAB_API_KEY": sandbox.TOKENLAB_API_KEY,  # tasks are polled with the key that created them
}


@dataclass
class DemoSetup:
    config_path: Path
    truth_path: Path
    first: date
    last: date
    as_of: datetime
    env: dict[str, str]
    env_path: Path | None = None


def demo_config(base_url: str, data_dir: Path, jobs_query: str, assets_query: str) -> dict:
    return {
        "warehouse": {
            "path": str(data_dir / "warehouse.duckdb"),
            "landing_dir": str(data_dir / "landing"),
            "reports_dir": str(data_dir / "reports"),
        },
        "gateways": [
            {
                "name": "main",
                "dialect": "newapi",
                "base_url": base_url,
                "token_env": "GATEWAY_TOKEN",
                "user_id_env": "GATEWAY_USER_ID",
                "quota_per_unit": 500000,
                "max_concurrency": 8,
            },
            {
                "name": "lab",
                "dialect": "tokenlab",
                "base_url": base_url,
                "token_env": "TOKENLAB_TOKEN",
                "key_id": sandbox.TOKENLAB_KEY_ID,
                "api_key_env": "TOKENLAB_API_KEY",
                "max_concurrency": 8,
            },
        ],
        "app": {
            "database_url_env": "APP_DATABASE_URL",
            "jobs_query": jobs_query,
            "assets_query": assets_query,
        },
        "reconciliation": {
            "lookback_days": 3,
            "settlement_window_hours": 48,
            "late_after_minutes": 15,
            "stuck_task_sla_minutes": 60,
            "cost_tolerance_usd": 0.000002,
            "cost_tolerance_ratio": 0.01,
        },
    }


@contextmanager
def demo_environment(
    data_dir: Path, days: int, seed: int, port: int = 0, end: date | None = None, command: str = "demo"
) -> Iterator[DemoSetup]:
    """Scenario + running sandbox + app DB + config; env vars set for the duration. The data dir is
    locked for as long (DataDirBusy when another demo/ui holds it): both rewrite its files."""
    data_dir = data_dir.resolve()
    with data_dir_lock(data_dir, command):
        yield from _demo_environment(data_dir, days, seed, port, end)


def _demo_environment(
    data_dir: Path, days: int, seed: int, port: int, end: date | None
) -> Iterator[DemoSetup]:
    demo_dir = data_dir / "demo"
    demo_dir.mkdir(parents=True, exist_ok=True)
    end = end or (datetime.now(UTC).date() - timedelta(days=1))
    scenario = build_scenario(seed=seed, end=end, days=days)
    db_path = demo_dir / "app.sqlite"
    db_path.unlink(missing_ok=True)
    jobs_query, assets_query = write_app_db(scenario, db_path)
    truth_path = demo_dir / "truth.json"
    write_truth(scenario, truth_path)
    env = {**DEMO_ENV, "APP_DATABASE_URL": f"sqlite:///{db_path}"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with serve(scenario, port=port) as server:
            base_url = str(server)
            cfg_path = data_dir / "recon.yaml"
            cfg_path.write_text(
                yaml.safe_dump(demo_config(base_url, data_dir, jobs_query, assets_query), sort_keys=False),
                encoding="utf-8",
            )
            env_path = data_dir / "recon.env"
            env_path.write_text(
                "# the sandbox's public dummy secrets (recon demo); never put real ones here\n"
                + "".join(f"export {k}={v}\n" for k, v in env.items()),
                encoding="utf-8",
            )
            first = end - timedelta(days=days - 1)
            yield DemoSetup(cfg_path, truth_path, first, end, scenario.as_of, env, env_path)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def score_against_truth(warehouse: Path, truth_path: Path) -> Score:
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        cur = con.execute(
            "select mismatch_type, job_id, task_id, request_id from fct_reconciliation_mismatches"
        )
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r, strict=False)) for r in cur.fetchall()]
    finally:
        con.close()
    return score(rows, truth["findings"])
