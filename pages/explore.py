"""Explore: one outcome or safety measure, for the cohort chosen, by up to two breakdowns."""

import streamlit as st

from kapviz.ui import explore as view
from kapviz.ui import explore_results as out
from kapviz.ui import explore_saved as saved
from kapviz.ui import page, redact, widgets

filters = page.setup(
    "Explore",
    "Any outcome or safety measure for the cohort you choose, by up to two breakdowns, "
    "with 95% intervals and the rule used. Every choice is in the link.",
)
view.sync_from_url(filters)
chosen = view.controls(filters)
view.url_warnings(chosen)
view.write_url(chosen)
saved.panel(chosen)
measure = out.measure_of(chosen)
if measure.needs_term and not chosen.term:
    widgets.empty_state("Choose a side effect for the side-effect session rate.")
    st.stop()
result = out.result(chosen, filters)
if result is None:
    st.stop()
if result.table.empty:
    widgets.empty_state("No courses match this cohort.", hint=out.EMPTY_HINT)
    st.stop()

st.markdown(out.sentence(result))
redact.suppression_caption()
st.plotly_chart(out.figure(chosen, filters), theme=None, key="explore_chart")
out.table_section(result)
out.notebook_download(result)
widgets.share_link("explore")
widgets.filters_caption(filters)
