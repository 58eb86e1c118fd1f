"""App jobs and app assets, read from the app's own database through any SQLAlchemy URL.

The config's two mapping queries (``app.jobs_query``, ``app.assets_query``) turn the app's own
tables, column names, status words and units into the canonical columns; this module runs them
for one half-open UTC window ``[start, end)`` and hands back canonical rows.

Binding ``:start`` / ``:end`` (both are UTC; naive datetimes passed in are taken as UTC):
- PostgreSQL and every other server database get timezone-aware UTC ``datetime`` objects (a
  ``timestamptz`` parameter on PostgreSQL). The session time zone is set to UTC on connect
  (PostgreSQL ``SET TIME ZONE 'UTC'``, MySQL ``SET time_zone = '+00:00'``), so a ``timestamp
  without time zone`` column is compared and returned as UTC, whatever the server's or this
  machine's zone. A text column on PostgreSQL needs a cast in the query
  (``created_at::timestamptz >= :start``).
- SQLite has no timestamp type: apps store ISO-8601 text. The bounds are bound as TEXT in SQLite's
  own canonical form ``YYYY-MM-DD HH:MM:SS`` (UTC, ``.ffffff`` only when there are microseconds),
  which is exactly what SQLite's ``datetime()`` returns. So:
  * ``where datetime(created_at) >= :start and datetime(created_at) < :end`` is exact for ANY ISO
    text (``T`` or space, ``Z``, ``+02:00`` offsets: ``datetime()`` converts them to UTC) — the
    recommended form;
  * a plain ``created_at >= :start`` text comparison is exact for UTC text stored with a space
    (``2026-11-20 10:00:00[.fff]``), and for UTC text stored with ``T``/``Z`` it is exact at day
    boundaries, which is all a daily partition uses (``"2026-11-20T…" >= "2026-11-20 00:00:00"``);
  * epoch-second columns: ``created_at >= unixepoch(:start)`` (or ``strftime('%s', :start)``).
  A bound is never bound as a Python ``datetime`` on SQLite: the driver would render it with
  ``.000000`` or ``+00:00`` suffixes that break the text comparison at the exact boundary.

Returned values may be timestamps or ISO-8601 text; text without an offset is UTC; empty text is
NULL. A row whose ``created_at`` falls outside ``[start, end)`` (a query that forgot or botched its
filter) is not moved to another day silently: it is flagged and quarantined by validation. Values
that cannot be read are flagged the same way (see ``schemas.validate.ROW_ERRORS_ATTR``).
``user_id`` is pseudonymized here, before anything can land or be logged.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Literal

import pandas as pd
from sqlalchemy import create_engine, event, make_url, text
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import SQLAlchemyError

from orchestration.config import AppConfig, require_env
from orchestration.errors import ConfigError, ExtractionError
from orchestration.pseudonymize import pseudonym_key, pseudonymize_series
from schemas.canonical import OPTIONAL_COLUMNS, RECORDS
from schemas.validate import ROW_ERRORS_ATTR, coerce_frame

log = logging.getLogger(__name__)


class _NoResultRows(logging.Filter):
    """SQLAlchemy at DEBUG (the documented `python_logs` setting) logs every fetched row, raw user
    ids included, before they are pseudonymized: those lines are dropped, the SQL lines kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith(("Row ", "Col ")))


logging.getLogger("sqlalchemy.engine.Engine").addFilter(_NoResultRows())

AppRecord = Literal["app_jobs", "app_assets"]
QUERY_KEYS: dict[str, str] = {"app_jobs": "jobs_query", "app_assets": "assets_query"}
REDACTED = "<redacted>"


def utc(dt: datetime) -> datetime:
    """`dt` as an aware UTC datetime; a naive one is taken as UTC (never as local time)."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def sqlite_bound(dt: datetime) -> str:
    """A UTC bound as SQLite's canonical datetime text (``YYYY-MM-DD HH:MM:SS[.ffffff]``)."""
    d = utc(dt)
    return d.strftime("%Y-%m-%d %H:%M:%S") + (f".{d.microsecond:06d}" if d.microsecond else "")


def bind_params(dialect: str, start: datetime, end: datetime) -> dict[str, object]:
    """``:start``/``:end`` in the form that compares correctly on `dialect` (see module doc)."""
    if dialect == "sqlite":
        return {"start": sqlite_bound(start), "end": sqlite_bound(end)}
    return {"start": utc(start), "end": utc(end)}


