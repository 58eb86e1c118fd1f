"""Read-only access to the dbt marts, tolerant of a missing table or column.

Only dbt writes the DuckDB file; everything here opens it read-only. The marts evolve, so callers
ask for the columns they would like and get those that exist (a missing one reads as None), and a
missing table reads as no rows: a fresh checkout renders an empty report instead of crashing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from weakref import WeakKeyDictionary

import duckdb

MISMATCHES = "fct_reconciliation_mismatches"
SETTLEMENTS = "fct_settlements"
LAG_DAILY = "fct_settlement_lag_daily"
SPEND_DAILY = "fct_spend_daily"
SPEND_BY_CHANNEL = "fct_spend_by_channel_daily"
ERROR_ALERTS = "fct_error_alerts_daily"
ERROR_RATE = "fct_error_rate_daily"
HISTORY = "fct_mismatch_history"
COVERAGE = "fct_source_coverage"
HIGH_TOKENS = "fct_high_token_requests"
GATEWAY_TOTALS = "fct_gateway_totals_daily"

# Column lists per read-only connection: its schema cannot change while it is open (no writer can
# hold the file meanwhile), and the trail pages ask for the same tables thousands of times.
_COLUMNS: WeakKeyDictionary = WeakKeyDictionary()


# The connection a `reading()` block shares, per thread (a DuckDB connection is not thread-safe).
_SHARED: ContextVar[tuple[str, duckdb.DuckDBPyConnection] | None] = ContextVar(
    "recon_marts_shared", default=None
)


@contextmanager
def reading(warehouse: Path | str) -> Iterator[None]:
    """Every `read_only(warehouse)` inside the block reuses one connection. The report step and the
    summary open the file dozens of times otherwise (about 25 ms each, plus the column lookups of each
    new connection: a second or more of an empty day's run). Only where no writer can run meanwhile
    (under the warehouse lock, after the build): a connection sees the file as it was when opened."""
    key = str(Path(warehouse).resolve())
    shared = _SHARED.get()
    if (shared is not None and shared[0] == key) or not Path(warehouse).exists():
        yield
        return
    with read_only(warehouse) as con:
        token = _SHARED.set((key, con))
        try:
            yield
        finally:
            _SHARED.reset(token)


@contextmanager
def read_only(warehouse: Path | str) -> Iterator[duckdb.DuckDBPyConnection | None]:
    """A read-only connection (the enclosing `reading()` block's, if any), or None when the
    warehouse file does not exist yet."""
    if not Path(warehouse).exists():
        yield None
        return
    shared = _SHARED.get()
    if shared is not None and shared[0] == str(Path(warehouse).resolve()):
        yield shared[1]
        return
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        con.execute("set TimeZone = 'UTC'")  # timestamps come back in UTC whatever the machine's zone
        _COLUMNS[con] = {}
        yield con
    finally:
        con.close()


def columns(con: duckdb.DuckDBPyConnection | None, table: str) -> list[str]:
    """The table's column names in order; [] when the table is missing."""
    if con is None:
        return []
    cache = _COLUMNS.get(con)
    if cache is not None and table in cache:
        return list(cache[table])
    rows = con.execute(  # duckdb_columns(): the same rows as information_schema.columns, twice as fast
        "select column_name from duckdb_columns() where table_name = ? order by column_index",
        [table],
    ).fetchall()
    names = [r[0] for r in rows]
    if cache is not None:
        cache[table] = tuple(names)
    return names


def _select_sql(
    have: set[str], table: str, wanted: Sequence[str], where: str, order_by: Sequence[str], qualify: str = ""
) -> str:
    """The SELECT both readers run: absent wanted columns as null, order entries on absent columns dropped."""
    exprs = [f'"{c}"' if c in have else f'null as "{c}"' for c in wanted]
    sql = f"select {', '.join(exprs)} from {table}"
    if where:
        sql += f" where {where}"
    if qualify:
        sql += f" qualify {qualify}"
    order = [o for o in order_by if o.split()[0].strip('"') in have]
    if order:
        sql += " order by " + ", ".join(order)
    return sql


def select(
    con: duckdb.DuckDBPyConnection | None,
    table: str,
    wanted: Sequence[str],
    where: str = "",
    params: Sequence[object] = (),
    order_by: Sequence[str] = (),
) -> list[dict]:
    """Rows of `table` as dicts keyed by `wanted` (absent columns are None).

    `where` may only name columns that exist; callers guard it with :func:`columns`. `order_by`
    entries whose column is absent are dropped, so the order stays deterministic on what exists.
    """
    have = set(columns(con, table))
    if not have:
        return []
    cur = con.execute(_select_sql(have, table, wanted, where, order_by), list(params))
    return [dict(zip(wanted, r, strict=False)) for r in cur.fetchall()]


def stream(
    con: duckdb.DuckDBPyConnection | None,
    table: str,
    wanted: Sequence[str],
    where: str = "",
    params: Sequence[object] = (),
    order_by: Sequence[str] = (),
    qualify: str = "",
    batch_rows: int = 10_000,
) -> Iterator[dict]:
    """Like :func:`select`, but fetched `batch_rows` at a time, so a caller that writes each row out
    (the CSVs) holds one batch, not the whole table. `qualify` is a DuckDB QUALIFY clause (window
    filters such as the top N per code)."""
    have = set(columns(con, table))
    if not have:
        return
    sql = _select_sql(have, table, wanted, where, order_by, qualify)
    cur = con.cursor()  # its own result set; settings are per cursor, so UTC again
    try:
        cur.execute("set TimeZone = 'UTC'")
        cur.execute(sql, list(params))
        while chunk := cur.fetchmany(batch_rows):
            for r in chunk:
                yield dict(zip(wanted, r, strict=False))
    finally:
        cur.close()
