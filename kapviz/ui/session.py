"""The signed-in session: who is viewing, with which scope, and the audit rows they cause.

`kapviz.ui.auth.gate` puts the viewer of each run in session state; everything else reads it
here. While sign-in is off everyone is the open viewer (every page, every site) and the
filters stay as chosen. Audit rows: with sign-in on, a failed write fails the action; with
sign-in off it is logged (the demo may run on a read-only copy).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from kapviz.auth import accounts, audit, scope
from kapviz.auth.scope import Viewer
from kapviz.config import AUTH_AUTO, AUTH_LOCAL, AUTH_NONE
from kapviz.filters import Filters
from kapviz.ui.db import engine, settings

log = logging.getLogger(__name__)

ANONYMOUS = "anonymous"
OPEN_VIEWER = Viewer(ANONYMOUS, scope.DIRECTOR)
"""Who everyone is while sign-in is off: every page, every site (audit rows say anonymous)."""

USER_KEY = "_auth_user"
SEEN_KEY = "_auth_seen"
VIEWER_KEY = "_auth_viewer"
NAME_KEY = "_auth_name"
VIEWED_KEY = "_auth_viewed"
NOTICE_KEY = "_auth_notice"
ERROR_KEY = "_auth_error"
FAILED_KEY = "_auth_failed_identity"
DISPLAY_KEY = "_auth_display_token"
"""The token a display session signed in with (it is in the screen's URL as well)."""
PRESERVED_KEYS = ("clock",)
"""Session state that survives a sign-out: the session's clock (live.now), no user state."""


def session_now() -> datetime:
    """The clock of this session, as kapviz.ui.live.now (tests pin it with session_state)."""
    return st.session_state.get("clock") or datetime.now()


def sign_in_mode() -> str:
    """The sign-in in force: `Settings.sign_in`, except that the embedded database signs
    people in with local accounts once clinic data have been imported into it ("auto" opens
    only the synthetic demo clinic, issue 9). An explicit KAPVIZ_AUTH_MODE is kept."""
    cfg = settings()
    if cfg.sign_in == AUTH_NONE and cfg.auth_mode == AUTH_AUTO:
        from kapviz.ui import data  # data's loaders import this module

        if data.has_imported_clinic_data():
            return AUTH_LOCAL
    return cfg.sign_in


def is_on() -> bool:
    """True when this deployment signs people in (local accounts or OpenID Connect)."""
    return sign_in_mode() != AUTH_NONE


def viewer() -> Viewer:
    """The viewer of this run (set by `gate`); the open viewer while sign-in is off."""
    current = st.session_state.get(VIEWER_KEY)
    if isinstance(current, Viewer):
        return current
    if not is_on():
        return OPEN_VIEWER
    raise RuntimeError("no signed-in viewer: kapviz.ui.page.setup must run first")


def username() -> str:
    """Who the audit trail names for this run ("anonymous" while sign-in is off)."""
    return viewer().username


def scoped(filters: Filters) -> Filters:
    """The filters this viewer's queries run with (unchanged while sign-in is off)."""
    if not is_on():
        return filters
    return scope.scope_filters(viewer(), filters)


def clear_session(notice: str | None = None) -> None:
    """Forget everything of the signed-in user (filters, prepared exports, choices)."""
    for key in list(st.session_state.keys()):
        if key not in PRESERVED_KEYS:
            del st.session_state[key]
    if notice:
        st.session_state[NOTICE_KEY] = notice


def find_account(username: str) -> accounts.Account | None:
    """The account as it is now (role and scope re-read on every run); None once removed."""
    with engine().connect() as conn:
        return accounts.get_account(conn, username)


def sign_in_header() -> None:
    """Title of the sign-in page and the notice of why the user is there (sign-out, idle)."""
    st.title("Sign in")
    st.caption("kapviz shows patient-level clinical data: sign in to continue.")
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        st.info(notice, icon=":material/info:")


def record_as(
    who: str,
    action: str,
    *,
    target: str | None = None,
    detail: str | Mapping[str, object] | None = None,
    strict: bool | None = None,
) -> None:
    """An audit row in the user's name; `strict` (default: sign-in is on) raises on failure."""
    try:
        with engine().begin() as conn:
            audit.record(
                conn,
                username=who[: accounts.MAX_USERNAME_LENGTH],
                action=action,
                target=target,
                detail=detail,
                at=session_now(),
            )
    except SQLAlchemyError:
        must_write = is_on() if strict is None else strict
        if must_write:
            raise
        log.warning("audit row not written (%s %s %s)", who, action, target, exc_info=True)


def record(
    action: str, *, target: str | None = None, detail: str | Mapping[str, object] | None = None
) -> None:
    """One audit row for the viewer of this run."""
    record_as(username(), action, target=target, detail=detail)
