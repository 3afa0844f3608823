"""Arrow (ADBC) reads of a SQLite file beside the same process's sqlite3 writes to it.

ADBC links its own copy of SQLite, blind to the locks of this process's sqlite3
connections. Two failures followed, measured in a serving process: after the engine's pool
closed (the rollup build disposes it), Arrow reads never saw a later write; and a commit's
checkpoint in one thread tore an Arrow read in another (more rows than the table held).
kapviz.db.engine keeps one sqlite3 connection open beside the Arrow one and passes every
sqlite3 statement and Arrow read through the file's WriteGate.
"""

from __future__ import annotations

import threading
from datetime import datetime

from sqlalchemy import func, insert, select

from kapviz.auth.models import AuditEvent
from kapviz.db import arrow, queries
from kapviz.db.engine import make_engine, sqlite_write_gate
from kapviz.db.migrate import upgrade

AT = datetime(2026, 3, 1, 9, 30)
COLUMNS = ["id", "username"]
STMT = select(AuditEvent.id, AuditEvent.username).order_by(AuditEvent.id)


def _write(engine, *names: str) -> None:
    with engine.begin() as conn:
        rows = [{"username": n, "action": "sign_in", "at": AT} for n in names]
        conn.execute(insert(AuditEvent), rows)


def _arrow_names(engine) -> list[str] | None:
    with engine.connect() as conn:
        frame = arrow.fetch_frame(conn, STMT, COLUMNS)
    return None if frame is None else frame["username"].tolist()


def _ready(sqlite_url: str):
    engine = make_engine(sqlite_url)
    upgrade(engine)
    return engine


def test_arrow_reads_see_writes_made_after_the_pool_closed(sqlite_url):
    """Dispose the pool after an Arrow read (as `rollups.rebuild` does), write again: the
    next Arrow read sees every row (it saw only the first before)."""
    engine = _ready(sqlite_url)
    _write(engine, "a")
    assert _arrow_names(engine) == ["a"]
    engine.dispose()
    _write(engine, "b", "c")
    engine.dispose()
    _write(engine, "d")
    assert _arrow_names(engine) == ["a", "b", "c", "d"]


def test_an_open_write_sends_other_threads_reads_through_sqlite3(sqlite_url):
    """While another thread's write transaction is open, an Arrow read is declined and
    `read_frame` answers through sqlite3 with the committed rows, without waiting; once it
    commits, Arrow reads again and sees the new rows."""
    engine = _ready(sqlite_url)
    _write(engine, "a")
    opened, finish = threading.Event(), threading.Event()

    def writer() -> None:
        with engine.begin() as conn:
            conn.execute(insert(AuditEvent), [{"username": "b", "action": "export", "at": AT}])
            opened.set()
            finish.wait(30)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert opened.wait(30)
        assert _arrow_names(engine) is None
        with engine.connect() as conn:
            assert queries.read_frame(conn, STMT, COLUMNS)["username"].tolist() == ["a"]
    finally:
        finish.set()
        thread.join(30)
    assert _arrow_names(engine) == ["a", "b"]


def test_a_write_waits_for_an_arrow_read_in_flight(sqlite_url):
    """A commit in another thread waits until the Arrow read in flight has ended (its
    checkpoint would copy pages under the read), then goes through."""
    engine = _ready(sqlite_url)
    _write(engine, "a")
    gate = sqlite_write_gate(sqlite_url.removeprefix("sqlite:///"))
    assert gate.try_read()  # an Arrow read in flight
    thread = threading.Thread(target=_write, args=(engine, "b"))
    try:
        thread.start()
        thread.join(0.5)
        assert thread.is_alive()
    finally:
        gate.end_read()
    thread.join(30)
    assert not thread.is_alive()
    assert _arrow_names(engine) == ["a", "b"]


def test_the_writing_thread_reads_through_arrow_in_its_own_transaction(sqlite_url):
    """The import reads stored rows through Arrow inside its write transaction: the gate
    lets its own thread through (no deadlock), and the read sees the committed rows."""
    engine = _ready(sqlite_url)
    _write(engine, "a")
    with engine.begin() as conn:
        conn.execute(insert(AuditEvent), [{"username": "b", "action": "export", "at": AT}])
        frame = arrow.fetch_frame(conn, STMT, COLUMNS)
        assert frame is not None and frame["username"].tolist() == ["a"]
    assert _arrow_names(engine) == ["a", "b"]


def test_a_write_is_released_when_its_transaction_rolls_back(sqlite_url):
    """A failed write's rollback ends its hold: Arrow reads resume."""
    engine = _ready(sqlite_url)
    _write(engine, "a")
    try:
        with engine.begin() as conn:
            conn.execute(insert(AuditEvent), [{"username": "b", "action": "export", "at": AT}])
            raise RuntimeError("the import stops")
    except RuntimeError:
        pass
    seen: list = []
    thread = threading.Thread(target=lambda: seen.append(_arrow_names(engine)))
    thread.start()
    thread.join(30)
    assert seen == [["a"]]


def test_arrow_reads_follow_writes_after_a_rollup_rebuild(sqlite_url):
    """The trigger seen in the app: a server that has read through Arrow rebuilds the rollups
    (an import on the Data page), then a session is written; Arrow reads it."""
    from kapviz.db import rollups
    from kapviz.db.models import Session
    from tests.clinic import build_clinic

    engine = make_engine(sqlite_url)
    build_clinic(engine)
    stmt = select(Session.session_id).order_by(Session.session_id)
    with engine.connect() as conn:
        before = arrow.fetch_frame(conn, stmt, ["session_id"])["session_id"].tolist()
    assert rollups.rebuild(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(Session),
            [{"session_id": "ZZ-NEW", "patient_id": "P1", "course_id": "P1-C1",
              "started_at": AT, "phase": "follow_up", "status": "completed"}],
        )  # fmt: skip
    with engine.connect() as conn:
        after = arrow.fetch_frame(conn, stmt, ["session_id"])["session_id"].tolist()
    assert after == [*before, "ZZ-NEW"]


def test_arrow_reads_and_sqlite3_reads_take_turns(sqlite_url):
    """An Arrow reader moves the read marks that a sqlite3 reader of the same process relies
    on (a sqlite3 read then failed as "malformed"): while a sqlite3 read is open an Arrow read
    is declined, and a sqlite3 read waits for the Arrow read in flight."""
    engine = _ready(sqlite_url)
    _write(engine, "a", "b")
    with engine.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()
        cursor.execute("SELECT username FROM audit_events")
        assert cursor.fetchone() == ("a",)  # the read is open
        seen: list = []
        thread = threading.Thread(target=lambda: seen.append(_arrow_names(engine)))
        thread.start()
        thread.join(30)
        assert seen == [None]
        cursor.close()
    assert _arrow_names(engine) == ["a", "b"]
    gate = sqlite_write_gate(sqlite_url.removeprefix("sqlite:///"))
    assert gate.try_read()  # an Arrow read in flight
    counted: list[int] = []

    def count() -> None:
        with engine.connect() as conn:
            counted.append(conn.execute(select(func.count()).select_from(AuditEvent)).scalar())

    thread = threading.Thread(target=count)
    try:
        thread.start()
        thread.join(0.5)
        assert counted == []
    finally:
        gate.end_read()
    thread.join(30)
    assert counted == [2]
