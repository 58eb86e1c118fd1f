"""One whole `recon run` set-up for the tests that run recon as a child process (crash safety, load):
a scenario served by the sandbox over loopback, its SQLite app database, a config pointing at both, the
secrets only in the child's environment; and the two things those tests compare between runs."""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb
import yaml

from orchestration.demo import DEMO_ENV, demo_config
from orchestration.sandbox.app_db import write_app_db
from orchestration.sandbox.faults import Faults
from orchestration.sandbox.scenario import build_scenario
from orchestration.sandbox.server import serve

REPO = Path(__file__).resolve().parents[1]
MARTS = ("fct_reconciliation_mismatches", "fct_settlements")
# landing folders a day of the demo config holds: the four records and the new-api gateway's own total
FOLDERS_PER_DAY = 5


@dataclass
class Env:
    config_path: Path
    data_dir: Path
    first: date
    last: date
    as_of: datetime
    env: dict[str, str]

    def cmd(
        self, first: date | None = None, last: date | None = None, config: Path | None = None
    ) -> list[str]:
        """`recon run` over the scenario's days (or `first`..`last`) at its as-of."""
        return [
            sys.executable,
            "-m",
            "orchestration.cli",
            "run",
            "--config",
            str(config or self.config_path),
            "--start",
            (first or self.first).isoformat(),
            "--end",
            (last or self.last).isoformat(),
            "--as-of",
            self.as_of.isoformat(),
        ]


@contextmanager
def pipeline(
    data_dir: Path,
    *,
    end: date,
    days: int,
    jobs_per_day: int,
    seed: int = 7,
    faults: Faults | None = None,
    app_dir: Path | None = None,
) -> Iterator[Env]:
    """Scenario + sandbox on a free port + SQLite app DB (in `app_dir`, default `<data_dir>/demo`) +
    config in `<data_dir>/recon.yaml`."""
    data_dir = data_dir.resolve()
    app_dir = (app_dir or data_dir / "demo").resolve()
    app_dir.mkdir(parents=True, exist_ok=True)
    sc = build_scenario(seed=seed, end=end, days=days, jobs_per_day=jobs_per_day)
    db = app_dir / "app.sqlite"
    jobs_q, assets_q = write_app_db(sc, db)
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env.update(DEMO_ENV)
    env["APP_DATABASE_URL"] = f"sqlite:///{db}"
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    with serve(sc, faults=faults or Faults()) as url:
        data_dir.mkdir(parents=True, exist_ok=True)
        cfg = data_dir / "recon.yaml"
        cfg.write_text(yaml.safe_dump(demo_config(str(url), data_dir, jobs_q, assets_q), sort_keys=False))
        yield Env(cfg, data_dir, sc.start, sc.end, sc.as_of, env)


def landing_digest(data_dir: Path, pattern: str = "*") -> dict[str, str]:
    """Relative path -> sha256 of every file under landing/ matching `pattern` (by default every file:
    a temp file left behind shows as a difference)."""
    root = data_dir / "landing"
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob(pattern))
        if p.is_file()
    }


def held_content(data_dir: Path) -> dict[str, list[tuple]]:
    """Day folder (`<record>/date=D`) -> the rows recon holds there, sorted: app records their day
    file, gateway evidence the current version of every row ever held (with its gone mark). Content,
    not bytes: batches carry their extraction time, so two data dirs never match byte for byte."""
    from orchestration.evidence import EVIDENCE_RECORDS, read_held
    from orchestration.landing import read_partition

    root = data_dir / "landing"
    out: dict[str, list[tuple]] = {}
    for d in sorted(root.glob("*/date=*")):
        record, day = d.parent.name, date.fromisoformat(d.name.removeprefix("date="))
        if record == "gateway_totals":  # the gateways' own totals: every one ever read, read time aside
            from orchestration.gateway_totals import held_totals

            out[f"{record}/{d.name}"] = [tuple(map(str, t)) for t in held_totals(root, day)]
            continue
        if record in EVIDENCE_RECORDS:
            df = read_held(root, record, day)
            if df is not None:
                df = df[[c for c in df.columns if c not in ("_seq", "_extracted_at", "_gone_at")]]
        else:
            df = read_partition(root, record, day)
        if df is not None:
            out[f"{record}/{d.name}"] = sorted(df.astype(str).itertuples(index=False, name=None))
    return out


def batch_files(data_dir: Path) -> list[str]:
    """Every landed gateway batch (the store grows by these; a re-run with the same answers adds none)."""
    root = data_dir / "landing"
    return sorted(str(p.relative_to(root)) for p in root.glob("*/date=*/batch-*.parquet"))


def marts(data_dir: Path) -> dict[str, list[tuple]]:
    """Every row of the two report marts, in a stable order."""
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        return {t: sorted(con.execute(f"select * from {t}").fetchall(), key=repr) for t in MARTS}
    finally:
        con.close()
