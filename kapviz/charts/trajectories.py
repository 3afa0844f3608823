"""Trajectory charts: cohort mean ± 95% CI through the course, spaghetti, model band,
small multiples and the per-course waterfall of percent change.

Inputs are the frames of `kapviz.metrics.trajectory_tables` / `model` / `outcomes`; nothing is
computed here beyond placing points on the axis. The layers (bands, traces) live in
`trajectory_layers` and the waterfall in `waterfall`; import their names from there.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from kapviz import instruments
from kapviz.charts.theme import apply_theme
from kapviz.charts.trajectory_layers import (
    DAYS_AXIS_TITLE,
    MEAN_COLOR,
    SESSION_AXIS_TITLE,
    _band_traces,
    _hline,
    _mean_traces,
    _n_row,
    _phase_bands,
    _positions,
    _session_ticks,
    _severity_bands,
    _spaghetti_trace,
    _x,
    score_axis_title,
)
from kapviz.metrics.trajectory_tables import CohortMeasure


def change_axis_title(instrument_id: str) -> str:
    """Y-axis title of the paired view, e.g. "PHQ-9 change from baseline (< 0 = better)"
    (short enough for a 500-pixel chart)."""
    inst = instruments.get(instrument_id)
    better = "< 0 = better" if inst.higher_is_worse else "> 0 = better"
    return f"{inst.id} change from baseline, points ({better})"


MEAN_NAMES = {
    CohortMeasure.CHANGE: "Mean change from baseline, same courses (95% CI)",
    CohortMeasure.SCORES: "Mean of all available scores (95% CI)",
}

N_ROW_ROOM = 0.12
"""Share of the y range left below the scale for the n row."""


def _scale(
    table: pd.DataFrame, lines: pd.DataFrame | None, *, instrument: str, measure: CohortMeasure
) -> tuple[float, float]:
    """The y values the chart shows: the instrument's range, or (change view) the means,
    their CIs and all but the outermost 2% of course values on each side."""
    inst = instruments.get(instrument)
    if measure is CohortMeasure.SCORES:
        return float(inst.total_min), float(inst.total_max)
    values = pd.concat([table["mean"], table["ci_low"], table["ci_high"]]).to_numpy(dtype=float)
    if lines is not None and not lines.empty:
        values = np.append(values, np.nanpercentile(lines["total"].to_numpy(float), [2, 98]))
    values = values[np.isfinite(values)]
    span = float(inst.total_max - inst.total_min)
    low = max(-span, min(-5.0, float(values.min()) if len(values) else 0.0))
    high = min(span, max(5.0, float(values.max()) if len(values) else 0.0))
    pad = 0.04 * (high - low)
    return low - pad, high + pad


def _ticks(low: float, high: float) -> list[float]:
    """About six round y ticks within the scale (none in the n row below it)."""
    for step in (1, 2, 5, 10, 20, 25, 50, 100):
        if (high - low) / step <= 7:
            break
    first = np.ceil(low / step) * step
    return [float(v) for v in np.arange(first, high + 1e-9, step)]


def score_trajectory(
    table: pd.DataFrame,
    *,
    instrument: str,
    axis: str = "session",
    lines: pd.DataFrame | None = None,
    courses_total: int | None = None,
    model_band: pd.DataFrame | None = None,
    title: str | None = None,
    baseline_window_days: int = 30,
    measure: CohortMeasure = CohortMeasure.SCORES,
) -> go.Figure:
    """Cohort mean ± 95% CI of one instrument with phase bands and a row of n per point.

    `measure` says what `table` (and `lines`) hold: each course's change from its baseline
    (paired view: a zero line, no severity bands) or the scores themselves (severity
    bands). Points of fewer than MIN_COURSES courses are grey "too few" markers.
    Optional layers: `lines` (per-course values from `course_lines`, drawn as one trace;
    `courses_total` is how many courses there were before sampling) and `model_band`
    (the mixed model's mean and CI on the same axis). `baseline_window_days` (Settings)
    sets the shaded baseline window of the days axis.
    """
    table = table[table["instrument"] == instrument].sort_values("order")
    frames = [table["order"]]
    if lines is not None and not lines.empty:
        frames.append(lines["order"])
    if model_band is not None and not model_band.empty:
        frames.append(model_band["order"])
    positions = _positions(frames) if axis == "session" else {}
    labels = dict(zip(table["order"], table["point"], strict=True))
    if lines is not None:
        labels.update(dict(zip(lines["order"], lines["point"], strict=True)))
    if model_band is not None:
        labels.update(dict(zip(model_band["order"], model_band["point"], strict=True)))

    change = measure is CohortMeasure.CHANGE
    fig = go.Figure()
    if lines is not None and not lines.empty:
        total = courses_total if courses_total is not None else lines["course_id"].nunique()
        fig.add_trace(_spaghetti_trace(lines, axis, positions, int(total)))
    if model_band is not None and not model_band.empty:
        band = model_band.sort_values("order")
        for trace in _band_traces(band, _x(band, axis, positions)):
            fig.add_trace(trace)
    x = _x(table, axis, positions)
    for trace in _mean_traces(
        table,
        x,
        name=MEAN_NAMES[measure],
        color=MEAN_COLOR,
        show=True,
        unit=" points" if change else "",
    ):
        fig.add_trace(trace)

    phase_of = dict(zip(table["order"], table["phase"], strict=True))
    if lines is not None and "phase" in lines:
        phase_of.update(dict(zip(lines["order"], lines["phase"], strict=True)))
    if change:
        severity_shapes = [_hline(0, {"color": "#5F6470", "width": 1})]
        severity_labels: list[dict] = []
    else:
        severity_shapes, severity_labels = _severity_bands(instrument)
    phase_shapes, phase_labels = _phase_bands(
        axis, positions, phase_of, baseline_window_days=baseline_window_days
    )
    fig.update_layout(
        shapes=[*severity_shapes, *phase_shapes],
        annotations=[*severity_labels, *phase_labels, *_n_row(table, x, vertical=axis == "days")],
    )
    apply_theme(fig, title=title)
    low, high = _scale(table, lines, instrument=instrument, measure=measure)
    fig.update_yaxes(
        title_text=change_axis_title(instrument) if change else score_axis_title(instrument),
        range=[low - N_ROW_ROOM * (high - low), high],
        tickmode="array",
        tickvals=_ticks(low, high),
    )
    if axis == "session":
        fig.update_xaxes(title_text=SESSION_AXIS_TITLE)
        _session_ticks(fig, positions, labels)
    else:
        fig.update_xaxes(title_text=DAYS_AXIS_TITLE)
    # Room on the right for the severity band labels (outside the plot), or for the last
    # tick label when a narrow screen turns the labels (plotly hides a label past the edge).
    fig.update_layout(clickmode="event+select", height=500, margin={"r": 60 if change else 120})
    return fig


def spaghetti(
    lines: pd.DataFrame, *, instrument: str, courses_total: int, axis: str = "session"
) -> go.Figure:
    """Individual course lines only (one trace with gaps), clickable to open the case."""
    positions = _positions([lines["order"]]) if axis == "session" else {}
    fig = go.Figure(_spaghetti_trace(lines, axis, positions, courses_total))
    apply_theme(fig)
    fig.update_yaxes(title_text=score_axis_title(instrument))
    if axis == "session":
        fig.update_xaxes(title_text=SESSION_AXIS_TITLE)
        _session_ticks(fig, positions, dict(zip(lines["order"], lines["point"], strict=True)))
    else:
        fig.update_xaxes(title_text=DAYS_AXIS_TITLE)
    return fig


def small_multiples(
    table: pd.DataFrame,
    *,
    instrument: str,
    by: str,
    axis: str = "session",
    columns: int = 3,
    measure: CohortMeasure = CohortMeasure.SCORES,
) -> go.Figure:
    """One panel per group (column `group` of a trajectory table computed per group), of
    the scores or (`measure`) each course's change from its baseline."""
    table = table[table["instrument"] == instrument]
    groups = table["group"].drop_duplicates().tolist()
    if not groups:
        groups = ["(no data)"]
    cols = max(1, min(columns, len(groups)))
    rows = math.ceil(len(groups) / cols)
    titles = [f"{by}: {g}" for g in groups]
    fig = make_subplots(
        rows=rows,
        cols=cols,
        shared_yaxes=True,
        subplot_titles=titles,
        horizontal_spacing=0.05,
        vertical_spacing=min(0.16, 0.6 / (rows - 1)) if rows > 1 else 0.1,
    )
    positions = _positions([table["order"]]) if axis == "session" else {}
    labels = dict(zip(table["order"], table["point"], strict=True))
    n_rows: list[dict] = []
    for i, group in enumerate(groups):
        part = table[table["group"] == group].sort_values("order")
        row, col = i // cols + 1, i % cols + 1
        x = _x(part, axis, positions)
        for trace in _mean_traces(
            part, x, name=MEAN_NAMES[measure], color=MEAN_COLOR, show=(i == 0)
        ):
            fig.add_trace(trace, row=row, col=col)
        n_rows += _n_row(
            part, x, vertical=axis == "days", axes="" if i == 0 else str(i + 1), name=col == 1
        )
        if axis == "session":
            _session_ticks(fig, positions, labels, row=row, col=col, tickangle=-45)
    apply_theme(fig)
    low, high = _scale(table, None, instrument=instrument, measure=measure)
    fig.update_yaxes(
        range=[low - N_ROW_ROOM * (high - low), high], tickmode="array", tickvals=_ticks(low, high)
    )
    # Short y titles: the long ones of the single chart ran into the next row's panel.
    if measure is CohortMeasure.CHANGE:
        fig.add_hline(y=0, line={"color": "#5F6470", "width": 1}, row="all", col="all")
        fig.update_yaxes(title_text=f"{instrument} change (points)", col=1)
    else:
        fig.update_yaxes(title_text=f"{instrument} total", col=1)
    fig.layout.annotations = (*fig.layout.annotations, *n_rows)
    x_title = "When the score was taken" if axis == "session" else "Days since first dose"
    fig.update_xaxes(title_text=x_title, row=rows)
    fig.update_layout(height=320 * rows + 80, showlegend=False)
    return fig
