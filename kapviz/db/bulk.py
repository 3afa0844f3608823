"""Bulk writes: COPY on PostgreSQL, executemany on SQLite — never row-by-row ORM adds.

`insert_frame` writes a typed DataFrame: on PostgreSQL one COPY fed with text built column
by column by Arrow (no Python work per row), on SQLite one DB-API executemany of tuples in
SQLAlchemy's storage format. `bulk_insert` takes tuples (the demo generator's rows) and
writes them the same way.
`begin_bulk_load` is the bulk-loading recipe of both databases' manuals: foreign keys are
checked (and PostgreSQL's plain indexes built) once per table after the load instead of
once per inserted row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Boolean, Connection, Date, DateTime, Float, Integer, Table
from sqlalchemy.exc import IntegrityError

COPY_LINES = 200_000
"""Lines per write() into a PostgreSQL COPY (a few MB of text each)."""
STAGE_ROWS = 10_000
"""From this many rows, insert_frame stages SQLite rows in a TEMP table (see there)."""
STAGE = "kapviz_bulk_stage"
INDEX_BUILD_MEMORY = "256MB"
"""maintenance_work_mem while a BulkLoad rebuilds indexes (PostgreSQL's default is 64MB)."""


def bulk_insert(conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple]) -> int:
    """Insert `rows` (tuples in `columns` order) into `table` inside the caller's transaction:
    `insert_frame` of them (one writer; SQLAlchemy's per-row parameter work cost SQLite's
    demo clinic more than the inserts themselves)."""
    if not rows:
        return 0
    frame = pd.DataFrame.from_records(rows, columns=list(columns), coerce_float=False)
    return insert_frame(conn, table, frame)


def insert_frame(conn: Connection, table: Table, frame: pd.DataFrame) -> int:
    """Insert every row of `frame` (columns named like the table's) in the caller's transaction.

    Missing values may be None, NaN, NaT or pd.NA. PostgreSQL gets one COPY; SQLite an
    executemany with the values spelled as SQLAlchemy stores them (DateTime as
    'YYYY-MM-DD HH:MM:SS.ffffff', Date as ISO text, Boolean as 0/1). From STAGE_ROWS rows on,
    SQLite's rows go into a TEMP table without indexes first and from there into the table
    with one INSERT … SELECT, one statement instead of one per row (about a fifth less
    time for the 20k-patient export, whose tables carry several indexes each).
    """
    if frame.empty:
        return 0
    if conn.dialect.name == "postgresql":
        _copy(conn, table, frame)
        return len(frame)
    columns = list(frame.columns)
    values = [sqlite_values(frame[c], table.c[c].type) for c in columns]
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" for _ in columns)
    rows = zip(*values, strict=True)
    target = f'"{table.name}"'
    cursor = conn.connection.driver_connection.cursor()
    try:
        if len(frame) < STAGE_ROWS:
            cursor.executemany(f"INSERT INTO {target} ({names}) VALUES ({marks})", rows)
            return len(frame)
        cursor.execute(f"DROP TABLE IF EXISTS temp.{STAGE}")
        cursor.execute(f"CREATE TEMP TABLE {STAGE} AS SELECT {names} FROM {target} WHERE 0")
        cursor.executemany(f"INSERT INTO temp.{STAGE} ({names}) VALUES ({marks})", rows)
        cursor.execute(f"INSERT INTO {target} ({names}) SELECT {names} FROM temp.{STAGE}")
        cursor.execute(f"DROP TABLE temp.{STAGE}")
    finally:
        cursor.close()
    return len(frame)


def arrow_values(values: pd.Series, sql_type) -> pa.Array:
    """A column as an Arrow array of the SQL type's family (nulls where values are missing)."""
    if isinstance(sql_type, Boolean):
        objects = values.astype(object).where(values.notna(), None)
        return pa.array(objects.tolist(), type=pa.bool_())
    if isinstance(sql_type, DateTime):
        stamps = pd.to_datetime(values).astype("datetime64[us]")
        return pa.array(stamps, type=pa.timestamp("us"), from_pandas=True)
    if isinstance(sql_type, Date):
        objects = values.astype(object).where(values.notna(), None)
        dates = [v.date() if isinstance(v, datetime) else v for v in objects.tolist()]
        return pa.array(dates, type=pa.date32())
    if isinstance(sql_type, (Integer, Float)):
        numbers = values
        if not pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(
            values.dtype
        ):
            numbers = pd.to_numeric(values.astype(object), errors="raise")
        if isinstance(sql_type, Integer):
            return pa.array(numbers.astype("Int64"), type=pa.int64(), from_pandas=True)
        return pa.array(numbers.astype("float64"), type=pa.float64(), from_pandas=True)
    if pd.api.types.is_string_dtype(values.dtype) and not pd.api.types.is_object_dtype(
        values.dtype
    ):
        return pa.array(values, from_pandas=True).cast(pa.string())
    return pa.array(values.astype(object), type=pa.string(), from_pandas=True)


