"""The read replica's lag on screen: on the freshness line, and a warning on every page when
it trails the primary by more than KAPVIZ_REPLICA_MAX_LAG_SECONDS (never silently stale)."""

from __future__ import annotations

import logging

import streamlit as st
from sqlalchemy import make_url
from sqlalchemy.exc import SQLAlchemyError

from kapviz.db.engine import replica_lag
from kapviz.ui.db import engine_for, read_url, settings

log = logging.getLogger(__name__)

LAG_TTL_SECONDS = 2
"""The lag is asked at most this often per process (as the data version)."""


@st.cache_data(ttl=LAG_TTL_SECONDS, max_entries=4, show_spinner=False)
def _lag(url: str) -> float | None:
    with engine_for(url).connect() as conn:
        return replica_lag(conn)


def lag_seconds() -> float | None:
    """Seconds the pages' data trail the primary; None without a replica (or unreadable:
    the pages' own reads then show the outage)."""
    if read_url() is None:
        return None
    try:
        return _lag(settings().database_url)
    except SQLAlchemyError:
        log.warning("replication lag not read", exc_info=True)
        return None


def replica_name() -> str:
    """The replica as an operator knows it: host, port and database, no password."""
    url = make_url(read_url() or "")
    port = f":{url.port}" if url.port else ""
    return f"{url.host or 'local'}{port}/{url.database or ''}"


def lag_text(lag: float | None) -> str:
    """The freshness line's part about the replica ("" without one)."""
    if lag is None:
        return ""
    return f" · read replica {lag:,.0f} s behind"


def is_behind(lag: float | None) -> bool:
    return lag is not None and lag > settings().replica_max_lag_seconds


def warn_if_behind() -> None:
    """A warning naming the replica when its lag is over the setting."""
    lag = lag_seconds()
    if not is_behind(lag):
        return
    st.warning(
        f"The read replica **{replica_name()}** is **{lag:,.0f} s** behind the primary "
        f"database (limit {settings().replica_max_lag_seconds} s): these pages do not show "
        "the latest changes yet. Ask the operator to check replication.",
        icon=":material/sync_problem:",
    )
