"""Small shared widgets: the demo badge, empty states, page headers, the share link."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

import streamlit as st

from kapviz import safe_text
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


def absolute_link(app_url: str | None, base_path: str, page_path: str, query: str) -> str:
    """The full URL of a page view: scheme and host from the browser's URL of the app
    (`st.context.url`), the server's base path, the page's path and the query. Without the
    browser's URL (a test run), the link is relative to the app's root."""
    root = "/" + "/".join(part for part in (base_path.strip("/"), page_path.strip("/")) if part)
    if app_url:
        parts = urlsplit(app_url)
        root = f"{parts.scheme}://{parts.netloc}{root}"
    return f"{root}?{query}" if query else root


def share_link(path: str) -> None:
    """Show the full link to this exact view (filters and page-specific parameters), one a
    person can paste into a chat."""
    # A wall screen's token (kapviz.auth.display) is a credential: never part of a shared link.
    params = {
        k: v
        for k, v in st.query_params.to_dict().items()
        if v not in ("", None) and k != "display_token"
    }
    multi = {k: st.query_params.get_all(k) for k in params}
    query = urlencode([(k, v) for k, vs in multi.items() for v in vs])
    base_path = str(st.get_option("server.baseUrlPath") or "")
    link = absolute_link(st.context.url, base_path, path, query)
    with st.popover("Share this view", icon=":material/link:"):
        st.caption("Copy this link: it opens this page with the same filters.")
        st.code(link, language=None)


def filters_caption(filters: Filters) -> None:
    st.caption(f"Showing {safe_text.markdown(filters.describe())}.")


METRIC_LABEL_CSS = """
<style>
[data-testid="stMetricLabel"], [data-testid="stMetricLabel"] > div,
[data-testid="stMetricLabel"] [data-testid="stMarkdownContainer"],
[data-testid="stMetricLabel"] p {
  white-space: normal !important; overflow: visible !important; text-overflow: clip !important;
  height: auto !important; max-height: none !important;
}
[data-testid="stMetricLabel"] { align-items: flex-start; }
[data-testid="stMetricLabel"] p { display: block; min-height: 2.6em; }
</style>
"""


def wrap_metric_labels() -> None:
    """Let KPI labels wrap onto two lines instead of ending in "…": a label that states its
    unit and window ("Adverse events per 100 dosing sessions (30 days)") must be read whole."""
    st.html(METRIC_LABEL_CSS)