def _utc_session(engine: Engine) -> None:
    name = engine.dialect.name
    statement = {
        "postgresql": "SET TIME ZONE 'UTC'",
        "mysql": "SET time_zone = '+00:00'",
        "mariadb": "SET time_zone = '+00:00'",
    }.get(name)
    if statement is None:
        return

    @event.listens_for(engine, "connect")
    def _set_utc(dbapi_conn, _record) -> None:
        cur = dbapi_conn.cursor()
        try:
            cur.execute(statement)
        finally:
            cur.close()
        if name == "postgresql":
            dbapi_conn.commit()


def read_only_url(url: URL) -> tuple[URL, dict[str, object]]:
    """The URL and connect arguments that open the app database read-only, so a mapping query
    (``delete ...; select ...``) cannot change the app's data: SQLite files open with ``mode=ro``,
    PostgreSQL sessions default to read-only transactions. A SELECT-only role is still advised."""
    name = url.get_backend_name()
    if name == "sqlite" and url.database and url.database != ":memory:":
        database = url.database if url.database.startswith("file:") else f"file:{url.database}"
        return url.set(database=database, query={**url.query, "mode": "ro", "uri": "true"}), {}
    if name == "postgresql":
        return url, {"options": "-c default_transaction_read_only=on"}
    return url, {}


def connect_failure(exc: BaseException) -> str:
    """Which of the usual connection failures `exc` is, in words that hold no secret (the driver's
    text names the user and host, so only the kind is told)."""
    msg = str(getattr(exc, "orig", exc)).lower()
    if "password authentication failed" in msg or "authentication" in msg or "no password supplied" in msg:
        return "authentication failed (check the user and password in the URL)"
    if "role" in msg and "does not exist" in msg:
        return "authentication failed: the user does not exist"
    if ("database" in msg and "does not exist" in msg) or "unknown database" in msg:
        return "unknown database (the URL's database name does not exist on the server)"
    if any(
        k in msg
        for k in (
            "could not translate host name",
            "name or service not known",
            "connection refused",
            "timeout expired",
            "timed out",
            "no route to host",
            "network is unreachable",
            "could not connect",
            "can't connect",
        )
    ):
        return "host unreachable (check the host and port in the URL, and that the server runs)"
    if "unable to open database file" in msg:
        return "cannot open the database file (check the path in the URL)"
    return type(exc).__name__


def app_engine(app: AppConfig) -> Engine:
    """A read-only engine for the app database named by env ``app.database_url_env`` (never logged).
    A URL whose driver is not installed is a ConfigError, so it stops the run before extraction."""
    url = require_env(app.database_url_env, "app.database_url_env")
    try:
        parsed, connect_args = read_only_url(make_url(url))
        engine = create_engine(parsed, pool_pre_ping=True, connect_args=connect_args, hide_parameters=True)
    except ImportError as exc:
        raise ConfigError(
            f"app.database_url_env: environment variable {app.database_url_env} names a "
            f"database driver that is not installed ({exc.name or exc}); use postgresql:// "
            f"(psycopg 3, installed) or install the driver"
        ) from None
    except (SQLAlchemyError, ValueError) as exc:
        raise ConfigError(
            f"app.database_url_env: environment variable {app.database_url_env} "
            f"does not hold a usable SQLAlchemy URL ({type(exc).__name__})"
        ) from None
    _utc_session(engine)
    return engine


def _query_param_names(query: str) -> set[str]:
    return set(text(query).compile().params)


def check_query(app: AppConfig, record: AppRecord) -> str:
    """The mapping query of `record`; a clear ConfigError when it does not bind :start and :end."""
    key = QUERY_KEYS[record]
    query = getattr(app, key)
    missing = {"start", "end"} - _query_param_names(query)
    if missing:
        raise ConfigError(
            f"app.{key}: the query must filter on the window with "
            f"{' and '.join(':' + m for m in sorted(missing))} (half-open UTC [start, end))"
        )
    return query


def check_columns(record: AppRecord, returned: list[str]) -> None:
    """Raise ConfigError listing every canonical column the query does not return."""
    key = QUERY_KEYS[record]
    optional = OPTIONAL_COLUMNS.get(record, ())
    missing = [c for c in RECORDS[record] if c not in returned and c not in optional]
    if missing:
        raise ConfigError(
            f"app.{key}: the query does not return the canonical column(s) {', '.join(missing)} "
            f"(it returns: {', '.join(returned) or 'nothing'}); alias your columns to the names of "
            f"schemas/canonical.py"
        )


