"""Case explorer: one patient's whole course on one screen, for supervision meetings."""

import streamlit as st

from kapviz import safe_text
from kapviz.ui import auth, case_view, data, live, meeting_pack, page, widgets
from kapviz.ui import case as case_ui
from kapviz.ui import time_to_response as ttr_view
from kapviz.ui.db import settings

filters = page.setup("Case explorer", "One patient's course, compared with the cohort.")
# The cohort's band inputs are the page's largest read and the same for every case: begun
# first (PostgreSQL: in a thread), they are ready by the time a case is drawn or picked.
case_view.start_cohort_summary(filters)
presenting = case_ui.presentation_mode()
with st.container(key="case-controls"):  # out of the way once a case is presented
    meeting = case_ui.meeting_picker(filters)
    patient_id, course_id = case_ui.pick_case(filters)
if not patient_id:
    widgets.empty_state(
        "Find a patient by the start of their id or a course id, then choose them in "
        "Patient to see their course.",
        hint="Links from the Trajectories and Safety pages and the alerts worklist open a "
        "case directly (`?patient=<id>`).",
    )
    st.stop()
auth.record_case_view(patient_id, course_id)

config = settings()
sessions = data.sessions(filters, patient_id=patient_id)
if sessions.empty or course_id is None:
    widgets.empty_state(
        f"No sessions recorded for {safe_text.markdown(patient_id)} (within the filters).",
        hint="Referred patients appear here once their intake session is recorded.",
    )
    st.stop()
if presenting:
    st.header(f"Case {safe_text.markdown(patient_id)} · course {safe_text.markdown(course_id)}")
    case_ui.case_steps(meeting, patient_id)

# Everything below is computed once per filters × data version × case (a rerun only draws).
view = case_view.case_view(
    filters,
    patient_id=patient_id,
    course_id=course_id,
    today=live.now().date(),
    presenting=presenting,
)
case_ui.show_figure(view.timeline, key="timeline")
st.markdown("  \n".join(f"**{label}:** {safe_text.markdown(text)}" for label, text in view.facts))
ttr_view.course_line(filters, patient_id, course_id)

tabs = st.tabs(["Scores", "Safety", "Compare"])
with tabs[1]:
    st.subheader("Alerts")
    st.caption(
        f"As on the Safety page's worklist: item 9 on the latest PHQ-9, and events of the "
        f"last {config.alert_lookback_days} days."
    )
    if view.alerts.empty:
        st.caption("No open alerts for this patient.")
    else:
        st.dataframe(view.alerts, hide_index=True, key="alerts")
    st.subheader("Side effects")
    if view.strip is None:
        st.caption("No side effects recorded in this course's dosing sessions.")
    else:
        case_ui.show_figure(view.strip, key="effects")
    st.subheader("Blood pressure")
    if view.bp is None:
        st.caption("No vital signs recorded in this course's dosing sessions.")
    else:
        case_ui.show_figure(view.bp, key="vitals")
        st.dataframe(view.bp_table, hide_index=True, key="vitals-table")
    st.subheader("Sedation and dissociation")
    if view.sedation is None:
        st.caption("No MOAA/S or CADSS scores recorded in this course's dosing sessions.")
    else:
        case_ui.show_figure(view.sedation, key="sedation")

with tabs[2]:
    compared = case_ui.compare_picker(filters, patient_id=patient_id)
    for other in compared:  # every case shown is a case view in the audit trail
        auth.record_case_view(other)
    chart = case_view.compare_chart(filters, compared)
    if chart is None:
        widgets.empty_state("Choose cases with PHQ-9 scores to compare.")
    else:
        case_ui.show_figure(chart, key="compare-chart", presenting=presenting)
        st.caption(
            "Each case's latest course with PHQ-9 scores, every score as on its Scores tab; "
            "circle: baseline, diamond: endpoint, dashed: response at half the baseline."
        )

# The Scores tab last: its bands wait for the cohort summary, computed meanwhile.
scores = case_view.score_views(
    filters, patient_id=patient_id, course_id=course_id, presenting=presenting
)
with tabs[0]:
    if not scores:
        widgets.empty_state("No symptom scores recorded in this course.")
    for score in scores:
        st.subheader(score.instrument)
        case_ui.status_block(score.lines)
        case_ui.show_figure(score.figure, key=f"scores-{score.instrument}")
    if view.items is not None:
        case_ui.show_figure(view.items, key="phq9-items")

case_ui.export_buttons(
    view.summary(scores, patient_id=patient_id, course_id=course_id, generated_at=live.now())
)
meeting_pack.pack_button(filters, meeting, now=live.now())
