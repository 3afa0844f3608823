"""Sign-in on every entry path: local accounts (form, lock-out, idle sign-out, sign-out),
OpenID Connect (st.login identities mapped to accounts) and the modes without sign-in."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from kapviz.auth import accounts
from kapviz.auth.scope import DIRECTOR, SUPERVISOR
from kapviz.auth.throttle import failure_message
from kapviz.db.engine import make_engine
from kapviz.ui.session import SEEN_KEY, USER_KEY
from tests.pages.auth.conftest import PAGE_TITLES, PASSWORDS, audit_rows, sidebar_links

ROOT = Path(__file__).resolve().parents[3]
T0 = datetime(2026, 3, 2, 9, 0)


REFUSED = failure_message(15)
"""The sign-in form's answer to any failure with the default KAPVIZ_LOCKOUT_MINUTES."""


def _app(path: str, *, clock: datetime | None = None, **query) -> AppTest:
    at = AppTest.from_file(str(ROOT / path), default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = value
    if clock is not None:
        at.session_state["clock"] = clock
    return at


def _sign_in(at: AppTest, username: str, password: str) -> AppTest:
    at.text_input(key="auth_username").input(username)
    at.text_input(key="auth_password").input(password)
    at.button[0].click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("path", list(PAGE_TITLES))
def test_every_page_asks_for_sign_in_first(auth_url, data_calls, path):
    """Any page, opened directly with no one signed in, shows only the sign-in form."""
    at = _app(path, patient="P1")
    at.run()
    assert [t.value for t in at.title] == ["Sign in"]
    assert [i.label for i in at.text_input] == ["Username", "Password"]
    assert data_calls == []
    assert sidebar_links(at) == [] and not at.sidebar.multiselect
    assert not at.dataframe and not at.metric and not at.get("plotly_chart")


def test_sign_in_opens_the_deep_link(auth_url):
    """Signing in on a deep link opens that page with its parameters; audited."""
    at = _app("pages/case_explorer.py", patient="P2")
    at.run()
    _sign_in(at, "Sam ", PASSWORDS["sam"])  # usernames compare without case and spaces
    assert at.title[0].value == "Case explorer"
    assert at.selectbox(key="patient").value == "P2"
    assert "auth_password" not in at.session_state  # the password does not stay in the session
    rows = audit_rows(auth_url)
    assert rows[["username", "action"]].values.tolist()[:1] == [["sam", "sign_in"]]
    assert rows["action"].tolist() == ["sign_in", "view_case"]


def test_wrong_password_and_unknown_user_look_the_same(auth_url):
    """Both get the one failure message and both are audited as failures."""
    at = _app("pages/overview.py")
    at.run()
    _sign_in(at, "dora", "not-her-password")
    assert [e.value for e in at.error] == [REFUSED]
    _sign_in(at, "nobody", "whatever-password")
    assert [e.value for e in at.error] == [REFUSED]
    assert at.title[0].value == "Sign in"
    rows = audit_rows(auth_url)
    assert rows[["username", "action", "detail"]].values.tolist() == [
        ["dora", "sign_in_failed", "wrong_password"],
        ["nobody", "sign_in_failed", "unknown_user"],
    ]


def test_lock_out_after_repeated_failures(auth_url, monkeypatch):
    """KAPVIZ_LOCKOUT_FAILURES=3 wrong passwords from one source pause sign-in from there for
    KAPVIZ_LOCKOUT_MINUTES=10: even the right password fails until then, with the same
    message (tests/security/test_lockout.py: other sources and the account's own lock)."""
    monkeypatch.setenv("KAPVIZ_LOCKOUT_FAILURES", "3")
    monkeypatch.setenv("KAPVIZ_LOCKOUT_MINUTES", "10")
    refused = failure_message(10)
    at = _app("pages/overview.py", clock=T0)
    at.run()
    for _ in range(3):
        _sign_in(at, "dora", "wrong-password")
        assert [e.value for e in at.error] == [refused]
    _sign_in(at, "dora", PASSWORDS["dora"])
    assert [e.value for e in at.error] == [refused] and at.title[0].value == "Sign in"
    at.session_state["clock"] = T0 + timedelta(minutes=10)
    _sign_in(at, "dora", PASSWORDS["dora"])
    assert at.title[0].value == "Overview"
    details = audit_rows(auth_url)["detail"].tolist()
    assert details == ["wrong_password"] * 3 + ["source paused", None]


def test_idle_sign_out(auth_url, monkeypatch):
    """After KAPVIZ_IDLE_MINUTES without a rerun the next click signs out and forgets the
    session's state; a rerun within the time keeps the session (and counts as activity)."""
    monkeypatch.setenv("KAPVIZ_IDLE_MINUTES", "5")
    at = _app("pages/safety.py", clock=T0)
    at.session_state[USER_KEY] = "dora"
    at.session_state[SEEN_KEY] = T0 - timedelta(minutes=4, seconds=59)
    at.run()
    assert at.title[0].value == "Safety"
    assert at.session_state[SEEN_KEY] == T0
    at.session_state["clock"] = T0 + timedelta(minutes=5)
    at.run()
    assert [t.value for t in at.title] == ["Sign in"]
    assert "signed out after 5 minutes without activity" in at.info[0].value
    assert USER_KEY not in at.session_state and "_filters" not in at.session_state
    assert not at.metric


def test_sign_out_button(auth_url):
    """Sign out: back to the form, nothing of the session kept."""
    at = _app("pages/overview.py")
    at.session_state[USER_KEY] = "dora"
    at.session_state[SEEN_KEY] = datetime.now()
    at.run()
    assert "**Dora** · director" in at.sidebar.caption[0].value
    at.sidebar.button(key="auth_sign_out").click()
    at.run()
    assert [t.value for t in at.title] == ["Sign in"]
    assert "You signed out." in at.info[0].value
    assert USER_KEY not in at.session_state


def test_removed_account_is_signed_out(auth_url):
    """`users remove` ends a signed-in session at its next run."""
    at = _app("pages/overview.py")
    at.session_state[USER_KEY] = "ana"
    at.session_state[SEEN_KEY] = datetime.now()
    at.run()
    assert at.title[0].value == "Overview"
    with make_engine(auth_url).begin() as conn:
        accounts.remove_user(conn, "ana")
    at.run()
    assert [t.value for t in at.title] == ["Sign in"]
    assert "no longer active" in at.info[0].value


def test_exports_of_tables_are_off_with_sign_in(auth_url, clinic_url, monkeypatch):
    """With sign-in on, st.dataframe offers no built-in CSV download (exports go through the
    audited buttons); without sign-in it does, as before."""
    at = _app("pages/overview.py")
    at.run()
    assert st.get_option("client.disableDataExport") is True
    monkeypatch.setenv("KAPVIZ_AUTH_MODE", "none")
    _app("pages/overview.py").run()
    assert st.get_option("client.disableDataExport") is False


def test_auto_mode_signs_in_on_any_database_but_the_demo(auth_url, monkeypatch):
    """KAPVIZ_AUTH_MODE=auto (the default) asks for an account on a clinic database."""
    monkeypatch.setenv("KAPVIZ_AUTH_MODE", "auto")
    at = _app("pages/safety.py")
    at.run()
    assert [t.value for t in at.title] == ["Sign in"]


def test_embedded_database_asks_for_sign_in_once_clinic_data_are_imported(auth_url, monkeypatch):
    """ "auto" opens the embedded database only while it holds synthetic data: after an
    import of clinic data (an import run not flagged as the demo's) it asks for an account,
    on every page; an explicit KAPVIZ_AUTH_MODE=none is the operator's choice and kept."""
    from sqlalchemy import delete, insert

    import kapviz.config
    from kapviz.db.models import ImportRun

    monkeypatch.setattr(kapviz.config, "DEFAULT_DATABASE_URL", auth_url)
    monkeypatch.setenv("KAPVIZ_AUTH_MODE", "auto")
    with make_engine(auth_url).begin() as conn:
        conn.execute(delete(ImportRun))  # the hand clinic's own import run: start as a demo
        conn.execute(insert(ImportRun), [{"source": "demo", "kind": "demo", "is_demo": True}])
    at = _app("pages/overview.py")
    at.run()
    assert at.title[0].value == "Overview" and at.metric
    assert "embedded demo database" in at.sidebar.caption[0].value
    with make_engine(auth_url).begin() as conn:
        conn.execute(insert(ImportRun), [{"source": "clinic.xlsx", "kind": "template"}])
    st.cache_data.clear()  # as the next data-version check would
    for path in PAGE_TITLES:
        at = _app(path)
        at.run()
        assert [t.value for t in at.title] == ["Sign in"], path
        assert not at.metric and not at.get("plotly_chart")
    monkeypatch.setenv("KAPVIZ_AUTH_MODE", "none")
    at = _app("pages/overview.py")
    at.run()
    assert at.title[0].value == "Overview"


def test_sign_in_off_says_so(clinic_url, monkeypatch):
    """KAPVIZ_AUTH_MODE=none on a database that is not the embedded demo: every page opens,
    every page says that sign-in is off."""
    monkeypatch.setenv("KAPVIZ_AUTH_MODE", "none")
    at = _app("pages/audit.py")
    at.run()
    assert at.title[0].value == "Audit"
    assert "Sign-in is off (KAPVIZ_AUTH_MODE=none)" in at.sidebar.warning[0].value
    assert sidebar_links(at) == list(PAGE_TITLES.values())


# --- OpenID Connect -------------------------------------------------------------------------

AUTH_SECRETS = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "a-test-cookie-secret-of-some-length",
    "client_id": "kapviz",
    "client_secret": "client-secret",
    "server_metadata_url": "https://idp.example.org/.well-known/openid-configuration",
}


