"""kapviz router: the navigation over pages/ (each page sets itself up; see kapviz.ui.page)."""

import streamlit as st

PAGES = [
    st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page("pages/trajectories.py", title="Trajectories", icon=":material/show_chart:"),
    st.Page("pages/safety.py", title="Safety", icon=":material/health_and_safety:"),
    st.Page("pages/case_explorer.py", title="Case explorer", icon=":material/person_search:"),
    st.Page("pages/data.py", title="Data", icon=":material/database:"),
]

st.navigation(PAGES).run()
