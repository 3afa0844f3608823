"""The meeting pack from the Case explorer: the meeting's cases (`?meeting=`) in one PDF."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from kapviz.filters import Filters
from kapviz.report.case import CaseSummary
from kapviz.ui import case_view, data
from kapviz.ui.case import printed


def summaries(filters: Filters, patient_ids: list[str], *, now: datetime) -> list[CaseSummary]:
    """Each meeting case's latest course as printed (the Case explorer's cached content);
    patients without sessions within the filters are left out."""
    out = []
    for patient_id in patient_ids:
        courses = sorted(
            data.sessions(filters, patient_id=patient_id)["course_id"].dropna().unique()
        )
        if not courses:
            continue
        course_id = courses[-1]
        view = case_view.case_view(
            filters, patient_id=patient_id, course_id=course_id, today=now.date(), presenting=False
        )
        scores = case_view.score_views(
            filters, patient_id=patient_id, course_id=course_id, presenting=False
        )
        out.append(
            view.summary(scores, patient_id=patient_id, course_id=course_id, generated_at=now)
        )
    return out


def pack_button(filters: Filters, meeting: list[str], *, now: datetime) -> None:
    """The meeting pack download (two cases or more): agenda, then a case per page."""
    if len(meeting) < 2:
        return
    cases = summaries(filters, meeting, now=now)
    name = f"meeting-{now:%Y-%m-%d}-{len(cases)}-cases.pdf"
    st.download_button(
        f"Meeting pack: {len(cases)} cases (PDF)",
        printed(cases, fmt="pdf", file_name=name),
        file_name=name,
        mime="application/pdf",
        icon=":material/picture_as_pdf:",
        on_click="ignore",
        key="export-pack",
        help="The meeting's cases in order (Meeting: cases to present): an agenda page, "
        "then each case from a new page.",
    )
