"""The current, partial period on monthly charts: lighter, labelled "to date", and the axis
ending at today's month (DOMAIN §3 periods; the periods themselves: kapviz.metrics.periods)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import plotly.graph_objects as go

from kapviz.metrics.periods import month_axis_range, partial_month, period_spans

PARTIAL_OPACITY = 0.45
"""Opacity of the current, partial month's bars and points ("month to date")."""


def month_to_date_note(today: date) -> str:
    """ "month to date (7 of 31 days)": what the partial month's bar or point holds."""
    spans = period_spans(_end_of(today), "month")
    total = (spans.period_end - spans.current[0]).days
    return f"month to date ({today.day} of {total} days)"


def _end_of(today: date) -> pd.Timestamp:
    return pd.Timestamp(today) + pd.Timedelta(hours=23, minutes=59)


def mark_partial_month(
    fig: go.Figure, months: pd.Series, today: date, *, y: float | None = None
) -> None:
    """Axis from the first month with data to the current month (nothing after today) and
    a "to date" label just above the current month's bar or point (`y`, in data units) when
    it is on the chart, clear of the legend above the plot."""
    months = pd.to_datetime(months)
    if months.empty:
        return
    fig.update_xaxes(range=month_axis_range(months.min(), today))
    if partial_month(months, today).any():
        fig.add_annotation(
            x=pd.Timestamp(today.replace(day=1)),
            y=0 if y is None or pd.isna(y) else y,
            yref="y",
            textangle=-90,  # upright over the last bar: it fits before the axis ends
            yanchor="bottom",
            yshift=6,
            text="to date",
            showarrow=False,
            font={"size": 11, "color": "#6B7080"},
        )
