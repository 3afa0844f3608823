"""A browser whose app process died comes back signed in on another process: the session
cookie (kapviz.ui.session_cookie) opens the session, within the idle time, until sign-out."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from kapviz.auth import accounts, session_token
from kapviz.db.engine import make_engine
from kapviz.ui import session_cookie
from kapviz.ui.session import USER_KEY

ROOT = Path(__file__).resolve().parents[3]


def _token(url: str, username: str, active_at: datetime) -> str:
    with make_engine(url).connect() as conn:
        account = accounts.get_account(conn, username)
    return session_token.issue(
        username,
        active_at=active_at,
        updated_at=account.updated_at,
        secret=str(st.get_option("server.cookieSecret")),
    )


def _run(monkeypatch: pytest.MonkeyPatch, cookie: str | None, state: dict | None = None):
    monkeypatch.setattr(session_cookie, "sent", lambda: cookie)
    at = AppTest.from_file(str(ROOT / "pages/overview.py"), default_timeout=60)
    for key, value in (state or {}).items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _signed_in_as(at: AppTest) -> str | None:
    return at.session_state[USER_KEY] if USER_KEY in at.session_state else None  # noqa: SIM401


def test_a_new_session_with_a_valid_cookie_is_signed_in(auth_url, monkeypatch):
    at = _run(monkeypatch, _token(auth_url, "dora", datetime.now() - timedelta(minutes=5)))
    assert _signed_in_as(at) == "dora"
    assert not [t for t in at.title if t.value == "Sign in"]
    assert session_cookie.WRITTEN_KEY in at.session_state, "the cookie is renewed"


def test_an_idle_or_foreign_cookie_shows_the_sign_in_form(auth_url, monkeypatch):
    idle = _token(auth_url, "dora", datetime.now() - timedelta(minutes=31))
    for cookie in (idle, "v1.ZG9yYQ.1700000000.0123", None):
        at = _run(monkeypatch, cookie)
        assert _signed_in_as(at) is None
        assert [t for t in at.title if t.value == "Sign in"]


def test_a_cookie_is_void_after_the_account_changes(auth_url, monkeypatch):
    cookie = _token(auth_url, "sam", datetime.now())
    with make_engine(auth_url).begin() as conn:
        accounts.set_password(conn, "sam", "a brand new password 2")
    at = _run(monkeypatch, cookie)
    assert _signed_in_as(at) is None


def test_after_sign_out_the_sent_cookie_is_not_used_again(auth_url, monkeypatch):
    cookie = _token(auth_url, "ana", datetime.now())
    at = _run(monkeypatch, cookie)
    assert _signed_in_as(at) == "ana"
    at.sidebar.button(key="auth_sign_out").click().run()
    assert _signed_in_as(at) is None
    assert [t for t in at.title if t.value == "Sign in"]
    assert at.session_state[session_cookie.REFUSED_KEY] is True
