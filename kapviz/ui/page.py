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

import logging
from pathlib import Path

import streamlit as st

from kapviz import safe_text
from kapviz.auth.scope import CASE_EXPLORER
from kapviz.config import SettingsError
from kapviz.filters import Filters
from kapviz.ui import auth, data, filters, nav, outage, replica, screen, session, sessions, widgets
from kapviz.ui.db import engine

log = logging.getLogger(__name__)

FAVICON = Path(__file__).parent / "assets" / "favicon.png"
"""The tab icon, served by the app itself: without one, the browser takes the page's
Material icon from an outside font host (a request that fails offline and tells a third
party which page a clinician opened)."""


def setup(title: str, caption: str | None = None, *, with_filters: bool = True) -> Filters:
    """Prepare the page and return the filters in force (scoped to the signed-in viewer)."""
    page = nav.spec_for_title(title)
    st.set_page_config(page_title=f"{title} · kapviz", page_icon=str(FAVICON), layout="wide")
    sessions.start_sweeper()  # closed tabs' sessions are released (kapviz.ui.sessions)
    screen.apply()
    outage.begin_page()
    with outage.guard():
        return _setup(page, title, caption, with_filters=with_filters)


def _setup(page: nav.PageSpec, title: str, caption: str | None, *, with_filters: bool) -> Filters:
    try:
        engine()
    except SettingsError as exc:  # the setting, its value and what is accepted
        st.error(f"kapviz cannot start: {safe_text.markdown(exc)}", icon=":material/settings:")
        st.stop()
    except Exception as exc:
        if outage.is_unreachable(exc):
            raise  # the outage state (kapviz.ui.outage), retried until the database answers
        log.error("kapviz cannot open its database", exc_info=exc)
        st.error(
            "kapviz cannot open its database. Check KAPVIZ_DATABASE_URL or "
            "`.streamlit/secrets.toml` and that the server is reachable. The server log "
            f"has the details ({type(exc).__name__}).",
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
    current = session.scoped(filters.sidebar() if with_filters else Filters())
    filters.remember(current)
    widgets.page_header(title, caption, is_demo=is_demo)
    replica.warn_if_behind()
    outage.mark_page()
    return current
