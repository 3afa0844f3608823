"""The Trajectories page in a real browser: clicking a course line opens that case."""

from __future__ import annotations

import pytest

from kapviz.db.engine import make_engine
from tests.browser.conftest import open_app, wait_for_app
from tests.clinic import ANCHOR, build_clinic


@pytest.fixture
def app_db_url(sqlite_url: str) -> str:
    build_clinic(make_engine(sqlite_url), ANCHOR)
    return sqlite_url


def test_click_course_line_opens_case_explorer(app_url, page):
    """A click on a point of the spaghetti layer goes to the Case explorer, ?patient=<id>."""
    open_app(page, app_url, "/trajectories")
    points = page.locator(".js-plotly-plot .scatterlayer .trace:first-child path.point")
    points.first.wait_for()
    # The first spaghetti point is P1's intake score (courses are drawn in id order).
    points.first.scroll_into_view_if_needed()
    box = points.first.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_url("**/case_explorer?patient=P1", timeout=30000)
    wait_for_app(page)
    assert page.get_by_text("One patient's course").first.is_visible()
