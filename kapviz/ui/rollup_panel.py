"""The Data page's line about the Overview's stored counts (kapviz.db.rollups), with a
director's way to rebuild them after another program has written the database."""

from __future__ import annotations

import streamlit as st

from kapviz.db import rollups
from kapviz.ui import data
from kapviz.ui.db import database_url, engine, engine_for

REBUILD_KEY = "rollup_rebuild"


@st.cache_data(ttl=data.FRAME_TTL_SECONDS, max_entries=data.MAX_PER_VERSION, show_spinner=False)
def _status(url: str, data_version: tuple) -> rollups.Status:
    with engine_for(url).connect() as conn:
        return rollups.status(conn)


def status() -> rollups.Status:
    """The rollups' state, asked once per data version (a rebuild changes the version)."""
    return _status(database_url(), data.version())


def describe(state: rollups.Status) -> str:
    """One line for the Data page: whether the Overview reads its stored counts."""
    if state.built_at is None:
        return (
            "The Overview's stored counts are not built yet: it computes its figures from "
            "the rows (the same numbers, slower on a large clinic)."
        )
    built = f"{state.built_at:%Y-%m-%d %H:%M}"
    if state.current:
        return f"The Overview's stored counts are up to date (built {built})."
    return (
        f"The Overview's stored counts (built {built}) predate the latest data, written "
        "since by another program: the Overview computes its figures from the rows until "
        "they are rebuilt (imports and `python -m kapviz rollup` rebuild them)."
    )


def show() -> None:
    """The status line and, when the counts are missing or out of date, a rebuild button."""
    state = status()
    st.caption(describe(state))
    if state.current:
        return
    if st.button("Rebuild the Overview's stored counts", key=REBUILD_KEY):
        with st.spinner("Counting…"):
            built = rollups.rebuild(engine())
        if built:
            data.forget_version()  # the pages see the rebuild at once
            st.success("Rebuilt: the Overview reads its stored counts again.")
        else:
            st.warning(
                "Not rebuilt: data were written while counting. "
                "The Overview keeps computing from the rows."
            )
