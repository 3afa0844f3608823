"""Access control in the app: sign-in, the viewer's role and scope, audit rows, de-identified views.

Every page passes through `kapviz.ui.page.setup`, which calls `gate()` before anything else:
- sign-in off (`Settings.sign_in == "none"`, the embedded demo database by default): everyone
  is the open viewer (all pages, all sites) and the filters stay as the sidebar set them;
- local accounts: a sign-in form (lock-out after repeated failures, counted in the database)
  until a password matches; idle sign-out after `Settings.idle_minutes` without a rerun;
- OpenID Connect: `st.login()` through the `[auth]` secrets; the identity's e-mail address
  must be a kapviz account, which gives the role and sites.
The account is read again on every run, so `users set-role` or `users remove` takes effect on
the next click. A signed-in run stores the viewer in session state; the helpers below read it.

Audit rows (kapviz.auth.audit): sign-ins and failures, case views (once per patient per
session), exports (written when the file is produced, by the download's deferred callable) and
imports. With sign-in on, a failed audit write fails the action; with sign-in off it is logged.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from streamlit.errors import StreamlitAPIException

from kapviz import privacy
from kapviz.auth import accounts, audit, scope
from kapviz.auth.scope import Viewer
from kapviz.config import AUTH_NONE, AUTH_OIDC, Settings
from kapviz.filters import Filters
from kapviz.instruments import OUTCOME_INSTRUMENTS
from kapviz.ui import data, nav
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
PRESERVED_KEYS = ("clock",)
"""Session state that survives a sign-out: the session's clock (live.now), no user state."""

ID_COLUMNS = ("patient_id", "course_id", "session_id", "link")
"""Columns that identify a patient (or lead to one): never shown to analysts."""


# --- Sign-in ---------------------------------------------------------------------------------


def _now() -> datetime:
    """The clock of this session, as kapviz.ui.live.now (tests pin it with session_state)."""
    return st.session_state.get("clock") or datetime.now()


def is_on() -> bool:
    """True when this deployment signs people in (local accounts or OpenID Connect)."""
    return settings().sign_in != AUTH_NONE


def gate() -> Viewer:
    """The signed-in viewer of this run; draws the sign-in page and stops the run until then."""
    cfg = settings()
    _export_controls(cfg)
    if cfg.sign_in == AUTH_NONE:
        st.session_state[VIEWER_KEY] = OPEN_VIEWER
        return OPEN_VIEWER
    now = _now()
    sign_in = _oidc_account if cfg.sign_in == AUTH_OIDC else _local_account
    account = sign_in(cfg, now)
    st.session_state[VIEWER_KEY] = account.viewer
    st.session_state[NAME_KEY] = account.display_name or account.username
    st.session_state[SEEN_KEY] = now
    _mark_active(account.username)
    return account.viewer


def _export_controls(cfg: Settings) -> None:
    """With sign-in on, tables offer no built-in CSV download or copy: exports go through the
    audited, formula-neutralised download buttons only. The option is process-wide (so is the
    sign-in mode) and reaches the browser with the next run, hence one rerun when it changes."""
    wanted = cfg.sign_in != AUTH_NONE
    if bool(st.get_option("client.disableDataExport")) == wanted:
        return
    st.set_option("client.disableDataExport", wanted)
    if wanted:
        st.rerun()


def _clear_session(notice: str | None = None) -> None:
    """Forget everything of the signed-in user (filters, prepared exports, choices)."""
    for key in list(st.session_state.keys()):
        if key not in PRESERVED_KEYS:
            del st.session_state[key]
    if notice:
        st.session_state[NOTICE_KEY] = notice


def _account(username: str) -> accounts.Account | None:
    with engine().connect() as conn:
        return accounts.get_account(conn, username)


def _sign_in_header() -> None:
    st.title("Sign in")
    st.caption("kapviz shows patient-level clinical data: sign in to continue.")
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        st.info(notice, icon=":material/info:")


