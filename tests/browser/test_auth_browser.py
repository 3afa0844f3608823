"""Access control in a real browser: sign-in on every entry path (a deep link as the very
first request after a server start included), role menus, refusals by link and parameter,
audited exports and imports, upload checks (issue 9 §5)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page

from kapviz.auth import accounts
from kapviz.db.engine import make_engine
from kapviz.db.migrate import upgrade
from tests.browser.conftest import assert_no_exception, open_app, wait_for_app
from tests.clinic import build_clinic
from tests.pages.auth.conftest import PASSWORDS, add_accounts, audit_rows, fast_hasher
from tests.pages.conftest import RECENT_ANCHOR

FIXTURES = Path(__file__).parents[1] / "io" / "fixtures"
LOCAL = {"KAPVIZ_AUTH_MODE": "local"}
MENU = ("Overview", "Trajectories", "Safety", "Explore", "Case explorer", "Data", "Audit")


@pytest.fixture
def clinic_db(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The tiny clinic with its four accounts (cheap hashes; the server rehashes on use)."""
    monkeypatch.setattr(accounts, "_HASHER", fast_hasher())
    engine = make_engine(sqlite_url)
    build_clinic(engine, RECENT_ANCHOR)
    add_accounts(engine)
    return sqlite_url


def sign_in(page: Page, username: str) -> None:
    """Fill the sign-in form and wait for the page behind it."""
    page.get_by_role("textbox", name="Username").fill(username)
    page.get_by_role("textbox", name="Password").fill(PASSWORDS[username])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Sign out").wait_for(timeout=30000)
    wait_for_app(page)
    assert_no_exception(page)


def resumed(page: Page) -> None:
    """A new session of a signed-in browser: the session cookie signs it in again, with no
    form (a reload, a link, another process behind the balancer)."""
    page.get_by_text("Sign out").wait_for(timeout=30000)
    wait_for_app(page)
    assert page.get_by_role("textbox", name="Username").count() == 0
    assert_no_exception(page)


def sign_out(page: Page) -> None:
    page.locator('[data-testid="stSidebar"]').get_by_role("button", name="Sign out").click()
    page.get_by_role("textbox", name="Username").wait_for(timeout=30000)


def menu(page: Page) -> list[str]:
    """Titles of the sidebar's page links (a link's text ends with its title, after the icon)."""
    sidebar = page.locator('[data-testid="stSidebar"]')
    links = [text.split("\n")[-1].strip() for text in sidebar.locator("a").all_inner_texts()]
    return [title for title in MENU if title in links]


