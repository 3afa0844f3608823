"""Program charts for the director's overview: funnel, volume, site comparison, trends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from kapviz.charts.partial import (
    PARTIAL_OPACITY,
    StartDay,
    mark_partial_month,
    month_tick_step,
    partial_notes,
    partial_start,
)
from kapviz.charts.theme import PALETTE, apply_theme, category_color
from kapviz.domain import ROUTE_LABELS
from kapviz.metrics.periods import partial_month

TOO_FEW_COLOR = "#9AA0AA"
TOO_FEW_FILL = "rgba(154, 160, 170, 0.16)"
"""A month of too few courses for a rate: a faint column over the plot's full height."""
TOO_FEW_WIDTH_MS = 20 * 24 * 3600 * 1000
"""The column's width on the month axis (20 days), in milliseconds as plotly reads dates."""
RATE_CHART_HEIGHT = 420
"""Height of a monthly rate chart (its tick labels are long: month and n)."""
MIN_MONTH_COURSES = 10
"""Fewest evaluable courses a month needs for its response rate to be drawn as a value
(as for trajectory points): below it the month is a grey "too few" mark with its n."""


FUNNEL_TEXT = "%{value:,}<br>%{percentInitial:.0%}"
"""A funnel step's label: its patients and their share of the first step."""


def treatment_funnel(funnel: pd.DataFrame) -> go.Figure:
    """Horizontal funnel of patients per step, with the share lost at each step."""
    lost = ["" if pd.isna(v) else f"−{v:.0%} from previous step" for v in funnel["lost"].tolist()]
    fig = go.Figure(
        go.Funnel(
            y=funnel["step"].tolist(),
            x=funnel["patients"].tolist(),
            customdata=lost,
            # Whole counts with thousands separators: plotly's default printed 17,535 as
            # "17.535k" and 20,000 as "20k" at 20,000 patients.
            texttemplate=FUNNEL_TEXT,
            marker={"color": PALETTE[0]},
            hovertemplate="%{y}: %{x:,} patients<br>%{customdata}<extra></extra>",
        )
    )
    apply_theme(fig, title="Treatment funnel (patients)")
    fig.update_layout(height=320, margin={"l": 140, "r": 20, "t": 50, "b": 30})
    return fig


def monthly_dosing(
    monthly: pd.DataFrame, *, today: date, start: StartDay | None = None
) -> go.Figure:
    """Stacked monthly bars of completed dosing sessions by route, one fixed colour per
    route; the current month lighter and hatched, labelled "to date", and so is a first
    month that began after its 1st (`start`: the programme's or the date range's start)."""
    fig = go.Figure()
    for route, part in monthly.groupby("route", sort=True):
        label = ROUTE_LABELS.get(route, route)
        notes = partial_notes(part["month"], today, start)
        partial = notes != ""
        fig.add_bar(
            x=part["month"],
            y=part["sessions"],
            name=label,
            marker={
                "color": category_color("route", route),
                "opacity": np.where(partial, PARTIAL_OPACITY, 1.0).tolist(),
                "pattern": {"shape": ["/" if p else "" for p in partial], "size": 6},
            },
            text=notes.tolist(),
            textposition="none",
            hovertemplate=f"{label}: %{{y}} sessions in %{{x|%b %Y}}%{{text}}<extra></extra>",
        )
    apply_theme(fig, title="Dosing sessions per month, by route")
    fig.update_layout(barmode="stack", height=320)
    fig.update_xaxes(
        title_text="Month",
        dtick=month_tick_step(monthly["month"]),
        tickformat="%b<br>%Y",
        tickangle=0,
    )
    fig.update_yaxes(title_text="Completed dosing sessions")
    current = monthly.loc[partial_month(monthly["month"], today).to_numpy(), "sessions"].sum()
    first = monthly.loc[partial_start(monthly["month"], start), "sessions"].sum()
    mark_partial_month(
        fig, monthly["month"], today, y=float(current), start=start, start_y=float(first)
    )
    return fig


SAME_SPAN_COLOR = "#3B3F4A"
"""The same-span tick: dark grey, readable over every route colour and the hatching."""
SAME_SPAN_HALF_WIDTH_DAYS = 13
"""Half the tick's width on the month axis: a little wider than half a monthly bar."""


@dataclass(frozen=True)
class SameSpanLastMonth:
    """Completed dosing sessions of last month from its 1st up to the same elapsed time as
    this month so far (DOMAIN §3 periods: the month tile's comparison), [start, end)."""

    sessions: int
    start: datetime
    end: datetime


def same_span_text(span: SameSpanLastMonth) -> str:
    """ "1–7 Nov, to 14:00": the span in words (the end is exclusive)."""
    last = span.end - pd.Timedelta(microseconds=1)
    to = "" if span.end.time() == datetime.min.time() else f", to {span.end:%H:%M}"
    return f"{span.start:%-d}–{last:%-d %b}{to}"


