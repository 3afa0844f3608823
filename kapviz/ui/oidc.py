"""Sign-in through OpenID Connect (`st.login`): the identity's e-mail address must be a kapviz
account, which gives the role and sites.

Streamlit keeps the identity in a cookie for 30 days; kapviz adds the idle rule on top: within
a session, `Settings.idle_minutes` without a rerun signs out (st.logout); a new browser session
resuming an identity issued longer ago than that, with no activity of that user in this
server process since, is signed out too, so an old cookie is no way back in.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import streamlit as st

from kapviz.auth import accounts, audit
from kapviz.config import Settings
from kapviz.ui import outage
from kapviz.ui.session import (
    FAILED_KEY,
    SEEN_KEY,
    USER_KEY,
    clear_session,
    record_as,
    sign_in_header,
)


# One process-wide record, no TTL: sign-in activity must outlive any time to live.
@st.cache_resource(max_entries=1, show_spinner=False)
def _activity() -> tuple[dict[str, float], threading.Lock]:
    """Last activity per username in this server process (epoch seconds)."""
    return {}, threading.Lock()


def mark_active(username: str) -> None:
    seen, lock = _activity()
    with lock:
        seen[username] = time.time()


def _recently_active(username: str, idle_minutes: int) -> bool:
    seen, lock = _activity()
    with lock:
        last = seen.get(username)
    return last is not None and time.time() - last < idle_minutes * 60


def _auth_section() -> Mapping[str, Any]:
    try:
        section = st.secrets.get("auth")
    except FileNotFoundError:
        return {}
    return section if isinstance(section, Mapping) else {}


def _provider(section: Mapping[str, Any]) -> str | None:
    """None for the default `[auth]` provider; the name of the one `[auth.<name>]` otherwise."""
    if "client_id" in section:
        return None
    named = [name for name, value in section.items() if isinstance(value, Mapping)]
    return named[0] if len(named) == 1 else None


def _oidc_configured(section: Mapping[str, Any]) -> bool:
    has_client = "client_id" in section or _provider(section) is not None
    return bool(section.get("redirect_uri") and section.get("cookie_secret") and has_client)


def _issued_recently(user: Mapping[str, Any], idle_minutes: int) -> bool:
    """True when the identity was issued within the idle window (ID-token `auth_time`/`iat`)."""
    for claim in ("auth_time", "iat"):
        value = user.get(claim)
        if isinstance(value, int | float):
            return time.time() - float(value) < idle_minutes * 60
    return True  # no time claim: nothing to judge by


def oidc_account(cfg: Settings, now: datetime) -> accounts.Account:
    section = _auth_section()
    if not _oidc_configured(section):
        st.error(
            "KAPVIZ_AUTH_MODE=oidc needs an `[auth]` section in `.streamlit/secrets.toml` "
            "(redirect_uri ending in /oauth2callback, cookie_secret, client_id, client_secret, "
            "server_metadata_url). See docs/settings.md.",
            icon=":material/key_off:",
        )
        st.stop()
    user = st.user
    if not user.get("is_logged_in"):
        sign_in_header()
        if st.button("Sign in with your organisation's account", type="primary", key="auth_oidc"):
            st.login(_provider(section))
        st.stop()
    email = str(user.get("email") or "").strip().lower()
    if st.session_state.get(USER_KEY) == email and email:
        if accounts.is_idle(st.session_state.get(SEEN_KEY), now, idle_minutes=cfg.idle_minutes):
            clear_session()
            st.logout()
            st.stop()
    elif email and not (
        _issued_recently(user, cfg.idle_minutes) or _recently_active(email, cfg.idle_minutes)
    ):
        # A new browser session resuming an old identity cookie after the idle time.
        clear_session()
        st.logout()
        st.stop()
    verified = email and user.get("email_verified") is not False
    account = outage.account_or_held(email) if verified else None
    if account is None:
        _refuse_identity(email, user)
    if st.session_state.get(USER_KEY) != account.username:
        # First run of this identity in this session: that is the sign-in.
        record_as(account.username, audit.SIGN_IN, detail="oidc", strict=True)
        st.session_state[USER_KEY] = account.username
    return account


def _refuse_identity(email: str, user: Mapping[str, Any]) -> None:
    """A signed-in identity with no kapviz account (or no verified e-mail): a friendly no."""
    shown = email or "an identity without an e-mail address"
    if st.session_state.get(FAILED_KEY) != email:
        reason = "unverified e-mail" if user.get("email_verified") is False else "no account"
        record_as(email or "(no e-mail)", audit.SIGN_IN_FAILED, detail=f"oidc: {reason}")
        st.session_state[FAILED_KEY] = email
    st.title("No kapviz account")
    st.warning(
        f"You signed in as **{shown}**, but kapviz has no account for it, so it shows you "
        "nothing. Ask a clinic director to add you "
        f"(`python -m kapviz users add {email or '<e-mail>'} --role … --no-password`), "
        "or sign out and use another account.",
        icon=":material/person_off:",
    )
    if st.button("Sign out", key="auth_oidc_refused_sign_out"):
        st.logout()
    st.stop()
