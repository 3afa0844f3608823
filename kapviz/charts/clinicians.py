"""Funnel plot of clinicians' response rates against the programme (DOMAIN.md §4c)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from kapviz.charts.theme import PALETTE, TEXT_COLOR, apply_theme


def clinician_funnel(
    table: pd.DataFrame, curve: pd.DataFrame, *, programme_rate: float, instrument: str
) -> go.Figure:
    """Each clinician's response rate (%) at its denominator, with the programme rate and
    the 95% and 99.8% limits from `funnel_curve`; points outside 95% are marked."""
    fig = go.Figure()
    for low, high, name, dash in (
        ("low998", "high998", "99.8% limits", "dot"),
        ("low95", "high95", "95% limits", "dash"),
    ):
        for column, show in ((low, True), (high, False)):
            fig.add_trace(
                go.Scatter(
                    x=curve["n"],
                    y=100 * curve[column],
                    mode="lines",
                    line={"color": "#8C8C8C", "dash": dash, "width": 1},
                    name=name,
                    legendgroup=name,
                    showlegend=show,
                    hoverinfo="skip",
                )
            )
    fig.add_hline(
        y=100 * programme_rate,
        line={"color": TEXT_COLOR, "width": 1.5},
        annotation_text=f"programme {programme_rate:.0%}",
        annotation_position="top right",
    )
    outside = table["outside"].astype(bool)
    for mask, name, colour in (
        (~outside, "Clinicians", PALETTE[0]),
        (outside, "Outside 95%", PALETTE[5]),
    ):
        part = table[mask]
        fig.add_trace(
            go.Scatter(
                x=part["response_denominator"],
                y=100 * part["response_rate"],
                # Names only beside the points outside the limits: dozens of labels overlap.
                mode="markers+text" if name.startswith("Outside") else "markers",
                text=part["clinician"],
                textposition="middle right",
                marker={"color": colour, "size": 10},
                name=name,
                hovertemplate="%{text}: %{y:.0f}% of %{x} courses<extra></extra>",
            )
        )
    fig.update_layout(height=420)
    apply_theme(fig, title=f"{instrument} response by clinician (funnel plot)")
    fig.update_xaxes(title_text="Courses in the response denominator", rangemode="tozero")
    fig.update_yaxes(title_text="Response (%)", range=[0, 100], ticksuffix="%")
    return fig
