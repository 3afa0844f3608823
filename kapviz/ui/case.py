"""Case explorer widgets: the picker with deep links, status badges, presentation mode."""

from __future__ import annotations

import streamlit as st

from kapviz.filters import Filters
from kapviz.ui import data

PRESENTATION_CSS = """
<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
header[data-testid="stHeader"] { display: none !important; }
.block-container { max-width: 1500px; padding-top: 1.2rem; }
html, body, [data-testid="stAppViewContainer"] { font-size: 20px; }
h1 { font-size: 2.6rem !important; }
</style>
"""


def pick_case(filters: Filters) -> tuple[str | None, str | None]:
    """Patient and course chosen by the user or by `?patient=…&course=…` links."""
    ids = data.patient_ids(filters)
    left, right = st.columns([3, 2])
    patient_id = left.selectbox(
        "Patient (pseudonymous id)",
        ids,
        index=None,
        key="patient",
        bind="query-params",
        placeholder=f"Type to search {len(ids):,} ids…",
    )
    if not patient_id:
        return None, None
    courses = sorted(data.sessions(filters, patient_id=patient_id)["course_id"].unique())
    course_id = right.selectbox(
        "Course",
        courses,
        index=len(courses) - 1 if courses else None,
        key="course",
        bind="query-params",
        help="A patient may have several treatment courses (re-induction).",
    )
    return patient_id, course_id


def verdict_icon(verdict: bool | None) -> str:
    return {True: ":material/check_circle:", False: ":material/cancel:"}.get(
        verdict, ":material/remove:"
    )


def status_block(lines: list) -> None:
    """Outcome verdicts with their rules in words."""
    for label, verdict, text in lines:
        word = {True: "yes", False: "no"}.get(verdict, "—")
        st.markdown(f"{verdict_icon(verdict)} **{label}: {word}** — {text}")


def presentation_mode() -> bool:
    """Large type, no sidebar, nothing beyond the pseudonymous id (`?present=1`)."""
    on = st.toggle(
        "Presentation mode",
        key="present",
        bind="query-params",
        help="For team meetings: larger type, no sidebar, one case per screen.",
    )
    if on:
        st.html(PRESENTATION_CSS)
    return bool(on)
