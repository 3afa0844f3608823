"""Access control in the app: the sign-in gate, the page and case checks, audit of case views.

Every page passes through `kapviz.ui.page.setup`, which calls `gate()` before anything else:
- sign-in off (`session.sign_in_mode() == "none"`: by default the embedded database while it
  holds only the synthetic demo clinic): everyone is the open viewer (all pages, all sites)
  and the filters stay as the sidebar set them;
- local accounts: a sign-in form (lock-out after repeated failures, counted in the database)
  until a password matches; idle sign-out after `Settings.idle_minutes` without a rerun;
- OpenID Connect (kapviz.ui.oidc): `st.login()` through the `[auth]` secrets.
The account is read again on every run, so `users set-role` or `users remove` takes effect on
the next click. A signed-in run stores the viewer in session state (kapviz.ui.session).

Session state, exports and redaction live in kapviz.ui.session, kapviz.ui.exports and
kapviz.ui.redact; pages import each name from the module that defines it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime, timedelta

import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitAPIException

from kapviz.auth import accounts, audit, display, scope
from kapviz.auth import throttle as throttle_mod
from kapviz.auth.scope import Viewer
from kapviz.config import AUTH_NONE, AUTH_OIDC, Settings
from kapviz.filters import Filters
from kapviz.instruments import OUTCOME_INSTRUMENTS
from kapviz.ui import data, nav, outage, session, session_cookie
from kapviz.ui.db import engine, settings
from kapviz.ui.oidc import mark_active, oidc_account
from kapviz.ui.session import (
    DISPLAY_KEY,
    ERROR_KEY,
    NAME_KEY,
    OPEN_VIEWER,
    SEEN_KEY,
    USER_KEY,
    VIEWED_KEY,
    VIEWER_KEY,
    clear_session,
    find_account,
    is_on,
    record,
    scoped,
    session_now,
    sign_in_header,
    sign_in_mode,
    username,
    viewer,
)


def gate() -> Viewer:
    """The signed-in viewer of this run; draws the sign-in page and stops the run until then."""
    cfg = settings()
    mode = sign_in_mode()
    _export_controls(mode)
    if mode == AUTH_NONE:
        st.session_state[VIEWER_KEY] = OPEN_VIEWER
        return OPEN_VIEWER
    now = session_now()
    token = st.query_params.get(display.QUERY_PARAMETER) or st.session_state.get(DISPLAY_KEY)
    if token:
        # Kept in the URL across the menu's page links, so a reload signs the screen in again.
        st.query_params[display.QUERY_PARAMETER] = token
        account = _display_account(token, now)
    else:
        sign_in = oidc_account if mode == AUTH_OIDC else _local_account
        account = sign_in(cfg, now)
    st.session_state[VIEWER_KEY] = account.viewer
    st.session_state[NAME_KEY] = account.display_name or account.username
    st.session_state[SEEN_KEY] = now
    mark_active(account.username)
    return account.viewer


def _export_controls(mode: str) -> None:
    """With sign-in on, tables offer no built-in CSV download or copy: exports go through the
    audited, formula-neutralised download buttons only. The option is process-wide (so is the
    sign-in mode) and reaches the browser with the next run, hence one rerun when it changes."""
    wanted = mode != AUTH_NONE
    if bool(st.get_option("client.disableDataExport")) == wanted:
        return
    st.set_option("client.disableDataExport", wanted)
    if wanted:
        st.rerun()


def _local_account(cfg: Settings, now: datetime) -> accounts.Account:
    username = st.session_state.get(USER_KEY)
    if username and accounts.is_idle(
        st.session_state.get(SEEN_KEY), now, idle_minutes=cfg.idle_minutes
    ):
        clear_session(f"You were signed out after {cfg.idle_minutes} minutes without activity.")
        username = None
    if not username:
        resumed = session_cookie.resume(cfg, now)  # e.g. after the balancer moved us
        if resumed is not None:
            username = st.session_state[USER_KEY] = resumed.username
    if username:
        account = _account_now(username)
        if account is not None:
            session_cookie.keep(account, cfg, now)
            return account
        clear_session("Your account is no longer active. Ask a director.")
    _sign_in_form()
    st.stop()
    raise AssertionError("unreachable")  # st.stop() raises; keeps type checkers honest


def _display_account(token: str, now: datetime) -> accounts.Account:
    """A wall screen's URL token (kapviz.auth.display): its display account, checked on every
    run, in place of whatever session the browser held; never a sign-in form."""
    username = st.session_state.get(USER_KEY)
    if st.session_state.get(DISPLAY_KEY) == token and username:
        try:
            with engine().connect() as conn:
                valid = display.holds_token(conn, username, token)
        except Exception as exc:
            if not outage.is_unreachable(exc):
                raise
            valid = True  # the session keeps what it showed; the outage banner says so
        if valid:
            return _account_now(username) or _refuse_display()
        clear_session()
        _refuse_display()
    clear_session()  # a person's session never continues under a display's link
    with engine().begin() as conn:
        account = display.sign_in(conn, token, now=now)
    if account is None:
        _refuse_display()
    st.session_state[USER_KEY] = account.username
    st.session_state[SEEN_KEY] = now
    st.session_state[DISPLAY_KEY] = token
    return account


def _refuse_display() -> accounts.Account:
    st.title("kapviz")
    st.error(
        "This wall-screen link is not valid: the display was removed or given a new link. "
        "Ask a clinic director for the current one.",
        icon=":material/tv_off:",
    )
    st.stop()
    raise AssertionError("unreachable")  # st.stop() raises


def _account_now(username: str) -> accounts.Account | None:
    return outage.account_or_held(username)


def _sign_in_form() -> None:
    sign_in_header()
    error = st.session_state.pop(ERROR_KEY, None)
    if error:
        st.error(error, icon=":material/lock:")
    with st.form("auth_sign_in"):
        st.text_input("Username", key="auth_username", autocomplete="username")
        st.text_input(
            "Password", type="password", key="auth_password", autocomplete="current-password"
        )
        st.form_submit_button("Sign in", type="primary", on_click=_attempt_sign_in)
    st.caption(
        "No account yet? An administrator creates one on the server: "
        "`python -m kapviz users add NAME --role director|supervisor|clinician|analyst`."
    )


def _attempt_sign_in() -> None:
    """The form's callback: check the password, count a failure, or start the session."""
    cfg = settings()
    username = str(st.session_state.get("auth_username") or "")
    password = str(st.session_state.get("auth_password") or "")
    st.session_state["auth_password"] = ""
    if not username.strip() or not password:
        st.session_state[ERROR_KEY] = "Enter your username and password."
        return
    now = session_now()
    source = client_source()
    throttle = _throttle(cfg.lockout_failures, cfg.lockout_minutes)
    refused = throttle_mod.failure_message(cfg.lockout_minutes)
    try:
        if throttle.paused_until(source, now) is not None:
            # No password is checked from a paused source; the attempt is still audited.
            session.record_as(
                username.strip().lower(), audit.SIGN_IN_FAILED, detail="source paused"
            )
            st.session_state[ERROR_KEY] = refused
            return
        with engine().begin() as conn:
            result = accounts.sign_in(
                conn,
                username,
                password,
                now=now,
                max_failures=cfg.lockout_failures * throttle_mod.ACCOUNT_LOCK_FACTOR,
                lock_minutes=cfg.lockout_minutes,
            )
    except Exception as exc:
        if not outage.is_unreachable(exc):
            raise
        outage.mark_down(outage.database_url(), exc)
        st.session_state[ERROR_KEY] = (
            "The database is not reachable, so nobody can sign in right now. Try again in a minute."
        )
        return
    if not result.ok:
        throttle.failed(source, now)
        st.session_state[ERROR_KEY] = refused
        return
    clear_session()
    st.session_state[USER_KEY] = result.username
    st.session_state[SEEN_KEY] = now


