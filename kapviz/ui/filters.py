"""The global filters: one sidebar shared by every page, mirrored in the URL.

Each widget is bound to a query parameter (`site`, `indication`, `route`, `from`, `to`),
so a copied link reopens the same filtered view and filters stay put across pages.
"""

from __future__ import annotations

import streamlit as st

from kapviz.domain import ROUTE_LABELS
from kapviz.filters import Filters
from kapviz.ui import data

QUERY_KEYS = ("site", "indication", "route", "from", "to")


def sidebar() -> Filters:
    """Draw the filter widgets in the sidebar and return the filters in force."""
    options = data.filter_options()
    with st.sidebar:
        st.subheader("Filters")
        sites = st.multiselect(
            "Site", options["sites"], key="site", bind="query-params", placeholder="All sites"
        )
        indications = st.multiselect(
            "Indication",
            options["indications"],
            key="indication",
            bind="query-params",
            placeholder="All indications",
        )
        routes = st.multiselect(
            "Route",
            options["routes"],
            key="route",
            bind="query-params",
            format_func=lambda r: ROUTE_LABELS.get(r, r),
            placeholder="All routes",
        )
        col_from, col_to = st.columns(2)
        start = col_from.date_input(
            "From", value=None, key="from", bind="query-params", format="YYYY-MM-DD"
        )
        end = col_to.date_input(
            "To", value=None, key="to", bind="query-params", format="YYYY-MM-DD"
        )
    if start and end and start > end:
        st.sidebar.warning("'From' is after 'To': the date range is ignored.")
        start = end = None
    filters = Filters(
        sites=tuple(sites),
        indications=tuple(indications),
        routes=tuple(routes),
        start=start,
        end=end,
    )
    st.session_state["_filters"] = filters
    return filters


def current() -> Filters:
    """The filters set by this run's sidebar (no restriction before it was drawn)."""
    return st.session_state.get("_filters", Filters())
