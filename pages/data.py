"""Data: what the database holds, and the way in and out (import and export)."""

import streamlit as st

from kapviz.ui import data, page

page.setup("Data", "What the database holds.", with_filters=False)
counts = data.table_counts()
cols = st.columns(len(counts))
for col, (table, n) in zip(cols, counts.items(), strict=True):
    col.metric(table.replace("_", " ").capitalize(), f"{n:,}")
