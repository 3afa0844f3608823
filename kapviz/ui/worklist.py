"""The Safety page's alerts worklist: DOMAIN §4 order, inactive patients apart, grouped by
site and clinician with counts, paged, and "new since your previous visit"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import streamlit as st

from kapviz.auth import audit
from kapviz.filters import Filters
from kapviz.metrics.alerts import alert_groups, mark_new, page_of
from kapviz.ui import outage, redact, session
from kapviz.ui.db import engine, settings
from kapviz.ui.safety import split_alerts

WORKLIST_PAGE_SIZE = 25
"""Alerts per page of the worklist (instead of a ten-row scroll box)."""


@dataclass(frozen=True)
class Worklist:
    """The alerts worklist as the page shows it: active patients' alerts (DOMAIN §4 order,
    `is_new` since the viewer's previous visit), inactive patients' apart, and the counts
    per site and clinician."""

    active: pd.DataFrame
    inactive: pd.DataFrame
    groups: pd.DataFrame
    previous_visit: datetime | None


def worklist(filters: Filters) -> Worklist:
    """The worklist for this viewer now (all dates, whatever the date filter)."""
    previous = previous_visit()
    active, inactive = split_alerts(filters)
    active, inactive = mark_new(active, previous), mark_new(inactive, previous)
    return Worklist(active, inactive, alert_groups(active), previous)


PREVIOUS_VISIT_KEY = "_worklist_previous_visit"


def previous_visit() -> datetime | None:
    """The signed-in viewer's sign-in before this one (None with sign-in off or the first);
    while the database does not answer, the one this session read last (kapviz.ui.outage)."""
    if not session.is_on():
        return None
    url = settings().database_url
    try:
        with engine().connect() as conn:  # the primary: this sign-in was just written there
            previous = audit.previous_sign_in(conn, session.username())
    except Exception as exc:
        if not outage.is_unreachable(exc):
            raise
        outage.mark_down(url, exc)
        return st.session_state.get(PREVIOUS_VISIT_KEY)
    st.session_state[PREVIOUS_VISIT_KEY] = previous
    return previous


def inactive_days() -> int:
    """Days without a completed session after which a patient is inactive (setting)."""
    return settings().inactive_days


def inactive_note(inactive: int) -> str | None:
    """Beside the "needing attention" count: the inactive patients it leaves out (None: none)."""
    if not inactive:
        return None
    days = inactive_days()
    return f"{redact.count_label(inactive)} inactive not counted (no session in {days} days)"


def new_since_note(previous: datetime | None) -> str:
    """What "new" means on the worklist for this viewer."""
    if previous is None:
        return (
            "New alerts are marked once you have signed in before: since your previous sign-in."
            if session.is_on()
            else "With sign-in off, nothing is marked new (no previous visit is known)."
        )
    return f"Marked new: alerts dated after your previous sign-in ({previous:%Y-%m-%d %H:%M})."


ALL_GROUPS = "All sites and clinicians"


def _patients(n: int) -> str:
    """ "1 patient", "16 patients" ("<11 patients" for analysts)."""
    return f"{redact.count_label(n)} patient{'' if n == 1 else 's'}"


def _group_label(row) -> str:  # a row of alert_groups
    new = f", {row.new} new" if row.new else ""
    return f"{row.site} · {row.clinician} ({row.patients} patients{new})"


def worklist_table(work: Worklist) -> None:
    """The active worklist: a site × clinician choice with counts, then one page of rows."""
    groups = work.groups
    labels = {ALL_GROUPS: None} | {
        _group_label(row): (row.site, row.clinician) for row in groups.itertuples()
    }
    total = work.active["patient_id"].nunique()
    new = int(work.active["is_new"].sum())
    left, right = st.columns([3, 1])
    choice = left.selectbox(
        f"Site and clinician ({len(groups):,} with alerts; {_patients(total)}"
        + (f", {new:,} alerts new" if new else "")
        + ")",
        list(labels),
        key="safety_worklist_group",
        help="Each alert's course: its site, and the clinician of most of its dosing "
        "sessions. Groups with the most patients first.",
    )
    rows = work.active
    if labels[choice] is not None:
        site, clinician = labels[choice]
        rows = rows[(rows["site"] == site) & (rows["clinician"] == clinician)]
    pages = max(1, -(-len(rows) // WORKLIST_PAGE_SIZE))
    page_number = right.number_input(
        f"Page (of {pages})", min_value=1, max_value=pages, value=1, key="safety_worklist_page"
    )
    shown = page_of(rows, int(page_number), size=WORKLIST_PAGE_SIZE)
    st.dataframe(
        redact.deidentify(shown),
        hide_index=True,
        height="content",  # the whole page of rows, not a ten-row scroll box
        key="safety_alerts",
        column_order=[
            "is_new",
            "reason",
            "patient_id",
            "date",
            "site",
            "clinician",
            "link",
            "detail",
            "course_id",
        ],
        column_config={
            "is_new": st.column_config.CheckboxColumn("New", help="Since your previous visit"),
            "reason": st.column_config.TextColumn("Reason"),
            "patient_id": st.column_config.TextColumn("Patient"),
            "course_id": st.column_config.TextColumn("Course"),
            "date": st.column_config.DatetimeColumn("Date", format="YYYY-MM-DD"),
            "detail": st.column_config.TextColumn("Detail", width="large"),
            "site": st.column_config.TextColumn("Site"),
            "clinician": st.column_config.TextColumn("Clinician"),
            "link": st.column_config.LinkColumn("Case", display_text="open case"),
        },
    )
    first = (int(page_number) - 1) * WORKLIST_PAGE_SIZE + 1 if len(rows) else 0
    last = first + len(shown) - 1
    patients = _patients(rows["patient_id"].nunique())
    st.caption(f"Alerts {first:,}–{last:,} of {len(rows):,} ({patients}).")
    with st.expander("Patients needing attention per site and clinician"):
        st.dataframe(
            groups,
            hide_index=True,
            key="safety_worklist_groups",
            column_config={
                "site": "Site",
                "clinician": "Clinician",
                "patients": st.column_config.NumberColumn("Patients"),
                "alerts": st.column_config.NumberColumn("Alerts"),
                "new": st.column_config.NumberColumn("New"),
            },
        )


def inactive_table(inactive: pd.DataFrame) -> None:
    """Inactive patients' alerts with the date of their last contact, newest contact first."""
    rows = inactive.sort_values("last_contact", ascending=False, kind="stable", na_position="last")
    st.dataframe(
        redact.deidentify(rows),
        hide_index=True,
        key="safety_inactive",
        column_order=["last_contact", "reason", "patient_id", "date", "site", "link", "detail"],
        column_config={
            "last_contact": st.column_config.DatetimeColumn("Last contact", format="YYYY-MM-DD"),
            "reason": st.column_config.TextColumn("Reason"),
            "patient_id": st.column_config.TextColumn("Patient"),
            "date": st.column_config.DatetimeColumn("Alert date", format="YYYY-MM-DD"),
            "detail": st.column_config.TextColumn("Detail", width="large"),
            "site": st.column_config.TextColumn("Site"),
            "link": st.column_config.LinkColumn("Case", display_text="open case"),
        },
    )
