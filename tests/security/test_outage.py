"""Defence: a database outage shows one friendly state, never internals, and heals by itself.

A real PostgreSQL server is stopped and started by the test while the app (a real Streamlit
server) has pages open in headless Chromium. Defended: no traceback, host, port, path or
driver error text on screen during the outage; the last good values stay on screen under the
banner "The database is not reachable; showing data as of HH:MM; retrying"; every open page
(with or without a live fragment) recovers within one refresh interval of the database coming
back, without a reload; a server started while the database is down recovers by itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page

from kapviz.db.engine import make_engine
from tests import pg
from tests.browser.conftest import APP_IDLE, EXCEPTION, open_app
from tests.clinic import build_clinic
from tests.conftest import missing_requirement
from tests.pages.conftest import RECENT_ANCHOR

REFRESH = 3
BANNER = "The database is not reachable"
# What must never reach the screen: the server's address, driver and exception names, paths.
INTERNALS = re.compile(
    r"127\.0\.0\.1|localhost|port \d|OperationalError|psycopg|sqlalchemy|Traceback|"
    r"/tmp/|\.py\b|connection (refused|failed)",
    re.IGNORECASE,
)


@pytest.fixture
def server() -> Iterator[tuple[str, str]]:
    """(server URL, database URL): a PostgreSQL server of this test only, with the tiny clinic."""
    if pg.find_bindir() is None:
        missing_requirement(pg.INSTALL_HINT)
    with pg.postgres_server() as server_url:
        db_url = pg.create_database(server_url)
        engine = make_engine(db_url)
        build_clinic(engine, RECENT_ANCHOR)
        engine.dispose()
        yield server_url, db_url


def _env() -> dict[str, str]:
    return {"KAPVIZ_REFRESH_SECONDS": str(REFRESH), "KAPVIZ_AUTH_MODE": "none"}


def _body(page: Page) -> str:
    return page.locator("body").inner_text()


def _assert_friendly(page: Page) -> None:
    """The outage state: the banner, no exception box, no internals anywhere in the text."""
    page.get_by_text(BANNER).first.wait_for(timeout=20000)
    page.locator(APP_IDLE).wait_for(state="attached", timeout=20000)
    assert page.locator(EXCEPTION).count() == 0
    text = _body(page)
    assert text.count(BANNER) == 1, "one banner per page"
    leaked = INTERNALS.findall(text)
    assert not leaked, f"internals on screen during the outage: {leaked}"


def _wait_recovered(page: Page, timeout_ms: float) -> None:
    """The banner goes within `timeout_ms`; the page's rerun that follows may take longer on a
    loaded machine (it redraws every chart), so its end is awaited with the usual margin."""
    page.get_by_text(BANNER).first.wait_for(state="detached", timeout=timeout_ms)
    page.locator(APP_IDLE).wait_for(state="attached", timeout=60000)
    assert page.locator(EXCEPTION).count() == 0


def test_open_pages_show_stale_values_and_recover(app_factory, browser, server):
    """Pages open before the outage keep their last values under one banner (with the time the
    database last answered); a page first opened during the outage shows the banner instead of
    a traceback; all recover without a reload within one refresh interval (plus start-up)."""
    server_url, db_url = server
    base = app_factory(db_url, _env())
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        overview, safety, late = (context.new_page() for _ in range(3))
        open_app(overview, base, "/")
        overview.locator('[data-testid="stMetric"]').first.wait_for()
        open_app(safety, base, "/safety")
        safety.locator('[data-testid="stMetric"]').first.wait_for()
        tiles_before = overview.locator('[data-testid="stMetric"]').count()

        pg.stop_server(server_url)
        try:
            # The live Overview notices by itself at its next refresh.
            _assert_friendly(overview)
            assert re.search(r"showing data as of \d\d:\d\d; retrying", _body(overview))
            assert overview.locator('[data-testid="stMetric"]').count() == tiles_before
            # Safety has no timer: the next click (here a reload) shows the same state with the
            # values read before the outage.
            safety.reload()
            safety.locator('[data-testid="stMetric"]').nth(5).wait_for(timeout=20000)
            _assert_friendly(safety)
            # A page never opened before: nothing cached, the banner alone.
            late.goto(base + "/trajectories")
            _assert_friendly(late)
        finally:
            pg.start_server(server_url)
        for p in (overview, safety, late):
            _wait_recovered(p, timeout_ms=(REFRESH + 12) * 1000)
        assert late.get_by_role("heading", name="Trajectories").count() == 1
        assert overview.locator('[data-testid="stMetric"]').count() == tiles_before
    finally:
        context.close()


def test_server_started_during_outage_recovers(app_factory, page, server):
    """A server started while the database is down shows the banner (no data yet) and fills
    the page by itself once the database answers."""
    server_url, db_url = server
    pg.stop_server(server_url)
    try:
        base = app_factory(db_url, _env())
        page.goto(base + "/")
        _assert_friendly(page)
        assert "no data to show yet" in _body(page)
    finally:
        pg.start_server(server_url)
    _wait_recovered(page, timeout_ms=(REFRESH + 12) * 1000)
    page.locator('[data-testid="stMetric"]').first.wait_for(timeout=20000)


def test_only_unreachable_errors_become_the_outage_state(tmp_path):
    """A refused connection is an outage; a query bug (SQLite's "no such table", reported as
    OperationalError too, or PostgreSQL's ProgrammingError) is not hidden behind the banner."""
    import sqlalchemy as sa

    from kapviz.ui.outage import is_unreachable

    refused = sa.create_engine("postgresql+psycopg://u@127.0.0.1:1/x")
    with pytest.raises(sa.exc.OperationalError) as caught:
        refused.connect()
    assert is_unreachable(caught.value)
    sqlite = sa.create_engine(f"sqlite:///{tmp_path}/x.db")
    with pytest.raises(sa.exc.OperationalError) as bug, sqlite.connect() as conn:
        conn.execute(sa.text("SELECT * FROM no_such_table"))
    assert not is_unreachable(bug.value)
    missing = sa.create_engine(f"sqlite:///{tmp_path}/no/such/dir/x.db")
    with pytest.raises(sa.exc.OperationalError) as gone:
        missing.connect()
    assert is_unreachable(gone.value)
    assert not is_unreachable(ValueError("bad input"))
