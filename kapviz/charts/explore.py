"""The Explore chart: one estimate with its 95% interval per group.

No breakdown: a single dot and interval for the whole cohort. One dimension: a dot and
interval per group, one row each. Two dimensions: small multiples, one panel per value of
the second dimension, the first dimension's groups as rows of every panel (same rows in
each, so panels read side by side). The estimates and intervals come from
`kapviz.explore.run`; nothing is computed here but the percent scale of proportions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from kapviz import safe_text
from kapviz.charts.theme import PALETTE, TEXT_COLOR, apply_theme, category_color
from kapviz.domain import ROUTE_LABELS

ALL_COURSES = "All in the cohort"
PERCENT_KINDS = frozenset({"proportion"})
"""Measures drawn on a 0–100% axis (stored as fractions)."""
MAX_PANEL_COLUMNS = 3
ROW_PX = 46
PANEL_GAP_PX = 70
COLOURED = {"route": "route", "site": "site"}
"""Dimensions whose values have a fixed colour in the theme; other groups are drawn in one
colour (the group is named on its row, so colour would only repeat it)."""


def group_text(dimension: str, value: object) -> str:
    """A group value as shown: route codes by their labels, missing as "unknown"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "unknown"
    if dimension == "route":
        return ROUTE_LABELS.get(str(value), str(value))
    return str(value)


_ROUTE_CODES = {label.lower(): code for code, label in ROUTE_LABELS.items()}


def group_color(dimension: str | None, value: object) -> str:
    """The dot's colour: the theme's fixed colour of a route (by code or label) or a site,
    else one colour."""
    if dimension in COLOURED and value is not None:
        if dimension == "route":
            value = _ROUTE_CODES.get(str(value).lower(), str(value).lower())
        return category_color(COLOURED[dimension], value)  # type: ignore[arg-type]
    return PALETTE[0] if dimension else TEXT_COLOR


def _scale(kind: str) -> float:
    return 100.0 if kind in PERCENT_KINDS else 1.0


def value_text(value: float, kind: str) -> str:
    """One estimate as written on the chart (whole percent for proportions)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if kind in PERCENT_KINDS:
        return f"{100 * value:.0f}%"
    if kind == "median_days":
        return f"{value:.0f} d"
    return f"{value:.1f}"


def _n_text(row: pd.Series, kind: str, count_label: Callable[[int], str]) -> str:
    den = row["denominator"]
    den_text = count_label(int(den)) if pd.notna(den) else "0"
    num = row.get("numerator")
    if kind in PERCENT_KINDS and pd.notna(num):
        return f"{count_label(int(num))} of {den_text}"
    return f"n = {den_text}"


def _ci_text(low: float, high: float, kind: str) -> str:
    """The interval in words; a median's limit that the curve never reaches is "not
    reached" (Kaplan–Meier), any other missing limit "not estimable"."""
    if pd.isna(low) and pd.isna(high):
        return "95% CI not estimable"
    missing = "not reached" if kind == "median_days" else "not estimable"
    low_text = missing if pd.isna(low) else value_text(low, kind)
    high_text = missing if pd.isna(high) else value_text(high, kind)
    return f"95% CI {low_text} to {high_text}"


def _middle(values: pd.Series, kind: str) -> float:
    """The middle of the x axis: 50% for proportions, else the middle of the values."""
    if kind in PERCENT_KINDS:
        return 50.0
    finite = values.astype("float64").dropna()
    return float(finite.min() + finite.max()) / 2 if len(finite) else 0.0


def _text_sides(values: pd.Series, middle: float) -> list[str]:
    """Each label beside its dot towards the middle of the axis, so labels of values near
    either end stay inside the plot instead of running over the axis line."""
    return ["top left" if pd.notna(v) and v > middle else "top right" for v in values]


def _none(values) -> list:
    return [None if pd.isna(v) else float(v) for v in values]


