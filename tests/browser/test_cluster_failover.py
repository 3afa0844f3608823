"""Two app processes behind HAProxy (deploy/haproxy.cfg): a signed-in user whose process is
killed is served again by the other one, still signed in, within 30 s."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import Page

from kapviz.db.engine import make_engine
from tests.browser.conftest import APP_IDLE, EXCEPTION, wait_for_app
from tests.clinic import build_clinic
from tests.cluster import cluster, find_haproxy, server_of
from tests.conftest import missing_requirement
from tests.pages.auth.conftest import PASSWORDS, add_accounts

FAILOVER_SECONDS = 30


@pytest.fixture
def two_apps(tmp_path: Path):
    if find_haproxy() is None:
        missing_requirement("haproxy is not installed: apt-get install haproxy")
    url = f"sqlite:///{tmp_path}/clinic.db"
    engine = make_engine(url)
    build_clinic(engine)
    add_accounts(engine)
    with cluster(url, tmp_path / "cluster", replicas=2,
                 env={"KAPVIZ_AUTH_MODE": "local"}) as running:  # fmt: skip
        yield running


def _sign_in(page: Page, base: str, user: str) -> None:
    page.goto(base + "/", timeout=60000)
    page.get_by_role("textbox", name="Username").fill(user)
    page.get_by_role("textbox", name="Password").fill(PASSWORDS[user])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text(f"{user}", exact=False).first.wait_for(timeout=60000)
    page.locator('[data-testid="stSidebar"]').get_by_text("director").wait_for(timeout=60000)
    wait_for_app(page, timeout=60000)


def _signed_in(page: Page) -> bool:
    sidebar = page.locator('[data-testid="stSidebar"]')
    return (
        page.locator(APP_IDLE).count() == 1
        and page.locator('input[type="password"]').count() == 0
        and sidebar.get_by_text("director").count() > 0
    )


def test_a_signed_in_user_survives_the_death_of_their_process(two_apps, page: Page):
    _sign_in(page, two_apps.base_url, "dora")
    serving = server_of(page.context.cookies())
    assert serving in {"app1", "app2"}
    assert any(c["name"] == "kapviz_session" for c in page.context.cookies())
    two_apps.kill(serving)
    killed_at = time.monotonic()
    # The open page reconnects by itself; the balancer sends it to the other process.
    while time.monotonic() - killed_at < FAILOVER_SECONDS:
        if page.locator(EXCEPTION).count() == 0 and _signed_in(page):
            other = server_of(page.context.cookies())
            if other not in (None, serving):
                break
        time.sleep(0.25)
    else:
        pytest.fail(f"not served again, signed in, within {FAILOVER_SECONDS} s")
    served_after = time.monotonic() - killed_at
    # A full reload on the new process: still signed in, no sign-in form.
    page.goto(two_apps.base_url + "/safety", timeout=60000)
    wait_for_app(page, timeout=60000)
    assert _signed_in(page), "a reload after the failover asks for the password again"
    assert page.locator(EXCEPTION).count() == 0
    assert served_after < FAILOVER_SECONDS
