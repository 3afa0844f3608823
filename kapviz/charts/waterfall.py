"""Waterfall of percent change from baseline per course, worst to best (Trajectories page).

Input is the per-course frame of `kapviz.metrics.outcomes`; nothing is computed here
beyond ordering and thinning the bars.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from kapviz import instruments
from kapviz.charts.payload import compact
from kapviz.charts.theme import apply_theme
from kapviz.charts.trajectory_layers import MEAN_COLOR, _hline, _label

MAX_WATERFALL_BARS = 2000
"""Bars drawn at most: above this, evenly spaced courses of the ordering (first and last
included), each at its rank — the curve keeps its shape at a tenth of the size at 20,000
courses, and the browser stays responsive."""


def waterfall_count(shown: int, with_scores: int, baseline_zero: int, drawn: int) -> str:
    """The waterfall's n and why it differs from the courses with scores (one wording for
    the chart and the course table's caption)."""
    text = f"n = {shown:,} evaluable courses of {with_scores:,} with scores"
    left = with_scores - shown - baseline_zero
    reasons = []
    if left:
        reasons.append(f"{left:,} not evaluable")
    if baseline_zero:
        reasons.append(f"{baseline_zero:,} with baseline 0 (no percent change)")
    if reasons:
        text += f" ({'; '.join(reasons)} not shown)"
    if drawn < shown:
        text += f" · {drawn:,} evenly spaced courses drawn"
    return text


def waterfall(
    outcomes: pd.DataFrame, *, instrument: str, max_bars: int = MAX_WATERFALL_BARS
) -> go.Figure:
    """Percent change per evaluable course, worst to best; responders in the mean colour.

    Courses with baseline 0 have no percent change and are left out (said in the title).
    More than `max_bars` courses: evenly spaced ones along the ordering are drawn, at their
    rank among all (said in the title).
    """
    inst = instruments.get(instrument)
    mine = outcomes[outcomes["instrument"] == instrument]
    with_scores = len(mine)
    part = mine[mine["evaluable"].astype(bool)]
    missing = int(part["pct_change"].isna().sum())
    part = part[part["pct_change"].notna()].sort_values(
        ["pct_change", "course_id"], ascending=[False, True], kind="stable"
    )
    n_courses = len(part)
    rank = np.arange(1, n_courses + 1)
    if n_courses > max_bars:
        keep = np.unique(np.linspace(0, n_courses - 1, max_bars).round().astype(int))
        part, rank = part.iloc[keep], rank[keep]
    responder = part["is_response"].eq(True).fillna(False).to_numpy()
    pct = (part["pct_change"] * 100).round(0).to_numpy()  # whole percent, as everywhere
    custom = np.column_stack(
        [
            part["patient_id"].astype(str).to_numpy(dtype=object),
            part["course_id"].astype(str).to_numpy(dtype=object),
            part["baseline"].astype("float64").to_numpy(),
            part["endpoint"].astype("float64").to_numpy(),
        ]
    )
    fig = go.Figure()
    # Two traces (one colour each) rather than a per-bar colour list: plotly validates
    # colour lists element by element, ~1 s for 20,000 courses.
    for mask, name, color in (
        (~responder, "Courses: non-responders", "#B8BCC6"),
        (responder, "Courses: responders", MEAN_COLOR),
    ):
        fig.add_trace(
            go.Bar(
                x=rank[mask],
                y=compact(pct[mask]),
                marker={"color": color, "line": {"width": 0}},
                customdata=custom[mask],
                hovertemplate=(
                    "patient %{customdata[0]} · course %{customdata[1]}<br>"
                    "%{customdata[2]:.0f} → %{customdata[3]:.0f}: %{y:+.0f}%<br>"
                    f"{name.removeprefix('Courses: ')[:-1]}<extra></extra>"
                ),
                name=name,
            )
        )
    shapes, labels = [], []
    if inst.response_kind == "percent" and inst.response_threshold is not None:
        y = -100 * inst.response_threshold
        shapes.append(_hline(y, {"color": MEAN_COLOR, "dash": "dash"}))
        labels.append(
            _label(
                f"response: ≥{inst.response_threshold:.0%} reduction",
                # Over the darkest bars (the best responders, right): dark text on a
                # light box, readable on any bar.
                font={"color": "#31333F", "size": 11},
                bgcolor="rgba(255, 255, 255, 0.85)",
                borderpad=2,
                xref="x domain",
                x=0.99,
                xanchor="right",
                yref="y",
                y=y,
                yanchor="top",
                yshift=-3,
            )
        )
    shapes.append(_hline(0, {"color": "#7A7F8A", "width": 1}))
    fig.update_layout(shapes=shapes, annotations=labels)
    apply_theme(fig, title=f"{instrument}: % change from baseline per course, negative = better")
    fig.update_layout(
        title_subtitle_text=waterfall_count(n_courses, with_scores, missing, len(part)),
        title_subtitle_font={"size": 12},
    )
    fig.update_yaxes(title_text=f"{instrument} change from baseline (%)", ticksuffix="%")
    fig.update_xaxes(title_text="Courses, ordered from most worsened to most improved")
    fig.update_layout(
        bargap=0.05,
        barmode="overlay",
        clickmode="event+select",
        dragmode="select",
        height=400,
        margin={"t": 110},  # two title lines above the legend
    )
    return fig
