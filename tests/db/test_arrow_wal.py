"""ADBC reads on SQLite leave the WAL of the process's own connections alone.

ADBC links its own copy of SQLite. Opened read-write, its connection's close() took itself
for the last one and checkpointed and deleted the WAL under the process's sqlite3
connections: a row written after that (an audit row, an import) was invisible to every other
connection ("disk I/O error") and lost. kapviz.db.arrow opens SQLite read-only.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import URL, select, text

from kapviz.auth import audit
from kapviz.auth.models import AuditEvent
from kapviz.db import arrow
from kapviz.db.engine import make_engine
from kapviz.db.migrate import upgrade


def test_sqlite_is_read_only_and_quoted():
    url = URL.create("sqlite", database="/srv/clinic data/kapviz.db")
    assert arrow.adbc_uri(url) == ("sqlite", "file:/srv/clinic%20data/kapviz.db?mode=ro")


def test_rows_written_after_an_adbc_read_reach_other_connections(sqlite_url):
    """Write, read through ADBC, write again with the same (pooled) connection open: a new
    connection sees both rows, and the database is intact."""
    engine = make_engine(sqlite_url)
    upgrade(engine)
    with engine.connect() as held:  # a pooled connection stays open, as in the app
        with engine.begin() as conn:
            audit.record(conn, username="a", action="sign_in")
        with engine.connect() as conn:
            stmt = select(AuditEvent.id, AuditEvent.username)
            frame = arrow.fetch_frame(conn, stmt, ["id", "username"])
        assert frame is not None and frame["username"].tolist() == ["a"]
        with engine.begin() as conn:
            audit.record(conn, username="b", action="export")
        held.execute(text("SELECT 1"))
        fresh = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))
        try:
            assert fresh.execute("SELECT username FROM audit_events ORDER BY id").fetchall() == [
                ("a",),
                ("b",),
            ]
            assert fresh.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        finally:
            fresh.close()


def test_arrow_reads_and_sqlite3_opens_never_overlap(sqlite_url):
    """While the file's lock is held (as during an Arrow read), neither an Arrow read nor a
    new sqlite3 connection of this process proceeds; both finish once it is released. (Two
    copies of SQLite opening and reading one WAL file at once crashed with SIGBUS.)"""
    import threading

    from kapviz.db.engine import sqlite_file_lock

    engine = make_engine(sqlite_url)
    upgrade(engine)
    done: list[str] = []

    def arrow_read() -> None:
        with engine.connect() as conn:
            arrow.fetch_frame(conn, select(AuditEvent.id), ["id"])
        done.append("read")

    def sqlite3_open() -> None:
        fresh = make_engine(sqlite_url)  # its first connection runs the WAL pragma
        with fresh.connect() as conn:
            conn.execute(text("SELECT 1"))
        fresh.dispose()
        done.append("open")

    lock = sqlite_file_lock(sqlite_url.removeprefix("sqlite:///"))
    with engine.connect():  # the pooled connection exists before the lock is taken
        with lock:
            threads = [threading.Thread(target=arrow_read), threading.Thread(target=sqlite3_open)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=0.5)
            assert done == []
        for thread in threads:
            thread.join(timeout=30)
    assert sorted(done) == ["open", "read"]
