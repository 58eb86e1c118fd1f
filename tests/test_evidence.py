"""Append-only gateway evidence (orchestration/evidence.py) on real files: what one extraction adds,
what re-runs add (nothing), rows a gateway stops serving (kept, marked gone), new versions, the
old-layout migration, never overwriting, and a writer SIGKILLed mid-batch (store unchanged)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

from orchestration.evidence import (
    MIGRATED,
    GatewayRead,
    land_extraction,
    read_held,
    read_manifest,
    read_versions,
    write_new,
)
from orchestration.landing import partition_dir, write_partition
from orchestration.sandbox.expected import frame as canonical_frame
from orchestration.sandbox.scenario import build_scenario

REPO = Path(__file__).resolve().parents[1]
END = date(2026, 11, 20)


@pytest.fixture(scope="module")
def usage() -> pd.DataFrame:
    """One day of the scenario's canonical usage rows, both gateways."""
    sc = build_scenario(seed=5, end=END, days=1, jobs_per_day=30)
    df = sc.canonical()["usage_records"]
    assert df["gateway"].nunique() == 2 and len(df) > 40
    return df


def at(h: int) -> datetime:
    return datetime(2026, 11, 21, h, tzinfo=UTC)


def reads(*gateways: str, whole_day: bool = True, complete: bool = True) -> list[GatewayRead]:
    return [GatewayRead(g, extracted=True, complete=complete, whole_day=whole_day) for g in gateways]


def digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def held_rows(root: Path, record: str = "usage_records") -> list[tuple]:
    df = read_held(root, record, END)
    cols = [c for c in df.columns if not c.startswith("_")] + ["_change"]
    return sorted(df[cols].astype(str).itertuples(index=False, name=None))


def batches(root: Path) -> list[str]:
    return sorted(p.name for p in partition_dir(root, "usage_records", END).glob("batch-*.parquet"))


def test_the_same_answers_three_times_add_no_rows_only_manifest_rows(tmp_path: Path, usage) -> None:
    first = land_extraction(usage, tmp_path, "usage_records", END, reads("main", "lab"), at(6))
    assert (first.new, first.changed, first.gone) == (len(usage), 0, 0)
    held = held_rows(tmp_path)
    files = digest(tmp_path)
    for n in (2, 3):
        again = land_extraction(
            usage.sample(frac=1, random_state=n),
            tmp_path,
            "usage_records",
            END,
            reads("main", "lab"),
            at(6 + n),
        )
        assert (again.new, again.changed, again.gone, again.batch) == (0, 0, 0, None)
    assert batches(tmp_path) == ["batch-000001.parquet"]
    assert held_rows(tmp_path) == held
    now = digest(tmp_path)
    assert {k: v for k, v in now.items() if k in files} == files  # nothing landed before changed
    m = read_manifest(tmp_path, "usage_records", END)
    assert len(m) == 6 and m["complete"].all() and set(m["seq"]) == {1, 2, 3}
    assert (m.groupby("gateway")["rows_held"].max() == usage.groupby("gateway").size()).all()


def test_a_day_the_gateway_deleted_keeps_every_row_marked_gone(tmp_path: Path, usage) -> None:
    land_extraction(usage, tmp_path, "usage_records", END, reads("main", "lab"), at(6))
    before = digest(tmp_path)
    lab = usage[usage["gateway"] == "lab"]
    out = land_extraction(lab, tmp_path, "usage_records", END, reads("main", "lab"), at(7))
    n_main = int((usage["gateway"] == "main").sum())
    assert (out.new, out.changed, out.gone) == (0, 0, n_main)
    assert {k: v for k, v in digest(tmp_path).items() if k in before} == before
    held = read_held(tmp_path, "usage_records", END)
    assert len(held) == len(usage) and held["record_key"].is_unique
    gone = held[held["_change"] == "gone"]
    assert len(gone) == n_main and set(gone["gateway"]) == {"main"} and (gone["_gone_at"] == at(7)).all()
    m = read_manifest(tmp_path, "usage_records", END).set_index(["seq", "gateway"])
    assert not m.loc[(2, "main"), "complete"] and "no longer served" in m.loc[(2, "main"), "reason"]
    assert m.loc[(2, "lab"), "complete"] and m.loc[(2, "main"), "rows_held_gone"] == n_main
    # the same short answer again: nothing new, and still not a complete day (fewer rows than held)
    again = land_extraction(lab, tmp_path, "usage_records", END, reads("main", "lab"), at(8))
    assert (again.new, again.gone, again.batch) == (0, 0, None)
    assert (
        not read_manifest(tmp_path, "usage_records", END)
        .set_index(["seq", "gateway"])
        .loc[(3, "main"), "complete"]
    )
    # served again: back, current, not gone; the gone marks stay in their batch
    back = land_extraction(usage, tmp_path, "usage_records", END, reads("main", "lab"), at(9))
    assert back.changed == n_main
    held = read_held(tmp_path, "usage_records", END)
    assert (
        not held["_change"].eq("gone").any()
        and len(read_versions(tmp_path, "usage_records", END)) == len(usage) + 2 * n_main
    )