def with_same_span(fig: go.Figure, span: SameSpanLastMonth, *, today: date) -> go.Figure:
    """A copy of the monthly dosing bars with a tick on the current, partial month at the
    height of last month's count over the same span, so "to date" is read against a fair
    comparison rather than against last month's whole bar."""
    out = go.Figure(fig)
    month = pd.Timestamp(today.replace(day=1))
    current = sum(
        float(y)
        for trace in out.data
        if trace.type == "bar"
        for x, y in zip(trace.x, trace.y, strict=True)
        if pd.Timestamp(x) == month
    )
    hover = (
        f"Last month, same span ({same_span_text(span)}): {span.sessions:,} sessions"
        f"<br>This month to date: {current:,.0f} sessions<extra></extra>"
    )
    # A level across the bar's width (bars of monthly data are about 24 days wide on the
    # date axis), so it scales with the bar on the page and on the wall screen alike.
    half = pd.Timedelta(days=SAME_SPAN_HALF_WIDTH_DAYS)
    out.add_scatter(
        x=[month - half, month, month + half],
        y=[span.sessions] * 3,
        mode="lines",
        name="Same span last month",
        line={"color": SAME_SPAN_COLOR, "width": 3},
        hovertemplate=hover,
    )
    # "to date" above whichever is higher, the bar or the tick, so neither covers it.
    for note in out.layout.annotations:
        if note.text == "to date":
            note.y = max(current, float(span.sessions))
    return out


def monthly_rate(
    monthly: pd.DataFrame,
    *,
    title: str,
    y_title: str,
    today: date,
    min_n: int = MIN_MONTH_COURSES,
    start: StartDay | None = None,
) -> go.Figure:
    """A monthly rate with its 95% Wilson interval (columns month, rate, ci_low, ci_high, n).

    Every month shows its n (hover, and its tick label); months with fewer than `min_n`
    courses are faint full-height "too few" columns without a rate or interval; the current
    month is lighter and labelled "to date", and so is a partial first month (`start`).
    """
    monthly = monthly.sort_values("month", kind="stable")
    months = pd.to_datetime(monthly["month"])
    enough = (monthly["n"] >= min_n).to_numpy()
    notes = partial_notes(months, today, start, sep=" — ")
    partial = notes != ""
    shown = monthly[enough]
    fig = go.Figure()
    fig.add_scatter(
        x=months[enough],
        y=shown["rate"],
        mode="lines+markers",
        name="Response rate",
        line={"color": PALETTE[0]},
        marker={"size": 8, "opacity": np.where(partial[enough], PARTIAL_OPACITY, 1.0).tolist()},
        error_y={
            "type": "data",
            "array": (shown["ci_high"] - shown["rate"]).tolist(),
            "arrayminus": (shown["rate"] - shown["ci_low"]).tolist(),
            "color": "#9aa4b1",
        },
        customdata=np.column_stack([shown["n"].to_numpy(), shown["responders"].to_numpy()]),
        text=notes[enough].tolist(),
        hovertemplate=(
            "%{x|%b %Y}: %{y:.0%} (%{customdata[1]} of %{customdata[0]} evaluable "
            "courses)%{text}<extra></extra>"
        ),
    )
    few = monthly[~enough]
    if not few.empty:
        # A faint full-height column saying "too few", not a mark on the axis: a grey dash at
        # 0% was read from across a room as "no responders that month".
        fig.add_bar(
            x=months[~enough],
            y=[1.0] * len(few),
            width=TOO_FEW_WIDTH_MS,
            name=f"Too few (n < {min_n})",
            marker={"color": TOO_FEW_FILL, "line": {"width": 0}},
            text=["too few"] * len(few),
            textposition="inside",
            insidetextanchor="middle",
            textangle=-90,
            textfont={"color": TOO_FEW_COLOR},
            customdata=few[["n"]].to_numpy(),
            hovertemplate=f"%{{x|%b %Y}}: too few courses to judge (n = %{{customdata[0]}}, "
            f"under {min_n})<extra></extra>",
        )
    if not enough.any():
        fig.add_annotation(
            text=f"No month has {min_n} evaluable courses yet:<br>too few for a monthly rate",
            xref="paper",
            yref="paper",
            x=0.5,
            y=0.55,
            showarrow=False,
            font={"size": 13, "color": "#6B7080"},
        )
    apply_theme(fig, title=title)
    # Taller than the other monthly charts: the vertical "Mon YYYY · n=N" labels take about
    # 110 px, which at 360 px left a plot of ~120 px where 20 points of rate were 12 px.
    fig.update_layout(height=RATE_CHART_HEIGHT, showlegend=not few.empty)
    # Each month's n in its tick label: a row of n under the points collided at 18 months.
    fig.update_xaxes(
        title_text="Month of endpoint (n = evaluable courses)",
        tickmode="array",
        tickvals=months.tolist(),
        ticktext=[f"{m:%b %Y} · n={n}" for m, n in zip(months, monthly["n"], strict=True)],
        tickangle=-90,
    )
    fig.update_yaxes(title_text=y_title, tickformat=".0%", range=[0, 1], dtick=0.2)
    mark_partial_month(
        fig,
        months,
        today,
        y=_label_height(shown, partial_month(months, today).to_numpy()[enough]),
        # A first month of too few courses says so in its column: no second label over it.
        start=start if partial_start(months, start)[enough].any() else None,
        start_y=_label_height(shown, partial_start(months, start)[enough]),
    )
    return fig


