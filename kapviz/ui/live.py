"""Live pages: refresh interval, kiosk mode and the freshness line."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from kapviz import clinic_time
from kapviz.ui import auth, outage, replica
from kapviz.ui.db import settings
from kapviz.url_flags import is_on


def now() -> datetime:
    """The clinic's clock for this session (tests pin it with session_state["clock"])."""
    return st.session_state.get("clock") or clinic_time.now()


def is_kiosk() -> bool:
    """`?kiosk=1` (or true/yes/on): a wall screen (kapviz.ui.rooms)."""
    return is_on(st.query_params.get("kiosk"))


def refresh_seconds() -> int:
    """The live interval: this session's choice, else KAPVIZ_REFRESH_SECONDS (default 60)."""
    return int(st.session_state.get("refresh_seconds") or settings().refresh_seconds)


def refresh_control() -> None:
    """Let a director change the interval for this browser session."""
    with st.sidebar.expander("Live refresh", icon=":material/autorenew:"):
        st.number_input(
            "Refresh every (seconds)",
            min_value=1,
            max_value=3600,
            value=settings().refresh_seconds,
            step=5,
            key="refresh_seconds",
            help="Default from KAPVIZ_REFRESH_SECONDS. The page reloads its numbers on "
            "this interval without losing filters; unchanged data is not recomputed.",
        )


def freshness_line() -> None:
    """ "Data as of" the newest record and "refreshed at" now."""
    newest = auth.newest_record_at()
    newest_text = newest.strftime("%Y-%m-%d %H:%M") if newest else "no records yet"
    answered = outage.answered_at() if outage.is_down() else None
    if answered is not None:  # not refreshed: the values are the last the database gave
        st.caption(
            f":material/cloud_off: Data as of **{newest_text}** (newest session or score) · "
            f"read at **{answered:%H:%M:%S}**, before the database stopped answering · "
            f"retrying every {refresh_seconds()} s"
        )
        return
    st.caption(
        f":material/schedule: Data as of **{newest_text}** (newest session or score) · "
        f"refreshed at **{now():%H:%M:%S}** · every {refresh_seconds()} s"
        f"{replica.lag_text(replica.lag_seconds())}"
    )
