"""Defence: sign-in guessing is slowed where it comes from, without an oracle or a lock-out
of someone else.

Defended: every failed sign-in gets the same answer, whether the username exists, the
password is wrong, the source is paused or the account is locked (only the audit trail
tells them apart); failures are counted by source (the browser connection's address), so a
source that fails KAPVIZ_LOCKOUT_FAILURES times is paused whatever names it tries, while
the director signing in from elsewhere is not locked out; the account's own lock needs four
times as many failures in a row, i.e. several sources.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from kapviz.auth import throttle
from kapviz.auth.throttle import SourceThrottle, failure_message
from kapviz.ui import auth
from tests.pages.auth.conftest import PASSWORDS, audit_rows

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 2, 9, 0)
REFUSED = failure_message(15)


@pytest.fixture
def source(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The address the next sign-in comes from (`source["ip"] = ...` to move)."""
    where = {"ip": "203.0.113.66"}
    monkeypatch.setattr(auth, "client_source", lambda: where["ip"])
    return where


def _form() -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages/overview.py"), default_timeout=60)
    at.session_state["clock"] = T0
    at.run()
    return at


def _sign_in(at: AppTest, username: str, password: str) -> str | None:
    at.text_input(key="auth_username").input(username)
    at.text_input(key="auth_password").input(password)
    at.button[0].click()
    at.run()
    assert not at.exception
    return at.error[0].value if at.error else None


def test_unknown_and_known_names_answer_alike_to_the_end(auth_url, source):
    """Six failures for a real name and for an unknown one: the same answer every time,
    before and after the limit (no "locked" hint that would reveal that dora exists)."""
    answers = {}
    for name in ("dora", "nobody-here"):
        source["ip"] = f"198.51.100.{len(answers) + 1}"
        at = _form()
        answers[name] = [_sign_in(at, name, "wrong-password-1") for _ in range(6)]
    assert answers["dora"] == answers["nobody-here"] == [REFUSED] * 6


def test_director_not_locked_out_by_someone_else(auth_url, source):
    """Five wrong passwords for dora from one address pause that address only: dora signs in
    from her own address at once."""
    attacker = _form()
    for _ in range(5):
        assert _sign_in(attacker, "dora", "guess-guess") == REFUSED
    assert _sign_in(attacker, "dora", PASSWORDS["dora"]) == REFUSED  # paused, right or not
    source["ip"] = "192.0.2.10"
    director = _form()
    assert _sign_in(director, "dora", PASSWORDS["dora"]) is None
    assert director.title[0].value == "Overview"
    details = audit_rows(auth_url)["detail"].tolist()
    assert details == ["wrong_password"] * 5 + ["source paused", None]


def test_source_paused_whatever_names_it_tries(auth_url, source):
    """Spraying one password over many names from one address: paused after five, for the
    real account too; after KAPVIZ_LOCKOUT_MINUTES it may try again."""
    at = _form()
    for name in ("a1", "b2", "c3", "d4", "e5"):
        assert _sign_in(at, name, "Winter2026!") == REFUSED
    assert _sign_in(at, "ana", PASSWORDS["ana"]) == REFUSED
    at.session_state["clock"] = T0 + timedelta(minutes=15)
    assert _sign_in(at, "ana", PASSWORDS["ana"]) is None


def test_account_lock_needs_failures_from_several_sources(auth_url, source):
    """The account lock (a guesser spread over addresses) takes 4 × 5 failures in a row."""
    for k in range(throttle.ACCOUNT_LOCK_FACTOR):
        source["ip"] = f"198.51.100.{10 + k}"
        at = _form()
        for _ in range(5):
            _sign_in(at, "dora", "spread-guess")
    source["ip"] = "192.0.2.10"
    assert _sign_in(_form(), "dora", PASSWORDS["dora"]) == REFUSED
    assert audit_rows(auth_url)["detail"].tolist()[-1] == "locked"


def test_throttle_window_and_memory_bound(monkeypatch):
    """Failures older than the window no longer count; the table of sources stays bounded."""
    t = SourceThrottle(max_failures=2, window=timedelta(minutes=10))
    t.failed("a", T0)
    t.failed("a", T0 + timedelta(minutes=5))
    assert t.paused_until("a", T0 + timedelta(minutes=6)) == T0 + timedelta(minutes=10)
    assert t.paused_until("a", T0 + timedelta(minutes=10)) is None
    monkeypatch.setattr(throttle, "MAX_SOURCES", 3)
    for k in range(10):
        t.failed(f"s{k}", T0)
    assert len(t._failures) == 3