def test_a_partial_read_or_a_gateway_not_read_marks_nothing_gone(tmp_path: Path, usage) -> None:
    land_extraction(usage, tmp_path, "usage_records", END, reads("main", "lab"), at(6))
    half = usage[usage["gateway"] == "lab"].iloc[::2]
    past = GatewayRead("main", extracted=False, complete=False, reason="past retention_days=30")
    out = land_extraction(
        half, tmp_path, "usage_records", END, [*reads("lab", whole_day=False, complete=False), past], at(7)
    )
    assert (out.new, out.changed, out.gone, out.batch) == (0, 0, 0, None)
    m = read_manifest(tmp_path, "usage_records", END)
    row = m[(m["seq"] == 2) & (m["gateway"] == "main")].iloc[0]
    assert not row["extracted"] and pd.isna(row["rows_served"]) and row["reason"].startswith("past retention")


def test_a_new_version_is_appended_and_becomes_current(tmp_path: Path, usage) -> None:
    land_extraction(usage, tmp_path, "usage_records", END, reads("main", "lab"), at(6))
    first = digest(tmp_path)
    settled = usage.copy()
    lab = settled.index[settled["gateway"] == "lab"][:3]
    settled.loc[lab, "billing_transaction_id"] = ["btx-a", "btx-b", "btx-c"]
    out = land_extraction(settled, tmp_path, "usage_records", END, reads("main", "lab"), at(7))
    assert (out.new, out.changed, out.gone) == (0, 3, 0)
    assert {k: v for k, v in digest(tmp_path).items() if k in first} == first
    held = read_held(tmp_path, "usage_records", END).set_index("record_key")
    keys = settled.loc[lab, "record_key"]
    assert held.loc[keys, "billing_transaction_id"].tolist() == ["btx-a", "btx-b", "btx-c"]
    assert (held.loc[keys, "_change"] == "changed").all()