def _local_account(cfg: Settings, now: datetime) -> accounts.Account:
    username = st.session_state.get(USER_KEY)
    if username and accounts.is_idle(
        st.session_state.get(SEEN_KEY), now, idle_minutes=cfg.idle_minutes
    ):
        _clear_session(f"You were signed out after {cfg.idle_minutes} minutes without activity.")
        username = None
    if username:
        account = _account(username)
        if account is not None:
            return account
        _clear_session("Your account is no longer active. Ask a director.")
    _sign_in_form()
    st.stop()
    raise AssertionError("unreachable")  # st.stop() raises; keeps type checkers honest


def _sign_in_form() -> None:
    _sign_in_header()
    error = st.session_state.pop(ERROR_KEY, None)
    if error:
        st.error(error, icon=":material/lock:")
    with st.form("auth_sign_in"):
        st.text_input("Username", key="auth_username", autocomplete="username")
        st.text_input(
            "Password", type="password", key="auth_password", autocomplete="current-password"
        )
        st.form_submit_button("Sign in", type="primary", on_click=_attempt_sign_in)


def _attempt_sign_in() -> None:
    """The form's callback: check the password, count a failure, or start the session."""
    cfg = settings()
    username = str(st.session_state.get("auth_username") or "")
    password = str(st.session_state.get("auth_password") or "")
    st.session_state["auth_password"] = ""
    if not username.strip() or not password:
        st.session_state[ERROR_KEY] = "Enter your username and password."
        return
    now = _now()
    with engine().begin() as conn:
        result = accounts.sign_in(
            conn,
            username,
            password,
            now=now,
            max_failures=cfg.lockout_failures,
            lock_minutes=cfg.lockout_minutes,
        )
    if not result.ok:
        st.session_state[ERROR_KEY] = result.message
        return
    _clear_session()
    st.session_state[USER_KEY] = result.username
    st.session_state[SEEN_KEY] = now


# OpenID Connect ------------------------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def _activity() -> tuple[dict[str, float], threading.Lock]:
    """Last activity per username in this server process (epoch seconds)."""
    return {}, threading.Lock()


def _mark_active(username: str) -> None:
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


def _oidc_account(cfg: Settings, now: datetime) -> accounts.Account:
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
        _sign_in_header()
        if st.button("Sign in with your organisation's account", type="primary", key="auth_oidc"):
            st.login(_provider(section))
        st.stop()
    email = str(user.get("email") or "").strip().lower()
    if st.session_state.get(USER_KEY) == email and email:
        if accounts.is_idle(st.session_state.get(SEEN_KEY), now, idle_minutes=cfg.idle_minutes):
            _clear_session()
            st.logout()
            st.stop()
    elif email and not (
        _issued_recently(user, cfg.idle_minutes) or _recently_active(email, cfg.idle_minutes)
    ):
        # A new browser session resuming an old identity cookie after the idle time.
        _clear_session()
        st.logout()
        st.stop()
    account = _account(email) if email and user.get("email_verified") is not False else None
    if account is None:
        _refuse_identity(email, user)
    if st.session_state.get(USER_KEY) != account.username:
        # First run of this identity in this session: that is the sign-in.
        _record_as(account.username, audit.SIGN_IN, detail="oidc", strict=True)
        st.session_state[USER_KEY] = account.username
    return account


def _refuse_identity(email: str, user: Mapping[str, Any]) -> None:
    """A signed-in identity with no kapviz account (or no verified e-mail): a friendly no."""
    shown = email or "an identity without an e-mail address"
    if st.session_state.get(FAILED_KEY) != email:
        reason = "unverified e-mail" if user.get("email_verified") is False else "no account"
        _record_as(email or "(no e-mail)", audit.SIGN_IN_FAILED, detail=f"oidc: {reason}")
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


# --- The viewer --------------------------------------------------------------------------------


def viewer() -> Viewer:
    """The viewer of this run (set by `gate`); the open viewer while sign-in is off."""
    current = st.session_state.get(VIEWER_KEY)
    if isinstance(current, Viewer):
        return current
    if not is_on():
        return OPEN_VIEWER
    raise RuntimeError("no signed-in viewer: kapviz.ui.page.setup must run first")


def username() -> str:
    return viewer().username


def scoped(filters: Filters) -> Filters:
    """The filters this viewer's queries run with (unchanged while sign-in is off)."""
    if not is_on():
        return filters
    return scope.scope_filters(viewer(), filters)