def check_app_queries(app: AppConfig, *, engine: Engine | None = None) -> None:
    """Preflight before any extraction starts: both mapping queries bind :start/:end and return
    every canonical column. Runs each query on an empty window (no rows are read); raises
    ConfigError naming the key and listing what is missing, ExtractionError when the DB fails."""
    queries = {record: check_query(app, record) for record in QUERY_KEYS}
    own_engine = engine is None
    eng = app_engine(app) if engine is None else engine
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    try:
        with eng.connect() as conn:
            for record, query in queries.items():
                try:
                    result = conn.execute(text(query), bind_params(eng.dialect.name, epoch, epoch))
                except SQLAlchemyError as exc:
                    detail = str(getattr(exc, "orig", exc)).strip().splitlines()[0][:200]
                    raise ExtractionError(
                        f"app.{QUERY_KEYS[record]}: query failed: {type(exc).__name__}: {detail}"
                    ) from None
                check_columns(record, [str(k) for k in result.keys()])  # noqa: SIM118
                result.close()
    except SQLAlchemyError as exc:
        raise ExtractionError(
            f"app: cannot connect to the app database (env {app.database_url_env}): {connect_failure(exc)}"
        ) from None
    finally:
        if own_engine:
            eng.dispose()


def extract_app_records(
    app: AppConfig,
    record: AppRecord,
    start: datetime,
    end: datetime,
    *,
    engine: Engine | None = None,
    key: bytes | None = None,
) -> pd.DataFrame:
    """Run the mapping query of `record` for ``[start, end)`` and return canonical rows.

    Columns are exactly ``schemas.canonical.RECORDS[record]`` in order, canonical dtypes
    (``schemas.validate.canonical_dtypes``), ``user_id`` pseudonymized. Cells that could not be
    read and rows outside the window are listed in ``df.attrs[ROW_ERRORS_ATTR]`` for
    ``schemas.validate.validate_frame`` to quarantine. Raises ConfigError before anything lands
    when the query lacks ``:start``/``:end`` or does not return every canonical column, and
    ExtractionError when the database or the query fails. `engine`/`key` are for tests and
    callers that already hold them; by default both come from the environment.
    """
    if record not in QUERY_KEYS:
        raise ValueError(f"not an app record type: {record!r}")
    query = check_query(app, record)
    start_utc, end_utc = utc(start), utc(end)
    if not start_utc < end_utc:
        raise ValueError(f"{record}: empty window [{start_utc.isoformat()}, {end_utc.isoformat()})")
    own_engine = engine is None
    eng = app_engine(app) if engine is None else engine
    qkey = QUERY_KEYS[record]
    try:
        try:
            conn = eng.connect()
        except SQLAlchemyError as exc:
            raise ExtractionError(
                f"app.{qkey}: cannot connect to the app database (env {app.database_url_env}): "
                f"{connect_failure(exc)}"
            ) from None
        with conn:
            try:
                result = conn.execute(text(query), bind_params(eng.dialect.name, start_utc, end_utc))
            except SQLAlchemyError as exc:
                detail = str(getattr(exc, "orig", exc)).strip().splitlines()[0][:200]
                raise ExtractionError(
                    f"app.{qkey}: query failed for [{start_utc.isoformat()}, "
                    f"{end_utc.isoformat()}): {type(exc).__name__}: {detail}"
                ) from None
            returned = [str(k) for k in result.keys()]  # noqa: SIM118 - iterating yields rows
            check_columns(record, returned)
            rows = result.fetchall()
    finally:
        if own_engine:
            eng.dispose()

    extras = [c for c in returned if c not in RECORDS[record]]
    if extras:
        log.info("app.%s: ignoring non-canonical column(s) %s", qkey, ", ".join(extras))
    raw = pd.DataFrame([tuple(r) for r in rows], columns=returned, dtype=object)
    raw = raw.loc[:, ~raw.columns.duplicated()]
    for col in OPTIONAL_COLUMNS.get(record, ()):
        if col not in raw.columns:  # an optional column the query does not return lands null
            raw[col] = None
    df, errors = coerce_frame(record, raw, naive_utc=True, empty_is_null=True)

    created = df["created_at"]
    outside = created.notna() & ((created < pd.Timestamp(start_utc)) | (created >= pd.Timestamp(end_utc)))
    for pos in outside[outside].index:
        errors.append((int(pos), "created_at", "inside_window", created.iloc[pos]))

    if record == "app_jobs":
        df["user_id"] = pseudonymize_series(df["user_id"], key or pseudonym_key(app.pseudonym_key_env))
        errors = [(p, c, k, REDACTED if c == "user_id" else v) for p, c, k, v in errors]
    df.attrs[ROW_ERRORS_ATTR] = errors
    log.info("app.%s: %d rows for [%s, %s)", qkey, len(df), start_utc.isoformat(), end_utc.isoformat())
    return df
