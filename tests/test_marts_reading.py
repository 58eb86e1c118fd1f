"""marts.reading(): the report step and the summary share one read-only connection per warehouse."""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pytest

from orchestration.reports import marts


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create table fct_settlements (job_id varchar, status varchar)")
    con.execute("create view v_settlements as select status, job_id from fct_settlements")
    con.execute("insert into fct_settlements values ('j1', 'settled')")
    con.close()
    return path


def test_reads_inside_a_block_share_one_connection(warehouse: Path) -> None:
    with marts.reading(warehouse):
        with marts.read_only(warehouse) as a, marts.read_only(str(warehouse)) as b:
            assert a is b and a is not None
        with marts.read_only(warehouse) as c:
            assert c is a  # still open after the inner block: only the outer block closes it
            assert marts.select(c, marts.SETTLEMENTS, ["job_id", "nope"]) == [{"job_id": "j1", "nope": None}]
    with pytest.raises(duckdb.ConnectionException):
        a.execute("select 1")  # the block closed it
    with marts.read_only(warehouse) as d, marts.read_only(warehouse) as e:
        assert d is not e  # outside a block every read opens its own


def test_another_warehouse_or_thread_gets_its_own(warehouse: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).close()
    seen: list[object] = []
    with marts.reading(warehouse), marts.read_only(warehouse) as shared:
        with marts.read_only(other) as o:
            assert o is not shared
        t = threading.Thread(target=lambda: seen.append(_open_in_thread(warehouse)))
        t.start()
        t.join()
    assert seen and seen[0] is not shared  # a DuckDB connection is not shared across threads


def _open_in_thread(warehouse: Path) -> object:
    with marts.read_only(warehouse) as con:
        return con


def test_missing_warehouse_reads_as_none(tmp_path: Path) -> None:
    with marts.reading(tmp_path / "absent.duckdb"), marts.read_only(tmp_path / "absent.duckdb") as con:
        assert con is None


def test_columns_lists_tables_and_views_in_order(warehouse: Path) -> None:
    with marts.read_only(warehouse) as con:
        assert marts.columns(con, "fct_settlements") == ["job_id", "status"]
        assert marts.columns(con, "v_settlements") == ["status", "job_id"]
        assert marts.columns(con, "no_such_table") == []
