"""What every page does first, whether opened from the menu or directly by URL.

Streamlit runs a page file without `app.py` when a deep link is the first request after
a server start, so each page calls `setup()` itself. It is the one layer
every page passes through, in this order, so nothing of a page runs before access is settled:
page config and the database; sign-in (kapviz.ui.auth.gate stops the run at the sign-in
form); the menu of the pages the viewer's role may open; the role check of this page and, on
the Case explorer, of a `?patient=` link (a refusal stops the run before any data is loaded);
a restricted viewer whose scope holds no patient is told so;
then the demo badge and the shared filters, scoped to the viewer's sites or own patients, so
every loader the page calls with them queries only what the viewer may see.
"""

from __future__ import annotations

import streamlit as st

from kapviz.auth.scope import CASE_EXPLORER
from kapviz.filters import Filters
from kapviz.ui import auth, data, filters, nav, widgets
from kapviz.ui.db import engine


def setup(title: str, caption: str | None = None, *, with_filters: bool = True) -> Filters:
    """Prepare the page and return the filters in force (scoped to the signed-in viewer)."""
    page = nav.spec_for_title(title)
    st.set_page_config(page_title=f"{title} · kapviz", layout="wide")
    try:
        engine()
    except Exception as exc:  # shown to the user with a way forward
        st.error(
            "kapviz cannot open its database. Check KAPVIZ_DATABASE_URL or "
            "`.streamlit/secrets.toml` and that the server is reachable.\n\n"
            f"Details: {type(exc).__name__}: {exc}",
            icon=":material/database_off:",
        )
        st.stop()
    viewer = auth.gate()
    nav.menu(viewer)
    auth.account_box()
    auth.check_page(page)
    auth.check_scope_has_patients()
    if page.key == CASE_EXPLORER:
        auth.check_case_link()
    is_demo = data.is_demo()
    current = auth.scoped(filters.sidebar() if with_filters else Filters())
    filters.remember(current)
    widgets.page_header(title, caption, is_demo=is_demo)
    return current
