"""Markdown and HTML injection in a real browser (tests/security/test_markdown_injection.py
has the AppTest side): a clinic whose free text holds links, images and tags, opened page by
page as a director. No link to another host, no image from the data, no bold tag, no script
run (no dialog), and no request leaves 127.0.0.1."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from playwright.sync_api import Page

from kapviz.auth import accounts
from kapviz.auth.scope import DIRECTOR
from kapviz.cli import main
from kapviz.db.engine import make_engine
from tests.browser.conftest import assert_no_exception, open_app, wait_for_app
from tests.pages.auth.conftest import fast_hasher
from tests.security.hostile import MARKUP, write_clinic

PASSWORD = "director-pass-1"
PAGES = [
    ("/", "Overview"),
    ("/safety", "Safety"),
    ("/trajectories", "Trajectories"),
    ("/case_explorer?patient=P2", "Case explorer"),
    ("/data", "Data"),
]

# What the DOM may not hold: links to other hosts, images whose source is not the app (or
# inline data), <b> elements (kapviz's bold is markdown's <strong>), onerror attributes.
DOM_CHECK = """() => {
  const here = location.host;
  const links = [...document.querySelectorAll('a[href], a[*|href]')]
    .map(a => a.getAttribute('href') || a.getAttribute('xlink:href') || '')
    .filter(h => {
      try { return new URL(h, location.href).host !== here; } catch { return true; }
    });
  const images = [...document.querySelectorAll('img')].map(i => i.getAttribute('src') || '')
    .filter(s => !s.startsWith('data:') && new URL(s, location.href).host !== here);
  const bold = [...document.querySelectorAll('[data-testid="stMain"] b')].map(b => b.textContent);
  const handlers = document.querySelectorAll('[onerror], [onload]').length;
  return {links, images, bold, handlers};
}"""


@pytest.fixture
def hostile_db(sqlite_url: str, tmp_path, monkeypatch: pytest.MonkeyPatch) -> str:
    assert main(["import", str(write_clinic(tmp_path / "in", MARKUP)), "--db", sqlite_url]) == 0
    monkeypatch.setattr(accounts, "_HASHER", fast_hasher())
    with make_engine(sqlite_url).begin() as conn:
        accounts.add_user(conn, "dora", PASSWORD, role=DIRECTOR)
    return sqlite_url


def visit(page: Page, base_url: str, path: str) -> None:
    """Open `path` (a new session) signed in as the director: by the form on the first
    visit, by the session cookie after it."""
    open_app(page, base_url, path)
    username = page.get_by_role("textbox", name="Username")
    signed_in = page.get_by_text("Sign out")
    # The idle marker can show before the first run draws anything: wait for either state.
    username.or_(signed_in).first.wait_for(timeout=30000)
    if username.count():
        username.fill("dora")
        page.get_by_role("textbox", name="Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
    signed_in.wait_for(timeout=30000)
    wait_for_app(page)


def test_no_live_markup_and_no_outside_request(app_factory, hostile_db, page: Page):
    """Every page with the hostile clinic: the data shows as text, nothing else happens."""
    url = app_factory(hostile_db, {"KAPVIZ_AUTH_MODE": "local"})
    requests: list[str] = []
    dialogs: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    for path, marker in PAGES:
        visit(page, url, path)
        page.locator("h1", has_text=marker).first.wait_for(timeout=45000)
        wait_for_app(page)
        assert_no_exception(page)
        page.wait_for_timeout(500)  # charts draw after the script run ends
        found = page.evaluate(DOM_CHECK)
        assert found == {"links": [], "images": [], "bold": [], "handlers": 0}, path
    visit(page, url, "/")
    page.get_by_text("Not eligible at intake").first.wait_for(timeout=45000)
    wait_for_app(page)
    # The reason, shown as the characters it is made of (and invisible word joiners).
    text = page.locator('[data-testid="stMain"]').inner_text().replace("\u2060", "")
    assert "![px](http://127.0.0.2:9/pixel.png) [Sign in again](http://evil.example/login)" in (
        text
    )
    assert "<img src=x onerror=alert(1)>" in text
    outside = sorted({u for u in requests if urlparse(u).hostname not in ("127.0.0.1", None)})
    assert outside == [] and dialogs == []
