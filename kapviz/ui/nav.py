"""The page list: one definition for the router (app.py) and the sidebar menu.

The menu is drawn by each page (st.page_link) rather than by Streamlit's automatic
navigation, because a deep link as the first request after a server start runs the page
without app.py and the automatic menu would then list raw file names (STACK-NOTES.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import streamlit as st
from streamlit.errors import StreamlitAPIException


@dataclass(frozen=True)
class PageSpec:
    path: str
    title: str
    icon: str
    default: bool = False


PAGES: tuple[PageSpec, ...] = (
    PageSpec("pages/overview.py", "Overview", ":material/dashboard:", default=True),
    PageSpec("pages/trajectories.py", "Trajectories", ":material/show_chart:"),
    PageSpec("pages/safety.py", "Safety", ":material/health_and_safety:"),
    PageSpec("pages/case_explorer.py", "Case explorer", ":material/person_search:"),
    PageSpec("pages/data.py", "Data", ":material/database:"),
)


def st_pages() -> list:
    """st.Page objects for st.navigation."""
    return [st.Page(p.path, title=p.title, icon=p.icon, default=p.default) for p in PAGES]


def menu() -> None:
    """The sidebar menu of pages, the same on every entry path."""
    with st.sidebar:
        st.markdown("### kapviz")
        for p in PAGES:
            try:
                st.page_link(p.path, label=p.title, icon=p.icon)
            except StreamlitAPIException:
                # A page run on its own (AppTest.from_file) has no registered siblings.
                st.markdown(f"[{p.title}](/{url_path(p)})")
        st.divider()


def url_path(page: PageSpec) -> str:
    """The URL path of a page ("" for the default page), as st.Page derives it."""
    return "" if page.default else page.path.removeprefix("pages/").removesuffix(".py")


def case_url(patient_id: str, course_id: str | None = None) -> str:
    """Deep link into the Case explorer (`?patient=<id>`, optionally `&course=<id>`)."""
    case = next(p for p in PAGES if p.path.endswith("case_explorer.py"))
    query = f"?patient={quote(patient_id)}" + (f"&course={quote(course_id)}" if course_id else "")
    return f"/{url_path(case)}{query}"
