"""What every page does first, whether opened from the menu or directly by URL.

Streamlit runs a page file without `app.py` when a deep link is the first request after
a server start (STACK-NOTES.md), so each page calls `setup()` itself: page config, the
database, the demo badge and the shared filters.
"""

from __future__ import annotations

import streamlit as st

from kapviz.filters import Filters
from kapviz.ui import data, filters, nav, widgets
from kapviz.ui.db import engine


def setup(title: str, caption: str | None = None, *, with_filters: bool = True) -> Filters:
    """Prepare the page and return the filters in force."""
    st.set_page_config(page_title=f"{title} · kapviz", layout="wide")
    try:
        engine()
    except Exception as exc:  # noqa: BLE001 - shown to the user with a way forward
        st.error(
            "kapviz cannot open its database. Check KAPVIZ_DATABASE_URL or "
            "`.streamlit/secrets.toml` and that the server is reachable.\n\n"
            f"Details: {type(exc).__name__}: {exc}",
            icon=":material/database_off:",
        )
        st.stop()
    nav.menu()
    is_demo = data.is_demo()
    current = filters.sidebar() if with_filters else Filters()
    widgets.page_header(title, caption, is_demo=is_demo)
    return current
