"""A database that stops answering: one friendly state on every page, stale values, recovery.

Why: when PostgreSQL went away the live tiles became a raw traceback (host, port, file paths)
while the charts below stayed on screen unmarked, and no page recovered by itself. Now:
- `data.version()` asks `current_version`, which remembers the last data version the database
  answered with (per URL, for the whole process). While the database is unreachable it hands
  out that version, so every cached loader keyed on it returns the last good values instead
  of querying; the page shows them under one banner, "The database is not reachable; showing
  data as of HH:MM; retrying", HH:MM being when the database last answered.
- A query that is not cached fails; `guard()` (around `page.setup` and the page run in app.py)
  turns that failure, and a database that has never answered since start-up, into the same
  banner instead of an exception, and stops the run. Details go to the server log only.
- A signed-in session re-reads its account on every run (kapviz.ui.session.find_account);
  while the database does not answer it keeps the account it holds (`account_or_held`), for
  local accounts and identity-provider sign-ins alike, so the page under the banner still
  shows the values it read before.
- With the banner shows a small fragment that asks the database again every refresh interval
  and reruns the whole page once it answers; live fragments call `follow()` so a page that is
  already open switches into and out of the stale state by itself.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy.exc
import streamlit as st
from sqlalchemy import make_url, text

from kapviz.auth import accounts
from kapviz.auth.scope import Viewer
from kapviz.ui import session
from kapviz.ui.db import database_url, engine_for

log = logging.getLogger(__name__)

RETRY_SECONDS = 2.0
"""While the database is down, at most one new connection attempt per URL in this interval
from the loaders (a page calls `data.version()` for every loader)."""

SLOT_KEY = "_outage_slot"
SHOWN_KEY = "_outage_shown"


class DatabaseUnreachable(RuntimeError):
    """The database does not answer and no earlier data version is known (e.g. at start-up)."""


@dataclass
class Health:
    """What this process knows of one database: its last answer and its current outage."""

    version: tuple | None = None
    answered_at: datetime | None = None
    down_since: datetime | None = None
    last_try: float = 0.0


_HEALTH: dict[str, Health] = {}
_GUARD = threading.Lock()


def _health(url: str) -> Health:
    with _GUARD:
        return _HEALTH.setdefault(url, Health())


def _error_classes() -> tuple[type[BaseException], ...]:
    classes: list[type[BaseException]] = [
        sqlalchemy.exc.OperationalError,
        sqlalchemy.exc.InterfaceError,
        sqlalchemy.exc.DisconnectionError,
        sqlalchemy.exc.TimeoutError,
        DatabaseUnreachable,
        ConnectionError,
    ]
    with contextlib.suppress(ImportError):
        import psycopg  # optional driver

        classes += [psycopg.OperationalError, psycopg.InterfaceError]
    with contextlib.suppress(ImportError):
        import adbc_driver_manager  # the Arrow reads (kapviz.db.arrow)

        classes += [adbc_driver_manager.OperationalError, adbc_driver_manager.InterfaceError]
    return tuple(classes)


UNREACHABLE_ERRORS = _error_classes()


def is_unreachable(exc: BaseException) -> bool:
    """True for errors that mean "the database did not answer" (not a bug in a query)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sqlite3.OperationalError):
            # SQLite reports query bugs ("no such table") as OperationalError too.
            return any(s in str(current).lower() for s in SQLITE_UNREACHABLE)
        if isinstance(current, UNREACHABLE_ERRORS) and not _is_sqlite_bug(current):
            return True
        if isinstance(current, sqlalchemy.exc.DBAPIError) and current.connection_invalidated:
            return True
        current = current.__cause__ or current.__context__
    return False


SQLITE_UNREACHABLE = ("unable to open", "database is locked", "disk i/o", "readonly")
"""SQLite OperationalError messages that mean the file cannot be read now (not a bug)."""


def _is_sqlite_bug(exc: BaseException) -> bool:
    """A SQLAlchemy error wrapping a SQLite error that is not about reaching the file."""
    orig = getattr(exc, "orig", None)
    return isinstance(orig, sqlite3.OperationalError) and not any(
        s in str(orig).lower() for s in SQLITE_UNREACHABLE
    )