def test_the_old_single_file_layout_is_migrated_in_place(tmp_path: Path, usage) -> None:
    old = write_partition(usage, tmp_path, "usage_records", END)
    raw = old.read_bytes()
    held_before = read_held(tmp_path, "usage_records", END)  # readable before migration, as batch 0
    assert len(held_before) == len(usage)
    out = land_extraction(usage, tmp_path, "usage_records", END, reads("main", "lab"), at(6))
    assert (out.new, out.changed, out.gone, out.batch) == (0, 0, 0, None)
    d = partition_dir(tmp_path, "usage_records", END)
    assert not old.exists() and (d / "batch-000000.parquet").read_bytes() == raw
    m = read_manifest(tmp_path, "usage_records", END)
    assert set(m.loc[m["seq"] == 0, "reason"]) == {MIGRATED} and set(m.loc[m["seq"] == 0, "gateway"]) == {
        "main",
        "lab",
    }
    assert len(read_held(tmp_path, "usage_records", END)) == len(usage)


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "batch-000001.parquet"
    write_new(pa.table({"x": [1]}), target)
    before = target.read_bytes()
    with pytest.raises(FileExistsError):
        write_new(pa.table({"x": [2]}), target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["batch-000001.parquet"]  # no temp left


def test_dbt_sees_the_current_version_of_every_row_through_its_glob(tmp_path: Path, usage) -> None:
    """The `raw` source's glob reads every batch (and an unmigrated day file as batch 0)."""
    write_partition(usage.iloc[:10], tmp_path, "usage_records", END - timedelta(days=1))  # old layout
    land_extraction(usage, tmp_path, "usage_records", END, reads("main", "lab"), at(6))
    land_extraction(usage.iloc[5:], tmp_path, "usage_records", END, reads("main", "lab"), at(7))
    glob = str(tmp_path / "usage_records" / "date=*" / "batch-*.parquet")
    n = duckdb.sql(
        f"select count(*), count(distinct record_key), count(*) filter (where _change = 'gone') "
        f"from read_parquet('{glob}', union_by_name = true)"
    ).fetchall()
    assert n == [(len(usage) + 5, len(usage), 5)]


KILLED = textwrap.dedent("""
    import io, sys, time
    from datetime import UTC, date, datetime
    from pathlib import Path
    import pandas as pd
    import pyarrow.parquet as pq
    import orchestration.evidence as evidence

    real = pq.write_table

    def slow(table, where, **kwargs):
        buf = io.BytesIO()
        real(table, buf, **kwargs)
        data = buf.getvalue()
        with open(where, "wb") as fh:
            fh.write(data[: len(data) // 2])
            fh.flush()
        print("HALF-WRITTEN", flush=True)
        time.sleep(120)

    evidence.pq.write_table = slow
    frame = pd.read_pickle(sys.argv[2])
    reads = [evidence.GatewayRead(g, True, True, whole_day=True) for g in ("main", "lab")]
    evidence.land_extraction(frame, Path(sys.argv[1]), "usage_records", date(2026, 11, 20), reads,
                             datetime(2026, 11, 21, 7, tzinfo=UTC))
""")


def test_a_writer_killed_mid_batch_leaves_the_store_as_it_was(tmp_path: Path, usage) -> None:
    root = tmp_path / "landing"
    land_extraction(usage.iloc[:20], root, "usage_records", END, reads("main", "lab"), at(6))
    before, held = digest(root), held_rows(root)
    usage.to_pickle(tmp_path / "new.pkl")  # 20 held + the rest new: a real batch to write
    (tmp_path / "writer.py").write_text(KILLED)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, str(tmp_path / "writer.py"), str(root), str(tmp_path / "new.pkl")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    try:
        line = proc.stdout.readline()
        assert line.strip() == "HALF-WRITTEN", proc.stderr.read()
        proc.kill()  # SIGKILL: no cleanup handler runs
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    after = digest(root)
    temps = [k for k in after if k not in before]
    assert len(temps) == 1 and Path(temps[0]).name.startswith(".batch-000002.parquet.")  # invisible to globs
    assert {k: v for k, v in after.items() if k in before} == before and held_rows(root) == held
    # the next extraction lands the batch normally
    out = land_extraction(usage, root, "usage_records", END, reads("main", "lab"), at(8))
    assert out.new == len(usage) - 20 and len(read_held(root, "usage_records", END)) == len(usage)


def test_gateway_tasks_versions_follow_status(tmp_path: Path) -> None:
    sc = build_scenario(seed=5, end=END, days=1, jobs_per_day=30)
    tasks = sc.canonical()["gateway_tasks"]
    land_extraction(tasks, tmp_path, "gateway_tasks", END, reads("main", "lab"), at(6))
    moved = tasks.copy()
    moved.loc[moved.index[0], "status"] = (
        "failed" if moved.loc[moved.index[0], "status"] != "failed" else "succeeded"
    )
    out = land_extraction(moved, tmp_path, "gateway_tasks", END, reads("main", "lab"), at(7))
    assert (out.new, out.changed, out.gone) == (0, 1, 0)
    held = read_held(tmp_path, "gateway_tasks", END).set_index(["gateway", "task_id"])
    key = tuple(moved.loc[moved.index[0], ["gateway", "task_id"]])
    assert held.loc[key, "status"] == moved.loc[moved.index[0], "status"]
    assert canonical_frame([], "gateway_tasks").columns.tolist() == [
        c for c in held.reset_index().columns if not c.startswith("_")
    ]


def test_dbt_reads_a_day_that_is_only_migrated_batches(tmp_path: Path, usage) -> None:
    """After the upgrade a re-run with the same answers adds no batch: the landing holds only migrated
    day files (batch 0, no batch columns), and staging must still build from them."""
    import subprocess

    write_partition(usage, tmp_path / "landing", "usage_records", END)
    land_extraction(usage, tmp_path / "landing", "usage_records", END, reads("main", "lab"), at(6))
    assert batches(tmp_path / "landing") == ["batch-000000.parquet"]
    env = {
        **os.environ,
        "RECON_LANDING_DIR": str(tmp_path / "landing"),
        "RECON_WAREHOUSE_PATH": str(tmp_path / "w.duckdb"),
    }
    dbt = Path(sys.executable).with_name("dbt")
    p = subprocess.run(
        [
            str(dbt),
            "run",
            "--select",
            "stg_raw__usage_records",
            "stg_raw__gateway_tasks",
            "--target-path",
            str(tmp_path / "target"),
            "--log-path",
            str(tmp_path / "logs"),
        ],
        cwd=REPO / "dbt_project",
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert p.returncode == 0, p.stdout[-2000:]
    con = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
    try:
        got = con.execute(
            "select count(*), count(*) filter (where is_gone), max(version_seq) from stg_raw__usage_records"
        ).fetchone()
    finally:
        con.close()
    assert got == (len(usage), 0, 0)
