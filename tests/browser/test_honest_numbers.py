"""Issue 17 in the browser: nothing leaves the server, unknown patients, share links, audits."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from kapviz.auth.models import AuditEvent
from kapviz.db.engine import make_engine
from tests.browser.conftest import open_app, wait_for_app
from tests.clinic import build_clinic
from tests.pages.conftest import RECENT_ANCHOR

PAGES = ["/", "/trajectories", "/safety", "/case_explorer?patient=P1", "/data", "/audit"]


@pytest.fixture
def app_db_url(sqlite_url: str) -> str:
    build_clinic(make_engine(sqlite_url), RECENT_ANCHOR)
    return sqlite_url


def test_no_request_leaves_the_app(app_url, page):
    """Every page, opened directly and from the menu, asks only the app's own host: no
    favicon from a font host, no fonts, no telemetry (fails offline, tells a third party
    which page a clinician opened)."""
    own = urlsplit(app_url).netloc
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if _host(r.url) not in (own, "") else None)
    for path in PAGES:
        open_app(page, app_url, path)
        page.wait_for_timeout(500)  # the favicon is asked for after the first render
    icon = page.locator('link[rel~="icon"]').first.get_attribute("href") or ""
    assert _host(icon) in ("", own), icon
    assert outside == []


def _host(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc if parts.scheme in ("http", "https", "ws", "wss") else ""


def test_unknown_patient_is_named(app_url, page):
    """`?patient=NOPE-123` says the patient is not in the viewer's scope, not "Choose"."""
    open_app(page, app_url, "/case_explorer?patient=NOPE-123")
    main = page.locator('[data-testid="stMain"]')
    main.get_by_text("No patient NOPE-123 in your scope").first.wait_for(timeout=30000)


def test_share_link_is_absolute(app_url, page):
    """ "Share this view" gives a URL a person can paste into a chat: scheme, host, page and
    the filters."""
    open_app(page, app_url, "/?site=North")
    page.get_by_role("button", name="Share this view").first.click()
    code = page.locator('[data-testid="stPopoverBody"] code, [data-testid="stCode"] code')
    code.first.wait_for(timeout=10000)
    link = code.first.inner_text().strip()
    assert link == f"{app_url}/?site=North"


def test_compare_audits_every_case(app_url, app_db_url, page):
    """Comparing cases audits each case shown as a case view."""
    open_app(page, app_url, "/case_explorer?patient=P1")
    page.get_by_role("tab", name="Compare").click()
    page.get_by_role("combobox", name="Cases to compare").click()
    for option in ("P2", "P3"):
        page.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")
    page.get_by_text("P3", exact=True).first.wait_for(timeout=30000)
    page.wait_for_timeout(1500)
    wait_for_app(page)
    engine = make_engine(app_db_url)
    with engine.connect() as conn:
        viewed = set(
            conn.execute(
                select(AuditEvent.target).where(AuditEvent.action == "view_case")
            ).scalars()
        )
    engine.dispose()
    assert {"P1", "P2", "P3"} <= {t.split(" ")[0].split("/")[0] for t in viewed}, viewed