def _label_height(shown: pd.DataFrame, month: np.ndarray) -> float:
    """Where a partial month's label starts: above its interval, else near the axis."""
    top = shown.loc[month, "ci_high"]
    return float(top.iloc[0]) if len(top) else 0.02


MAX_SITE_LEGEND = 8
"""Up to this many sites, each is a coloured point named in the legend; more: unlabelled
points with only those outside the limits named."""
OUTSIDE_COLOR = "#D7301F"

SITE_AXIS_ROOM = 1.35
"""The site comparison's volume axis reaches this multiple of the largest site's volume:
room on the right for its label (the limits are drawn that far too)."""


def label_positions(rates: pd.Series, volumes: pd.Series, overall_rate: float) -> list[str]:
    """Text positions for the site labels: on the far side of the point from the program
    line (above it when the rate is at or above the program's, below otherwise), so the line
    never runs through a label; neighbours in volume alternate right and left."""
    order = volumes.rank(method="first").to_numpy()
    positions = []
    for rate, rank in zip(rates.to_numpy(), order, strict=True):
        vertical = "top" if rate >= overall_rate else "bottom"
        positions.append(f"{vertical} {'right' if int(rank) % 2 else 'left'}")
    return positions


def site_funnel_plot(
    sites: pd.DataFrame,
    limits: pd.DataFrame,
    *,
    overall_rate: float,
    what: str,
    outer: pd.DataFrame | None = None,
) -> go.Figure:
    """Site rate against volume with exact binomial limits around the program rate.

    `sites` has site, n, rate, lower, upper (its 95% limits); `limits` has n, lower, upper
    (95%) on a grid of volumes, `outer` the same at 99.8% when given.
    """
    fig = go.Figure()
    for frame, name, dash in ((limits, "95% limits", "dash"), (outer, "99.8% limits", "dot")):
        if frame is None:
            continue
        for i, side in enumerate(("upper", "lower")):
            fig.add_scatter(
                x=frame["n"],
                y=frame[side],
                mode="lines",
                name=name,
                legendgroup=name,
                showlegend=i == 0,
                line={"color": "#9aa4b1", "dash": dash, "width": 1.2},
                hoverinfo="skip",
            )
    most = float(sites["n"].max()) if len(sites) else 1.0
    reach = most * SITE_AXIS_ROOM
    fig.add_scatter(
        x=[0, reach],
        y=[overall_rate, overall_rate],
        mode="lines",
        name=f"Program {overall_rate:.0%}",
        line={"color": "#31333F", "width": 1},
        hovertemplate=f"Program rate {overall_rate:.0%}<extra></extra>",
    )
    outside = (sites["rate"] < sites["lower"]) | (sites["rate"] > sites["upper"])
    hover = "%{text}: %{y:.0%} of %{x} evaluable courses<extra></extra>"
    if len(sites) <= MAX_SITE_LEGEND:
        # One point per site in its own colour, named in the legend: labels beside points of
        # similar volume and rate collided; a site outside the limits has a red ring.
        for row in sites.itertuples():
            ring = OUTSIDE_COLOR if outside[row.Index] else "white"
            fig.add_scatter(
                x=[row.n],
                y=[row.rate],
                mode="markers",
                name=str(row.site) + (" (outside 95% limits)" if outside[row.Index] else ""),
                text=[row.site],
                marker={
                    "size": 12,
                    "color": category_color("site", row.site),
                    "line": {"width": 3 if outside[row.Index] else 1, "color": ring},
                },
                hovertemplate=hover,
            )
    else:
        # Many sites: unlabelled points, the ones outside the limits named beside them.
        fig.add_scatter(
            x=sites["n"],
            y=sites["rate"],
            mode="markers+text",
            text=[s if o else "" for s, o in zip(sites["site"], outside, strict=True)],
            hovertext=sites["site"],
            textposition=label_positions(sites["rate"], sites["n"], overall_rate),
            textfont={"size": 11},
            name="Sites",
            marker={
                "size": 9,
                "color": [OUTSIDE_COLOR if o else PALETTE[0] for o in outside],
                "line": {"width": 1, "color": "white"},
            },
            hovertemplate="%{hovertext}: %{y:.0%} of %{x} evaluable courses<extra></extra>",
            cliponaxis=False,
        )
    apply_theme(fig, title=f"Sites compared: {what}")
    # Room for a legend of one site per row (a site outside the limits has a long name)
    # above a plot tall enough for its axis title.
    fig.update_layout(height=440)
    fig.update_xaxes(title_text="Evaluable courses (volume)", range=[0, reach])
    fig.update_yaxes(
        title_text=f"{what}, % of evaluable courses", tickformat=".0%", range=[0, 1.05]
    )
    return fig
