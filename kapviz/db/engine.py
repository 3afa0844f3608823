"""Engine factory: one place that knows the dialect quirks of SQLite and PostgreSQL."""

from __future__ import annotations

import atexit
import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

SQLITE_CACHE_KIB = 32_768
"""Page cache of a SQLite connection (KiB). SQLite's default, 2 MiB, is smaller than the
pages one grouped read of a large clinic touches, so pages were evicted and read again by
system calls. Unlike memory-mapping the file, which gave the same speed, the cache grows only
with the pages a connection really reads (mapped pages all count in the process's resident
size)."""


_FILE_LOCKS: dict[str, threading.RLock] = {}
_FILE_LOCKS_GUARD = threading.Lock()


def sqlite_file_lock(database: str) -> threading.RLock:
    """The process-wide lock of one SQLite file, held while a sqlite3 connection of this
    process opens it and during every Arrow (ADBC) read of it.

    Why: the ADBC driver links its own copy of SQLite. Two copies in one process do not see
    each other's connections, and POSIX file locks belong to the process, so a copy opening
    the file takes itself for the only user and re-initialises the shared WAL index that the
    other copy has memory-mapped; a read by the other copy at that moment died with SIGBUS
    (seen when Safety reads ran in threads on SQLite). Opening and reading never overlap
    under this lock; reads through sqlite3 itself are not serialised.
    """
    key = os.path.realpath(database)
    with _FILE_LOCKS_GUARD:
        return _FILE_LOCKS.setdefault(key, threading.RLock())


class WriteGate:
    """Arrow (ADBC) reads of one SQLite file against this process's sqlite3 writes to it.

    Why: the two copies of SQLite in one process cannot see each other's locks. A sqlite3
    commit's checkpoint (or a WAL restart) took an Arrow read in flight for no reader at all
    and copied pages into the file under it: the read came back torn (more rows than the
    table held) while an import wrote in another thread. So a write (from a statement that
    may write to the end of its transaction, checkpoint included) waits until the Arrow reads
    in flight end, and an Arrow read does not start while a write is open or waiting: it
    reads through sqlite3 instead (`try_read` False), so pages keep being served during a
    long import. An Arrow reader also moves the read marks of the WAL index that a sqlite3
    reader of this process relies on (a sqlite3 read failed as "database disk image is
    malformed"), so a sqlite3 read waits for the Arrow reads in flight and, while it is
    open (to its cursor's close), an Arrow read is declined too. Reentrant for the writing thread,
    whose own Arrow reads proceed; a write's hold may be ended from another thread (a pooled
    connection reset by the garbage collector).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer: int | None = None
        self._depth = 0
        self._waiting = 0
        self._selects = 0

    def try_read(self) -> bool:
        """Start an Arrow read unless another thread writes or waits to write, or a sqlite3
        read is open (an Arrow reader may move the read marks a sqlite3 reader relies on)."""
        me = threading.get_ident()
        with self._cond:
            if self._selects or (
                self._writer != me and (self._writer is not None or self._waiting)
            ):
                return False
            self._readers += 1
            return True

    def select(self) -> None:
        """Start a sqlite3 read: after the Arrow reads in flight."""
        with self._cond:
            self._cond.wait_for(lambda: self._readers == 0)
            self._selects += 1

    def end_select(self) -> None:
        with self._cond:
            self._selects -= 1
            self._cond.notify_all()

    def end_read(self) -> None:
        with self._cond:
            self._readers -= 1
            self._cond.notify_all()

    def write(self, timeout: float) -> bool:
        """Start (or, in the writing thread, deepen) a write: True once the Arrow reads in
        flight and another thread's write have ended; False after `timeout` seconds (the
        statement then goes on ungated and SQLite's busy timeout applies, as without it)."""
        me = threading.get_ident()
        with self._cond:
            if self._writer == me:
                self._depth += 1
                return True
            self._waiting += 1
            try:
                free = self._cond.wait_for(
                    lambda: self._writer is None and self._readers == 0, timeout
                )
            finally:
                self._waiting -= 1
            if not free:
                return False
            self._writer, self._depth = me, 1
            return True

    def end_write(self) -> None:
        with self._cond:
            self._depth -= 1
            if self._depth == 0:
                self._writer = None
                self._cond.notify_all()


