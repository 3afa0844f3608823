"""Small shared widgets: the demo badge, empty states, page headers, the share link."""

from __future__ import annotations

from urllib.parse import urlencode

import streamlit as st

from kapviz.filters import Filters


def demo_badge() -> None:
    """The visible label that the numbers on screen are synthetic."""
    st.badge("Synthetic demo data — not real patients", icon=":material/science:", color="orange")


def empty_state(message: str, *, hint: str | None = None) -> None:
    """A friendly message when nothing matches, with a way forward."""
    st.info(message + (f"\n\n{hint}" if hint else ""), icon=":material/filter_alt_off:")


def page_header(title: str, caption: str | None = None, *, is_demo: bool = False) -> None:
    st.title(title)
    if is_demo:
        demo_badge()
    if caption:
        st.caption(caption)


def share_link(path: str) -> None:
    """Show the link to this exact view (filters and page-specific parameters)."""
    # A wall screen's token (kapviz.auth.display) is a credential: never part of a shared link.
    params = {
        k: v
        for k, v in st.query_params.to_dict().items()
        if v not in ("", None) and k != "display_token"
    }
    multi = {k: st.query_params.get_all(k) for k in params}
    query = urlencode([(k, v) for k, vs in multi.items() for v in vs])
    link = f"{path}?{query}" if query else path
    with st.popover("Share this view", icon=":material/link:"):
        st.caption("Copy this link: it opens this page with the same filters.")
        st.code(link, language=None)


def filters_caption(filters: Filters) -> None:
    st.caption(f"Showing {filters.describe()}.")
