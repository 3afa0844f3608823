"""Engine factory: one place that knows the dialect quirks of SQLite and PostgreSQL."""

from __future__ import annotations

import os
import threading
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


def sqlite_pragmas(cursor) -> None:  # DB-API cursor (sqlite3 or ADBC)
    """Read settings every SQLite connection of kapviz gets."""
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets foreign keys on and WAL so readers never block a writer."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

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