def main_text(page: Page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def test_deep_link_as_first_request_needs_sign_in(app_factory, clinic_db, page):
    """The first request after a server start is a deep link to a case: the sign-in form
    only; after signing in, that case (the link's parameters kept) and the role's menu."""
    url = app_factory(clinic_db, LOCAL)
    open_app(page, url, "/case_explorer?patient=P1")
    page.get_by_role("button", name="Sign in").wait_for(timeout=30000)
    text = main_text(page)
    assert "P1" not in text and "Course timeline" not in text
    assert menu(page) == []
    sign_in(page, "sam")
    main = page.locator('[data-testid="stMain"]')
    main.get_by_text("Course timeline").first.wait_for(timeout=30000)
    assert "patient=P1" in page.url
    assert menu(page) == ["Overview", "Trajectories", "Safety", "Explore", "Case explorer"]
    rows = audit_rows(clinic_db)
    assert rows[["username", "action", "target"]].values.tolist() == [
        ["sam", "sign_in", None],
        ["sam", "view_case", "P1"],
    ]


def test_analyst_menu_and_refused_deep_link(app_factory, clinic_db, page):
    """An analyst's menu has the aggregate pages only; the Case explorer by link is refused
    and shows nothing of the patient; a new session in that browser is signed in again by
    its session cookie."""
    url = app_factory(clinic_db, LOCAL)
    open_app(page, url, "/")
    sign_in(page, "ana")
    assert menu(page) == ["Overview", "Trajectories", "Safety", "Explore"]
    open_app(page, url, "/case_explorer?patient=P1")
    resumed(page)
    page.get_by_text("is not open to your role (analyst)").wait_for(timeout=30000)
    assert "Course timeline" not in main_text(page)
    assert not page.locator('[data-testid="stPlotlyChart"]').count()
    assert [r for r in audit_rows(clinic_db)["action"] if r == "view_case"] == []


def test_clinician_and_supervisor_patient_and_site_outside_scope(app_factory, clinic_db, page):
    """A clinician lands on their one page from "/"; their link to another clinician's
    patient and a supervisor's `?site=` of another site reach nothing."""
    url = app_factory(clinic_db, LOCAL)
    open_app(page, url, "/")
    sign_in(page, "cleo")
    page.locator("h1").filter(has_text="Case explorer").wait_for(timeout=30000)
    assert "/case_explorer" in page.url
    open_app(page, url, "/case_explorer?patient=P1")
    resumed(page)
    page.get_by_text("in your scope").wait_for(timeout=30000)
    assert menu(page) == ["Case explorer"]
    sign_out(page)
    open_app(page, url, "/safety?site=South")
    sign_in(page, "sam")
    tile = page.locator('[data-testid="stMetric"]').filter(has_text="Dosing sessions").first
    tile.wait_for(timeout=30000)
    assert tile.locator('[data-testid="stMetricValue"]').inner_text().strip() == "7"
    assert "South" not in page.locator('[data-testid="stMultiSelect"]').first.inner_text()


def test_case_export_is_audited(app_factory, clinic_db, page):
    """Downloading the case summary writes an export row (who, which file, which patient)."""
    url = app_factory(clinic_db, LOCAL)
    open_app(page, url, "/case_explorer?patient=P1")
    sign_in(page, "dora")
    button = page.get_by_role("button", name="Case summary (HTML)")
    button.wait_for(timeout=60000)
    with page.expect_download(timeout=60000) as download:
        button.click()
    assert download.value.suggested_filename == "case-P1-P1-C1.html"
    assert "P1" in Path(download.value.path()).read_text()
    rows = audit_rows(clinic_db)
    exports = rows[rows["action"] == "export"]
    assert exports[["username", "target", "detail"]].values.tolist() == [
        ["dora", "case-P1-P1-C1.html", '{"patients": ["P1"]}'],
    ]


@pytest.fixture
def empty_db(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty clinic database with the accounts only."""
    monkeypatch.setattr(accounts, "_HASHER", fast_hasher())
    engine = make_engine(sqlite_url)
    upgrade(engine)
    add_accounts(engine)
    return sqlite_url


def test_upload_checked_and_import_audited(app_factory, empty_db, page, tmp_path):
    """A file that is not what its name says is refused before any importer reads it; a
    valid import is written and audited with who and what."""
    url = app_factory(empty_db, LOCAL)
    open_app(page, url, "/data")
    sign_in(page, "dora")
    fake = tmp_path / "patients.csv"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    uploader = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    uploader.set_input_files(str(fake))
    page.get_by_text("patients.csv: not a text file").wait_for(timeout=30000)
    wait_for_app(page)
    page.get_by_role("button", name="Remove patients.csv").click()
    wait_for_app(page)
    uploader.set_input_files(sorted(str(p) for p in (FIXTURES / "template_valid").glob("*.csv")))
    page.get_by_text("no problems found").wait_for(timeout=30000)
    page.get_by_role("button", name="Import now").click()
    page.get_by_text("Imported").wait_for(timeout=30000)
    wait_for_app(page)
    rows = audit_rows(empty_db)
    imports = rows[rows["action"] == "import"]
    assert imports["username"].tolist() == ["dora"]
    assert "patients.csv" in imports["target"].item()
