"""Fetch a SELECT's rows as columns through Arrow Database Connectivity (ADBC).

Why: at network scale a page reads a few hundred thousand rows. Through the Python DB-API
every value becomes a Python object and every SQLite timestamp is parsed by a regular
expression; the ADBC drivers for SQLite and PostgreSQL (Apache Arrow's, written in C/C++)
hand over whole Arrow columns instead (benchmarks/bench_sqlite_reads.py compares it with a
plain sqlite3 read).

The statement is compiled by SQLAlchemy for the engine's dialect and its values are sent as
bound parameters, processed as SQLAlchemy would process them (`bound_sql`); no value is ever
rendered into the SQL text. ADBC opens its own connection and therefore reads committed data
only; other dialects and in-memory SQLite databases fall back to the caller's SQLAlchemy connection.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
from collections.abc import Iterator, Sequence
from urllib.parse import quote, unquote, urlencode

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Select, event
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import URL, Dialect
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import QueuePool
from sqlalchemy.types import Boolean, Date, DateTime, String

from kapviz.db.engine import (
    keep_sqlite_open,
    sqlite_file_lock,
    sqlite_pragmas,
    sqlite_write_gate,
    with_analytics_settings,
)


def adbc_uri(url: URL) -> tuple[str, str] | None:
    """(driver, connection string) for ADBC, or None when this URL must use SQLAlchemy."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        database = url.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            return None
        # Read-only: ADBC links its own copy of SQLite, which cannot see this process's
        # sqlite3 connections; opened read-write, its close() took itself for the last
        # connection and checkpointed and deleted the WAL under them (rows written after that,
        # audit rows and imports, were lost to every other connection).
        return "sqlite", f"file:{quote(database)}?mode=ro"
    if backend == "postgresql":
        url = with_analytics_settings(url).set(drivername="postgresql")
        # libpq reads a URI's query with %20 for spaces, not the "+" SQLAlchemy renders.
        base = url.set(query={}).render_as_string(hide_password=False)
        query = urlencode(url.query, doseq=True, quote_via=quote)
        return "postgresql", f"{base}?{query}" if query else base
    return None


_SQLITE: dict[str, tuple[object, threading.Lock]] = {}
_SQLITE_GUARD = threading.Lock()

PG_IDLE_MAX = 4
"""Idle ADBC PostgreSQL connections kept: opening one starts a server process, a page makes
ten reads, and a rerun of a live page a few more."""

_PG_POOL: dict[str, QueuePool] = {}
_PG_GUARD = threading.Lock()


@atexit.register
def _close_connections() -> None:
    """At exit every lock goes anyway: close cleanly rather than in a finaliser."""
    with _SQLITE_GUARD:
        for conn, _ in _SQLITE.values():
            conn.close()
        _SQLITE.clear()
    with _PG_GUARD:
        for pool in _PG_POOL.values():
            pool.dispose()
        _PG_POOL.clear()


def _pg_pool(uri: str) -> QueuePool:
    """SQLAlchemy's pool of ADBC connections to `uri`, kept for the database read last only
    (an app reads one; a test run creates hundreds and must not hold their sockets open)."""
    import adbc_driver_postgresql.dbapi as adbc_pg

    with _PG_GUARD:
        pool = _PG_POOL.get(uri)
        if pool is not None:
            return pool
        others = list(_PG_POOL.values())
        _PG_POOL.clear()
        pool = QueuePool(
            lambda: adbc_pg.connect(uri),
            pool_size=PG_IDLE_MAX,
            max_overflow=-1,
            reset_on_return="rollback",  # end the read: the next one sees newer commits
        )
        event.listen(pool, "checkout", _ping)
        _PG_POOL[uri] = pool
    for other in others:
        other.dispose()
    return pool


def _ping(dbapi_conn, _record, _proxy) -> None:  # pool event arguments
    """Pessimistic disconnect handling (SQLAlchemy's pool event recipe): the server may have
    ended an idle connection; raising DisconnectionError makes the pool open a new one."""
    try:
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute("SELECT 1")
            cursor.fetchall()
        finally:
            cursor.close()
        dbapi_conn.rollback()
    except Exception as error:  # any failure means: do not use it
        raise DisconnectionError from error


@contextlib.contextmanager
def _postgresql(uri: str) -> Iterator:
    """A pooled ADBC PostgreSQL connection for one read; one that failed is not reused."""
    conn = _pg_pool(uri).connect()
    try:
        yield conn.dbapi_connection
    except BaseException:
        conn.invalidate()
        raise
    finally:
        conn.close()


