"""Defence: a wall screen is a display account: aggregates only, signed in by a revocable
token, never idle-signed-out, never a sign-in form, never a person's session.

Defended: `users add NAME --role display` prints a token once and stores only its hash (no
password can sign a display in); `?display_token=` signs the screen in (audited) and keeps it
signed in past KAPVIZ_IDLE_MINUTES; an unknown, replaced or revoked token gets a refusal and
no form; a person's session in the same browser is replaced, not continued; the display
sees what an analyst sees (no patient ids, small counts suppressed, no Case explorer).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from kapviz.auth import accounts, display
from kapviz.auth.models import User
from kapviz.cli import main
from kapviz.db.engine import make_engine
from kapviz.ui.session import SEEN_KEY, USER_KEY
from tests.pages.auth.conftest import DISPLAY_TOKEN, PATIENTS, audit_rows, shown_text

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 2, 9, 0)
NOT_VALID = "This wall-screen link is not valid"


def _screen(
    path: str = "pages/overview.py",
    *,
    token: str | None = None,
    patient: str | None = None,
    site: str | None = None,
    **state,
) -> AppTest:
    at = AppTest.from_file(str(ROOT / path), default_timeout=60)
    at.session_state["clock"] = T0
    for key, value in state.items():
        at.session_state[key] = value
    if token is not None:
        at.query_params[display.QUERY_PARAMETER] = token
    if patient is not None:
        at.query_params["patient"] = patient
    if site is not None:
        at.query_params["site"] = site
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_cli_prints_the_token_once_and_stores_its_hash(sqlite_url, capsys):
    """The CLI shows the token and the URL to open; the database holds a hash that is no
    password hash; `display-token` replaces it; set-password and set-role refuse."""
    assert main(["users", "add", "Wall1", "--role", "display", "--db", sqlite_url]) == 0
    out = capsys.readouterr().out
    token = out.split("shown only now; keep it like a password):\n  ")[1].split()[0]
    assert f"/?display_token={token}&kiosk=1" in out
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        stored = conn.execute(select(User.password_hash).where(User.username == "wall1")).one()[0]
        assert token not in stored and stored == display.token_hash(token)
        assert display.account_for_token(conn, token).role == "display"
        assert not accounts.verify_password(conn, "wall1", stored, now=T0).ok
    assert main(["users", "display-token", "wall1", "--db", sqlite_url]) == 0
    with engine.connect() as conn:
        assert display.account_for_token(conn, token) is None
    assert main(["users", "add", "x", "--role", "display", "--site", "North", "--db", sqlite_url])
    with engine.begin() as conn:
        with pytest.raises(ValueError, match="token, not a password"):
            accounts.set_password(conn, "wall1", "a-new-password-1")
        with pytest.raises(ValueError, match="users add NAME --role display"):
            accounts.set_role(conn, "dora-not-here", "display")


def test_token_signs_in_without_a_form_and_is_audited(auth_url):
    """The screen opens the Overview directly; the sign-in is in the audit trail."""
    at = _screen(token=DISPLAY_TOKEN["wall"])
    assert at.title[0].value == "Overview"
    assert not at.text_input  # no username or password box anywhere
    rows = audit_rows(auth_url)
    assert rows[["username", "action", "detail"]].values.tolist() == [
        ["wall", "sign_in", "display token"]
    ]


def test_unknown_token_refused_without_a_form(auth_url):
    at = _screen(token="not-a-token")
    assert any(NOT_VALID in e.value for e in at.error)
    assert not at.text_input and not at.metric
    assert audit_rows(auth_url)["detail"].tolist() == ["display token not valid"]


def test_no_idle_sign_out(auth_url, monkeypatch):
    """Ten times KAPVIZ_IDLE_MINUTES without a click: still the Overview."""
    monkeypatch.setenv("KAPVIZ_IDLE_MINUTES", "5")
    at = _screen(token=DISPLAY_TOKEN["wall"])
    at.session_state["clock"] = T0 + timedelta(minutes=50)
    at.run()
    assert at.title[0].value == "Overview" and not at.text_input


@pytest.mark.parametrize("how", ["new token", "removed"])
def test_replaced_or_removed_display_refused_at_next_run(auth_url, how):
    at = _screen(token=DISPLAY_TOKEN["wall"])
    with make_engine(auth_url).begin() as conn:
        if how == "removed":
            accounts.remove_user(conn, "wall")
        else:
            display.issue_token(conn, "wall")
    at.run()
    assert any(NOT_VALID in e.value for e in at.error)
    assert not at.metric and not at.text_input


def test_person_session_replaced_by_the_display(auth_url):
    """A clinician signed in in this browser: the display link does not continue their
    session, it starts the display's."""
    at = _screen(token=DISPLAY_TOKEN["wall"], **{USER_KEY: "cleo", SEEN_KEY: T0})
    assert at.session_state[USER_KEY] == "wall"
    assert at.title[0].value == "Overview"


@pytest.mark.parametrize("path", ["pages/overview.py", "pages/safety.py"])
def test_display_sees_aggregates_only(auth_url, path):
    """No patient id on the aggregate pages; counts below 11 shown as "<11"."""
    at = _screen(path, token=DISPLAY_TOKEN["wall"])
    text = shown_text(at)
    assert not [p for p in PATIENTS if p in text]
    assert "<11" in text


def test_display_refused_case_explorer(auth_url):
    at = _screen("pages/case_explorer.py", token=DISPLAY_TOKEN["wall"], patient="P1")
    assert any("not open to your role (display)" in e.value for e in at.error)
    assert not at.get("plotly_chart")


def test_share_link_never_carries_the_token(auth_url):
    """The Overview's "Share this view" link keeps the filters, not the screen's token."""
    at = _screen(token=DISPLAY_TOKEN["wall"], site="North")
    shared = [c.value for c in at.code]
    assert shared and all(DISPLAY_TOKEN["wall"] not in link for link in shared)
    assert any("site=North" in link for link in shared)
