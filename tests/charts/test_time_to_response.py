"""Kaplan–Meier chart: what is drawn from the metric's curves, not re-estimated."""

import pandas as pd
import pytest

from kapviz.charts.theme import PALETTE, TEXT_COLOR
from kapviz.charts.time_to_response import ALL_COURSES, group_colour, response_curves
from kapviz.metrics.time_to_response import time_to_response


def _times(rows):
    return pd.DataFrame(rows, columns=["course_id", "responded", "days", "doses"])


def _result(group="All courses"):
    times = _times(
        [("a", True, 8.0, 3.0), ("b", True, 11.0, 4.0), ("c", False, 21.0, 4.0)]
        + [(f"x{i}", False, 30.0, 5.0) for i in range(9)]
    )
    return time_to_response(times, group=group)


def test_curve_band_and_at_risk_row():
    overall = _result()
    iv = _result("IV")
    fig = response_curves([iv], overall=overall, scale="days", order=["IV", "IM"])
    lines = [t for t in fig.data if t.mode == "lines"]
    assert [t.name for t in lines] == [
        "All courses (n=12; median not reached)",
        "IV (n=12; median not reached)",
    ]
    assert list(lines[0].x) == [0.0, 8.0, 11.0, 21.0, 30.0]
    # 1 − S: 1/12 at day 8, then 1 − (11/12)(10/11) = 1/6.
    assert list(lines[0].y) == pytest.approx([0, 100 / 12, 100 / 6, 100 / 6, 100 / 6])
    assert any(t.name == "All courses: 95% CI" for t in fig.data)
    risk = [t for t in fig.data if t.mode == "text"]
    # The axis ends at the 10th-largest time (21: 10 still at risk), ticks every 7 days.
    assert list(risk[0].x) == [0.0, 7.0, 14.0, 21.0]
    assert list(risk[0].text) == ["12", "12", "10", "10"]
    assert lines[1].line.color == PALETTE[0]


def test_small_counts_labelled_and_doses_scale():
    fig = response_curves(
        [], overall=_result(), scale="doses", count_label=lambda n: "<12" if n < 12 else str(n)
    )
    risk = [t for t in fig.data if t.mode == "text"][0]
    # Doses 3, 4, 4 and nine at 5: 12 at risk up to dose 3, 11 at dose 4 (the 10th-largest
    # dose number, where the axis ends).
    assert list(risk.text) == ["12", "12", "12", "12", "<12"]
    assert fig.layout.xaxis2.title.text == "Dosing sessions completed"


def test_colours_fixed_by_vocabulary():
    """A route keeps its colour whichever other routes the filters leave."""
    assert group_colour("IM", ["IV", "IM"]) == PALETTE[1]
    assert group_colour(ALL_COURSES, ["IV"]) == TEXT_COLOR


def test_unknown_scale():
    with pytest.raises(ValueError):
        response_curves([], overall=_result(), scale="weeks")


def test_group_names_are_text_not_html():
    """An imported indication like "<b>MDD</b>" is shown as text on the at-risk axis."""
    overall = _result()
    fig = response_curves([_result("<b>MDD</b>")], overall=overall, scale="days")
    risk = [t for t in fig.data if t.mode == "text"]
    assert risk[1].y[0] == "&lt;b>MDD&lt;/b>"
    assert "&lt;b>MDD&lt;/b>" in fig.layout.yaxis2.categoryarray
    assert "&lt;b>MDD&lt;/b>" in fig.layout.yaxis2.tickvals