def newest_record_at() -> datetime | None:
    """The newest session or score the viewer may see ("data as of" on live pages)."""
    within = scoped(Filters())
    if not within.sites and getattr(within, "clinician", None) is None:
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


def account_box() -> None:
    """Who is signed in and the sign-out button (or that sign-in is off), in the sidebar."""
    cfg = settings()
    if cfg.sign_in == AUTH_NONE:
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
        _clear_session("You signed out.")
        if cfg.sign_in == AUTH_OIDC:
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
    in the audit trail.
    """
    if not is_on():
        return
    requested = st.query_params.get("patient")
    if not requested:
        return
    if requested in set(data.patient_ids(scoped(Filters()))):
        return
    record(audit.VIEW_CASE, target=requested, detail="refused: not in the viewer's scope")
    st.title(nav.spec(scope.CASE_EXPLORER).title)
    st.error(
        f"There is no patient {requested!r} among the patients you may see. Nothing was "
        "loaded. Choose a patient from the list instead.",
        icon=":material/block:",
    )
    nav.link(nav.spec(scope.CASE_EXPLORER))
    st.stop()


def check_scope_has_patients() -> None:
    """A supervisor or clinician with no patient in scope (sites without patients yet, a
    clinician code with no sessions) is told so once, instead of empty charts on every page."""
    within = scoped(Filters())
    if not is_on() or (not within.sites and getattr(within, "clinician", None) is None):
        return
    if not scope.matches_nothing(within) and data.patient_ids(within):
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
    """For live fragments (which rerun without `page.setup`): a full rerun once idle, so the
    idle sign-out happens on a wall screen too. Fragment runs are not activity."""
    cfg = settings()
    if cfg.sign_in == AUTH_NONE:
        return
    if accounts.is_idle(st.session_state.get(SEEN_KEY), _now(), idle_minutes=cfg.idle_minutes):
        st.rerun(scope="app")


# --- Audit rows ------------------------------------------------------------------------------


def _record_as(
    who: str,
    action: str,
    *,
    target: str | None = None,
    detail: str | Mapping[str, object] | None = None,
    strict: bool | None = None,
) -> None:
    try:
        with engine().begin() as conn:
            audit.record(
                conn,
                username=who[: accounts.MAX_USERNAME_LENGTH],
                action=action,
                target=target,
                detail=detail,
                at=_now(),
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
    _record_as(username(), action, target=target, detail=detail)


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


Payload = str | bytes


def audited_export(
    content: Payload | Callable[[], Payload],
    *,
    who: str,
    target: str,
    detail: Mapping[str, object] | None,
    eng: Engine,
) -> Callable[[], Payload]:
    """A deferred download that produces the file, then writes its export audit row.

    Streamlit runs it when the button is clicked, outside the script run, so it carries what
    it needs. A failed audit write raises: no row, no file.
    """

    def produce() -> Payload:
        payload = content() if callable(content) else content
        with eng.begin() as conn:
            audit.record(conn, username=who, action=audit.EXPORT, target=target, detail=detail)
        return payload

    return produce


def audited(
    content: Payload | Callable[[], Payload],
    *,
    target: str,
    detail: Mapping[str, object] | None = None,
) -> Callable[[], Payload]:
    """`audited_export` for the viewer of this run, for `st.download_button(data=...)`."""
    return audited_export(content, who=username(), target=target, detail=detail, eng=engine())


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """CSV safe to open in a spreadsheet: formulas neutralised (kapviz.privacy)."""
    return privacy.neutralise_formulas(frame).to_csv(index=False).encode("utf-8")


def csv_download(
    label: str, frame: pd.DataFrame, *, file_name: str, key: str, what: str | None = None
) -> None:
    """A CSV download button: neutralised formulas, audited when the file is produced."""
    st.download_button(
        label,
        audited(
            lambda: csv_bytes(frame),
            target=file_name,
            detail={"what": what or file_name, "rows": len(frame)},
        ),
        file_name=file_name,
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
        key=key,
    )


# --- What a role sees ----------------------------------------------------------------------


def shows_ids() -> bool:
    """Patient and course ids, case links and per-course rows: not for analysts."""
    return scope.shows_patient_ids(viewer())


def suppresses() -> bool:
    """Small counts as "<N" (analysts)."""
    return scope.suppresses_small_cells(viewer())


def deidentify(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame without id and link columns for analysts (unchanged for other roles)."""
    if shows_ids():
        return frame
    return frame.drop(columns=[c for c in ID_COLUMNS if c in frame.columns])


