"""The Audit page: filters over the audit trail, the matching rows and their CSV export."""

from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st

from kapviz.auth import audit
from kapviz.ui import exports, widgets
from kapviz.ui.db import engine
from kapviz.ui.session import ANONYMOUS

MAX_ROWS_SHOWN = 2000
"""Rows sent to the browser; the CSV export holds every matching row."""

DEMO_VIEWER = "demo (no sign-in)"
"""How the audit page names the viewer of a run without sign-in (stored as "anonymous")."""


def viewer_label(username: str) -> str:
    return DEMO_VIEWER if username == ANONYMOUS else username


ACTION_LABELS = {
    audit.SIGN_IN: "Signed in",
    audit.SIGN_IN_FAILED: "Sign-in failed",
    audit.VIEW_CASE: "Opened a case",
    audit.EXPORT: "Exported",
    audit.IMPORT: "Imported",
    audit.CHANGE_ACCOUNT: "Changed an account",
}


def choose() -> audit.AuditFilters:
    """The page's filter widgets: users, actions, date range and a target search."""
    with engine().connect() as conn:
        users = audit.usernames(conn)
    left, mid = st.columns(2)
    chosen_users = left.multiselect(
        "Users",
        users,
        key="audit_users",
        placeholder="All users",
        bind="query-params",
        format_func=viewer_label,
    )
    actions = mid.multiselect(
        "Actions",
        list(audit.ACTIONS),
        key="audit_actions",
        format_func=lambda a: ACTION_LABELS.get(a, a),
        placeholder="All actions",
        bind="query-params",
    )
    col_from, col_to, col_target = st.columns([1, 1, 2])
    start = col_from.date_input("From", value=None, key="audit_from", format="YYYY-MM-DD")
    end = col_to.date_input("To", value=None, key="audit_to", format="YYYY-MM-DD")
    target = col_target.text_input(
        "Target contains", key="audit_target", placeholder="patient id, file name…"
    )
    if isinstance(start, date) and isinstance(end, date) and start > end:
        st.warning("'From' is after 'To': the date range is ignored.")
        start = end = None
    return audit.AuditFilters(
        usernames=tuple(chosen_users),
        actions=tuple(actions),
        start=start if isinstance(start, date) else None,
        end=end if isinstance(end, date) else None,
        target=target.strip() or None,
    )


def rows(filters: audit.AuditFilters) -> pd.DataFrame:
    """The matching audit rows, newest first (read fresh: the trail grows while you look)."""
    with engine().connect() as conn:
        return audit.audit_frame(conn, filters)


def readable(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows as people read them: actions and details in words, the demo viewer named."""
    refused = (rows["action"] == audit.VIEW_CASE) & rows["detail"].fillna("").astype(
        str
    ).str.startswith("refused")
    actions = rows["action"].map(lambda a: ACTION_LABELS.get(a, a))
    return rows.assign(
        username=rows["username"].map(viewer_label),
        action=actions.where(~refused, "Case link refused"),
        detail=rows["detail"].map(audit.readable_detail),
    )


def show() -> None:
    """Filters, a count, the newest rows and the CSV export of all matching rows."""
    filters = choose()
    found = rows(filters)
    if found.empty:
        unfiltered = filters == audit.AuditFilters()
        widgets.empty_state(
            "The audit trail has no rows yet: sign-ins, case views, exports and imports "
            "appear here as they happen."
            if unfiltered
            else "No audit rows match these filters."
        )
        return
    shown = min(len(found), MAX_ROWS_SHOWN)
    st.caption(f"{len(found):,} rows match; the newest {shown:,} are shown, latest first.")
    st.dataframe(
        readable(found.head(MAX_ROWS_SHOWN)),
        hide_index=True,
        key="audit_rows",
        column_order=["at", "username", "action", "target", "detail"],
        column_config={
            "at": st.column_config.DatetimeColumn("When", format="YYYY-MM-DD HH:mm:ss"),
            "username": "User",
            "action": "Action",
            "target": "Target",
            "detail": "Detail",
        },
    )
    exports.csv_download(
        "Download these rows (CSV)",
        found,
        file_name="kapviz-audit.csv",
        key="audit_csv",
        what="audit trail",
    )
