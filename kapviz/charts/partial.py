"""Partial months on monthly charts: the current month ("to date") and a first month that
began after its 1st (the programme's start, or the date range's), both lighter and labelled;
the axis ends at today's month (DOMAIN §3 periods; the periods themselves:
kapviz.metrics.periods)."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from kapviz.metrics.periods import (
    first_day_shown,
    is_partial_start,
    month_axis_range,
    partial_month,
    period_spans,
)

PARTIAL_OPACITY = 0.45
"""Opacity of a partial month's bars and points ("month to date", "from 13 Jun")."""

NOTE_FONT = {"size": 11, "color": "#6B7080"}
"""The partial months' labels: small grey type, like an axis note."""

MAX_MONTH_TICKS = 8
"""At most this many month ticks on a monthly date axis: "Jun 2025" labels at every month
crowded a half-width chart at 1440 px (19 months)."""

MONTH_STEPS = (1, 2, 3, 6, 12)
"""Month steps a date axis may take, smallest first (quarters, half-years, years)."""


@dataclass(frozen=True)
class StartDay:
    """The first day a monthly chart covers, when that is not a month's 1st: its month holds
    only part of the month, like the current one, and is marked so (a start-up stub of a few
    sessions otherwise reads as a quiet month, or as an alarm on a u-chart)."""

    day: date
    is_programme_start: bool
    """True: the programme's first record; False: the date range's start."""

    @property
    def month(self) -> pd.Timestamp:
        return pd.Timestamp(self.day.replace(day=1))

    @property
    def label(self) -> str:
        """ "from 13 Jun": the label over the month on the chart."""
        return f"from {self.day:%-d %b}"

    def note(self) -> str:
        """ "programme start: month from 13 Jun (18 of 30 days)": what the month holds."""
        days = calendar.monthrange(self.day.year, self.day.month)[1]
        why = "programme start" if self.is_programme_start else "date range start"
        return f"{why}: month from {self.day:%-d %b} ({days - self.day.day + 1} of {days} days)"


def start_day(first_record: date | None, range_start: date | None) -> StartDay | None:
    """The partial first month of a monthly chart (None when the first month is whole):
    the programme's first record, or the date range's start when later."""
    day = first_day_shown(first_record, range_start)
    if day is None or not is_partial_start(day):
        return None
    return StartDay(day, is_programme_start=range_start is None or day != range_start)


def partial_start(months: pd.Series, start: StartDay | None) -> np.ndarray:
    """Which of these month starts is the partial first month."""
    if start is None:
        return np.zeros(len(months), dtype=bool)
    return (pd.to_datetime(months) == start.month).to_numpy()


def month_to_date_note(today: date) -> str:
    """ "month to date (7 of 31 days)": what the partial month's bar or point holds."""
    spans = period_spans(_end_of(today), "month")
    total = (spans.period_end - spans.current[0]).days
    return f"month to date ({today.day} of {total} days)"


def partial_notes(
    months: pd.Series, today: date, start: StartDay | None, *, sep: str = " ("
) -> np.ndarray:
    """Each month's hover note: "" for a whole month, else what part of it is shown."""
    months = pd.to_datetime(months)
    end = partial_month(months, today).to_numpy()
    first = partial_start(months, start)
    close = ")" if sep == " (" else ""
    to_date = f"{sep}{month_to_date_note(today)}{close}"
    begun = f"{sep}{start.note()}{close}" if start is not None else ""
    notes = np.full(len(months), "", dtype=object)
    notes[first] = begun
    notes[end] = np.where(first[end], f"{begun}{to_date}", to_date)
    return notes


def month_tick_step(months: pd.Series, *, max_ticks: int = MAX_MONTH_TICKS) -> str:
    """Plotly's dtick for a monthly date axis ("M1", "M3", …): the smallest step of
    MONTH_STEPS that puts at most `max_ticks` ticks on the months shown."""
    months = pd.to_datetime(months)
    if months.empty:
        return "M1"
    span = (months.max().year - months.min().year) * 12 + months.max().month - months.min().month
    for step in MONTH_STEPS:
        if span // step + 1 <= max_ticks:
            return f"M{step}"
    return f"M{12 * (span // (12 * max_ticks) + 1)}"


def _end_of(today: date) -> pd.Timestamp:
    return pd.Timestamp(today) + pd.Timedelta(hours=23, minutes=59)


def mark_partial_month(
    fig: go.Figure,
    months: pd.Series,
    today: date,
    *,
    y: float | None = None,
    start: StartDay | None = None,
    start_y: float | None = None,
) -> None:
    """Axis from the first month with data to the current month (nothing after today), a
    "to date" label just above the current month's bar or point (`y`, in data units) and a
    "from 13 Jun" label above a partial first month's (`start_y`), when on the chart."""
    months = pd.to_datetime(months)
    if months.empty:
        return
    fig.update_xaxes(range=month_axis_range(months.min(), today))
    current = pd.Timestamp(today.replace(day=1))
    first = start is not None and bool(partial_start(months, start).any())
    if partial_month(months, today).any():
        both = first and start.month == current
        _label(fig, current, y, f"{start.label}, to date" if both else "to date")
        first = first and not both
    if first:
        _label(fig, start.month, start_y, start.label)


def _label(fig: go.Figure, x: pd.Timestamp, y: float | None, text: str) -> None:
    fig.add_annotation(
        x=x,
        y=0 if y is None or pd.isna(y) else y,
        yref="y",
        textangle=-90,  # upright over the bar: it fits before the axis ends
        yanchor="bottom",
        yshift=6,
        text=text,
        showarrow=False,
        font=dict(NOTE_FONT),
    )
