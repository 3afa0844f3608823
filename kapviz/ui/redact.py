"""What a role sees: analysts get aggregates only, without patient or course ids, and small
counts as "<11" (`Settings.small_cell_threshold`, kapviz.privacy); per-patient rows are not
shown to them. Other roles get everything unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from kapviz import privacy
from kapviz.auth import scope
from kapviz.ui.db import settings
from kapviz.ui.exports import csv_download
from kapviz.ui.session import viewer

ID_COLUMNS = ("patient_id", "course_id", "session_id", "link")
"""Columns that identify a patient (or lead to one): never shown to analysts."""


def shows_ids() -> bool:
    """Patient and course ids, case links and per-course rows: not for analysts."""
    return scope.shows_patient_ids(viewer())


def suppresses() -> bool:
    """Small counts as "<N" (analysts)."""
    return scope.suppresses_small_cells(viewer())


def deidentify(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame without id and link columns for analysts (unchanged for other roles)."""
    if shows_ids():
        return frame
    return frame.drop(columns=[c for c in ID_COLUMNS if c in frame.columns])


ID_HOVER = re.compile(r"patient %\{customdata\[0\]\} · course %\{customdata\[1\]\}(<br>)?")
CLICK_HINT = re.compile(r"(<br>)?click to open in the Case explorer")
ID_FIELDS = 2
"""Charts that name a course put patient and course ids first in customdata."""


def _renumber(template: str) -> str:
    return re.sub(
        r"customdata\[(\d+)\]", lambda m: f"customdata[{int(m.group(1)) - ID_FIELDS}]", template
    )


def deidentify_figure(fig: go.Figure) -> go.Figure:
    """For analysts, a copy of the figure without patient and course ids in customdata and
    hovers (course lines and waterfall bars stay, without ids or case links); others get the
    figure itself. Cached figures are shared: never changed in place."""
    if shows_ids():
        return fig
    out = go.Figure(fig)
    for trace in out.data:
        template = getattr(trace, "hovertemplate", None) or ""
        if not ID_HOVER.search(template):
            continue
        custom = np.asarray(trace.customdata if trace.customdata is not None else [], dtype=object)
        rest = custom[:, ID_FIELDS:] if custom.ndim == 2 else custom[:0]
        template = _renumber(CLICK_HINT.sub("", ID_HOVER.sub("", template)))
        trace.update(customdata=rest if rest.size else None, hovertemplate=template)
    return out


def small_below() -> int | None:
    """The small-cell threshold when this viewer's counts are suppressed, else None: figures
    cached with it leave out what would draw a count from 1 to threshold − 1."""
    return settings().small_cell_threshold if suppresses() else None


def drawable(frame: pd.DataFrame, columns: Sequence[str], small: int | None) -> pd.DataFrame:
    """`frame` without the rows whose counts in `columns` are small (when `small` is set)."""
    if small is None:
        return frame
    return privacy.drop_small_counts(frame, list(columns), threshold=small)


SUPPRESSED_CAPTION = (
    ":material/visibility_off: Counts from 1 to {last} are not drawn (small-cell suppression)."
)


def suppression_caption() -> None:
    """Tell an analyst why parts of a figure are missing."""
    small = small_below()
    if small is not None:
        st.caption(SUPPRESSED_CAPTION.format(last=small - 1))


def count_label(n: int) -> str:
    """A count as shown: "<11" for analysts when 1 ≤ n < threshold."""
    threshold = settings().small_cell_threshold
    if suppresses() and 0 < n < threshold:
        return privacy.suppressed_label(threshold)
    return f"{n:,}"


def suppress_rows(
    frame: pd.DataFrame, *, counts: Sequence[str], blank: Sequence[str] = ()
) -> pd.DataFrame:
    """For analysts: small counts as "<N" and, in those rows, the statistics in `blank` hidden
    (a mean of three scores is about three people). Counts that add to no total: no complement.
    """
    if not suppresses():
        return frame
    threshold = settings().small_cell_threshold
    mask = privacy.suppression_mask(
        frame, threshold=threshold, columns=list(counts), complementary=False
    )
    out = privacy.suppress_small_cells(
        frame, threshold=threshold, columns=list(counts), complementary=False
    )
    hidden = mask[list(counts)].any(axis=1)
    for column in blank:
        out[column] = out[column].astype(object).where(~hidden, None)
    for column in counts:
        out[column] = out[column].map(lambda v: v if isinstance(v, str) else f"{v:,}")
    return out


MISSING_TEXT = "—"
"""A table's empty cell: Streamlit printed "None", which read as a value (a baseline of
"None") in a clinical table."""


def _as_text_column(config: object) -> Any:
    if isinstance(config, Mapping):
        return st.column_config.TextColumn(config.get("label"), help=config.get("help"))
    return st.column_config.TextColumn(config if isinstance(config, str) else None)


def aggregate_table(
    frame: pd.DataFrame,
    *,
    counts: Sequence[str],
    blank: Sequence[str] = (),
    download: str | None = None,
    key: str | None = None,
    **dataframe_kwargs: Any,
) -> None:
    """An aggregate table (small cells suppressed for analysts) and its CSV download."""
    shown = suppress_rows(frame, counts=counts, blank=blank)
    if shown is not frame:
        config = dict(dataframe_kwargs.pop("column_config", None) or {})
        for column in counts:
            config[column] = _as_text_column(config.get(column, column))
        dataframe_kwargs["column_config"] = config
    st.dataframe(shown, key=key, **{"placeholder": MISSING_TEXT, **dataframe_kwargs})
    if download:
        csv_download(
            "Download this table (CSV)",
            shown,
            file_name=download,
            key=f"{key or download}-csv",
            what=f"aggregate table {download}",
        )


def row_table(frame: pd.DataFrame, **dataframe_kwargs: Any) -> None:
    """A table of one row per patient or course: not shown to analysts (aggregates only)."""
    if scope.may_export_rows(viewer()):
        st.dataframe(frame, **{"placeholder": MISSING_TEXT, **dataframe_kwargs})
    else:
        st.caption(
            ":material/visibility_off: Per-course rows are not shown to analysts; the charts "
            "and tables above are aggregates."
        )
