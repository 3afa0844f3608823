"""The Overview's "Programme report" buttons: the report of the current filters, as PDF or
Excel, built only when clicked and audited as an export (kapviz.ui.exports)."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from kapviz.filters import Filters
from kapviz.report.programme import build_report
from kapviz.report.programme_commands import report_bytes
from kapviz.ui import live, redact
from kapviz.ui.db import engine, settings
from kapviz.ui.exports import audited

FORMATS = (
    (".pdf", "PDF", "application/pdf", ":material/picture_as_pdf:"),
    (
        ".xlsx",
        "Excel",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ":material/table_view:",
    ),
)


def _producer(filters: Filters, suffix: str, suppress: bool) -> Callable[[], bytes]:
    eng, cfg = engine(), settings()

    def produce() -> bytes:
        report = build_report(eng, filters=filters, settings=cfg, suppress=suppress)
        return report_bytes(report, suffix)

    return produce


def download_buttons(filters: Filters) -> None:
    """Two buttons (PDF, Excel) under the Overview; none in kiosk mode."""
    if live.is_kiosk():
        return
    suppress = redact.suppresses()
    st.markdown(
        "**Programme report** for these filters (volume, outcomes beside published "
        "figures, time to response, safety, methods)"
    )
    row = st.container(horizontal=True)
    for suffix, label, mime, icon in FORMATS:
        name = f"kapviz-programme-report{suffix}"
        row.download_button(
            label,
            audited(
                _producer(filters, suffix, suppress),
                target=name,
                detail={
                    "what": "programme report",
                    "scope": filters.describe(),
                    "suppressed": suppress,
                },
            ),
            file_name=name,
            mime=mime,
            icon=icon,
            on_click="ignore",
            key=f"programme-report{suffix}",
        )
