"""Throwaway PostgreSQL servers and databases for tests and benchmarks.

`postgres_server()` runs a private server from the Debian binaries on a free port of
127.0.0.1 (trust auth, durability off) and removes it afterwards; `create_database()` makes
a fresh empty database on it and `drop_database()` removes one.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

log = logging.getLogger(__name__)

BIN_GLOB = "/usr/lib/postgresql/*/bin"
INSTALL_HINT = (
    "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin; "
    "install them with `apt-get install postgresql` (Debian/Ubuntu)"
)
# Durability is pointless for a database that lives for one test session.
SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "full_page_writes": "off",
    "synchronous_commit": "off",
    "max_connections": "200",
}
INITDB_OPTIONS = ("-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync")


# Cleans up after a test process that died without running its finalizers (SIGTERM from a
# `timeout`, SIGKILL, a crashed xdist worker): it blocks on a pipe from that process, and EOF
# means the process is gone. After a normal stop both steps are no-ops.
WATCHDOG = """
import shutil, subprocess, sys
sys.stdin.buffer.read()
*stop, root = sys.argv[1:]
subprocess.run(stop, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
shutil.rmtree(root, ignore_errors=True)
"""


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries are not installed on this machine."""


def find_bindir() -> Path | None:
    """Directory holding initdb, pg_ctl and postgres; the newest installed major version."""
    found = [Path(d) for d in glob.glob(BIN_GLOB) if (Path(d) / "postgres").exists()]
    found = [d for d in found if (d / "initdb").exists() and (d / "pg_ctl").exists()]
    if not found:
        return None
    return max(found, key=lambda d: int(re.sub(r"\D", "", d.parent.name) or 0))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(cmd: list[str], *, as_postgres: bool, cwd: Path, timeout: float) -> None:
    # initdb and postgres refuse to run as root: run them as the `postgres` system user.
    prefix = ["runuser", "-u", "postgres", "--"] if as_postgres else []
    result = subprocess.run(
        prefix + cmd,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd[:2])} failed with exit status {result.returncode}:\n"
            f"{result.stdout}\n{result.stderr}"
        )


@contextmanager
def postgres_server(*, start_attempts: int = 3) -> Iterator[str]:
    """Run a private PostgreSQL server; yield its URL (database `postgres`, user `postgres`)."""
    bindir = find_bindir()
    if bindir is None:
        raise PostgresUnavailable(INSTALL_HINT)
    as_root = os.geteuid() == 0
    root = Path(tempfile.mkdtemp(prefix="kapviz-pg-"))
    data, logfile = root / "data", root / "server.log"

    def pg(tool: str, *args: str, timeout: float = 90) -> None:
        _run([str(bindir / tool), *args], as_postgres=as_root, cwd=root, timeout=timeout)

    stop = [str(bindir / "pg_ctl"), "stop", "-D", str(data), "-m", "immediate", "-w"]
    if as_root:
        stop = ["runuser", "-u", "postgres", "--", *stop]
    # Own session: a Ctrl-C in the terminal must not kill the watchdog before pytest cleans up.
    watchdog = subprocess.Popen(
        [sys.executable, "-c", WATCHDOG, *stop, str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=root,
        start_new_session=True,
    )
    try:
        if as_root:
            shutil.chown(root, user="postgres", group="postgres")
        t0 = time.perf_counter()
        pg("initdb", "-D", str(data), *INITDB_OPTIONS)
        with (data / "postgresql.conf").open("a") as conf:
            conf.write("\n# kapviz test server\n")
            conf.writelines(f"{key} = {value}\n" for key, value in SERVER_SETTINGS.items())
            # The socket lives in the temp dir, away from the system server's /run/postgresql.
            conf.write(f"unix_socket_directories = '{root}'\n")
        for attempt in range(1, start_attempts + 1):
            port = free_port()
            try:
                # -w waits until the server accepts connections.
                pg("pg_ctl", "start", "-D", str(data), "-l", str(logfile), "-w", "-t", "60",
                   "-o", f"-p {port}")  # fmt: skip
                break
            except RuntimeError:
                # Another process may have taken the port between free_port() and bind.
                if attempt == start_attempts:
                    tail = logfile.read_text(errors="replace")[-3000:] if logfile.exists() else ""
                    raise RuntimeError(f"PostgreSQL did not start; server log:\n{tail}") from None
        url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        _wait_until_ready(url)
        _RUNNING[url] = (pg, data, logfile, port)
        log.info("PostgreSQL on port %d ready in %.2f s", port, time.perf_counter() - t0)
        yield url
    finally:
        for key in [k for k, v in _RUNNING.items() if v[1] == data]:
            del _RUNNING[key]
        if (data / "postmaster.pid").exists():
            try:
                pg("pg_ctl", "stop", "-D", str(data), "-m", "immediate", "-w")
            except (RuntimeError, subprocess.TimeoutExpired):
                log.exception("could not stop the test PostgreSQL server in %s", data)
        shutil.rmtree(root, ignore_errors=True)
        watchdog.stdin.close()  # EOF: the watchdog finds nothing left to do and exits
        watchdog.wait(timeout=30)


_RUNNING: dict[str, tuple] = {}
"""Servers of `postgres_server` now running, by URL: what `stop_server`/`start_server` need."""


def stop_server(server_url: str) -> None:
    """Stop a server of `postgres_server` (an outage: its port refuses connections)."""
    pg, data, _, _ = _RUNNING[server_url]
    pg("pg_ctl", "stop", "-D", str(data), "-m", "immediate", "-w")


def start_server(server_url: str) -> None:
    """Start a server stopped by `stop_server` again, on the same port with the same data."""
    pg, data, logfile, port = _RUNNING[server_url]
    pg("pg_ctl", "start", "-D", str(data), "-l", str(logfile), "-w", "-t", "60",
       "-o", f"-p {port}")  # fmt: skip
    _wait_until_ready(server_url)


def _wait_until_ready(url: str, *, timeout: float = 30) -> None:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                with engine.connect() as conn:
                    conn.execute(sa.text("SELECT 1"))
                return
            except sa.exc.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    finally:
        engine.dispose()


def _admin_execute(server_url: str, statement: str) -> None:
    # CREATE/DROP DATABASE cannot run inside a transaction block.
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(statement))
    finally:
        engine.dispose()


