"""Trajectories: symptom scores of the cohort across the phases of the course."""

import streamlit as st

from kapviz.ui import data, page, widgets

filters = page.setup("Trajectories", "Symptom scores through preparation, dosing and integration.")
scores = data.assessments(filters, instruments=["PHQ-9", "GAD-7", "PCL-5"])
if scores.empty:
    widgets.empty_state("No symptom scores match these filters.")
    st.stop()
summary = scores.groupby("instrument")["total"].agg(["count", "mean"]).reset_index()
summary.columns = ["Instrument", "Scores", "Mean total"]
st.dataframe(summary, hide_index=True)
