"""The page list: one definition for the router (app.py) and the sidebar menu.

The menu is drawn by each page (st.page_link) rather than by Streamlit's automatic
navigation, because a deep link as the first request after a server start runs the page
without app.py and the automatic menu would then list raw file names.
It lists only the pages the viewer's role may open (kapviz.auth.scope.ROLE_PAGES); every
page is still registered with st.navigation, and `kapviz.ui.page.setup` refuses a page the
role may not open however it was reached.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import streamlit as st
from streamlit.errors import StreamlitAPIException

from kapviz.auth.scope import Viewer, may_open


@dataclass(frozen=True)
class PageSpec:
    path: str
    title: str
    icon: str
    default: bool = False

    @property
    def key(self) -> str:
        """The page key of the role table (kapviz.auth.scope.PAGE_KEYS): the file stem."""
        return self.path.removeprefix("pages/").removesuffix(".py")


PAGES: tuple[PageSpec, ...] = (
    PageSpec("pages/overview.py", "Overview", ":material/dashboard:", default=True),
    PageSpec("pages/trajectories.py", "Trajectories", ":material/show_chart:"),
    PageSpec("pages/safety.py", "Safety", ":material/health_and_safety:"),
    PageSpec("pages/explore.py", "Explore", ":material/query_stats:"),
    PageSpec("pages/case_explorer.py", "Case explorer", ":material/person_search:"),
    PageSpec("pages/data.py", "Data", ":material/database:"),
    PageSpec("pages/audit.py", "Audit", ":material/policy:"),
)


def st_pages() -> list:
    """st.Page objects for st.navigation.

    Without icons: st.navigation makes a page's icon the tab's favicon, and a Material icon
    is then fetched from an outside font host (kapviz.ui.page.FAVICON is served by the app
    instead). The menu's links keep their icons, which are bundled.
    """
    return [st.Page(p.path, title=p.title, default=p.default) for p in PAGES]


def spec(key: str) -> PageSpec:
    """The page with this key (file stem)."""
    for p in PAGES:
        if p.key == key:
            return p
    raise KeyError(f"no page {key!r}")


def spec_for_title(title: str) -> PageSpec:
    """The page whose title this is (each page passes its title to `page.setup`)."""
    for p in PAGES:
        if p.title == title:
            return p
    raise KeyError(f"no page titled {title!r}: add it to kapviz.ui.nav.PAGES")


def allowed_pages(viewer: Viewer) -> list[PageSpec]:
    """The pages of the menu for this viewer, in menu order."""
    return [p for p in PAGES if may_open(viewer, p.key)]


def link(p: PageSpec) -> None:
    """A link to a page; a plain link when the page runs on its own (no registered siblings)."""
    try:
        st.page_link(p.path, label=p.title, icon=p.icon)
    except StreamlitAPIException:
        # A page run on its own (AppTest.from_file) has no registered siblings.
        st.markdown(f"[{p.title}](/{url_path(p)})")


def menu(viewer: Viewer) -> None:
    """The sidebar menu of the pages this viewer may open, the same on every entry path."""
    with st.sidebar:
        st.markdown("### kapviz")
        for p in allowed_pages(viewer):
            link(p)
        st.divider()


def url_path(page: PageSpec) -> str:
    """The URL path of a page ("" for the default page), as st.Page derives it."""
    return "" if page.default else page.path.removeprefix("pages/").removesuffix(".py")


def case_url(patient_id: str, course_id: str | None = None) -> str:
    """Deep link into the Case explorer (`?patient=<id>`, optionally `&course=<id>`)."""
    case = next(p for p in PAGES if p.path.endswith("case_explorer.py"))
    query = f"?patient={quote(patient_id)}" + (f"&course={quote(course_id)}" if course_id else "")
    return f"/{url_path(case)}{query}"
