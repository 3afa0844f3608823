"""Program charts for the director's overview: funnel, volume, site comparison, trends."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from kapviz.charts.theme import PALETTE, apply_theme
from kapviz.domain import ROUTE_LABELS


def treatment_funnel(funnel: pd.DataFrame) -> go.Figure:
    """Horizontal funnel of patients per step, with the share lost at each step."""
    lost = ["" if pd.isna(v) else f"−{v:.0%} from previous step" for v in funnel["lost"].tolist()]
    fig = go.Figure(
        go.Funnel(
            y=funnel["step"].tolist(),
            x=funnel["patients"].tolist(),
            customdata=lost,
            textinfo="value+percent initial",
            marker={"color": PALETTE[0]},
            hovertemplate="%{y}: %{x} patients<br>%{customdata}<extra></extra>",
        )
    )
    apply_theme(fig, title="Treatment funnel (patients)")
    fig.update_layout(height=320, margin={"l": 140, "r": 20, "t": 50, "b": 30})
    return fig


def monthly_dosing(monthly: pd.DataFrame) -> go.Figure:
    """Stacked monthly bars of completed dosing sessions by route."""
    fig = go.Figure()
    for i, (route, part) in enumerate(monthly.groupby("route", sort=True)):
        label = ROUTE_LABELS.get(route, route)
        fig.add_bar(
            x=part["month"],
            y=part["sessions"],
            name=label,
            marker_color=PALETTE[i % len(PALETTE)],
            hovertemplate=f"{label}: %{{y}} sessions in %{{x|%b %Y}}<extra></extra>",
        )
    apply_theme(fig, title="Dosing sessions per month, by route")
    fig.update_layout(barmode="stack", height=320)
    fig.update_xaxes(title_text="Month", dtick="M1", tickformat="%b %Y")
    fig.update_yaxes(title_text="Completed dosing sessions")
    return fig


def monthly_rate(monthly: pd.DataFrame, *, title: str, y_title: str) -> go.Figure:
    """A monthly rate with its 95% Wilson interval (columns month, rate, ci_low, ci_high, n)."""
    fig = go.Figure()
    fig.add_scatter(
        x=monthly["month"],
        y=monthly["rate"],
        mode="lines+markers",
        name="Rate",
        line={"color": PALETTE[0]},
        error_y={
            "type": "data",
            "array": (monthly["ci_high"] - monthly["rate"]).tolist(),
            "arrayminus": (monthly["rate"] - monthly["ci_low"]).tolist(),
            "color": "#9aa4b1",
        },
        customdata=monthly[["n"]].to_numpy(),
        hovertemplate="%{x|%b %Y}: %{y:.0%} of %{customdata[0]} courses<extra></extra>",
    )
    apply_theme(fig, title=title)
    fig.update_layout(height=320, showlegend=False)
    fig.update_xaxes(title_text="Month of endpoint", dtick="M1", tickformat="%b %Y")
    fig.update_yaxes(title_text=y_title, tickformat=".0%", range=[0, 1])
    return fig


SITE_AXIS_ROOM = 1.35
"""The site comparison's volume axis reaches this multiple of the largest site's volume:
room on the right for its label (the limits are drawn that far too)."""


def label_positions(rates: pd.Series) -> list[str]:
    """Text positions for point labels: the highest rate's above its point, the lowest's
    below, the others to the right, so that sites of similar volume and rate stay legible."""
    order = rates.rank(method="first", ascending=False).to_numpy()
    last = len(rates)
    positions = []
    for rank in order:
        if rank == 1:
            positions.append("top center")
        elif rank == last:
            positions.append("bottom center")
        else:
            positions.append("middle right")
    return positions


def site_funnel_plot(
    sites: pd.DataFrame, limits: pd.DataFrame, *, overall_rate: float, what: str
) -> go.Figure:
    """Site rate against volume with 95% limits around the program rate.

    `sites` has site, n, rate; `limits` has n, lower, upper on a grid of volumes.
    """
    fig = go.Figure()
    fig.add_scatter(
        x=limits["n"],
        y=limits["upper"],
        mode="lines",
        name="95% limits",
        line={"color": "#9aa4b1", "dash": "dash"},
        hoverinfo="skip",
    )
    fig.add_scatter(
        x=limits["n"],
        y=limits["lower"],
        mode="lines",
        showlegend=False,
        line={"color": "#9aa4b1", "dash": "dash"},
        hoverinfo="skip",
    )
    fig.add_hline(
        y=overall_rate,
        line={"color": "#31333F", "width": 1},
        annotation_text=f"program {overall_rate:.0%}",
        annotation_position="top left",
    )
    outside = (sites["rate"] < sites["lower"]) | (sites["rate"] > sites["upper"])
    fig.add_scatter(
        x=sites["n"],
        y=sites["rate"],
        mode="markers+text",
        text=sites["site"],
        textposition=label_positions(sites["rate"]),
        name="Sites",
        marker={
            "size": 10,
            "color": [PALETTE[5] if o else PALETTE[0] for o in outside],
            "line": {"width": 1, "color": "white"},
        },
        hovertemplate="%{text}: %{y:.0%} of %{x} courses<extra></extra>",
    )
    apply_theme(fig, title=f"Sites compared: {what}")
    fig.update_layout(height=360)
    most = float(sites["n"].max()) if len(sites) else 1.0
    fig.update_xaxes(title_text="Evaluable courses (volume)", range=[0, most * SITE_AXIS_ROOM])
    fig.update_yaxes(title_text=what, tickformat=".0%", range=[0, 1.05])
    return fig