def _trace(
    rows: pd.DataFrame,
    *,
    y: list[str],
    kind: str,
    color: str,
    name: str,
    count_label: Callable[[int], str],
    middle: float,
) -> go.Scatter:
    scale = _scale(kind)
    value = rows["value"].astype("float64") * scale
    low = rows["ci_low"].astype("float64") * scale
    high = rows["ci_high"].astype("float64") * scale
    # A Kaplan-Meier median never reached (fewer than half responded): an open arrow at the
    # interval's lower limit, labelled so, rather than an empty row for a group with courses.
    unreached = value.isna() & low.notna() & (kind == "median_days")
    labels = [
        f"{'median not reached' if beyond else value_text(v, kind)} "
        f"({_n_text(r, kind, count_label)})"
        for v, beyond, (_, r) in zip(rows["value"], unreached, rows.iterrows(), strict=True)
    ]
    cis = [_ci_text(lo / scale, hi / scale, kind) for lo, hi in zip(low, high, strict=True)]
    return go.Scatter(
        x=_none(value.where(~unreached, low)),
        y=y,
        mode="markers+text",
        marker={
            "color": color,
            "size": 11,
            "line": {"color": "white", "width": 1},
            "symbol": ["triangle-right-open" if u else "circle" for u in unreached],
        },
        error_x={
            "type": "data",
            "symmetric": False,
            "array": _none(high - value),
            "arrayminus": _none(value - low),
            "color": color,
            "thickness": 2,
            "width": 5,
        },
        text=labels,
        textposition=_text_sides(value, middle),
        textfont={"size": 11, "color": TEXT_COLOR},
        customdata=[[lab, ci] for lab, ci in zip(labels, cis, strict=True)],
        hovertemplate="<b>%{y}</b><br>%{customdata[0]}<br>%{customdata[1]}<extra></extra>",
        name=name,
        showlegend=False,
        cliponaxis=False,
    )


def dot_interval(
    table: pd.DataFrame,
    *,
    by: Sequence[str],
    kind: str,
    axis_title: str,
    count_label: Callable[[int], str] = lambda n: f"{n:,}",
    title: str | None = None,
) -> go.Figure:
    """Estimates with 95% intervals: one row per group of `by[0]`, one panel per value of
    `by[1]` (when given). `table` has the group columns and numerator, denominator, value,
    ci_low, ci_high (`kind` "proportion": fractions, drawn as %). `count_label` writes the
    counts in labels and hovers (analysts see small counts as "<11")."""
    by = list(by)
    if len(by) > 2:
        raise ValueError(f"at most two breakdown dimensions, got {by}")
    frame = table.reset_index(drop=True)
    row_dim = by[0] if by else None
    rows = (
        [group_text(row_dim, v) for v in frame[row_dim]] if row_dim else [ALL_COURSES] * len(frame)
    )
    order = list(dict.fromkeys(rows))
    panels = list(dict.fromkeys(frame[by[1]].tolist())) if len(by) == 2 else [None]
    columns = min(len(panels), MAX_PANEL_COLUMNS)
    panel_rows = math.ceil(len(panels) / columns)
    titles = [safe_text.plotly(group_text(by[1], p)) for p in panels] if len(by) == 2 else None
    plot_px = ROW_PX * max(len(order), 1) + 40
    height = panel_rows * plot_px + (panel_rows - 1) * PANEL_GAP_PX + 150
    fig = make_subplots(
        rows=panel_rows,
        cols=columns,
        shared_xaxes="all",
        shared_yaxes="all",
        subplot_titles=titles,
        horizontal_spacing=0.04 if columns > 1 else 0.0,
        vertical_spacing=PANEL_GAP_PX / height if panel_rows > 1 else 0.0,
    )
    labels = pd.Series(rows, index=frame.index)
    middle = _middle(frame["value"], kind)
    traces, trace_rows, trace_cols = [], [], []
    for i, panel in enumerate(panels):
        part = frame if panel is None else frame[frame[by[1]] == panel]
        r, c = divmod(i, columns)
        for value in dict.fromkeys(part[row_dim]) if row_dim else [None]:
            mine = part if row_dim is None else part[part[row_dim] == value]
            traces.append(
                _trace(
                    mine,
                    y=labels.loc[mine.index].tolist(),
                    kind=kind,
                    color=group_color(row_dim, value),
                    name=group_text(row_dim, value) if row_dim else ALL_COURSES,
                    count_label=count_label,
                    middle=middle,
                )
            )
            trace_rows.append(r + 1)
            trace_cols.append(c + 1)
    if traces:  # in one call: trace by trace, plotly re-validated the figure each time
        fig.add_traces(traces, rows=trace_rows, cols=trace_cols)
    apply_theme(fig, title=title)
    escaped = [safe_text.plotly(o) for o in order]  # as apply_theme escaped the traces' y
    fig.update_yaxes(
        categoryorder="array",
        categoryarray=escaped[::-1],
        range=[-0.6, len(order) - 0.4],
        showgrid=False,
        ticks="",
    )
    if kind in PERCENT_KINDS:
        fig.update_xaxes(range=[-2, 104], ticksuffix="%", tickvals=[0, 25, 50, 75, 100])
    else:
        fig.update_xaxes(zeroline=kind == "mean", zerolinecolor="#B8BCC6")
    for c in range(1, columns + 1):
        fig.update_xaxes(title_text=axis_title, row=panel_rows, col=c)
    fig.update_layout(height=height, margin={"l": 20, "r": 30, "t": 96 if title else 60, "b": 60})
    return fig
