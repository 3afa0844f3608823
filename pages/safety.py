"""Safety: side effects and vital signs across dosing sessions."""

import streamlit as st

from kapviz.ui import data, page, widgets

filters = page.setup("Safety", "Side effects and vital signs across dosing sessions.")
effects = data.side_effects(filters)
if effects.empty:
    widgets.empty_state("No side effects recorded for these filters.")
    st.stop()
counts = effects.groupby("term").size().sort_values(ascending=False).reset_index(name="Records")
st.dataframe(counts.rename(columns={"term": "Side effect"}), hide_index=True)