# One per lock-out setting, no TTL: failed sign-ins must be counted across the window.
@st.cache_resource(max_entries=4, show_spinner=False)
def _throttle(max_failures: int, minutes: int) -> throttle_mod.SourceThrottle:
    """The process's count of failed sign-ins by source (one per lock-out setting)."""
    return throttle_mod.SourceThrottle(max_failures=max_failures, window=timedelta(minutes=minutes))


def client_source() -> str:
    """Where a sign-in comes from: the address of the browser's connection; behind a reverse
    proxy on the same host (a loopback peer), the proxy's X-Forwarded-For / X-Real-IP."""
    peer = st.context.ip_address
    if isinstance(peer, str) and peer:
        return peer
    headers = st.context.headers
    forwarded = str(headers.get("X-Forwarded-For") or "").split(",")[0].strip()
    real = str(headers.get("X-Real-IP") or "").strip()
    return forwarded or real or throttle_mod.UNKNOWN_SOURCE


def newest_record_at() -> datetime | None:
    """The newest session or score the viewer may see ("data as of" on live pages)."""
    within = scoped(Filters())
    if not within.sites and within.clinician is None:
        return data.newest_record_at()
    if scope.matches_nothing(within):
        return None
    started = data.sessions(within)["started_at"]
    scored = data.assessments(within, instruments=list(OUTCOME_INSTRUMENTS))["administered_at"]
    values = [pd.Timestamp(v).to_pydatetime() for v in (started.max(), scored.max()) if pd.notna(v)]
    return max(values) if values else None