def sqlite_values(values: pd.Series, sql_type) -> list:
    """A column as Python values in SQLAlchemy's SQLite storage format (see insert_frame)."""
    array = arrow_values(values, sql_type)
    if isinstance(sql_type, (DateTime, Date)):
        array = pc.cast(array, pa.string())
    elif isinstance(sql_type, Boolean):
        array = pc.cast(array, pa.int64())
    return array.to_pylist()


def _copy_text(array: pa.Array) -> pa.Array:
    """Arrow values spelled for COPY's text format (NULL stays null; escapes applied)."""
    if pa.types.is_boolean(array.type):
        return pc.if_else(array, "t", "f")
    if not pa.types.is_string(array.type):
        return pc.cast(array, pa.string())
    if pc.any(pc.match_substring_regex(array, r"[\\\t\n\r]")).as_py():
        for raw, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
            array = pc.replace_substring(array, raw, escaped)
    return array


def _copy(conn: Connection, table: Table, frame: pd.DataFrame) -> None:
    """COPY `frame` into `table` from text built column-wise; written in large pieces."""
    columns = list(frame.columns)
    texts = [_copy_text(arrow_values(frame[c], table.c[c].type)) for c in columns]
    lines = pc.binary_join_element_wise(
        *texts, "\t", null_handling="replace", null_replacement="\\N"
    )
    names = ", ".join(f'"{c}"' for c in columns)
    raw = conn.connection.driver_connection
    with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for start in range(0, len(lines), COPY_LINES):
            piece = lines[start : start + COPY_LINES].to_pylist()
            copy.write("\n".join(piece) + "\n")


