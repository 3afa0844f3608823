"""Funnel plot of clinicians' response rates against the programme (docs/domain.md §4c)."""

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
    named = named_outside(table[outside], programme_rate)
    for mask, name, colour in (
        (~outside, "Clinicians", PALETTE[0]),
        (outside, outside_legend(int(outside.sum()), len(named)), PALETTE[5]),
    ):
        part = table[mask]
        is_outside = name.startswith("Outside")
        fig.add_trace(
            go.Scatter(
                x=part["response_denominator"],
                y=100 * part["response_rate"],
                # Names only beside the points outside the limits, and of those only the
                # farthest from the programme: dozens of labels overlap.
                mode="markers+text" if is_outside else "markers",
                text=[c if c in named else "" for c in part["clinician"]] if is_outside else None,
                textposition=label_sides(part, programme_rate) if is_outside else None,
                customdata=part["clinician"],
                marker={"color": colour, "size": 10},
                name=name,
                hovertemplate="%{customdata}: %{y:.0f}% of %{x} courses<extra></extra>",
            )
        )
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


def label_sides(part: pd.DataFrame, programme_rate: float) -> list[str]:
    """A name above a point above the programme line and below one below it, so the line
    does not cross it; along each side, by volume, names alternate right and left of their
    points (two outliers 5 courses apart printed their names over each other)."""
    above = part["response_rate"].to_numpy() >= programme_rate
    order = part.assign(above=above).sort_values(
        ["above", "response_denominator", "clinician"], kind="stable"
    )
    turn = order.groupby("above").cumcount() % 2
    side = pd.Series(["right" if t == 0 else "left" for t in turn], index=order.index)
    return [
        f"{'top' if up else 'bottom'} {side[i]}" for i, up in zip(part.index, above, strict=True)
    ]
