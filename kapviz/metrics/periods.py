"""Calendar periods (weeks from Monday, months) and the fair comparison of a partial one.

DOMAIN §3 periods: the current week or month is partial; it is marked "to date" and compared
with the same elapsed span of the previous period, never with a whole one; nothing is drawn
after today. Every caller takes its periods from `period_spans`, given the clinic's `now`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal

import pandas as pd

Unit = Literal["week", "month"]


def period_start(day: date, unit: Unit) -> date:
    """First day of the calendar week (Monday) or month containing `day`."""
    if unit == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def next_period_start(start: date, unit: Unit) -> date:
    """First day of the period after the one starting on `start`."""
    if unit == "week":
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def previous_period_start(start: date, unit: Unit) -> date:
    """First day of the period before the one starting on `start`."""
    return period_start(start - timedelta(days=1), unit)


@dataclass(frozen=True)
class PeriodSpans:
    """The current period so far and the same elapsed span of the one before, [start, end).

    `previous` never reaches into the current period (a 31-day month after February: its
    elapsed span is cut at the end of February, the whole of which has then elapsed).
    """

    unit: Unit
    current: tuple[datetime, datetime]
    previous: tuple[datetime, datetime]
    period_end: datetime

    @property
    def is_partial(self) -> bool:
        """Whether the current period has not ended yet (always, while `now` is inside it)."""
        return self.current[1] < self.period_end

    @property
    def elapsed_days(self) -> int:
        """Calendar days of the current period begun by `now` (today included)."""
        start, end = self.current
        return (end - start - timedelta(microseconds=1)).days + 1


def period_spans(now: datetime, unit: Unit) -> PeriodSpans:
    """This week's or month's span up to `now` and the same span of the previous period.

    `now` is an exclusive end: at exactly midnight on the 1st, "this month" is the month
    that just ended (all of it), not an empty new one.
    """
    last_instant = now - timedelta(microseconds=1)
    start = datetime.combine(period_start(last_instant.date(), unit), time.min)
    before = datetime.combine(previous_period_start(start.date(), unit), time.min)
    end = datetime.combine(next_period_start(start.date(), unit), time.min)
    return PeriodSpans(
        unit=unit,
        current=(start, now),
        previous=(before, min(before + (now - start), start)),
        period_end=end,
    )


def partial_month(months: pd.Series, today: date) -> pd.Series:
    """Which of these month starts (timestamps) is the current, partial month of `today`."""
    current = pd.Timestamp(period_start(today, "month"))
    return pd.to_datetime(months) == current


def month_axis_range(first: pd.Timestamp | None, today: date) -> list[str] | None:
    """x range of a monthly chart: from half a month before the first month with data to
    half a month after the current one (bars centred on their month; nothing after today's
    month, nothing before the data). None when there is no data."""
    if first is None or pd.isna(first):
        return None
    start = pd.Timestamp(first) - pd.Timedelta(days=15)
    end = pd.Timestamp(period_start(today, "month")) + pd.Timedelta(days=15)
    return [start.strftime("%Y-%m-%d"), end.strftime("%Y-%m-%d")]


def in_range(times: pd.Series, start: datetime | None, end_before: datetime | None) -> pd.Series:
    """Which of these times lie in [start, end_before) (None: open on that side)."""
    at = pd.to_datetime(times)
    mask = pd.Series(True, index=times.index)
    if start is not None:
        mask &= at >= pd.Timestamp(start)
    if end_before is not None:
        mask &= at < pd.Timestamp(end_before)
    return mask


def first_day_shown(first_record: date | None, start: date | None) -> date | None:
    """The first day a chart of periods covers: the programme's first record, or the date
    range's start when later (a programme or a range starting mid-month makes that first
    month partial, as today makes the last one). None when neither is known."""
    days = [d for d in (first_record, start) if d is not None]
    return max(days) if days else None


def is_partial_start(day: date | None) -> bool:
    """Whether the month of `day`, the first day shown, is partial (it began after the 1st)."""
    return day is not None and day.day > 1


def last_day_shown(today: date, end: date | None) -> date:
    """The last day a chart of periods may reach: today, or the date range's end when it is
    earlier (a range ending mid-month makes that month partial too)."""
    return min(today, end) if end is not None else today