class BulkLoad:
    """A large load into some tables: constraints and indexes maintained once, not per row.

    Checking a foreign key costs PostgreSQL a trigger and a query per inserted row and
    SQLite an index lookup per row and key, and PostgreSQL inserts every row into every
    index as it comes; for millions of rows that is most of the time. Both manuals'
    bulk-loading advice is to check the keys and build the indexes once, after the load.
    Use `begin_bulk_load` inside the transaction, before its first write; call `finish()`
    after the load and before the commit (IntegrityError if a key is broken; the
    transaction must then be rolled back); call `release()` after the transaction.

    PostgreSQL: the tables and their parents are locked (ACCESS EXCLUSIVE: other sessions
    wait for the commit instead of reading the old rows), their foreign-key constraints
    are dropped, and so are the plain (non-unique) indexes of the `rebuild` tables;
    `finish()` creates them again exactly as they were (`pg_get_indexdef`,
    `pg_get_constraintdef`), which builds each index with one sort and validates each key
    with one query. Needs the owner's rights (the role that runs the migrations).
    SQLite: enforcement is switched off for the connection (only possible while no
    transaction is open; otherwise keys stay checked per row), `finish()` runs
    PRAGMA foreign_key_check on each table and `release()` switches enforcement back on.
    The plain indexes of `rebuild` tables that are empty are dropped and built again by
    `finish()`; those of tables holding rows stay (incremental inserts beat re-sorting).
    """

    def __init__(self, conn: Connection, tables: Sequence[str], rebuild: Sequence[str] = ()):
        self.conn = conn
        self.tables = list(tables)
        self.rebuild = [t for t in rebuild if t in self.tables]
        self.constraints: list[tuple[str, str, str]] = []
        self.indexes: list[str] = []
        self.sqlite_off = False

    def _quote(self, name: str) -> str:
        return self.conn.dialect.identifier_preparer.quote(name)

    def _sql(self, statement: str, params: dict | None = None):
        return self.conn.exec_driver_sql(statement, params or {})

    def begin(self) -> None:
        """Stop the per-row work (inside the transaction, before its first write)."""
        if not self.tables:
            return
        if self.conn.dialect.name == "postgresql":
            self._begin_postgresql()
        elif self.conn.dialect.name == "sqlite":
            raw = self.conn.connection.driver_connection
            if raw.in_transaction:
                return
            raw.execute("PRAGMA foreign_keys=OFF")
            self.sqlite_off = raw.execute("PRAGMA foreign_keys").fetchone()[0] == 0
            self._drop_sqlite_indexes(raw)

    def _drop_sqlite_indexes(self, raw) -> None:
        """Drop the plain indexes of the `rebuild` tables that are still EMPTY: filling an
        empty table and then sorting each index once beats inserting every row into every
        index (about half the time for the demo clinic's scores and vital signs); into a
        table that holds rows, SQLite's incremental inserts stay cheaper."""
        for table in self.rebuild:
            if raw.execute(f"SELECT 1 FROM {self._quote(table)} LIMIT 1").fetchone():
                continue
            for _seq, name, unique, origin, *_ in raw.execute(
                f"PRAGMA index_list({self._quote(table)})"
            ).fetchall():
                if unique or origin != "c":  # keys and constraints stay checked per row
                    continue
                (definition,) = raw.execute(
                    "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?", (name,)
                ).fetchone()
                if not raw.in_transaction:  # DDL would commit at once outside one
                    raw.execute("BEGIN")
                raw.execute(f"DROP INDEX {self._quote(name)}")
                self.indexes.append(definition)

    def _begin_postgresql(self) -> None:
        in_schema = "relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())"
        keys = self._sql(
            "SELECT child.relname, c.conname, pg_get_constraintdef(c.oid), parent.relname "
            "FROM pg_constraint c JOIN pg_class child ON child.oid = c.conrelid "
            "JOIN pg_class parent ON parent.oid = c.confrelid "
            f"WHERE c.contype = 'f' AND child.relname = ANY(%(tables)s) AND child.{in_schema} "
            "ORDER BY child.relname, c.conname",
            {"tables": self.tables},
        ).all()
        indexes = self._sql(
            "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
            f"WHERE t.relname = ANY(%(tables)s) AND t.{in_schema} AND NOT x.indisunique "
            "AND NOT x.indisprimary AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid) "
            "ORDER BY t.relname, i.relname",
            {"tables": self.rebuild},
        ).all()
        locked = sorted(set(self.tables) | {r[3] for r in keys})
        self._sql(f"LOCK TABLE {', '.join(map(self._quote, locked))} IN ACCESS EXCLUSIVE MODE")
        for table, name, definition, _parent in keys:
            self._sql(f"ALTER TABLE {self._quote(table)} DROP CONSTRAINT {self._quote(name)}")
            self.constraints.append((table, name, definition))
        for name, definition in indexes:
            self._sql(f"DROP INDEX {self._quote(name)}")
            self.indexes.append(definition)

    def finish(self) -> None:
        """Indexes built again; every row satisfies its foreign keys (IntegrityError if not)."""
        if self.indexes and self.conn.dialect.name == "postgresql":
            self._sql(f"SET LOCAL maintenance_work_mem = '{INDEX_BUILD_MEMORY}'")
        for definition in self.indexes:
            self._sql(definition)
        self.indexes = []
        for table, name, definition in self.constraints:
            self._sql(
                f"ALTER TABLE {self._quote(table)} ADD CONSTRAINT {self._quote(name)} {definition}"
            )
        self.constraints = []
        if not self.sqlite_off:
            return
        raw = self.conn.connection.driver_connection
        for table in self.tables:
            statement = f"PRAGMA foreign_key_check({self._quote(table)})"
            bad = raw.execute(statement).fetchall()
            if bad:
                parents = ", ".join(sorted({row[2] for row in bad}))
                error = sqlite3.IntegrityError(
                    f"FOREIGN KEY constraint failed: {len(bad)} rows of {table} refer to "
                    f"missing rows of {parents}"
                )
                raise IntegrityError(statement, None, error)

    def release(self) -> None:
        """Switch SQLite's enforcement back on (after the transaction; no-op elsewhere)."""
        if self.sqlite_off:
            self.conn.connection.driver_connection.execute("PRAGMA foreign_keys=ON")
            self.sqlite_off = False


def begin_bulk_load(conn: Connection, tables: Sequence[str], *, rebuild: Sequence[str] = ()):
    """Start a BulkLoad into `tables`, rebuilding the plain indexes of `rebuild` at the end."""
    load = BulkLoad(conn, tables, rebuild)
    load.begin()
    return load
