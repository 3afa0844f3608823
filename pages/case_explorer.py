"""Case explorer: one patient's whole course on one screen, for supervision meetings."""

import pandas as pd
import streamlit as st

from kapviz import instruments
from kapviz.charts import case as case_charts
from kapviz.metrics import case
from kapviz.metrics.trajectories import session_points
from kapviz.report.case import CaseSummary, InstrumentStatus
from kapviz.ui import auth, data, live, page, widgets
from kapviz.ui import case as case_ui
from kapviz.ui.db import settings
from kapviz.ui.safety import today_end

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
auth.record_case_view(patient_id, course_id)

config = settings()
sessions = data.sessions(filters, patient_id=patient_id)
if sessions.empty or course_id is None:
    widgets.empty_state(
        f"No sessions recorded for {patient_id} (within the filters).",
        hint="Referred patients appear here once their intake session is recorded.",
    )
    st.stop()
course_sessions = sessions[sessions["course_id"] == course_id]
if presenting:
    st.header(f"Case {patient_id} · course {course_id}")

figures = []
timeline = case_charts.course_timeline(sessions)
figures.append(timeline)
case_ui.show_figure(timeline, key="timeline", presenting=presenting)
facts = case.course_facts(sessions, course_id=course_id)
st.markdown("  \n".join(f"**{label}:** {text}" for label, text in facts))

outcomes = data.outcomes(filters)
points = data.trajectory_points(filters)
mine = outcomes[outcomes["course_id"] == course_id]
course_points = points[points["course_id"] == course_id]
statuses = []
tab_names = ["Scores", "Safety"] if presenting else ["Scores", "Safety", "Compare"]
tabs = st.tabs(tab_names)
with tabs[0]:
    if mine.empty:
        widgets.empty_state("No symptom scores recorded in this course.")
    for _, outcome in mine.iterrows():
        instrument = instruments.get(outcome["instrument"])
        st.subheader(instrument.id)
        lines = case.status_lines(outcome)
        statuses.append(InstrumentStatus(instrument.id, lines))
        case_ui.status_block(lines)
        band, n_similar = (
            case.cohort_band(
                points,
                outcomes,
                instrument=instrument.id,
                baseline=outcome["baseline"],
                exclude_course=course_id,
            )
            if pd.notna(outcome["baseline"])
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
        figures.append(fig)
        case_ui.show_figure(fig, key=f"scores-{instrument.id}", presenting=presenting)
    items = case.phq9_item_rows(data.assessments(filters, patient_id=patient_id, with_items=True))
    if not items.empty:
        case_ui.show_figure(case_charts.phq9_items(items), key="phq9-items", presenting=presenting)

assessments = data.assessments(filters, patient_id=patient_id)
side_effects = data.side_effects(filters, patient_id=patient_id)
vitals = data.vitals(filters, patient_id=patient_id)
effects = case.dose_side_effects(course_sessions, side_effects)
per_dose = case.dose_vitals(course_sessions, vitals, settings=config)
sedation = case.dose_sedation(course_sessions, assessments, settings=config)
alerts = case.case_alerts(
    sessions,
    side_effects,
    vitals,
    assessments,
    patient_id=patient_id,
    settings=config,
    now=today_end(live.now().date()),
)
with tabs[1]:
    st.subheader("Alerts")
    st.caption(
        f"As on the Safety page's worklist: item 9 on the latest PHQ-9, and events of the "
        f"last {config.alert_lookback_days} days."
    )
    if alerts.empty:
        st.caption("No open alerts for this patient.")
    else:
        st.dataframe(case_ui.alerts_table(alerts), hide_index=True, key="alerts")
    st.subheader("Side effects")
    if effects.empty:
        st.caption("No side effects recorded in this course's dosing sessions.")
    else:
        strip = case_charts.side_effect_strip(effects, doses=len(per_dose))
        figures.append(strip)
        case_ui.show_figure(strip, key="effects", presenting=presenting)
    st.subheader("Blood pressure")
    if per_dose["readings"].sum() == 0:
        st.caption("No vital signs recorded in this course's dosing sessions.")
    else:
        bp = case_charts.session_vitals(
            per_dose,
            excursion_systolic=config.bp_excursion_systolic,
            excursion_diastolic=config.bp_excursion_diastolic,
        )
        figures.append(bp)
        case_ui.show_figure(bp, key="vitals", presenting=presenting)
        st.dataframe(case_ui.vitals_table(per_dose), hide_index=True, key="vitals-table")
    st.subheader("Sedation and dissociation")
    if sedation[["moaas", "cadss"]].notna().sum().sum() == 0:
        st.caption("No MOAA/S or CADSS scores recorded in this course's dosing sessions.")
    else:
        case_ui.show_figure(
            case_charts.sedation_dissociation(sedation, sedation_max=config.sedation_moaas_max),
            key="sedation",
            presenting=presenting,
        )

if not presenting:
    with tabs[2]:
        compared = case_ui.compare_picker(filters, patient_id=patient_id)
        rows = case.compare_points(points, patient_ids=compared)
        if rows.empty:
            widgets.empty_state("Choose cases with PHQ-9 scores to compare.")
        else:
            st.plotly_chart(
                case_charts.compare_trajectories(
                    rows, instrument=instruments.get("PHQ-9"), axis=session_points()
                ),
                theme=None,
                key="compare-chart",
            )
            st.caption("Each case's latest course with PHQ-9 scores.")

summary = CaseSummary(
    patient_id=patient_id,
    course_id=course_id,
    generated_at=live.now(),
    facts=facts,
    statuses=statuses,
    figures=figures,
    side_effects=case_ui.effects_table(effects),
    vitals=case_ui.vitals_table(per_dose[per_dose["readings"] > 0]),
    alerts=case_ui.alerts_table(alerts),
)
case_ui.export_buttons(summary)