def _where(url: str) -> str:
    """The URL for the server log, without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:
        return "(unparsable URL)"


def mark_down(url: str, exc: BaseException) -> None:
    """Remember an outage; the first failure is logged with its details (never on screen)."""
    h = _health(url)
    h.last_try = time.monotonic()
    if h.down_since is None:
        h.down_since = datetime.now()
        log.warning("database %s not reachable: %s", _where(url), exc, exc_info=exc)
    else:
        log.debug("database %s still not reachable: %s", _where(url), exc)


def mark_up(url: str, version: tuple | None = None) -> None:
    """The database answered (with `version`, when it was asked for it)."""
    h = _health(url)
    if h.down_since is not None:
        log.warning("database %s reachable again", _where(url))
    h.down_since = None
    h.answered_at = datetime.now()
    if version is not None:
        h.version = version


def is_down(url: str | None = None) -> bool:
    return _health(url or database_url()).down_since is not None


def answered_at(url: str | None = None) -> datetime | None:
    """When the database last answered this process (None: never since start-up)."""
    return _health(url or database_url()).answered_at


def current_version(url: str, fetch: Callable[[], tuple]) -> tuple:
    """`fetch()` — the data version — or, while the database does not answer, the last version
    it answered with (the cached frames of that version are the last good values).

    Raises DatabaseUnreachable when the database has not answered since the process started.
    """
    h = _health(url)
    if h.down_since is not None and time.monotonic() - h.last_try < RETRY_SECONDS:
        if h.version is None:
            raise DatabaseUnreachable("the database has not answered since start-up")
        return h.version
    try:
        version = fetch()
    except Exception as exc:
        if not is_unreachable(exc):
            raise
        mark_down(url, exc)
        if h.version is None:
            raise DatabaseUnreachable("the database has not answered since start-up") from exc
        return h.version
    mark_up(url, version)
    return version


def account_or_held(username: str) -> accounts.Account | None:
    """The account as the database has it now (None once removed); while the database does not
    answer, the one this session already holds (it sees only the cached figures it saw before
    the outage). Any other error, or a session holding someone else, is raised."""
    try:
        return session.find_account(username)
    except Exception as exc:
        held = st.session_state.get(session.VIEWER_KEY)
        if not is_unreachable(exc) or not isinstance(held, Viewer) or held.username != username:
            raise
        mark_down(database_url(), exc)
        return accounts.Account(
            username=held.username,
            display_name=st.session_state.get(session.NAME_KEY),
            role=held.role,
            sites=held.sites,
            clinician=held.clinician,
            failed_attempts=0,
            locked_until=None,
            created_at=None,
            updated_at=None,
        )


def probe(url: str) -> bool:
    """Ask the database for one row; True when it answers (and the outage is over)."""
    try:
        with engine_for(url).connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        if not is_unreachable(exc):
            raise
        mark_down(url, exc)
        return False
    mark_up(url)
    return True


def message(url: str) -> str:
    """The one sentence every page shows during an outage (no host, port or error text)."""
    h = _health(url)
    seconds = _retry_seconds()
    if h.answered_at is None:
        return (
            "The database is not reachable; no data to show yet; retrying every "
            f"{seconds} s. This page fills in by itself once the database answers."
        )
    return (
        f"The database is not reachable; showing data as of {h.answered_at:%H:%M}; "
        f"retrying every {seconds} s. The figures below may be out of date."
    )


def _retry_seconds() -> int:
    from kapviz.ui import live  # live imports auth, which imports this module

    return live.refresh_seconds()


def begin_page() -> None:
    """Keep a place at the top of the page for the outage banner (filled by `show`)."""
    st.session_state[SLOT_KEY] = st.empty()
    st.session_state[SHOWN_KEY] = False


def show(url: str | None = None) -> None:
    """The banner, at the top of the page when there is a place for it, and the retry timer."""
    url = url or database_url()
    slot = st.session_state.get(SLOT_KEY)
    box = slot.container() if slot is not None else st.container()
    with box:
        st.warning(message(url), icon=":material/cloud_off:")
        st.fragment(run_every=_retry_seconds())(_retry)(url)
    st.session_state[SHOWN_KEY] = True


def _retry(url: str) -> None:
    """Timer of the banner: once the database answers, the whole page runs again."""
    if probe(url):
        st.rerun(scope="app")


def mark_page() -> None:
    """At the end of the page's set-up: the banner when the data shown are the last good ones."""
    if is_down():
        show()


def follow(version: Callable[[], tuple]) -> None:
    """In a live fragment: rerun the whole page when the database went away or came back
    since the page was drawn (so the banner and the values below agree)."""
    with contextlib.suppress(DatabaseUnreachable):
        version()
    if is_down() != bool(st.session_state.get(SHOWN_KEY)):
        st.rerun(scope="app")


def stop_unreachable(exc: BaseException) -> None:
    """Show the outage state instead of `exc` (logged) and end this run."""
    url = database_url()
    mark_down(url, exc)
    show(url)
    st.stop()


@contextlib.contextmanager
def guard() -> Iterator[None]:
    """Turn "the database did not answer" inside the block into the outage state."""
    try:
        yield
    except Exception as exc:
        if not is_unreachable(exc):
            raise
        stop_unreachable(exc)
