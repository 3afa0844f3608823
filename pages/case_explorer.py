"""Case explorer: one patient's whole course on one screen, for supervision meetings."""

import streamlit as st

from kapviz.domain import PHASE_LABELS
from kapviz.ui import data, page, widgets

filters = page.setup("Case explorer", "One patient's course, session by session.")
ids = data.patient_ids(filters)
patient_id = st.selectbox(
    "Patient (pseudonymous id)",
    ids,
    index=None,
    key="patient",
    bind="query-params",
    placeholder="Type to search an id…",
)
if not patient_id:
    widgets.empty_state(
        f"Choose one of {len(ids):,} patients to see their course.",
        hint="Links from the Trajectories and Safety pages open a case directly.",
    )
    st.stop()

sessions = data.sessions(filters, patient_id=patient_id)
scores = data.assessments(filters, patient_id=patient_id)
st.subheader("Sessions")
table = sessions[["course_id", "started_at", "phase", "status", "route", "dose_mg"]].copy()
table["phase"] = table["phase"].map(PHASE_LABELS)
st.dataframe(
    table,
    hide_index=True,
    column_config={
        "course_id": "Course",
        "started_at": st.column_config.DatetimeColumn("Started", format="YYYY-MM-DD HH:mm"),
        "phase": "Phase",
        "status": "Status",
        "route": "Route",
        "dose_mg": st.column_config.NumberColumn("Dose (mg)", format="%.0f"),
    },
)
st.subheader("Scores")
st.dataframe(
    scores[["administered_at", "instrument", "total"]],
    hide_index=True,
    column_config={
        "administered_at": st.column_config.DatetimeColumn("Date", format="YYYY-MM-DD"),
        "instrument": "Instrument",
        "total": "Total",
    },
)
