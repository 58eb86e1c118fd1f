"""The DuckDB-vs-Spark parity check (bench/spark_check.py, `make spark-check`, issue 24).

The comparison itself is tested on rows made here; the whole check (demo landing, dbt on DuckDB and on
a local SparkSession, every mart compared) runs where the `.[spark]` extra and Java are installed.
"""

from __future__ import annotations

import importlib.util
import shutil
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from bench import spark_check
from bench.spark_check import compare_rows, normalize

COLUMNS = ["finding_key", "amount_usd", "detected_at"]
T = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)


def rows(*values: tuple) -> list[tuple]:
    return [tuple(map(normalize, v)) for v in values]


def test_same_rows_in_another_order_and_types_match():
    left = rows(("a", Decimal("1.00000000"), T), ("b", Decimal("0.5"), None))
    right = rows(("b", 0.5, None), ("a", 1.0, T.astimezone(timezone(timedelta(hours=8)))))
    assert compare_rows("m", COLUMNS, left, right).ok


def test_money_within_1e9_is_equal_and_beyond_is_not():
    left = rows(("a", Decimal("0.12345678"), T))
    assert compare_rows("m", COLUMNS, left, rows(("a", 0.12345678 + 4e-10, T))).ok
    diff = compare_rows("m", COLUMNS, left, rows(("a", 0.12345678 + 1e-8, T)))
    assert not diff.ok
    assert diff.only_duckdb == left and len(diff.only_spark) == 1


def test_a_missing_or_duplicated_row_is_a_difference():
    left = rows(("a", 1, T), ("a", 1, T))
    diff = compare_rows("m", COLUMNS, left, rows(("a", 1, T)))
    assert not diff.ok and diff.only_duckdb == rows(("a", 1, T)) and diff.only_spark == []


def test_timestamps_compare_as_utc_instants_and_text_exactly():
    naive_utc = datetime(2026, 12, 3, 6, 0)  # Parquet TIMESTAMP read without a zone is UTC
    assert compare_rows("m", COLUMNS, rows(("a", 1, T)), rows(("a", 1, naive_utc))).ok
    assert not compare_rows("m", COLUMNS, rows(("a", 1, T)), rows(("a", 1, T + timedelta(seconds=1)))).ok
    assert not compare_rows("m", COLUMNS, rows(("a", 1, T)), rows(("A", 1, T))).ok


def spark_missing() -> str | None:
    if importlib.util.find_spec("pyspark") is None or importlib.util.find_spec("dbt.adapters.spark") is None:
        return 'the Spark extra is not installed (pip install -c constraints.txt -e ".[spark]")'
    if shutil.which("java") is None:
        return "no java on PATH (Java 17: openjdk-17-jre-headless)"
    return None


@pytest.mark.slow
@pytest.mark.skipif(spark_missing() is not None, reason=spark_missing() or "")
def test_every_mart_is_the_same_on_duckdb_and_spark(tmp_path: Path, capsys):
    assert spark_check.main(["--work-dir", str(tmp_path / "work")]) == 0
    out = capsys.readouterr().out
    assert "spark-check passed" in out and "marts identical" in out