GATE_TIMEOUT = 30.0
"""Seconds a sqlite3 write waits at the WriteGate (the engines' busy timeout)."""

_GATES: dict[str, WriteGate] = {}
_ANCHORS: dict[str, sqlite3.Connection] = {}


def sqlite_write_gate(database: str) -> WriteGate:
    """The process-wide WriteGate of one SQLite file."""
    key = os.path.realpath(database)
    with _FILE_LOCKS_GUARD:
        return _GATES.setdefault(key, WriteGate())


def keep_sqlite_open(database: str) -> None:
    """Keep one sqlite3 connection to `database` open (and its shared lock held) until the
    process ends; called, with `sqlite_file_lock` held, before the first Arrow read.

    Why: when the last sqlite3 connection of the process closed (`Engine.dispose`, as the
    rollup build does), SQLite took itself for the file's last user and checkpointed and
    deleted the WAL and its index under the Arrow connection, which from then on read the
    file as it was and never saw a later write (pages kept the data from before an import).
    """
    key = os.path.realpath(database)
    with _FILE_LOCKS_GUARD:
        if key in _ANCHORS:
            return
        anchor = sqlite3.connect(key, check_same_thread=False)
        anchor.execute("SELECT count(*) FROM sqlite_master").fetchall()  # takes the lock
        _ANCHORS[key] = anchor


@atexit.register
def _close_anchors() -> None:
    """Registered before kapviz.db.arrow's exit hook, so it runs after the Arrow connections
    are closed: the last sqlite3 connection then checkpoints the WAL as usual."""
    with _FILE_LOCKS_GUARD:
        for anchor in _ANCHORS.values():
            anchor.close()
        _ANCHORS.clear()


class _GatedCursor(sqlite3.Cursor):
    """A cursor whose statements pass the file's WriteGate: a read (SELECT) from its
    execution until the cursor closes or runs another statement."""

    _selecting = False

    def execute(self, sql, parameters=(), /):  # DB-API signature
        self._end_select()
        if self.connection.gated and _is_select(sql):
            self.connection._gate.select()
            self._selecting = True
            return super().execute(sql, parameters)
        with self.connection.statement(sql):
            return super().execute(sql, parameters)

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._end_select()

    def __del__(self) -> None:
        self._end_select()

    def _end_select(self) -> None:
        if self._selecting:
            self._selecting = False
            self.connection._gate.end_select()

    def executemany(self, sql, seq_of_parameters, /):  # DB-API signature
        self._end_select()
        with self.connection.statement(sql):
            return super().executemany(sql, seq_of_parameters)


class GatedConnection(sqlite3.Connection):
    """The sqlite3 connection of kapviz's engines: a statement that may write passes the
    file's WriteGate, held while the transaction it opened lasts (to its commit or rollback,
    the commit's checkpoint included)."""

    def __init__(self, database, *args, **kwargs):  # sqlite3.connect's arguments
        super().__init__(database, *args, **kwargs)
        self._gate = sqlite_write_gate(os.fsdecode(database))
        self._held = 0  # writes of the open transaction, ended at commit or rollback
        self.gated = False  # set once the connect event's settings are in

    def cursor(self, factory=_GatedCursor):  # sqlite3 signature
        return super().cursor(factory)

    def execute(self, sql, parameters=(), /):  # sqlite3's shortcut skips cursor()
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql, seq_of_parameters, /):
        return self.cursor().executemany(sql, seq_of_parameters)

    @contextlib.contextmanager
    def statement(self, sql: str) -> Iterator[None]:
        if not self.gated or _is_select(sql) or not self._gate.write(GATE_TIMEOUT):
            yield
            return
        try:
            yield
        finally:
            if self.in_transaction:
                self._held += 1
            else:
                self._gate.end_write()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._end_writes()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._end_writes()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._end_writes()

    def _end_writes(self) -> None:
        while self._held:
            self._held -= 1
            self._gate.end_write()


