"""Landing is atomic and idempotent: equal input gives byte-identical files, a crash mid-write
(an exception, or a writer killed with SIGKILL) leaves the previous version readable, and temp files
never show up in the globs dbt reads."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
import time
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from orchestration import landing
from orchestration.landing import (
    land_validated,
    partition_file,
    quarantine_file,
    read_partition,
    read_quarantine,
    write_partition,
)
from schemas.validate import canonical_dtypes, validate_frame

DAY = date(2026, 11, 20)
REPO = Path(__file__).resolve().parents[1]


def jobs(n: int, status: str = "succeeded", offset: int = 0) -> pd.DataFrame:
    rows = []
    for i in range(offset, offset + n):
        t0 = pd.Timestamp("2026-11-20T00:00:00Z") + pd.Timedelta(minutes=7 * i)
        rows.append(
            {
                "job_id": f"job-{i:04d}",
                "user_id": f"u_{i:032x}",
                "created_at": t0,
                "scene": "image",
                "model": "flux",
                "request_id": f"req-{i}",
                "task_id": None,
                "status": status,
                "terminal_at": t0 + pd.Timedelta(seconds=40),
                "billing_transaction_id": None,
                "expected_cost_usd": 0.04 + i / 1000,
                "retry_count": i % 3,
            }
        )
    dtypes = canonical_dtypes("app_jobs")  # the optional fallback-match columns stay null
    return pd.DataFrame({c: pd.Series([r.get(c) for r in rows], dtype=t) for c, t in dtypes.items()})


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def land(df: pd.DataFrame, root: Path):
    result = validate_frame("app_jobs", df, source="app:app_jobs", partition=DAY.isoformat())
    return land_validated(result, root, "app_jobs", DAY)


def with_bad_rows(df: pd.DataFrame) -> pd.DataFrame:
    bad = df.head(2).copy()
    bad["job_id"] = ["bad-1", "bad-2"]
    bad["status"] = ["lost", "lost"]
    return pd.concat([df, bad], ignore_index=True)


def test_same_partition_twice_gives_byte_identical_files(tmp_path: Path) -> None:
    df = with_bad_rows(jobs(50))
    first = land(df, tmp_path)
    sums = (sha(first.path), sha(first.quarantine_path))
    second = land(df, tmp_path)
    assert (sha(second.path), sha(second.quarantine_path)) == sums
    # a re-run whose rows come back in another order and with untyped values lands the same bytes
    shuffled = df.sample(frac=1.0, random_state=3).astype(object)
    third = land(shuffled, tmp_path)
    assert (sha(third.path), sha(third.quarantine_path)) == sums
    # and another directory gets the same bytes too: nothing time- or path-dependent is in the file
    other = land(df, tmp_path / "elsewhere")
    assert (sha(other.path), sha(other.quarantine_path)) == sums
    assert first.rows == 50 and first.quarantined == 2


def test_files_carry_no_pandas_metadata_or_write_time(tmp_path: Path) -> None:
    path = write_partition(jobs(3), tmp_path, "app_jobs", DAY)
    meta = pq.ParquetFile(path).metadata
    assert meta.created_by.startswith("parquet-cpp-arrow version")
    assert set((meta.metadata or {}).keys()) <= {b"ARROW:schema"}


def test_rerun_replaces_the_partition_as_a_whole(tmp_path: Path) -> None:
    land(with_bad_rows(jobs(10)), tmp_path)
    assert quarantine_file(tmp_path, "app_jobs", DAY).exists()
    land(jobs(4, status="failed"), tmp_path)
    back = read_partition(tmp_path, "app_jobs", DAY)
    assert back["job_id"].tolist() == [f"job-{i:04d}" for i in range(4)]
    assert set(back["status"]) == {"failed"}
    assert not quarantine_file(tmp_path, "app_jobs", DAY).exists()  # no stale quarantine of the old run
    assert [p.name for p in partition_file(tmp_path, "app_jobs", DAY).parent.iterdir()] == [
        "app_jobs.parquet"
    ]


def test_quarantine_file_sits_beside_the_partition(tmp_path: Path) -> None:
    landed = land(with_bad_rows(jobs(5)), tmp_path)
    assert landed.quarantine_path.parent == landed.path.parent
    q = read_quarantine(tmp_path, "app_jobs", DAY)
    assert q["job_id"].tolist() == ["bad-1", "bad-2"]
    assert q["quarantine_reason"].str.startswith("status isin(").all()


def test_read_back_has_canonical_dtypes(tmp_path: Path) -> None:
    df = jobs(3)
    write_partition(df, tmp_path, "app_jobs", DAY)
    pd.testing.assert_frame_equal(read_partition(tmp_path, "app_jobs", DAY), df)


def test_empty_partition_is_a_typed_empty_file(tmp_path: Path) -> None:
    result = validate_frame("app_jobs", jobs(0), source="s", partition="p")
    landed = land_validated(result, tmp_path, "app_jobs", DAY)
    back = read_partition(tmp_path, "app_jobs", DAY)
    assert back.empty and back.dtypes.to_dict() == canonical_dtypes("app_jobs")
    assert landed.quarantine_path is None


def test_exception_mid_write_leaves_the_previous_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_partition(jobs(20), tmp_path, "app_jobs", DAY)
    before = sha(path)

    def half_then_fail(table, where, **kwargs) -> None:
        Path(where).write_bytes(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(landing.pq, "write_table", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        write_partition(jobs(5, status="failed"), tmp_path, "app_jobs", DAY)
    monkeypatch.undo()
    assert sha(path) == before
    assert len(read_partition(tmp_path, "app_jobs", DAY)) == 20
    assert sorted(p.name for p in path.parent.iterdir()) == ["app_jobs.parquet"]  # temp removed


KILLED_WRITER = textwrap.dedent("""
    import io, sys, time
    from datetime import date
    from pathlib import Path
    import pyarrow.parquet as pq
    import orchestration.landing as landing
    from tests_landing_frame import frame

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

    landing.pq.write_table = slow
    landing.write_partition(frame(), Path(sys.argv[1]), "app_jobs", date(2026, 11, 20))