@pytest.fixture
def oidc_url(auth_url, monkeypatch):
    """The clinic with OpenID Connect sign-in and two identity-provider accounts."""
    monkeypatch.setenv("KAPVIZ_AUTH_MODE", "oidc")
    with make_engine(auth_url).begin() as conn:
        accounts.add_user(conn, "Olga@Clinic.org", None, role=DIRECTOR)
        accounts.add_user(conn, "sue@clinic.org", None, role=SUPERVISOR, sites=("South",))
    return auth_url


def _oidc_app(path: str, user: dict | None, **query) -> AppTest:
    at = _app(path, **query)
    at.secrets["auth"] = AUTH_SECRETS
    at.user = user if user is not None else {"is_logged_in": False}
    return at


def _identity(email: str, **claims) -> dict:
    return {"is_logged_in": True, "email": email, "iat": int(time.time()), **claims}


def test_oidc_needs_its_secrets(oidc_url):
    """Without an [auth] section the page says what to configure, and shows nothing else."""
    at = _app("pages/overview.py")
    at.run()
    assert "needs an `[auth]` section" in at.error[0].value
    assert not at.metric and not at.sidebar.multiselect


def test_oidc_signed_out_gets_the_sign_in_button(oidc_url, data_calls):
    at = _oidc_app("pages/safety.py", None)
    at.run()
    assert [b.label for b in at.button] == ["Sign in with your organisation's account"]
    assert data_calls == []


