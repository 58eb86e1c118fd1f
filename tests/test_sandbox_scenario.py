"""The seeded demo scenario: deterministic, every mismatch code injected, truth consistent with the
ledger and with an explicit reading of DESIGN.md's rules, app DB queries landing the expected rows."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa
from support.reference import reconcile

from orchestration.landing import to_arrow
from orchestration.sandbox.app_db import write_app_db
from orchestration.sandbox.bulk import bulk_scenario
from orchestration.sandbox.scenario import MISMATCH_CODES, build_scenario, write_truth
from orchestration.sandbox.scoring import score
from schemas.canonical import RECORDS
from schemas.record_key import served_row_key

END = date(2026, 11, 21)


@pytest.fixture(scope="module")
def sc():
    return build_scenario(seed=7, end=END)


@pytest.fixture(scope="module")
def frames(sc):
    return sc.canonical()


def test_same_seed_same_world_and_other_seed_differs(sc):
    again = build_scenario(seed=7, end=END)
    assert again.newapi_logs == sc.newapi_logs
    assert again.newapi_tasks == sc.newapi_tasks
    assert again.tokenlab_usage == sc.tokenlab_usage
    assert again.tokenlab_tasks == sc.tokenlab_tasks
    assert again.app_jobs == sc.app_jobs and again.app_assets == sc.app_assets
    assert again.truth == sc.truth
    for name, df in again.canonical().items():
        pd.testing.assert_frame_equal(df, sc.canonical()[name])
    other = build_scenario(seed=8, end=END)
    assert other.newapi_logs != sc.newapi_logs
    assert other.truth["findings"] != sc.truth["findings"]


def test_defaults_cover_the_requested_window():
    s = build_scenario(seed=1, end=END, days=3)
    assert (s.start, s.end) == (END - timedelta(days=2), END)
    assert s.as_of == datetime(2026, 11, 22, 6, tzinfo=UTC)
    with pytest.raises(ValueError, match="as_of"):
        build_scenario(seed=1, end=END, as_of=datetime(2026, 11, 25, tzinfo=UTC))


def test_every_mismatch_code_injected_at_least_twice_across_both_gateways(sc):
    findings = sc.truth["findings"]
    for code in MISMATCH_CODES:
        if code == "coverage_gap":  # a property of a run's reads, not of the world: tests/test_retention.py
            continue
        rows = [f for f in findings if f["mismatch_type"] == code]
        assert len(rows) >= 2, code
        gateways = {f["gateway"] for f in rows}
        if code in ("quota_mismatch", "ambiguous_match"):  # new-api only (ratios; id-less rows)
            assert gateways == {"main"}
        else:
            assert gateways == {"main", "lab"}, code
    assert sc.truth["record_counts"]["findings_by_code"] == {
        c: sum(f["mismatch_type"] == c for f in findings) for c in MISMATCH_CODES
    }


def test_truth_matches_an_explicit_reading_of_the_rules(sc, frames):
    """Injected defects imply exactly the listed codes; the noise (late refunds, retries, pending jobs,
    edge rows, cancelled tasks, old-build rows) implies none."""
    s = score(reconcile(frames, sc.as_of), sc.truth["findings"])
    assert (s.precision, s.recall) == (1.0, 1.0), s.explain()


@pytest.mark.parametrize("seed,hour", [(1, 0), (3, 12), (11, 6)])
def test_truth_holds_for_other_seeds_and_run_times(seed, hour):
    s = build_scenario(
        seed=seed, end=END, days=5, jobs_per_day=30, as_of=datetime(2026, 11, 22, hour, tzinfo=UTC)
    )
    res = score(reconcile(s.canonical(), s.as_of), s.truth["findings"])
    assert (res.precision, res.recall) == (1.0, 1.0), res.explain()


def test_pending_jobs_become_findings_only_once_the_window_has_passed(sc, frames):
    """Counter-check: with a naive rule that ignores the window, the pending noise would be flagged."""
    late = sc.as_of + timedelta(hours=72)
    naive = {(f["mismatch_type"], f["job_id"]) for f in reconcile(frames, late)}
    truth = {(f["mismatch_type"], f["job_id"]) for f in sc.truth["findings"]}
    assert naive - truth  # e.g. a failed job whose refund has not arrived by as_of


def test_net_cost_by_task_equals_the_raw_ledger(sc):
    qpu = sc.quota_per_unit
    lo, hi = sc.range_start.timestamp(), sc.range_end.timestamp()
    raw: dict[str, float] = {}
    for r in sc.newapi_logs:
        other = json.loads(r["other"]) if r["other"] else {}
        if "task_id" in other and r["type"] in (2, 6) and lo <= r["created_at"] < hi:
            sign = -1 if r["type"] == 6 else 1
            raw[other["task_id"]] = raw.get(other["task_id"], 0.0) + sign * r["quota"] / qpu
        elif r["type"] == 4 and lo <= r["created_at"] < hi:  # old builds: the refund is in the text
            m = re.search(r"(task_\w+)(?:，补偿 |, refund )(?:＄([\d.]+) 额度|(\d+) 点额度)", r["content"])
            if m:
                usd = float(m[2]) if m[2] else int(m[3]) / qpu
                raw[m[1]] = raw.get(m[1], 0.0) - usd
    for r in sc.tokenlab_usage:
        t = datetime.fromisoformat(r["created_at"]).timestamp()
        if r["task_id"] and lo <= t < hi:
            raw[r["task_id"]] = raw.get(r["task_id"], 0.0) + float(r["cost"]["amount"])
    truth = sc.truth["net_cost_by_task"]
    assert set(truth) == set(raw)
    for tid, v in raw.items():
        assert truth[tid] == pytest.approx(v, abs=1e-9), tid
    # and the canonical frame agrees: Σ consume − Σ refund per task
    usage = sc.canonical()["usage_records"]
    ledger = usage[usage["task_id"].notna() & usage["record_type"].isin(["consume", "refund"])]
    consume = ledger[ledger["record_type"] == "consume"].groupby("task_id")["cost_usd"].sum()
    refund = ledger[ledger["record_type"] == "refund"].groupby("task_id")["cost_usd"].sum().abs()
    net = consume.sub(refund, fill_value=0)
    for tid, v in net.items():
        assert truth[tid] == pytest.approx(float(v), abs=1e-9)
    assert any(v < 0 for v in truth.values()), "over-refunded tasks have a negative net"


def test_canonical_frames_have_the_contract_columns_and_types(frames):
    for name, df in frames.items():
        assert list(df.columns) == list(RECORDS[name]), name
        table = to_arrow(df, name)
        assert table.num_rows == len(df)
    usage = frames["usage_records"]
    assert usage["record_key"].is_unique
    assert set(usage["record_type"]) == {"consume", "refund", "error", "topup", "other"}
    assert (usage.loc[usage["record_type"] == "refund", "cost_usd"] < 0).all()
    legacy = usage[(usage["record_type"] == "consume") & (usage["quota"] < 0)]
    assert len(legacy) >= 1 and (legacy["cost_usd"] < 0).all()
    assert usage["created_at"].dt.tz is not None


def test_record_key_is_the_served_row_hash_or_the_public_id(frames, sc):
    """new-api rows: the hash of the row as served minus the display id (shared with the client);
    TokenLab records: their public id."""
    usage = frames["usage_records"]
    main = usage[usage["gateway"] == "main"]
    served = {served_row_key(r) for r in sc.newapi_logs}
    assert set(main["record_key"]) <= served and main["record_key"].str.startswith("n:").all()
    lab = usage[usage["gateway"] == "lab"]
    assert set(lab["record_key"]) <= {r["id"] for r in sc.tokenlab_usage}
    hashed = main[main["request_id"].isna()]
    assert len(hashed) > 20
    # two refunds that differ only in created_at keep two keys (the double refund)
    refunds = hashed[hashed["record_type"] == "refund"]
    dup = refunds.groupby(["task_id", "quota"]).size()
    assert (dup >= 2).any()


def test_day_edges_and_out_of_range_rows(sc, frames):
    usage = frames["usage_records"]
    midnight = usage[
        (usage["created_at"].dt.hour == 0)
        & (usage["created_at"].dt.minute == 0)
        & (usage["created_at"].dt.second == 0)
    ]
    assert len(midnight) >= 2 * (sc.end - sc.start).days  # a main and a lab row on each inner edge
    assert usage["created_at"].min() == pd.Timestamp(sc.range_start)
    assert (usage["created_at"] < pd.Timestamp(sc.range_end)).all()
    raw_times = [r["created_at"] for r in sc.newapi_logs]
    assert int(sc.range_end.timestamp()) in raw_times  # served, but in the next day's partition
    assert int(sc.range_start.timestamp()) - 1 in raw_times


def test_only_allowlisted_fields_survive(sc, frames, tmp_path):
    blob = "".join(df.astype("string").to_csv() for df in frames.values())
    blob += json.dumps(sc.truth)
    for secret in (
        "sandbox-token",
        "sk-sandbox",
        "203.0.113.",
        "198.51.100.",
        "upstream.sandbox.invalid",
        "upstream-pool",
        "sandbox-user",
        "model ratio",
        "withheld",
        "cdn.sandbox.invalid",
    ):
        assert secret not in blob, secret
    assert "admin_info" not in blob


def test_app_db_queries_land_the_expected_jobs_and_assets(sc, frames, tmp_path):
    db = tmp_path / "app.db"
    jobs_q, assets_q = write_app_db(sc, db)
    eng = sa.create_engine(f"sqlite:///{db}")
    with eng.connect() as con:
        jobs = pd.read_sql(sa.text(jobs_q), con, params={"start": sc.range_start, "end": sc.range_end})
        assets = pd.read_sql(
            sa.text(assets_q),
            con,
            params={"start": sc.range_start.isoformat(), "end": sc.range_end.isoformat()},
        )
    exp_jobs, exp_assets = frames["app_jobs"], frames["app_assets"]
    assert list(jobs.columns) == list(RECORDS["app_jobs"])
    assert list(assets.columns) == list(RECORDS["app_assets"])
    assert sorted(jobs["job_id"]) == sorted(exp_jobs["job_id"])
    assert sorted(assets["asset_id"]) == sorted(exp_assets["asset_id"])
    merged = jobs.merge(exp_jobs, on="job_id", suffixes=("", "_exp"))
    assert (pd.to_datetime(merged["created_at"], utc=True) == merged["created_at_exp"]).all()
    for col in ("status", "scene", "model"):
        assert (merged[col] == merged[f"{col}_exp"]).all(), col
    exp_cost = merged["expected_cost_usd_exp"].astype("float64")
    assert ((merged["expected_cost_usd"] - exp_cost).abs().fillna(0) < 1e-12).all()
    assert (merged["expected_cost_usd"].isna() == exp_cost.isna()).all()
    # the app's own vocabulary is really different from the canonical one
    with eng.connect() as con:
        states = {r[0] for r in con.execute(sa.text("select distinct state from generation_jobs"))}
    assert {"done", "error", "working", "canceled"} <= states


def test_write_truth_round_trips(sc, tmp_path):
    p = write_truth(sc, tmp_path / "truth.json")
    data = json.loads(p.read_text())
    assert data == json.loads(json.dumps(sc.truth))
    assert data["start"] == sc.start.isoformat() and data["as_of"].endswith("Z")


def test_bulk_rows_are_a_pure_function_of_seed_and_index():
    b = bulk_scenario(100_000, date(2026, 11, 20), seed=3)
    assert b.row(4242) == bulk_scenario(100_000, date(2026, 11, 20), seed=3).row(4242)
    assert b.row(4242) != bulk_scenario(100_000, date(2026, 11, 20), seed=4).row(4242)
    times = [b.created_at(i) for i in range(0, 100_000, 997)]
    assert times == sorted(times) and b.created_at(b.n - 1) < b.day_start + 86_400
    rids = [b.row(i).get("request_id") for i in range(5000)]
    present = [r for r in rids if r]
    assert len(present) == len(set(present)) and len(present) < 5000
