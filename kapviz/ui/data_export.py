"""The Data page's full export, with a message instead of a traceback when it fails."""

from __future__ import annotations

import logging
from collections.abc import Callable

import streamlit as st

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