def visible_sites(all_sites: Sequence[str]) -> list[str]:
    """The site filter's options: the viewer's sites only."""
    return list(scope.visible_sites(viewer(), tuple(all_sites)))


def as_code(text: str) -> str:
    """Text from a URL shown as inline code: markdown in it (links, images) is not rendered."""
    return "`" + text.replace("`", "").replace("\n", " ")[:120] + "`"


def visible_indications(all_indications: Sequence[str]) -> list[str]:
    """The indication filter's options: for a restricted viewer, only those of their patients
    (the name of an indication treated only elsewhere is data from outside the scope)."""
    within = scoped(Filters())
    if not within.sites and within.clinician is None:
        return list(all_indications)
    if scope.matches_nothing(within):
        return []
    mine = set(data.patients(within)["indication"].dropna())
    return [i for i in all_indications if i in mine]


def account_box() -> None:
    """Who is signed in and the sign-out button (or that sign-in is off), in the sidebar."""
    cfg = settings()
    mode = sign_in_mode()
    if mode == AUTH_NONE:
        if cfg.is_embedded_default:
            st.sidebar.caption(
                ":material/lock_open: No sign-in: this is the embedded demo database "
                "with synthetic patients."
            )
        else:
            st.sidebar.warning(
                "Sign-in is off (KAPVIZ_AUTH_MODE=none) on a database that is not the "
                "embedded demo: anyone who can open this address sees every patient.",
                icon=":material/lock_open:",
            )
        return
    v = viewer()
    where = ""
    if v.role == scope.SUPERVISOR:
        where = " · " + ", ".join(v.sites)
    elif v.role == scope.CLINICIAN:
        where = " · own patients"
    name = st.session_state.get(NAME_KEY) or v.username
    st.sidebar.caption(f":material/account_circle: **{name}** · {v.role}{where}")
    if st.sidebar.button("Sign out", key="auth_sign_out", icon=":material/logout:"):
        clear_session("You signed out.")
        session_cookie.forget()
        if mode == AUTH_OIDC:
            st.logout()
        st.rerun()


