"""Defence: a link with the template's route code (`?route=iv`, any case) filters by that route
and the address bar keeps it, spelt as the filter writes it (`route=IV`), so a link copied
afterwards opens the same view. Before, the filter was applied but `route` vanished from the
URL. Checked in Chromium on a real server and with AppTest."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from kapviz.cli import main
from tests.browser.conftest import open_app
from tests.pages.conftest import run_app
from tests.security.hostile import write_clinic


def _route_in(url: str) -> list[str]:
    return parse_qs(urlsplit(url).query).get("route", [])


def test_route_code_stays_in_the_address_bar(app_factory, sqlite_url, tmp_path, page):
    """`/safety?route=iv`: IV chosen, the IV sessions shown, and `route=IV` still in the URL
    once the page has run (and after a reload of that URL)."""
    assert main(["import", str(write_clinic(tmp_path / "in", ["North"])), "--db", sqlite_url]) == 0
    url = app_factory(sqlite_url, {"KAPVIZ_AUTH_MODE": "none"})
    open_app(page, url, "/safety?route=iv")
    page.get_by_text("Showing routes: iv").wait_for(timeout=30000)
    page.wait_for_function("() => location.search.includes('route=IV')", timeout=10000)
    assert _route_in(page.url) == ["IV"]
    copied = page.url
    page.goto(copied)
    page.get_by_text("Showing routes: iv").wait_for(timeout=30000)
    assert _route_in(page.url) == ["IV"]


@pytest.mark.parametrize("value", ["iv", "IV", " Iv "])
def test_route_code_written_back_to_the_query(clinic_url, value):
    """In the page's own run: the widget holds IV and the query parameter says `IV`."""
    at = run_app("pages/safety.py", route=value)
    route = next(m for m in at.sidebar.multiselect if m.key == "route")
    assert route.value == ["iv"]
    written = at.query_params.get("route")
    assert ([written] if isinstance(written, str) else written) == ["IV"]