""")


def test_writer_killed_mid_write_leaves_the_previous_version_readable(tmp_path: Path) -> None:
    root = tmp_path / "landing"
    path = write_partition(jobs(20), root, "app_jobs", DAY)
    before = sha(path)
    helper = tmp_path / "helper"
    helper.mkdir()
    (helper / "tests_landing_frame.py").write_text(
        f"import pandas as pd\ndef frame():\n    return pd.read_pickle({str(tmp_path / 'new.pkl')!r})\n"
    )
    jobs(7, status="failed", offset=100).to_pickle(tmp_path / "new.pkl")
    (helper / "writer.py").write_text(KILLED_WRITER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(helper), str(REPO)])}
    proc = subprocess.Popen(
        [sys.executable, str(helper / "writer.py"), str(root)],
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
    temps = [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    assert len(temps) == 1 and temps[0].stat().st_size > 0  # the half-written file is there ...
    assert sha(path) == before  # ... and the landed file is untouched
    assert read_partition(root, "app_jobs", DAY)["job_id"].tolist() == [f"job-{i:04d}" for i in range(20)]
    # what dbt reads: the glob of its raw source sees only the complete old file
    glob = str(root / "app_jobs" / "*" / "*.parquet")
    assert duckdb.sql(f"select count(*), min(status) from read_parquet('{glob}')").fetchall() == [
        (20, "succeeded")
    ]
    # the next write cleans the leftover up once it is clearly stale, and lands normally
    old = time.time() - 2 * landing.STALE_TEMP_SECONDS
    os.utime(temps[0], (old, old))
    write_partition(jobs(3), root, "app_jobs", DAY)
    assert sorted(p.name for p in path.parent.iterdir()) == ["app_jobs.parquet"]


def test_fresh_temp_of_a_concurrent_writer_is_left_alone(tmp_path: Path) -> None:
    path = write_partition(jobs(2), tmp_path, "app_jobs", DAY)
    other = path.parent / f".{path.name}.inflight.tmp"
    other.write_bytes(b"someone else is writing")
    write_partition(jobs(3), tmp_path, "app_jobs", DAY)
    assert other.exists()


def test_land_validated_refuses_a_result_for_another_record(tmp_path: Path) -> None:
    result = validate_frame("app_jobs", jobs(1), source="s", partition="p")
    with pytest.raises(ValueError, match="not 'app_assets'"):
        land_validated(result, tmp_path, "app_assets", DAY)