def check_page(page: nav.PageSpec) -> None:
    """Stop with a friendly refusal when the viewer's role may not open this page."""
    v = viewer()
    if scope.may_open(v, page.key):
        return
    allowed = nav.allowed_pages(v)
    if page.default and allowed:
        # The landing page ("/") is not this role's: go to the first page that is.
        # Run on its own (AppTest.from_file) no page is registered: refuse below instead.
        with contextlib.suppress(StreamlitAPIException):
            st.switch_page(allowed[0].path)
    st.title(page.title)
    st.error(
        f"The {page.title} page is not open to your role ({v.role}). Nothing of it was "
        "loaded. Ask a clinic director if you need it.",
        icon=":material/block:",
    )
    if allowed:
        st.markdown("Pages open to you:")
        for p in allowed:
            nav.link(p)
    st.stop()


def check_case_link() -> None:
    """Refuse a `?patient=` link to a patient outside the viewer's scope (before any data).

    Unknown and out-of-scope ids get the same answer, so ids cannot be probed; the attempt is
    in the audit trail. With sign-in off the scope is the whole clinic: an unknown id is
    named rather than silently dropped by the picker.
    """
    requested = st.query_params.get("patient")
    if not requested:
        return
    if data.known_patients(scoped(Filters()), [requested]):
        return
    record(audit.VIEW_CASE, target=requested, detail="refused: not in the viewer's scope")
    st.title(nav.spec(scope.CASE_EXPLORER).title)
    st.error(
        f"No patient {as_code(requested)} in your scope. Nothing was loaded. Check the id, or "
        "choose a patient from the list instead.",
        icon=":material/block:",
    )
    nav.link(nav.spec(scope.CASE_EXPLORER))
    st.stop()


def check_scope_has_patients() -> None:
    """A supervisor or clinician with no patient in scope (sites without patients yet, a
    clinician code with no sessions) is told so once, instead of empty charts on every page."""
    within = scoped(Filters())
    if not is_on() or (not within.sites and within.clinician is None):
        return
    if not scope.matches_nothing(within) and data.has_patients(within):
        return
    v = viewer()
    whose = f"sites {', '.join(v.sites)}" if v.role == scope.SUPERVISOR else "your own patients"
    st.info(
        f"No patients to show: your scope ({whose}) holds no patient yet. Ask a clinic "
        "director if your account should cover other sites or another clinician code.",
        icon=":material/person_search:",
    )
    st.stop()


def check_idle() -> None:
    """What every live fragment run checks first (it reruns without `page.setup`), each
    answered by a full rerun of the page: the database went away or came back
    (kapviz.ui.outage); the session is idle, so the idle sign-out happens on a wall screen
    too (fragment runs are not activity); the signed-in account was removed meanwhile."""
    outage.follow(data.version)
    cfg = settings()
    if sign_in_mode() == AUTH_NONE:
        return
    held = st.session_state.get(VIEWER_KEY)
    is_display = isinstance(held, Viewer) and held.role == scope.DISPLAY
    if not is_display and accounts.is_idle(
        st.session_state.get(SEEN_KEY), session_now(), idle_minutes=cfg.idle_minutes
    ):
        st.rerun(scope="app")
    if isinstance(held, Viewer) and held.username != OPEN_VIEWER.username:
        try:
            current = find_account(held.username)
            token = st.session_state.get(DISPLAY_KEY) if is_display else None
            if is_display and token:
                with engine().connect() as conn:
                    current = current if display.holds_token(conn, held.username, token) else None
        except Exception as exc:
            if not outage.is_unreachable(exc):
                raise
            return  # the outage itself is shown by outage.follow
        if current is None or current.viewer != held:
            st.rerun(scope="app")


def record_case_view(patient_id: str, course_id: str | None = None) -> None:
    """Audit a case view once per patient per signed-in session (not per rerun)."""
    viewed = st.session_state.setdefault(VIEWED_KEY, set())
    key = (username(), patient_id)
    if key in viewed:
        return
    record(audit.VIEW_CASE, target=patient_id, detail={"course": course_id} if course_id else None)
    viewed.add(key)


def record_import(names: str, kind: str, *, added: int, updated: int) -> None:
    """Audit an import that was written."""
    record(audit.IMPORT, target=names, detail={"kind": kind, "added": added, "updated": updated})
