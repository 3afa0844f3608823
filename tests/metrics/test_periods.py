"""Calendar periods and the fair comparison of a partial one (DOMAIN §3 periods)."""

from datetime import date, datetime

import pandas as pd
import pytest

from kapviz.metrics import periods


@pytest.mark.parametrize(
    ("now", "unit", "current", "previous"),
    [
        # Monday 09:00: the week so far is 9 hours, set against last Monday 00:00–09:00
        # (the first version compared it with the whole of last Monday).
        (
            datetime(2026, 12, 7, 9, 0),
            "week",
            (datetime(2026, 12, 7), datetime(2026, 12, 7, 9, 0)),
            (datetime(2026, 11, 30), datetime(2026, 11, 30, 9, 0)),
        ),
        # Sunday evening: nearly the whole week on both sides.
        (
            datetime(2026, 12, 13, 20, 0),
            "week",
            (datetime(2026, 12, 7), datetime(2026, 12, 13, 20, 0)),
            (datetime(2026, 11, 30), datetime(2026, 12, 6, 20, 0)),
        ),
        # 6 December: 5 days 12 hours of December against 1–6 November 12:00.
        (
            datetime(2026, 12, 6, 12, 0),
            "month",
            (datetime(2026, 12, 1), datetime(2026, 12, 6, 12, 0)),
            (datetime(2026, 11, 1), datetime(2026, 11, 6, 12, 0)),
        ),
        # 31 March 15:00: February's elapsed span is cut at 1 March, never reaching into
        # the current month (February had only 28 days).
        (
            datetime(2026, 3, 31, 15, 0),
            "month",
            (datetime(2026, 3, 1), datetime(2026, 3, 31, 15, 0)),
            (datetime(2026, 2, 1), datetime(2026, 3, 1)),
        ),
        # 1 January: last month is December of the year before.
        (
            datetime(2027, 1, 1, 8, 0),
            "month",
            (datetime(2027, 1, 1), datetime(2027, 1, 1, 8, 0)),
            (datetime(2026, 12, 1), datetime(2026, 12, 1, 8, 0)),
        ),
    ],
)
def test_period_spans(now, unit, current, previous):
    spans = periods.period_spans(now, unit)
    assert spans.current == current
    assert spans.previous == previous
    assert spans.is_partial


def test_a_span_ending_at_midnight_on_the_first_is_the_month_that_ended():
    """Tiles count up to the next whole hour: at 23:30 on 30 November they end at 1 December
    00:00, which must still mean November (all of it), not an empty December."""
    spans = periods.period_spans(datetime(2026, 12, 1), "month")
    assert spans.current == (datetime(2026, 11, 1), datetime(2026, 12, 1))
    assert spans.previous == (datetime(2026, 10, 1), datetime(2026, 10, 31))
    assert not spans.is_partial


def test_elapsed_days_counts_today():
    assert periods.period_spans(datetime(2026, 12, 7, 9, 0), "month").elapsed_days == 7
    assert periods.period_spans(datetime(2026, 12, 7, 9, 0), "week").elapsed_days == 1


def test_partial_month_and_axis_range():
    """Only today's month is partial; the axis runs from half a month before the first
    data to half a month after the current month's start: nothing of next year."""
    months = pd.Series(pd.to_datetime(["2026-10-01", "2026-11-01", "2026-12-01"]))
    assert periods.partial_month(months, date(2026, 12, 7)).tolist() == [False, False, True]
    assert periods.partial_month(months, date(2027, 1, 2)).tolist() == [False, False, False]
    assert periods.month_axis_range(months.min(), date(2026, 12, 7)) == [
        "2026-09-16",
        "2026-12-16",
    ]
    assert periods.month_axis_range(None, date(2026, 12, 7)) is None
