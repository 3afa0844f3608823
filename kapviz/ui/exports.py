"""Downloads that leave a trace: every export is an audit row, written when the file is made.

Streamlit produces a deferred download (a callable `data`) when the button is clicked, outside
the script run, so the callable carries the user and the engine it needs. CSV downloads pass
through `kapviz.privacy.neutralise_formulas`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from kapviz import privacy
from kapviz.auth import audit
from kapviz.ui.db import engine
from kapviz.ui.session import username

Payload = str | bytes


def audited_export(
    content: Payload | Callable[[], Payload],
    *,
    who: str,
    target: str,
    detail: Mapping[str, object] | None,
    eng: Engine,
) -> Callable[[], Payload]:
    """A deferred download that produces the file, then writes its export audit row.

    Streamlit runs it when the button is clicked, outside the script run, so it carries what
    it needs. A failed audit write raises: no row, no file.
    """

    def produce() -> Payload:
        payload = content() if callable(content) else content
        with eng.begin() as conn:
            audit.record(conn, username=who, action=audit.EXPORT, target=target, detail=detail)
        return payload

    return produce


def audited(
    content: Payload | Callable[[], Payload],
    *,
    target: str,
    detail: Mapping[str, object] | None = None,
) -> Callable[[], Payload]:
    """`audited_export` for the viewer of this run, for `st.download_button(data=...)`."""
    return audited_export(content, who=username(), target=target, detail=detail, eng=engine())


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """CSV safe to open in a spreadsheet: formulas neutralised (kapviz.privacy)."""
    return privacy.neutralise_formulas(frame).to_csv(index=False).encode("utf-8")


def csv_download(
    label: str, frame: pd.DataFrame, *, file_name: str, key: str, what: str | None = None
) -> None:
    """A CSV download button: neutralised formulas, audited when the file is produced."""
    st.download_button(
        label,
        audited(
            lambda: csv_bytes(frame),
            target=file_name,
            detail={"what": what or file_name, "rows": len(frame)},
        ),
        file_name=file_name,
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
        key=key,
    )
