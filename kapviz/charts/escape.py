"""Data in a figure shown as text: plotly renders labels, hover text, legend names and
annotations as a subset of HTML (`<a href>`, `<b>`, `<br>`), so imported text (site names,
ids, reasons) in them is escaped with `kapviz.safe_text.plotly` (plotly shows `&lt;` as `<`).

Hover templates are kapviz's own formatting and are left alone; the values they insert
(`%{customdata[0]}`, `%{x}`) are escaped here, where the data sits.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go

from kapviz.safe_text import needs_plotly_escape, plotly

TRACE_TEXT = ("x", "y", "text", "hovertext", "customdata", "name", "labels")
"""Trace properties that can hold data shown as text."""


def _escaped(values: Any) -> Any | None:
    """`values` with every string escaped, or None when nothing needed it (no copy made)."""
    if values is None:
        return None
    if isinstance(values, str):
        return plotly(values) if needs_plotly_escape(values) else None
    array = values if isinstance(values, np.ndarray) else np.asarray(values, dtype=object)
    if array.dtype.kind in "US":
        array = array.astype(object)
    if array.dtype.kind != "O":
        return None
    strings = [v for v in array.ravel() if isinstance(v, str)]
    if not strings or not needs_plotly_escape("\0".join(strings)):
        return None
    out = np.array([plotly(v) if isinstance(v, str) else v for v in array.ravel()], dtype=object)
    out = out.reshape(array.shape)
    return out if isinstance(values, np.ndarray) else out.tolist()


def escape_figure_text(fig: go.Figure) -> go.Figure:
    """Escape the data text of every trace, axis tick label, title and annotation (in place)."""
    for trace in fig.data:
        for prop in TRACE_TEXT:
            if prop in trace:
                new = _escaped(trace[prop])
                if new is not None:
                    trace[prop] = new
    layout = fig.layout
    for note in layout.annotations or ():
        new = _escaped(note.text)
        if new is not None:
            note.text = new
    for name in layout:
        if name.startswith(("xaxis", "yaxis")) and layout[name] is not None:
            axis = layout[name]
            for prop in ("ticktext", "categoryarray", "tickvals"):
                new = _escaped(axis[prop])
                if new is not None:
                    axis[prop] = new
    return fig
