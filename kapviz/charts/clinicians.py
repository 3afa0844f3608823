"""Funnel plot of clinicians' response rates against the programme (docs/domain.md §4c)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from kapviz import safe_text
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
    named = named_outside(table[outside], programme_rate)
    for mask, name, colour in (
        (~outside, "Clinicians", PALETTE[0]),
        (outside, outside_legend(int(outside.sum()), len(named)), PALETTE[5]),
    ):
        part = table[mask]
        fig.add_trace(
            go.Scatter(
                x=part["response_denominator"],
                y=100 * part["response_rate"],
                mode="markers",
                customdata=part["clinician"],
                marker={"color": colour, "size": 10},
                name=name,
                hovertemplate="%{customdata}: %{y:.0f}% of %{x} courses<extra></extra>",
            )
        )
    # Names only for the points outside the limits, and of those only the farthest from the
    # programme (dozens of labels overlap), each on a leader line to its own row.
    outliers = table[outside]
    for note in name_labels(outliers[outliers["clinician"].isin(named)], programme_rate):
        fig.add_annotation(note)
    fig.update_layout(height=420)
    apply_theme(fig, title=f"{instrument} response by clinician (funnel plot)")
    fig.update_xaxes(title_text="Courses in the response denominator", rangemode="tozero")
    fig.update_yaxes(title_text="Response (%)", range=[0, 100], ticksuffix="%")
    return fig


MAX_NAMED = 6
"""At most this many clinicians outside the limits are named on the plot (at 20,000 patients
fourteen names overlapped into an unreadable bar); the table lists every one."""


def named_outside(outside: pd.DataFrame, programme_rate: float) -> set[str]:
    """The clinicians named on the plot: those outside the limits farthest from the
    programme's rate, at most MAX_NAMED (ties by name, so the choice is stable)."""
    far = (outside["response_rate"] - programme_rate).abs()
    order = outside.assign(far=far).sort_values(["far", "clinician"], ascending=[False, True])
    return set(order["clinician"].head(MAX_NAMED))


def outside_legend(outside: int, named: int) -> str:
    """ "Outside 95%", or "Outside 95% (14; the 6 farthest named)" when some go unnamed."""
    if outside <= named:
        return "Outside 95%"
    return f"Outside 95% ({outside}; the {named} farthest named)"


LABEL_ROW_PX = 18
"""Rows of outliers' names above (or below) their points: a name on a leader line this many
pixels further out than its neighbour in volume, so names of close points never overlap."""
LABEL_ROWS = 3


def name_labels(named: pd.DataFrame, programme_rate: float) -> list[dict]:
    """Annotations naming these clinicians: above a point above the programme line, below
    one below it (the line never crosses a name); along each side, in order of volume, the
    names step out by a row (two outliers 5 courses apart printed their names over each
    other when written beside the points)."""
    above = named["response_rate"].to_numpy() >= programme_rate
    order = named.assign(above=above).sort_values(
        ["above", "response_denominator", "clinician"], kind="stable"
    )
    rows = order.groupby("above").cumcount() % LABEL_ROWS
    notes = []
    for row, (_, point) in zip(rows, order.iterrows(), strict=True):
        offset = LABEL_ROW_PX * (row + 1)
        notes.append(
            {
                "x": point["response_denominator"],
                "y": 100 * point["response_rate"],
                # Data in an annotation is escaped where it is put in (kapviz.charts.escape).
                "text": safe_text.plotly(point["clinician"]),
                "showarrow": True,
                "arrowhead": 0,
                "arrowwidth": 1,
                "arrowcolor": "#8C8C8C",
                "ax": 0,
                "ay": -offset if point["above"] else offset,
                "font": {"size": 11, "color": TEXT_COLOR},
                "bgcolor": "rgba(255,255,255,0.8)",
            }
        )
    return notes