@contextlib.contextmanager
def _connect(driver: str, uri: str) -> Iterator:
    """An ADBC connection for one read (None on SQLite while this process writes the file).

    PostgreSQL: a connection from SQLAlchemy's pool (`_pg_pool`). SQLite: one
    read-only connection per database for the life of the process, used by one reader at
    a time. ADBC links its own copy of SQLite, and POSIX drops every lock a process holds
    on a file when any of its descriptors for that file closes: closing an ADBC connection
    would silently release the locks of the process's sqlite3 connections, after which
    another process (an import from the command line) could take itself for the last
    user and delete the WAL under them. Never closing it avoids that.
    """
    if driver == "postgresql":
        with _postgresql(uri) as conn:
            yield conn
        return
    import adbc_driver_sqlite.dbapi as adbc_sqlite

    # The file's lock (kapviz.db.engine.sqlite_file_lock) is also taken while this process's
    # sqlite3 connections open: see there why the two copies of SQLite must not overlap then;
    # its WriteGate keeps this process's sqlite3 writes out during the read (None: one is
    # open, the caller reads through sqlite3), and a sqlite3 connection stays open beside it.
    path = unquote(uri.removeprefix("file:").rsplit("?", 1)[0])
    gate = sqlite_write_gate(path)
    if not gate.try_read():
        yield None
        return
    try:
        with sqlite_file_lock(path):
            keep_sqlite_open(path)
            with _SQLITE_GUARD:
                if uri not in _SQLITE:
                    _SQLITE[uri] = (_sqlite_reader(adbc_sqlite.connect(uri)), threading.Lock())
                conn, lock = _SQLITE[uri]
            with lock:
                yield conn
                conn.rollback()  # end the read transaction: the next read sees newer commits
    finally:
        gate.end_read()


def _sqlite_reader(conn):  # ADBC connection in and out
    cursor = conn.cursor()
    try:
        sqlite_pragmas(cursor)
    finally:
        cursor.close()
    return conn


_ADBC_POSTGRESQL = postgresql.psycopg.dialect(paramstyle="numeric_dollar")
"""The PostgreSQL dialect compiling for ADBC, whose libpq statements take $1, $2, …"""


def bound_sql(stmt: Select, dialect: Dialect) -> tuple[str, tuple | dict]:
    """The statement's SQL for `dialect` and its bound parameters, in the dialect's
    paramstyle (a tuple when positional), each value processed as SQLAlchemy's own execution
    would (SQLite stores datetimes as text, for one). `IN` lists are expanded."""
    compiled = stmt.compile(dialect=dialect)
    state = compiled.construct_expanded_state()
    processors = dict(state.processors)
    for name, bind in compiled.binds.items():
        processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            processors.setdefault(name, processor)
    values = {
        name: processors[name](value) if name in processors else value
        for name, value in state.parameters.items()
    }
    if compiled.positional:
        return state.statement, tuple(values[name] for name in state.positiontup or ())
    return state.statement, values


def fetch_frame(conn: Connection, stmt: Select, columns: Sequence[str]) -> pd.DataFrame | None:
    """Rows of `stmt` as a frame via ADBC, typed like SQLAlchemy would; None if not possible."""
    target = adbc_uri(conn.engine.url)
    if target is None:
        return None
    driver, uri = target
    dialect = _ADBC_POSTGRESQL if driver == "postgresql" else conn.dialect
    sql, parameters = bound_sql(stmt, dialect)
    with _connect(driver, uri) as adbc_conn:
        if adbc_conn is None:
            return None
        cursor = adbc_conn.cursor()
        try:
            cursor.execute(sql, parameters or None)
            table = cursor.fetch_arrow_table()
        finally:
            cursor.close()
    frame = _widen(table).to_pandas()
    frame.columns = list(columns)
    for name, column in zip(columns, stmt.selected_columns, strict=True):
        frame[name] = _as_sqlalchemy_would(frame[name], column.type)
    return frame


def _widen(table):  # pyarrow Table in and out
    """Integers as int64 (PostgreSQL sends int16/int32) and all-null columns as objects."""
    import pyarrow as pa

    columns = []
    for column in table.columns:
        if pa.types.is_integer(column.type):
            column = column.cast(pa.int64())
        elif pa.types.is_null(column.type):
            column = pa.array([None] * len(column), type=pa.string())
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def _as_sqlalchemy_would(values: pd.Series, sa_type) -> pd.Series:
    """Match the Python types SQLAlchemy's result processing gives for this column type.

    SQLite has no timestamp, date or boolean storage class: ADBC returns the stored text and
    integers, which are converted here vectorised rather than value by value.
    """
    if isinstance(sa_type, DateTime):
        if values.dtype.kind == "M":
            return values
        return pd.to_datetime(values, format="ISO8601")
    if isinstance(sa_type, Date):
        parsed = pd.to_datetime(values, format="ISO8601")
        known = parsed.notna().to_numpy()
        out = np.full(len(values), None, dtype=object)
        out[known] = parsed[known].dt.date.to_numpy()
        return pd.Series(out, index=values.index, dtype=object)
    if isinstance(sa_type, Boolean):
        if values.dtype == bool:
            return values
        known = values.notna().to_numpy()
        if known.all():
            return values.astype(bool)
        out = np.full(len(values), None, dtype=object)
        out[known] = values.to_numpy()[known].astype(bool)
        return pd.Series(out, index=values.index, dtype=object)
    if isinstance(sa_type, String) and values.isna().all():
        return pd.Series([None] * len(values), index=values.index, dtype=object)
    return values
