"""The Explore page in Chromium: a two-dimension breakdown built with the widgets survives a
reload (same URL, same table); a saved cohort survives a restart of the server process."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from playwright.sync_api import Page

from kapviz.db.engine import make_engine
from tests.browser.conftest import open_app, start_app, wait_for_app
from tests.clinic import build_clinic
from tests.pages.conftest import RECENT_ANCHOR


@pytest.fixture
def app_db_url(sqlite_url: str) -> str:
    build_clinic(make_engine(sqlite_url), RECENT_ANCHOR)
    return sqlite_url


def table_cells(page: Page, *, until: Callable[[list[str]], bool] = bool) -> list[str]:
    """The texts of the table's cells (the grid's accessible cells), row by row, once
    `until` holds for them or after 30 s (the grid redraws a moment after the run ends)."""
    table = page.locator('[data-testid="stDataFrame"]')
    table.wait_for(timeout=30000)
    table.scroll_into_view_if_needed()
    grid = table.locator('[role="gridcell"]')
    deadline = time.monotonic() + 30
    while True:
        cells = grid.all_inner_texts()
        if until(cells) or time.monotonic() > deadline:
            return cells
        time.sleep(0.25)


def settled(page: Page) -> None:
    """Wait until the chart is drawn (the layout above it stops moving) and the run ends."""
    page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=60000)
    wait_for_app(page)


def choose(page: Page, label: str, option: str) -> None:
    """Pick `option` in the multiselect labelled `label`, then close its list."""
    box = page.locator('[data-testid="stMultiSelect"]').filter(has_text=label)
    box.locator("input").click()
    page.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")


def test_two_dimension_breakdown_survives_reload(app_url, page):
    """Route then site through the widgets: the URL carries both, the table has a row per
    route × site; a reload of that URL shows the same view."""
    open_app(page, app_url, "/explore")
    settled(page)
    choose(page, "Break down by", "Route")
    page.wait_for_function("location.search.includes('by=route')", timeout=30000)
    wait_for_app(page)
    choose(page, "Break down by", "Site")
    page.wait_for_function("location.search.includes('by=site')", timeout=30000)
    page.locator(".js-plotly-plot .annotation-text").filter(has_text="South").wait_for()
    wait_for_app(page)
    url = page.url
    assert "by=route&by=site" in url and "measure=response" in url
    before = table_cells(page, until=lambda cells: cells[1:2] == ["North"])
    # IM North 1 of 1, IV North 1 of 1, sublingual South 0 of 0 (tests/clinic.py).
    assert before == [
        *("IM", "North", "1", "1", "100%", "21%", "100%"),
        *("IV", "North", "1", "1", "100%", "21%", "100%"),
        *("Sublingual", "South", "0", "0", "", "", ""),
    ]
    page.reload()
    wait_for_app(page)
    assert page.url == url
    assert table_cells(page) == before
    box = page.locator('[data-testid="stMultiSelect"]').filter(has_text="Break down by")
    assert "Route" in box.inner_text() and "Site" in box.inner_text()


def test_saved_cohort_survives_server_restart(app_db_url, page):
    """A cohort saved on one server process is listed by the next one and opens its view."""
    with start_app(app_db_url) as base:
        open_app(page, base, "/explore?by=site&measure=remission")
        settled(page)
        page.get_by_text("Saved cohorts", exact=True).click()
        page.get_by_label("Save this view as").fill("North vs South")
        page.get_by_label("Save this view as").press("Enter")
        wait_for_app(page)
        page.locator(".st-key-explore_saved_save button").click()
        page.get_by_text("Saved as “North vs South”").wait_for(timeout=30000)
        wait_for_app(page)
    with start_app(app_db_url) as base:
        open_app(page, base, "/explore")
        settled(page)
        page.get_by_text("Saved cohorts", exact=True).click()
        picker = page.locator('[data-testid="stSelectbox"]').filter(has_text="Your saved cohorts")
        picker.wait_for(timeout=30000)
        assert picker.locator("input").input_value() == "North vs South"
        page.locator(".st-key-explore_saved_open button").click()
        page.wait_for_function("location.search.includes('by=site')", timeout=30000)
        page.locator(".js-plotly-plot .ytick text").filter(has_text="North").wait_for()
        wait_for_app(page)
        assert "measure=remission" in page.url
        # PHQ-9 remission, North: P2 remits, P1 does not (1 of 2); South: none evaluable.
        assert table_cells(page, until=lambda cells: cells[:1] == ["North"])[:4] == [
            "North",
            "1",
            "2",
            "50%",
        ]
