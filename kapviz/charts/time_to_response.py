"""Kaplan–Meier curves of time to first response, with the number at risk under them.

Drawn as the share of courses that have responded, 1 − S(t), which rises from 0; the
dotted line at 50% is where the median is read. The curves come from
`kapviz.metrics.time_to_response`; nothing is estimated here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from kapviz import safe_text
from kapviz.charts.payload import drawn
from kapviz.charts.theme import GRID_COLOR, PALETTE, TEXT_COLOR, apply_theme
from kapviz.metrics.time_to_response import SurvivalCurve, TimeToResponse, at_risk

ALL_COURSES = "All courses"
SCALES = {"days": "Days since first dose", "doses": "Dosing sessions completed"}
MIN_AT_RISK_DRAWN = 10
"""The x axis ends where fewer courses than this remain at risk: the tail beyond rests on
a handful of courses and would squeeze the weeks where responses happen."""


def group_colour(label: str, order: Sequence[str]) -> str:
    """A group's colour by its place in a fixed vocabulary (routes, indications), so that
    a route keeps its colour whatever the filters leave in the chart."""
    if label == ALL_COURSES:
        return TEXT_COLOR
    index = list(order).index(label) if label in order else len(order) + sum(map(ord, label))
    return PALETTE[index % (len(PALETTE) - 1)]  # the palette's black is the "all" curve


def _curve(result: TimeToResponse, scale: str) -> SurvivalCurve:
    return result.days if scale == "days" else result.doses


def _axis_end(overall: TimeToResponse, scale: str) -> float:
    times = overall.times[scale].to_numpy(dtype=float)
    if not len(times):
        return 7.0 if scale == "days" else 1.0
    ordered = np.sort(times)[::-1]
    end = ordered[MIN_AT_RISK_DRAWN - 1] if len(ordered) >= MIN_AT_RISK_DRAWN else ordered[0]
    step = 7.0 if scale == "days" else 1.0
    return float(max(step, np.ceil(end / step) * step))


def _ticks(end: float, scale: str) -> list[float]:
    if scale == "doses":
        return [float(k) for k in range(0, int(end) + 1)]
    step = 7.0 if end <= 84 else 14.0 if end <= 168 else 28.0
    return [float(t) for t in np.arange(0.0, end + 0.5, step)]


def response_curves(
    groups: Sequence[TimeToResponse],
    *,
    overall: TimeToResponse,
    scale: str,
    order: Sequence[str] = (),
    count_label: Callable[[int], str] = lambda n: f"{n:,}",
    title: str | None = None,
) -> go.Figure:
    """Cumulative share responded per group and for all courses, number at risk beneath.

    `overall` is drawn first with its 95% band (log–log Greenwood); `groups` as lines.
    `count_label` formats the number at risk (analysts see small counts as "<11").
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {sorted(SCALES)}, got {scale!r}")
    curves = [overall, *[g for g in groups if g.group != overall.group]]
    end = _axis_end(overall, scale)
    ticks = _ticks(end, scale)
    plot_px, row_px = 330, 22
    risk_px = row_px * len(curves) + 10
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        row_heights=[plot_px, risk_px],
        vertical_spacing=60 / (plot_px + risk_px + 60),
    )
    unit = "days" if scale == "days" else "doses"
    for i, result in enumerate(curves):
        curve = _curve(result, scale)
        colour = group_colour(result.group, order)
        x = np.r_[0.0, curve.table["time"].to_numpy(dtype=float)]
        y = np.r_[0.0, 100 * (1 - curve.table["survival"].to_numpy(dtype=float))]
        if i == 0 and len(curve.table):
            low = np.r_[0.0, 100 * (1 - curve.table["ci_high"].to_numpy(dtype=float))]
            high = np.r_[0.0, 100 * (1 - curve.table["ci_low"].to_numpy(dtype=float))]
            fig.add_trace(
                go.Scatter(  # drawn only (no hover): float32
                    x=drawn(np.r_[x, x[::-1]]),
                    y=drawn(np.r_[high, low[::-1]]),
                    fill="toself",
                    fillcolor="rgba(49,51,63,0.10)",
                    line={"width": 0, "shape": "hv"},
                    name=f"{result.group}: 95% CI",
                    hoverinfo="skip",
                    showlegend=True,
                ),
                row=1,
                col=1,
            )
        median = "not reached" if curve.median is None else f"{curve.median:.3g} {unit}"
        fig.add_trace(
            go.Scatter(
                x=drawn(x),  # shown as %{x:g}: six significant digits
                y=y,
                mode="lines",
                line={"color": colour, "width": 3 if i == 0 else 2, "shape": "hv"},
                name=f"{result.group} (n={count_label(curve.courses)}; median {median})",
                hovertemplate=f"{result.group}<br>%{{x:g}} {unit}: %{{y:.0f}}% responded"
                "<extra></extra>",
            ),
            row=1,
            col=1,
        )
    fig.add_hline(y=50, line={"color": "#8C8C8C", "width": 1, "dash": "dot"}, row=1, col=1)
    # Escaped as apply_theme escapes the traces' y values, so categories and ticks match.
    labels = [safe_text.plotly(r.group) for r in curves]
    for result in curves:
        counts = at_risk(result.times[scale].to_numpy(dtype=float), ticks)
        fig.add_trace(
            go.Scatter(
                x=ticks,
                y=[result.group] * len(ticks),
                mode="text",
                text=[count_label(n) for n in counts],
                textfont={"color": group_colour(result.group, order), "size": 12},
                showlegend=False,
                hovertemplate=f"{result.group}: %{{text}} at risk at %{{x:g}} {unit}"
                "<extra></extra>",
            ),
            row=2,
            col=1,
        )
    apply_theme(fig, title=title)
    # Legend at the foot of the figure, one entry per curve with its n and median: at the
    # right it took half of a narrow screen and squeezed the numbers at risk together.
    legend_px = 24 * ((len(curves) + 3) // 2)
    fig.update_layout(
        height=plot_px + risk_px + 60 + 130 + legend_px,
        margin={"l": 60, "r": 20, "t": 60, "b": 60 + legend_px},
        legend={
            "orientation": "h",
            "x": 0,
            "xanchor": "left",
            "yref": "container",
            "y": 0.01,
            "yanchor": "bottom",
        },
    )
    fig.update_yaxes(title_text="Responded (%)", range=[0, 100], ticksuffix="%", row=1, col=1)
    fig.update_yaxes(
        title_text="At risk",
        categoryorder="array",
        categoryarray=labels[::-1],
        tickmode="array",
        tickvals=labels,
        range=[-0.6, len(labels) - 0.4],
        showgrid=False,
        ticks="",
        row=2,
        col=1,
    )
    fig.update_xaxes(range=[-0.05 * end, end * 1.03], tickvals=ticks, gridcolor=GRID_COLOR)
    fig.update_xaxes(title_text=SCALES[scale], row=2, col=1)
    return fig
