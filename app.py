"""kapviz router: st.navigation over pages/; each page draws the menu and sets itself up."""

import streamlit as st

from kapviz.ui.nav import st_pages

st.navigation(st_pages(), position="hidden").run()
