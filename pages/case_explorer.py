"""Case explorer: one patient's whole course on one screen, for supervision meetings."""

import streamlit as st

from kapviz import instruments
from kapviz.charts import case as case_charts
from kapviz.metrics import case
from kapviz.ui import case as case_ui
from kapviz.ui import data, page, widgets

filters = page.setup("Case explorer", "One patient's course, compared with the cohort.")
presenting = case_ui.presentation_mode()
patient_id, course_id = case_ui.pick_case(filters)
if not patient_id:
    widgets.empty_state(
        "Choose a patient to see their course.",
        hint="Links from the Trajectories and Safety pages and the alerts worklist open a "
        "case directly (`?patient=<id>`).",
    )
    st.stop()

sessions = data.sessions(filters, patient_id=patient_id)
course_sessions = sessions[sessions["course_id"] == course_id]
if presenting:
    st.header(f"Case {patient_id} · course {course_id}")

st.plotly_chart(case_charts.course_timeline(sessions), theme=None, key="timeline")

outcomes = data.outcomes(filters)
points = data.trajectory_points(filters)
mine = outcomes[outcomes["course_id"] == course_id]
course_points = points[points["course_id"] == course_id]
tab_scores, tab_safety = st.tabs(["Scores", "Safety"])
with tab_scores:
    if mine.empty:
        widgets.empty_state("No symptom scores recorded in this course.")
    for _, outcome in mine.iterrows():
        instrument = instruments.get(outcome["instrument"])
        st.subheader(instrument.id)
        case_ui.status_block(case.status_lines(outcome))
        band, n_similar = (
            case.cohort_band(
                points,
                outcomes,
                instrument=instrument.id,
                baseline=outcome["baseline"],
                exclude_course=course_id,
            )
            if outcome["baseline"] == outcome["baseline"]
            else (points.iloc[0:0], 0)
        )
        fig = case_charts.patient_trajectory(
            course_points[course_points["instrument"] == instrument.id],
            band,
            instrument=instrument,
            baseline_at=outcome["baseline_at"],
            endpoint_at=outcome["endpoint_at"],
            cohort_courses=n_similar,
        )
        st.plotly_chart(fig, theme=None, key=f"scores-{instrument.id}")
    items = case.phq9_item_rows(data.assessments(filters, patient_id=patient_id, with_items=True))
    if not items.empty:
        st.plotly_chart(case_charts.phq9_items(items), theme=None, key="phq9-items")
with tab_safety:
    effects = case.dose_side_effects(
        course_sessions, data.side_effects(filters, patient_id=patient_id)
    )
    if effects.empty:
        st.caption("No side effects recorded in this course's dosing sessions.")
    else:
        st.plotly_chart(case_charts.side_effect_strip(effects), theme=None, key="effects")
