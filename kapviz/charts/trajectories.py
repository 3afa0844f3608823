"""Trajectory charts: cohort mean ± 95% CI through the course, spaghetti, model band and
small multiples (the per-course waterfall of percent change is kapviz.charts.waterfall).

Inputs are the frames of `kapviz.metrics.trajectories` / `model` / `outcomes`; nothing is
computed here beyond placing points on the axis. The layers (bands, traces) live in
`trajectory_layers` and the waterfall in `waterfall`; callers import them from there.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from kapviz import instruments
from kapviz.charts.theme import apply_theme
from kapviz.charts.trajectory_layers import (
    DAYS_AXIS_TITLE,
    MEAN_COLOR,
    SESSION_AXIS_TITLE,
    band_traces,
    mean_traces,
    phase_bands,
    score_axis_title,
    session_positions,
    session_ticks,
    severity_bands,
    spaghetti_trace,
    x_values,
)


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
) -> go.Figure:
    """Cohort mean ± 95% CI of one instrument with phase and severity bands.

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
    positions = session_positions(frames) if axis == "session" else {}
    labels = dict(zip(table["order"], table["point"], strict=True))
    if lines is not None:
        labels.update(dict(zip(lines["order"], lines["point"], strict=True)))
    if model_band is not None:
        labels.update(dict(zip(model_band["order"], model_band["point"], strict=True)))

    fig = go.Figure()
    if lines is not None and not lines.empty:
        total = courses_total if courses_total is not None else lines["course_id"].nunique()
        fig.add_trace(spaghetti_trace(lines, axis, positions, int(total)))
    if model_band is not None and not model_band.empty:
        band = model_band.sort_values("order")
        for trace in band_traces(band, x_values(band, axis, positions)):
            fig.add_trace(trace)
    for trace in mean_traces(
        table,
        x_values(table, axis, positions),
        name="Cohort mean (95% CI)",
        color=MEAN_COLOR,
        show=True,
    ):
        fig.add_trace(trace)

    inst = instruments.get(instrument)
    phase_of = dict(zip(table["order"], table["phase"], strict=True))
    if lines is not None and "phase" in lines:
        phase_of.update(dict(zip(lines["order"], lines["phase"], strict=True)))
    severity_shapes, severity_labels = severity_bands(instrument)
    phase_shapes, phase_labels = phase_bands(
        axis, positions, phase_of, baseline_window_days=baseline_window_days
    )
    fig.update_layout(
        shapes=[*severity_shapes, *phase_shapes], annotations=[*severity_labels, *phase_labels]
    )
    apply_theme(fig, title=title)
    fig.update_yaxes(
        title_text=score_axis_title(instrument), range=[inst.total_min, inst.total_max]
    )
    if axis == "session":
        fig.update_xaxes(title_text=SESSION_AXIS_TITLE)
        session_ticks(fig, positions, labels)
    else:
        fig.update_xaxes(title_text=DAYS_AXIS_TITLE)
    fig.update_layout(clickmode="event+select", height=480)
    return fig


def spaghetti(
    lines: pd.DataFrame, *, instrument: str, courses_total: int, axis: str = "session"
) -> go.Figure:
    """Individual course lines only (one trace with gaps), clickable to open the case."""
    positions = session_positions([lines["order"]]) if axis == "session" else {}
    fig = go.Figure(spaghetti_trace(lines, axis, positions, courses_total))
    apply_theme(fig)
    fig.update_yaxes(title_text=score_axis_title(instrument))
    if axis == "session":
        fig.update_xaxes(title_text=SESSION_AXIS_TITLE)
        session_ticks(fig, positions, dict(zip(lines["order"], lines["point"], strict=True)))
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
) -> go.Figure:
    """One panel per group (column `group` of a trajectory table computed per group)."""
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
    positions = session_positions([table["order"]]) if axis == "session" else {}
    labels = dict(zip(table["order"], table["point"], strict=True))
    inst = instruments.get(instrument)
    for i, group in enumerate(groups):
        part = table[table["group"] == group].sort_values("order")
        row, col = i // cols + 1, i % cols + 1
        x = x_values(part, axis, positions)
        for trace in mean_traces(
            part, x, name="Cohort mean (95% CI)", color=MEAN_COLOR, show=(i == 0)
        ):
            fig.add_trace(trace, row=row, col=col)
        if axis == "session":
            session_ticks(fig, positions, labels, row=row, col=col, tickangle=-45)
    apply_theme(fig)
    fig.update_yaxes(range=[inst.total_min, inst.total_max])
    fig.update_yaxes(title_text=score_axis_title(instrument), col=1)
    x_title = "Course phase" if axis == "session" else "Days since first dose"
    fig.update_xaxes(title_text=x_title, row=rows)
    fig.update_layout(height=320 * rows + 80, showlegend=False)
    return fig