def create_database(server_url: str) -> str:
    """Create an empty database `t_<uuid hex>` on the server; return its URL."""
    name = f"t_{uuid.uuid4().hex}"
    _admin_execute(server_url, f'CREATE DATABASE "{name}"')
    return sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, database_url: str) -> None:
    """Drop the database named by `database_url`, closing any connections still open to it."""
    name = sa.make_url(database_url).database
    if not name or not re.fullmatch(r"t_[0-9a-f]{32}", name):
        raise ValueError(f"refusing to drop {name!r}: not a database made by create_database()")
    _admin_execute(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def postgres_replica(primary_url: str) -> Iterator[str]:
    """A streaming replica of a running `postgres_server`: `pg_basebackup -R` of the primary
    into a second data directory, started on another free port; yields its URL (database
    `postgres`). The primary needs nothing more: initdb's defaults are wal_level=replica,
    ten WAL senders and trusted replication connections from 127.0.0.1."""
    bindir = find_bindir()
    if bindir is None:
        raise PostgresUnavailable(INSTALL_HINT)
    as_root = os.geteuid() == 0
    primary = sa.make_url(primary_url)
    root = Path(tempfile.mkdtemp(prefix="kapviz-pg-replica-"))
    data, logfile = root / "data", root / "server.log"

    def pg(tool: str, *args: str, timeout: float = 120) -> None:
        _run([str(bindir / tool), *args], as_postgres=as_root, cwd=root, timeout=timeout)

    try:
        if as_root:
            shutil.chown(root, user="postgres", group="postgres")
        pg("pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
           "-D", str(data), "-R", "-X", "stream", "-c", "fast", "--no-sync")  # fmt: skip
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(f"\n# kapviz test replica\nunix_socket_directories = '{root}'\n")
            conf.write("hot_standby = on\nhot_standby_feedback = on\n")
        port = free_port()
        pg("pg_ctl", "start", "-D", str(data), "-l", str(logfile), "-w", "-t", "60",
           "-o", f"-p {port}")  # fmt: skip
        url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        _wait_until_ready(url)
        _RUNNING[url] = (pg, data, logfile, port)
        yield url
    finally:
        for key in [k for k, v in _RUNNING.items() if v[1] == data]:
            del _RUNNING[key]
        if (data / "postmaster.pid").exists():
            try:
                pg("pg_ctl", "stop", "-D", str(data), "-m", "immediate", "-w")
            except (RuntimeError, subprocess.TimeoutExpired):
                log.exception("could not stop the test PostgreSQL replica in %s", data)
        shutil.rmtree(root, ignore_errors=True)


def on_replica(replica_server_url: str, database_url: str) -> str:
    """`database_url` (a database of the primary) as read on the replica."""
    port = sa.make_url(replica_server_url).port
    return sa.make_url(database_url).set(port=port).render_as_string(hide_password=False)


def replica_execute(replica_server_url: str, statement: str) -> object:
    """Run one statement on the replica (e.g. `SELECT pg_wal_replay_pause()`); its value."""
    engine = sa.create_engine(
        replica_server_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool
    )
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(statement)).scalar()
    finally:
        engine.dispose()


def wait_for_replay(primary_url: str, replica_url: str, *, timeout: float = 30) -> None:
    """Block until the replica has replayed everything the primary has written so far."""
    target = replica_execute(primary_url, "SELECT pg_current_wal_lsn()::text")
    deadline = time.monotonic() + timeout
    while True:
        done = replica_execute(
            replica_url, f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"
        )
        if done:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the replica did not replay up to {target} in {timeout} s")
        time.sleep(0.05)
