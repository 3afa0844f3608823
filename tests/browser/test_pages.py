"""Every page in a real browser: renders without exception, also as the first request."""

from __future__ import annotations

import pytest

from kapviz.db.engine import make_engine
from tests.browser.conftest import open_app, wait_for_app
from tests.clinic import build_clinic
from tests.pages.conftest import RECENT_ANCHOR

PAGES = {
    "/": "Overview",
    "/trajectories": "Trajectories",
    "/safety": "Safety",
    "/case_explorer": "Case explorer",
    "/data": "Data",
}


@pytest.fixture
def app_db_url(sqlite_url: str) -> str:
    build_clinic(make_engine(sqlite_url), RECENT_ANCHOR)
    return sqlite_url


def _title(page) -> str:
    return page.locator("h1").first.inner_text(timeout=30000).strip()


def test_every_page_renders(app_url, page):
    """Navigating through all five pages shows each title and no exception."""
    for path, title in PAGES.items():
        open_app(page, app_url, path)
        assert _title(page) == title
    sidebar = page.locator('[data-testid="stSidebar"]')
    for title in PAGES.values():
        sidebar.get_by_text(title, exact=True).wait_for(timeout=10000)


@pytest.mark.parametrize("path", ["/safety", "/case_explorer?patient=P1"])
def test_deep_link_as_first_request(app_url, page, path):
    """A deep link as the very first request after server start renders the full page.

    Streamlit runs the page file without app.py then (STACK-NOTES.md); each page must set
    itself up: title, filters and data.
    """
    open_app(page, app_url, path)
    expected = "Safety" if path.startswith("/safety") else "Case explorer"
    assert _title(page) == expected
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("Site", exact=True).wait_for(timeout=30000)
    sidebar.get_by_text("Case explorer", exact=True).wait_for(timeout=10000)
    menu = sidebar.inner_text()
    assert "Trajectories" in menu
    assert "case explorer" not in menu and "app" not in menu.split()
    if "patient=P1" in path:
        page.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=30000)
    wait_for_app(page)