ID_HOVER = re.compile(r"patient %\{customdata\[0\]\} · course %\{customdata\[1\]\}(<br>)?")
CLICK_HINT = re.compile(r"(<br>)?click to open in the Case explorer")
ID_FIELDS = 2
"""Charts that name a course put patient and course ids first in customdata."""


def _renumber(template: str) -> str:
    return re.sub(
        r"customdata\[(\d+)\]", lambda m: f"customdata[{int(m.group(1)) - ID_FIELDS}]", template
    )


def deidentify_figure(fig: go.Figure) -> go.Figure:
    """For analysts, a copy of the figure without patient and course ids in customdata and
    hovers (course lines and waterfall bars stay, without ids or case links); others get the
    figure itself. Cached figures are shared: never changed in place."""
    if shows_ids():
        return fig
    out = go.Figure(fig)
    for trace in out.data:
        template = getattr(trace, "hovertemplate", None) or ""
        if not ID_HOVER.search(template):
            continue
        custom = np.asarray(trace.customdata if trace.customdata is not None else [], dtype=object)
        rest = custom[:, ID_FIELDS:] if custom.ndim == 2 else custom[:0]
        template = _renumber(CLICK_HINT.sub("", ID_HOVER.sub("", template)))
        trace.update(customdata=rest if rest.size else None, hovertemplate=template)
    return out


def count_label(n: int) -> str:
    """A count as shown: "<11" for analysts when 1 ≤ n < threshold."""
    threshold = settings().small_cell_threshold
    if suppresses() and 0 < n < threshold:
        return privacy.suppressed_label(threshold)
    return f"{n:,}"


def suppress_rows(
    frame: pd.DataFrame, *, counts: Sequence[str], blank: Sequence[str] = ()
) -> pd.DataFrame:
    """For analysts: small counts as "<N" and, in those rows, the statistics in `blank` hidden
    (a mean of three scores is about three people). Counts that add to no total: no complement.
    """
    if not suppresses():
        return frame
    threshold = settings().small_cell_threshold
    mask = privacy.suppression_mask(
        frame, threshold=threshold, columns=list(counts), complementary=False
    )
    out = privacy.suppress_small_cells(
        frame, threshold=threshold, columns=list(counts), complementary=False
    )
    hidden = mask[list(counts)].any(axis=1)
    for column in blank:
        out[column] = out[column].astype(object).where(~hidden, None)
    for column in counts:
        out[column] = out[column].map(lambda v: v if isinstance(v, str) else f"{v:,}")
    return out


def _as_text_column(config: object) -> Any:
    if isinstance(config, Mapping):
        return st.column_config.TextColumn(config.get("label"), help=config.get("help"))
    return st.column_config.TextColumn(config if isinstance(config, str) else None)


def aggregate_table(
    frame: pd.DataFrame,
    *,
    counts: Sequence[str],
    blank: Sequence[str] = (),
    download: str | None = None,
    key: str | None = None,
    **dataframe_kwargs: Any,
) -> None:
    """An aggregate table (small cells suppressed for analysts) and its CSV download."""
    shown = suppress_rows(frame, counts=counts, blank=blank)
    if shown is not frame:
        config = dict(dataframe_kwargs.pop("column_config", None) or {})
        for column in counts:
            config[column] = _as_text_column(config.get(column, column))
        dataframe_kwargs["column_config"] = config
    st.dataframe(shown, key=key, **dataframe_kwargs)
    if download:
        csv_download(
            "Download this table (CSV)",
            shown,
            file_name=download,
            key=f"{key or download}-csv",
            what=f"aggregate table {download}",
        )


def row_table(frame: pd.DataFrame, **dataframe_kwargs: Any) -> None:
    """A table of one row per patient or course: not shown to analysts (aggregates only)."""
    if scope.may_export_rows(viewer()):
        st.dataframe(frame, **dataframe_kwargs)
    else:
        st.caption(
            ":material/visibility_off: Per-course rows are not shown to analysts; the charts "
            "and tables above are aggregates."
        )
