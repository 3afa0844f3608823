"""The global filters: one sidebar shared by every page, mirrored in the URL.

Each widget is bound to a query parameter (`site`, `indication`, `route`, `from`, `to`),
so a copied link reopens the same filtered view and filters stay put across pages.
The site filter offers only the viewer's sites; a `?site=` outside them is dropped (and said
so), and `kapviz.ui.page.setup` scopes whatever is chosen before any query runs.
"""

from __future__ import annotations

import logging
from datetime import date
from urllib.parse import urlencode

import streamlit as st

from kapviz.domain import ROUTE_LABELS
from kapviz.filters import Filters
from kapviz.ui import auth, data, session

log = logging.getLogger(__name__)

QUERY_KEYS = ("site", "indication", "route", "from", "to")
KEY = "_filters"


def sidebar() -> Filters:
    """Draw the filter widgets in the sidebar and return the filters chosen (not yet scoped)."""
    options = data.filter_options()
    site_options = auth.visible_sites(options["sites"])
    indications = auth.visible_indications(options["indications"])
    outside = [s for s in st.query_params.get_all("site") if s not in site_options]
    with st.sidebar:
        st.subheader("Filters")
        if outside and len(site_options) < len(options["sites"]):
            shown = ", ".join(auth.as_code(s) for s in outside)
            st.caption(f"Not among your sites, so not shown: {shown}.")
        sites = st.multiselect(
            "Site",
            site_options,
            key="site",
            bind="query-params",
            placeholder="All your sites" if session.is_on() else "All sites",
        )
        chosen_indications = st.multiselect(
            "Indication",
            indications,
            key="indication",
            bind="query-params",
            placeholder="All indications",
        )
        _accept_route_codes(options["routes"])
        routes = st.multiselect(
            "Route",
            options["routes"],
            key="route",
            bind="query-params",
            format_func=lambda r: ROUTE_LABELS.get(r, r),
            placeholder="All routes",
        )
        # One under the other: side by side, the sidebar cut the dates to "2026".
        invalid = invalid_dates({k: st.query_params.get(k) for k in ("from", "to")})
        for key, raw in invalid.items():
            st.warning(
                f"`?{key}=` {auth.as_code(raw)} is not a date (YYYY-MM-DD), so it is not "
                "applied: the dates shown are the ones in force.",
                icon=":material/event_busy:",
            )
        start = st.date_input(
            "From", value=None, key="from", bind="query-params", format="YYYY-MM-DD"
        )
        end = st.date_input("To", value=None, key="to", bind="query-params", format="YYYY-MM-DD")
    if start and end and start > end:
        st.sidebar.warning("'From' is after 'To': the date range is ignored.")
        start = end = None
    return Filters(
        sites=tuple(sites),
        indications=tuple(chosen_indications),
        routes=tuple(routes),
        start=start,
        end=end,
    )


def invalid_dates(raw: dict[str, str | None]) -> dict[str, str]:
    """The date parameters of a URL that are not ISO dates (YYYY-MM-DD), by name: reported to
    the user, where the widget alone would drop them silently."""
    bad = {}
    for key, value in raw.items():
        if not value:
            continue
        try:
            date.fromisoformat(value)
        except ValueError:
            bad[key] = value
    return bad


def _accept_route_codes(routes) -> None:
    """`?route=iv` as well as `?route=IV`: the bound widget reads and writes its labels
    (`IV`, `Intranasal`) and drops anything else from the URL, so on a session's first run a
    link with the template's codes, in any case, is rewritten to the labels before the widget
    reads it: the filter applies and the address bar keeps `route=IV`, so a link copied
    afterwards opens the same view."""
    given = st.query_params.get_all("route")
    if not given or "route" in st.session_state:
        return
    codes = {}
    for code in routes:
        codes[str(code).lower()] = codes[ROUTE_LABELS.get(code, str(code)).lower()] = code
    if all(v in ROUTE_LABELS.values() for v in given):
        return
    wanted = (codes.get(g.strip().lower()) for g in given)
    chosen = list(dict.fromkeys(c for c in wanted if c is not None))
    if not chosen:
        return
    labels = [ROUTE_LABELS.get(c, str(c)) for c in chosen]
    st.query_params["route"] = labels
    if not _reseed_from_url():
        # No seeding hook in this Streamlit: the filter still applies, the URL loses it.
        st.session_state["route"] = chosen


def _reseed_from_url() -> bool:
    """Make bound widgets read the query parameters as they are now: Streamlit seeds them from
    the URL the session opened with (kept privately), which still holds the raw code."""
    from streamlit.runtime.state.session_state_proxy import get_session_state

    try:
        query = get_session_state()._state.query_params
        current = {k: st.query_params.get_all(k) for k in st.query_params}
        query.set_initial_query_params(urlencode(current, doseq=True))
    except AttributeError:
        log.warning("cannot rewrite the initial query parameters; route codes stay out of the URL")
        return False
    return True


def remember(filters: Filters) -> None:
    """Keep this run's (scoped) filters for `current()`."""
    st.session_state[KEY] = filters


def current() -> Filters:
    """The filters of this run (scoped); before the sidebar: everything the viewer may see."""
    remembered = st.session_state.get(KEY)
    return remembered if isinstance(remembered, Filters) else session.scoped(Filters())
