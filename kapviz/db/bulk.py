"""Bulk writes: COPY on PostgreSQL, executemany on SQLite — never row-by-row ORM adds."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Table, insert

CHUNK = 50_000


def bulk_insert(conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple]) -> int:
    """Insert `rows` (tuples in `columns` order) into `table` inside the caller's transaction."""
    if not rows:
        return 0
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        names = ", ".join(f'"{c}"' for c in columns)
        with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)
        return len(rows)
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        conn.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in chunk])
    return len(rows)
