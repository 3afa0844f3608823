"""kapviz router: st.navigation over pages/; each page draws the menu and sets itself up."""

import streamlit as st

from kapviz.ui import outage
from kapviz.ui.nav import st_pages

# A query that fails because the database went away mid-page: the outage state, not a traceback.
with outage.guard():
    st.navigation(st_pages(), position="hidden").run()
