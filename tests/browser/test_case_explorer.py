"""Case explorer in a real browser: the `?patient=` deep link as the first request."""

from __future__ import annotations

import pytest

from kapviz.db.engine import make_engine
from tests.browser.conftest import assert_no_exception, open_app, wait_for_app
from tests.clinic import build_clinic
from tests.pages.conftest import RECENT_ANCHOR


@pytest.fixture
def app_db_url(sqlite_url: str) -> str:
    build_clinic(make_engine(sqlite_url), RECENT_ANCHOR)
    return sqlite_url


def test_patient_deep_link_first_request(app_url, page):
    """`/case_explorer?patient=P1` straight after server start: P1's course with its timeline,
    status lines, the score trajectory against the cohort and both exports."""
    open_app(page, app_url, "/case_explorer?patient=P1")
    wait_for_app(page)
    assert_no_exception(page)
    main = page.locator('[data-testid="stMain"]')
    main.get_by_text("Course timeline").first.wait_for(timeout=30000)
    main.get_by_text("PHQ-9 through the course").first.wait_for(timeout=30000)
    text = main.inner_text()
    assert "P1-C1" in text
    assert "Response: yes" in text and "18 → 8 (-55.6%)" in text
    assert "4 completed, IV; 35 mg each" in text
    timeline = page.locator('[data-testid="stPlotlyChart"]').first
    assert "Dosing" in timeline.inner_text()
    # The export buttons come last in the script run: wait for them, do not count early.
    main.get_by_text("Case summary (PDF)").first.wait_for(timeout=30000)


def test_safety_tab_and_presentation(app_url, page):
    """The Safety tab shows P1's alerts and BP table; presenting hides the sidebar and keeps
    Compare (the meeting compares cases on the projector)."""
    open_app(page, app_url, "/case_explorer?patient=P1&present=true")
    wait_for_app(page)
    page.get_by_role("tab", name="Safety").click()
    main = page.locator('[data-testid="stMain"]')
    main.get_by_text("Blood pressure per dosing session (mmHg)").first.wait_for(timeout=30000)
    assert main.get_by_text("Case P1 · course P1-C1").count() == 1
    assert not page.locator('[data-testid="stSidebar"]').is_visible()
    assert page.get_by_role("tab", name="Compare").count() == 1
    assert_no_exception(page)


def test_search_box_finds_and_opens_a_case(app_url, page):
    """Type the start of a course id in Find a patient and press Enter: Patient lists that
    one case; Enter on it opens its course and the URL links to it."""
    open_app(page, app_url, "/case_explorer")
    wait_for_app(page)
    search = page.get_by_role("textbox", name="Find a patient")
    search.wait_for(timeout=30000)
    search.fill("P2-C")
    search.press("Enter")
    wait_for_app(page)
    main = page.locator('[data-testid="stMain"]')
    picker, options = main.locator('[data-testid="stSelectbox"]').first, page.get_by_role("option")
    for _ in range(30):  # until the rerun the Enter started has drawn the new options
        picker.click()
        options.first.wait_for(timeout=30000)
        if options.all_inner_texts() == ["P2"]:
            break
        page.keyboard.press("Escape")
        page.wait_for_timeout(1000)
    assert options.all_inner_texts() == ["P2"]
    page.keyboard.press("Enter")
    main.get_by_text("Course timeline").first.wait_for(timeout=30000)
    assert "patient=P2" in page.url
    assert_no_exception(page)