def test_oidc_identity_maps_to_its_account(oidc_url):
    """The identity's e-mail address finds its account (any case): role and sites apply;
    the sign-in is audited once per session, not per rerun."""
    at = _oidc_app("pages/safety.py", _identity("sue@CLINIC.org"))
    at.run()
    assert at.title[0].value == "Safety"
    assert at.sidebar.multiselect(key="site").options == ["South"]
    assert {m.label: m.value for m in at.metric}["Completed dosing sessions (all dates)"] == "2"
    at.run()
    rows = audit_rows(oidc_url)
    assert rows[["username", "action", "detail"]].values.tolist() == [
        ["sue@clinic.org", "sign_in", "oidc"]
    ]


def test_oidc_unknown_identity_refused(oidc_url, data_calls):
    """A valid identity without a kapviz account: a friendly refusal, nothing loaded; the
    failure is audited once."""
    at = _oidc_app("pages/overview.py", _identity("stranger@example.org"))
    at.run()
    at.run()
    assert at.title[0].value == "No kapviz account"
    assert "stranger@example.org" in at.warning[0].value
    assert data_calls == []
    rows = audit_rows(oidc_url)
    assert rows[["username", "action", "detail"]].values.tolist() == [
        ["stranger@example.org", "sign_in_failed", "oidc: no account"]
    ]


def test_oidc_unverified_email_refused(oidc_url):
    at = _oidc_app("pages/overview.py", _identity("olga@clinic.org", email_verified=False))
    at.run()
    assert at.title[0].value == "No kapviz account"
    assert audit_rows(oidc_url)["detail"].tolist() == ["oidc: unverified e-mail"]


def test_oidc_old_identity_cookie_signs_out(oidc_url, data_calls):
    """A new session carrying an identity issued longer ago than the idle time, with no
    activity since, is signed out (st.logout) instead of shown data."""
    stale = _identity("olga@clinic.org", iat=int(time.time()) - 3 * 3600)
    at = _oidc_app("pages/overview.py", stale)
    at.run()
    assert at.user == {"is_logged_in": False}
    assert data_calls == [] and not at.metric


def test_oidc_account_without_password_cannot_use_the_form(oidc_url, monkeypatch):
    """An identity-provider account has no password: the local form never lets it in."""
    monkeypatch.setenv("KAPVIZ_AUTH_MODE", "local")
    at = _app("pages/overview.py")
    at.run()
    _sign_in(at, "olga@clinic.org", "!no-password")
    assert [e.value for e in at.error] == [REFUSED]
