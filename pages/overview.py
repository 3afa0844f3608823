"""Overview: the program's state on one screen for a clinical director."""

from datetime import datetime, timedelta

import streamlit as st

from kapviz.metrics import program
from kapviz.ui import data, page, widgets

filters = page.setup("Overview", "The program at a glance.")
sessions = data.sessions(filters)
patients = data.patients(filters)
if patients.empty:
    widgets.empty_state("No patients match these filters.", hint="Clear a filter in the sidebar.")
    st.stop()

now = datetime.now()
week_start = datetime.combine(now.date() - timedelta(days=now.weekday()), datetime.min.time())
month_start = datetime.combine(now.date().replace(day=1), datetime.min.time())
tiles = st.columns(4)
tiles[0].metric("Patients", f"{len(patients):,}")
tiles[1].metric(
    "Active patients",
    f"{program.active_patients(sessions, now=now):,}",
    help="A completed session in the last 30 days.",
)
tiles[2].metric(
    "Dosing sessions this week", program.dosing_sessions_between(sessions, week_start, now)
)
tiles[3].metric(
    "Dosing sessions this month", program.dosing_sessions_between(sessions, month_start, now)
)

st.subheader("Treatment funnel")
funnel = program.treatment_funnel(patients, sessions)
st.dataframe(
    funnel,
    hide_index=True,
    column_config={
        "step": "Step",
        "patients": st.column_config.NumberColumn("Patients", format="%d"),
        "lost": st.column_config.NumberColumn("Lost from previous step", format="percent"),
    },
)
