"""Data: what the database holds, how good it is, and the way in and out."""

import streamlit as st

from kapviz.filters import Filters
from kapviz.io import bundle
from kapviz.ui import data, data_export, exports, imports, page, quality, rollup_panel
from kapviz.ui.db import engine
from kapviz.ui.nav import case_url

page.setup("Data", "Import clinic data, download the template or an export, check quality.",
           with_filters=False)  # fmt: skip
counts = list(data.table_counts().items())
PER_ROW = 4  # seven counts in one row cut their numbers ("5,…") on a 1024-px screen
for start in range(0, len(counts), PER_ROW):
    row = counts[start : start + PER_ROW]
    for col, (table, n) in zip(st.columns(PER_ROW)[: len(row)], row, strict=True):
        col.metric(table.replace("_", " ").capitalize(), f"{n:,}")

history = data.import_history()
if len(history):
    last = history.iloc[0]
    st.caption(
        f"Last import: **{last['kind']}** from `{last['source']}` at {last['finished_at']} — "
        f"{last['added']:,} rows added, {last['updated']:,} updated."
    )

rollup_panel.show()

tab_import, tab_download, tab_quality = st.tabs(["Import", "Download", "Data quality"])
with tab_import:
    st.caption(data_export.zone_caption())
    imports.upload_and_check()
with tab_download:
    st.markdown("**Empty template** — one CSV per table and an Excel workbook with instructions.")
    st.download_button(
        "Download the empty template (.zip)",
        bundle.empty_template_zip(),
        file_name="kapviz-template.zip",
        mime="application/zip",
        icon=":material/download:",
    )
    st.markdown("**Full export** — the whole database in the template (re-importable).")
    fmt = st.segmented_control("Format", ["csv", "xlsx"], default="csv", key="data_export_fmt")
    if st.button("Prepare the export", key="data_export_go"):
        exported = data_export.export_or_explain(
            lambda: bundle.export_zip(engine(), format=fmt or "csv")
        )
        if exported is not None:
            st.session_state["data_export"] = (fmt, exported)
    prepared = st.session_state.get("data_export")
    if prepared:
        st.download_button(
            f"Download the export ({prepared[0]}, .zip)",
            exports.audited(
                prepared[1],
                target=f"kapviz-export-{prepared[0]}.zip",
                detail={"what": "full database export"},
            ),
            file_name=f"kapviz-export-{prepared[0]}.zip",
            mime="application/zip",
            icon=":material/download:",
        )
with tab_quality:
    # Counted in SQL and cached per data version: a rerun reads two small cached results.
    missing = quality.missing_predose(Filters())
    st.metric("Dosing sessions without a PHQ-9 in the 7 days before", f"{missing.count:,}")
    if missing.count:
        table = missing.newest.assign(link=lambda f: f["patient_id"].map(case_url))
        st.dataframe(
            table[["started_at", "patient_id", "session_id", "site", "link"]],
            hide_index=True,
            column_config={
                "started_at": st.column_config.DatetimeColumn(
                    "Dosing session", format="YYYY-MM-DD HH:mm"
                ),
                "link": st.column_config.LinkColumn("Case", display_text="open case"),
            },
        )
    mapping = quality.term_mapping(Filters())
    st.markdown("**Side-effect wordings mapped to preferred terms** (review the synonyms)")
    st.dataframe(mapping, hide_index=True)
