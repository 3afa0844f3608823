"""The Data page's full export (a message, not a traceback, when it fails) and zone line."""

from __future__ import annotations

import logging
from collections.abc import Callable

import streamlit as st

from kapviz import clinic_time

log = logging.getLogger(__name__)


def export_or_explain(build: Callable[[], bytes]) -> bytes | None:
    """`build()`'s bytes, or None after telling the user what failed (details in the log)."""
    try:
        return build()
    except Exception:  # noqa: BLE001 - any failure becomes a message; the log keeps the details
        log.exception("full export failed")
        st.error(
            "The export could not be prepared; nothing was downloaded. Try again; if it fails "
            "again, the server log has the details for your administrator."
        )
        return None


def zone_caption() -> str:
    """Which time zone the template's times are read in (KAPVIZ_TIMEZONE)."""
    zone = clinic_time.zone_label()
    return (
        f"Clinic time zone: **{zone}** (setting `KAPVIZ_TIMEZONE`). Times without an offset "
        "are read in it; offsets are converted to it; days, weeks and months follow it."
    )