def _is_select(sql: str) -> bool:
    """Whether a statement is a plain read: its first keyword is SELECT."""
    return sql.lstrip()[:6].upper() == "SELECT"


def sqlite_pragmas(cursor) -> None:  # DB-API cursor (sqlite3 or ADBC)
    """Read settings every SQLite connection of kapviz gets."""
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets foreign keys on and WAL so readers never block a writer."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": GATE_TIMEOUT, "factory": GatedConnection}
        )

        file_lock = sqlite_file_lock(parsed.database or ":memory:")

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # DB-API connection
            # The first statement maps the WAL index: never beside an Arrow read of the file.
            with file_lock:
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA foreign_keys=ON")
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                sqlite_pragmas(cur)
                cur.close()
            dbapi_conn.gated = True

        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(with_analytics_settings(parsed), pool_pre_ping=True)
    return create_engine(url, pool_pre_ping=True)


ANALYTICS_SETTINGS = {"jit": "off", "work_mem": "64MB"}
"""PostgreSQL settings of the dashboard's sessions, unless the URL's `options` set them.

jit off: the dashboard's queries run for tenths of a second over tens of thousands of rows,
where the planner's cost estimate still triggers JIT: compiling took longer than it saved
(the PHQ-9 outcome seeks and the cohort band's grouped join).

work_mem 64MB: the default 4MB makes the grouped reads of a 20,000-patient clinic sort on
disk (the cohort band's placed scores, blood-pressure value counts, the doses' order). It
is per sort or hash of one session, and the dashboard holds a handful of sessions.
"""


def with_analytics_settings(url: URL) -> URL:
    """`url` with ANALYTICS_SETTINGS added to its `options` (an operator's own kept)."""
    options = url.query.get("options", "")
    if isinstance(options, tuple):
        options = " ".join(options)
    given = options.replace(" ", "")
    added = [f"-c {name}={value}" for name, value in ANALYTICS_SETTINGS.items()]
    added = [
        a for a, name in zip(added, ANALYTICS_SETTINGS, strict=True) if f"{name}=" not in given
    ]
    if not added:
        return url
    return url.update_query_dict({"options": " ".join([options, *added]).strip()})


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def refresh_statistics(engine: Engine) -> None:
    """Update the query planner's statistics after a large write (demo clinic, import).

    Freshly bulk-loaded PostgreSQL tables have no statistics and an empty visibility map,
    so the planner guesses and index-only scans read the heap anyway until autovacuum
    catches up; VACUUM (ANALYZE) settles both at once. SQLite gets ANALYZE, whose
    sqlite_stat1 table lets it choose between the covering indexes the pages rely on.
    """
    if is_sqlite(engine):
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        return
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE)")


REPLICA_LAG_SQL = """
SELECT pg_is_in_recovery() AS replica,
       pg_last_wal_receive_lsn() IS NOT NULL
         AND pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() AS caught_up,
       EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming') AS streaming,
       EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) AS since_replay
"""


def replica_lag(conn) -> float | None:  # sqlalchemy Connection
    """Seconds the replica behind `conn` trails its primary; None when `conn` is no replica.

    `now() - pg_last_xact_replay_timestamp()` alone grows on an idle primary (nothing to
    replay, yet the last replayed commit gets older): a replica that streams and has replayed
    all the WAL it received is 0 s behind. A replica that does not stream (primary gone,
    network down) gets the age of its last replayed commit, the honest upper figure.
    """
    if conn.dialect.name != "postgresql":
        return None
    row = conn.exec_driver_sql(REPLICA_LAG_SQL).one()
    if not row.replica:
        return None
    if row.streaming and row.caught_up:
        return 0.0
    return max(0.0, float(row.since_replay)) if row.since_replay is not None else None
