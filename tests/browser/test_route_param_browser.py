"""`?route=iv` in a real browser: the template's route code selects the route, as
`?route=IV` (the widget's own spelling) does."""

from __future__ import annotations

from kapviz.cli import main
from tests.browser.conftest import open_app
from tests.security.hostile import write_clinic


def test_route_code_in_a_link_selects_the_route(app_factory, sqlite_url, tmp_path, page):
    assert main(["import", str(write_clinic(tmp_path / "in", ["North"])), "--db", sqlite_url]) == 0
    url = app_factory(sqlite_url, {"KAPVIZ_AUTH_MODE": "none"})
    open_app(page, url, "/safety?route=iv")
    sidebar = page.locator('[data-testid="stSidebar"]')
    route = sidebar.locator('[data-testid="stMultiSelect"]').filter(has_text="Route")
    route.get_by_text("IV").first.wait_for(timeout=30000)
    # The filter is applied: the dosing sessions shown are the IV ones of the clinic (all).
    page.get_by_text("Showing routes: iv").wait_for(timeout=30000)
