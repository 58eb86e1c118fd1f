"""Retention over real HTTP against the sandbox: a gateway that forgets must not erase recon's copy.

- a day cleaned while it is paged (`Faults.delete_while_paging`): the read is partial, never a short
  complete day, and whatever recon held of it stays held (marked gone);
- a gateway that deletes days between two `recon run`s (`Faults.deleted_before`): the second run keeps
  every row, marks them gone, and the report marts are unchanged;
- a backfill past `retention_days` of days the gateway no longer has: one `coverage_gap` per gateway
  and day, no money finding on those days' jobs.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest
import yaml
from recon_pipeline import REPO, batch_files, held_content, marts, pipeline

from orchestration.assets.landing_step import land_evidence_days
from orchestration.assets.raw_gateway import read_each
from orchestration.config import GatewayConfig
from orchestration.evidence import read_held, read_manifest
from orchestration.gateways import client_for
from orchestration.sandbox import SANDBOX_TOKEN, SANDBOX_USER_ID
from orchestration.sandbox.faults import Faults
from orchestration.sandbox.scenario import build_scenario
from orchestration.sandbox.server import serve

END = date(2026, 11, 20)
MONEY = ("missing_usage", "charged_for_failure", "over_refunded", "cost_mismatch")


def _extract(url: str, landing: Path, sc, day: datetime) -> list[str]:
    cfg = GatewayConfig(
        name="main",
        dialect="newapi",
        base_url=url,
        token_env="R_TOKEN",
        user_id_env="R_USER",
        window_minutes=1440,
        page_size=10,
        max_attempts=3,
    )
    logs: list[str] = []
    ctx = SimpleNamespace(
        partition_time_window=SimpleNamespace(start=day, end=day + timedelta(days=1)),
        log=SimpleNamespace(info=logs.append, warning=logs.append),
    )
    with client_for(cfg, logs.append) as c:
        c.now, c.backoff_base = sc.as_of, 0.001
        land_evidence_days(
            ctx,
            "usage_records",
            landing,
            lambda d, s, e: read_each([c], d, s, e, None, lambda cl: cl.usage(s, e)),
            source="gateways:main",
        )
    return logs


def test_a_day_cleaned_while_paged_is_partial_and_keeps_what_recon_held(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("R_TOKEN", SANDBOX_TOKEN)
    monkeypatch.setenv("R_USER", SANDBOX_USER_ID)
    sc = build_scenario(seed=3, end=END, days=1, jobs_per_day=30)
    day = sc.range_start
    landing = tmp_path / "landing"
    with serve(sc) as url:
        _extract(url, landing, sc, day)  # an earlier, complete read
    held = read_held(landing, "usage_records", END)
    assert read_manifest(landing, "usage_records", END)["complete"].all() and len(held) > 30
    faults = Faults(delete_while_paging=4)
    with serve(sc, faults=faults) as url:
        logs = _extract(url, landing, sc, day)
        assert url.faults.fired.get("delete_while_paging", 0) > 0
    m = read_manifest(landing, "usage_records", END)
    last = m[m["seq"] == m["seq"].max()].iloc[0]
    assert not last["complete"] and "dropped" in last["reason"] and "marked gone" in last["reason"], last[
        "reason"
    ]
    after = read_held(landing, "usage_records", END)
    assert sorted(after["record_key"]) == sorted(held["record_key"])  # every row still held, once
    gone = after[after["_change"] == "gone"]
    kept = after[after["_change"] != "gone"]
    assert (
        len(gone) == 4 and gone["created_at"].max() <= kept["created_at"].min()
    )  # the oldest: cleaned first
    assert any("not complete" in ln or "dropped" in ln for ln in logs)


def test_a_day_cleaned_while_paged_never_lands_as_a_complete_day_on_its_own(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("R_TOKEN", SANDBOX_TOKEN)
    monkeypatch.setenv("R_USER", SANDBOX_USER_ID)
    sc = build_scenario(seed=3, end=END, days=1, jobs_per_day=30)
    with serve(sc, faults=Faults(delete_while_paging=4)) as url:
        _extract(url, tmp_path / "landing", sc, sc.range_start)
    m = read_manifest(tmp_path / "landing", "usage_records", END)
    assert len(m) == 1 and not m["complete"].iloc[0]


def _run(e, config: Path | None = None) -> subprocess.CompletedProcess:
    p = subprocess.run(
        e.cmd(config=config), cwd=REPO, env=e.env, capture_output=True, text=True, timeout=1200, check=False
    )
    assert p.returncode == 0, p.stderr[-3000:]
    return p


def _coverage(data_dir: Path) -> list[tuple]:
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(
            "select gateway, record, day, coverage_status, rows_held, rows_gone "
            "from fct_source_coverage order by 1, 2, 3"
        ).fetchall()
    finally:
        con.close()


@pytest.mark.slow
def test_a_gateway_that_deletes_days_between_runs_changes_no_mart(tmp_path: Path) -> None:
    faults = Faults()
    with pipeline(tmp_path / "data", end=END, days=2, jobs_per_day=15, faults=faults) as e:
        _run(e)
        held, report, batches = held_content(e.data_dir), marts(e.data_dir), batch_files(e.data_dir)
        faults.deleted_before = int(
            datetime.combine(END + timedelta(days=1), datetime.min.time(), UTC).timestamp()
        )
        _run(e)  # every log row of both days is gone from the gateway now
        after = held_content(e.data_dir)
        assert marts(e.data_dir) == report
        usage_days = [k for k in held if k.startswith("usage_records/")]
        for k in usage_days:  # the same rows, now the main gateway's marked gone
            before_keys = sorted(r[:2] for r in held[k])
            assert sorted(r[:2] for r in after[k]) == before_keys
            assert any(r[0] == "main" and r[-1] == "gone" for r in after[k])
        assert len(batch_files(e.data_dir)) == len(batches) + len(usage_days)  # one gone batch per day
        cov = {(g, r, d): (s, held_n, gone) for g, r, d, s, held_n, gone in _coverage(e.data_dir)}
        for d in (END - timedelta(days=1), END):
            status, n, gone = cov[("main", "usage_records", d)]
            assert status == "covered" and gone == n > 0  # the first complete extraction still counts


@pytest.mark.slow
def test_a_backfill_past_retention_is_a_coverage_gap_per_day_not_missing_usage(tmp_path: Path) -> None:
    faults = Faults(deleted_before=int(datetime.combine(END, datetime.min.time(), UTC).timestamp()))
    with pipeline(tmp_path / "data", end=END, days=3, jobs_per_day=15, faults=faults) as e:
        cfg = yaml.safe_load(e.config_path.read_text())
        for g in cfg["gateways"]:
            if g["name"] == "main":
                g["retention_days"] = 2  # as of the next morning, 11-18 and 11-19 began too long ago
        e.config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        _run(e)
        con = duckdb.connect(str(e.data_dir / "warehouse.duckdb"), read_only=True)
        try:
            gaps = con.execute(
                "select gateway, partition_date, detail from fct_reconciliation_mismatches "
                "where mismatch_type = 'coverage_gap' order by 2"
            ).fetchall()
            money = con.execute(
                "select count(*) from fct_reconciliation_mismatches where mismatch_type in "
                f"({', '.join(repr(m) for m in MONEY)}) and partition_date < ?",
                [END],
            ).fetchone()[0]
            others = con.execute(
                "select count(*) from fct_reconciliation_mismatches where mismatch_type not in "
                f"('coverage_gap', {', '.join(repr(m) for m in MONEY)}) and partition_date < ?",
                [END],
            ).fetchone()[0]
        finally:
            con.close()
    assert [(g, d) for g, d, _ in gaps] == [
        ("main", END - timedelta(days=2)),
        ("main", END - timedelta(days=1)),
    ]
    assert all("past retention_days=2" in detail for _, _, detail in gaps)
    # the world has money defects on those days: withheld, not missed; rules that need no absent usage still run
    sc = build_scenario(seed=7, end=END, days=3, jobs_per_day=15)
    created = {j["id"]: j["created_ts"][:10] for j in sc.app_jobs}
    injected = [
        f
        for f in sc.truth["findings"]
        if f["mismatch_type"] in MONEY and f["job_id"] and created.get(f["job_id"], "9999") < END.isoformat()
    ]
    assert injected and money == 0 and others > 0
    for d in (END - timedelta(days=2), END - timedelta(days=1)):  # main was not read; lab was
        held = read_held(e.data_dir / "landing", "usage_records", d)
        assert set(held["gateway"]) == {"lab"}, d
        m = read_manifest(e.data_dir / "landing", "usage_records", d).set_index("gateway")
        assert not m.loc["main", "extracted"] and m.loc["lab", "complete"]
