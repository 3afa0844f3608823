"""The local sign-in's cookie (kapviz.auth.session_token): written by a script in the page
when a user signs in (and again each minute of activity), read from the request when a new
browser session starts, e.g. after the balancer moved the browser to another app process.

Streamlit offers no way to set a cookie from the server, so a small script sets it in the
browser (`SameSite=Strict`, `Secure` on HTTPS, expiring with the idle time). Every process
must share Streamlit's `server.cookieSecret` for a cookie of one process to open a session on
another (docs/deploy.md); unset, Streamlit makes a random one per process, so the cookie
only serves the process that wrote it.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

import streamlit as st

from kapviz.auth import accounts, session_token
from kapviz.config import Settings

log = logging.getLogger(__name__)

COOKIE = "kapviz_session"
WRITTEN_KEY = "_auth_cookie_written"
"""When this browser session last wrote the cookie (its activity time)."""
REFUSED_KEY = "_auth_cookie_refused"
"""Set on sign-out: the cookie this browser sent at connection is not used again."""
REFRESH = timedelta(minutes=1)
"""The cookie's activity time is renewed at most this often (each write is a script)."""


def _secret() -> str:
    return str(st.get_option("server.cookieSecret") or "")


def sent() -> str | None:
    """The cookie this browser sent when its session connected."""
    return st.context.cookies.get(COOKIE)


def resume(cfg: Settings, now: datetime) -> accounts.Account | None:
    """The account of a valid cookie sent by this browser, or None."""
    if st.session_state.get(REFUSED_KEY):
        _script("", max_age=0)  # signed out: the browser drops the cookie
        return None
    token = session_token.parse(sent())
    if token is None:
        return None
    from kapviz.ui.session import find_account  # session imports this module's neighbours

    account = find_account(token.username)
    if account is None or not session_token.is_valid(
        token,
        updated_at=account.updated_at,
        secret=_secret(),
        now=now,
        idle_minutes=cfg.idle_minutes,
    ):
        return None
    log.info("session of %s resumed from its cookie", account.username)
    return account


def keep(account: accounts.Account, cfg: Settings, now: datetime) -> None:
    """Write or renew the cookie of the signed-in account (at most once a minute)."""
    written = st.session_state.get(WRITTEN_KEY)
    if isinstance(written, datetime) and timedelta(0) <= now - written < REFRESH:
        return
    value = session_token.issue(
        account.username, active_at=now, updated_at=account.updated_at, secret=_secret()
    )
    _script(value, max_age=cfg.idle_minutes * 60)
    st.session_state[WRITTEN_KEY] = now


def forget() -> None:
    """On sign-out: the sign-in page that follows removes the cookie from the browser, and
    this session never resumes from the one it was sent."""
    st.session_state[REFUSED_KEY] = True


def _script(value: str, *, max_age: int) -> None:
    cookie = json.dumps(f"{COOKIE}={value}; Path=/; Max-Age={max_age}; SameSite=Strict")
    st.sidebar.html(
        "<script>document.cookie = "
        f"{cookie} + (location.protocol === 'https:' ? '; Secure' : '');</script>",
        unsafe_allow_javascript=True,
    )
