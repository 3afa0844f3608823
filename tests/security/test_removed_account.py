"""Defence: an account removed while its page is open stops seeing data within one refresh.

Defended, in a real browser on a live Overview (KAPVIZ_REFRESH_SECONDS=2): removing a
person's account (`users remove`) brings the sign-in form with "no longer active" without a
click, and removing a wall screen's display account brings the refusal (no form); the
display itself opened by its token shows the Overview with no sign-in form.
"""

from __future__ import annotations

import pytest

from kapviz.auth import accounts
from kapviz.db.engine import make_engine
from tests.browser.conftest import assert_no_exception, open_app, wait_for_app
from tests.clinic import build_clinic
from tests.pages.auth.conftest import DISPLAY_TOKEN, PASSWORDS, add_accounts, fast_hasher
from tests.pages.conftest import RECENT_ANCHOR

ENV = {"KAPVIZ_AUTH_MODE": "local", "KAPVIZ_REFRESH_SECONDS": "2"}
REFRESHES_WAIT_MS = 45_000
"""Quiet, the refusal shows within 3–6 s of the removal; CI once took over 15 s."""


@pytest.fixture
def clinic_db(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(accounts, "_HASHER", fast_hasher())
    engine = make_engine(sqlite_url)
    build_clinic(engine, RECENT_ANCHOR)
    add_accounts(engine)
    return sqlite_url


def _remove(url: str, username: str) -> None:
    with make_engine(url).begin() as conn:
        assert accounts.remove_user(conn, username)


def test_removed_person_signed_out_by_the_live_refresh(app_factory, clinic_db, page):
    base = app_factory(clinic_db, ENV)
    open_app(page, base, "/")
    page.get_by_role("textbox", name="Username").fill("ana")
    page.get_by_role("textbox", name="Password").fill(PASSWORDS["ana"])
    page.get_by_role("button", name="Sign in").click()
    page.locator('[data-testid="stMetric"]').first.wait_for(timeout=30000)
    wait_for_app(page)  # removed after the page's run, so only the live refresh can notice
    assert_no_exception(page)
    _remove(clinic_db, "ana")
    # Several refresh intervals: on a loaded CI machine one fragment run can take seconds.
    page.get_by_text("Your account is no longer active").wait_for(timeout=REFRESHES_WAIT_MS)
    wait_for_app(page)
    assert page.locator('[data-testid="stMetric"]').count() == 0


def test_wall_screen_by_token_then_revoked(app_factory, clinic_db, page):
    base = app_factory(clinic_db, ENV)
    open_app(page, base, f"/?display_token={DISPLAY_TOKEN['wall']}&kiosk=1")
    page.locator('[data-testid="stMetric"]').first.wait_for(timeout=30000)
    assert page.get_by_role("textbox", name="Password").count() == 0
    wait_for_app(page)
    _remove(clinic_db, "wall")
    page.get_by_text("This wall-screen link is not valid").wait_for(timeout=REFRESHES_WAIT_MS)
    wait_for_app(page)
    assert page.locator('[data-testid="stMetric"]').count() == 0
    assert page.get_by_role("textbox", name="Password").count() == 0
