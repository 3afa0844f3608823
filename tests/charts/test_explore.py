"""The Explore chart draws the estimates and intervals it is given: rows, panels, colours,
labels with n, the percent scale of proportions, escaped imported text."""

import math

import pandas as pd
import pytest

from kapviz.charts.explore import ALL_COURSES, dot_interval, group_color, value_text
from kapviz.charts.theme import PALETTE, TEXT_COLOR, category_color

COLUMNS = ["numerator", "denominator", "value", "ci_low", "ci_high"]


def _table(rows, dims):
    return pd.DataFrame(rows, columns=[*dims, *COLUMNS])


def test_single_estimate_without_breakdown():
    """No breakdown: one dot for the whole cohort, in percent, n in label and hover."""
    fig = dot_interval(
        _table([(2, 3, 2 / 3, 0.2077, 0.9385)], []),
        by=[],
        kind="proportion",
        axis_title="Response (%)",
    )
    (trace,) = fig.data
    assert list(trace.y) == [ALL_COURSES]
    assert trace.x[0] == pytest.approx(66.6667, abs=1e-3)
    assert trace.error_x.array[0] == pytest.approx(93.85 - 66.6667, abs=1e-3)
    assert trace.error_x.arrayminus[0] == pytest.approx(66.6667 - 20.77, abs=1e-3)
    assert list(trace.text) == ["67% (2 of 3)"]
    assert trace.customdata[0][1] == "95% CI 21% to 94%"
    assert trace.marker.color == TEXT_COLOR
    layout = fig.to_dict()["layout"]
    assert layout["xaxis"]["range"] == [-2, 104]
    assert layout["xaxis"]["title"]["text"] == "Response (%)"


def test_one_dimension_rows_and_fixed_route_colours():
    """One row per group, route labels shown, each route in its theme colour whatever else
    is on the chart; an empty group is a row without a dot."""
    table = _table(
        [("im", 1, 1, 1.0, 0.2065, 1.0), ("iv", 1, 1, 1.0, 0.2065, 1.0)]
        + [("sublingual", 0, 0, math.nan, math.nan, math.nan)],
        ["route"],
    )
    fig = dot_interval(table, by=["route"], kind="proportion", axis_title="Response (%)")
    assert [list(t.y) for t in fig.data] == [["IM"], ["IV"], ["Sublingual"]]
    assert [t.marker.color for t in fig.data] == [
        category_color("route", "im"),
        category_color("route", "iv"),
        category_color("route", "sublingual"),
    ]
    assert fig.data[2].x == (None,)
    assert list(fig.data[2].text) == ["– (0 of 0)"]
    assert fig.data[2].customdata[0][1] == "95% CI not estimable"
    # First group at the top.
    assert list(fig.layout.yaxis.categoryarray) == ["Sublingual", "IV", "IM"]


def test_two_dimensions_small_multiples():
    """Two dimensions: a panel per value of the second, the first's groups as rows."""
    rows = [
        ("North", "female", 5, 10, 0.5, 0.2366, 0.7634),
        ("South", "female", 3, 12, 0.25, 0.0889, 0.5323),
        ("North", "male", 4, 11, 4 / 11, 0.1517, 0.6462),
    ]
    fig = dot_interval(
        _table(rows, ["site", "sex"]), by=["site", "sex"], kind="proportion", axis_title="%"
    )
    layout = fig.to_dict()["layout"]
    assert [a["text"] for a in layout["annotations"]] == ["female", "male"]
    panels = [(t.xaxis, list(t.y)) for t in fig.data]
    assert panels == [("x", ["North"]), ("x", ["South"]), ("x2", ["North"])]
    assert fig.data[0].marker.color == category_color("site", "North")
    assert list(fig.data[1].text) == ["25% (3 of 12)"]
    assert list(layout["yaxis"]["categoryarray"]) == ["South", "North"]


def test_counts_written_by_the_viewers_label():
    """Analysts' counts come through `count_label` ("<11")."""
    fig = dot_interval(
        _table([("f", 3, 40, 0.075, 0.0258, 0.1989)], ["sex"]),
        by=["sex"],
        kind="proportion",
        axis_title="%",
        count_label=lambda n: "<11" if 0 < n < 11 else f"{n:,}",
    )
    assert list(fig.data[0].text) == ["8% (<11 of 40)"]
    assert fig.data[0].marker.color == PALETTE[0]


def test_means_and_days_are_not_percent():
    """Means keep their unit and a zero line; n is the denominator."""
    fig = dot_interval(
        _table([(math.nan, 2, -8.0, -12.0, -4.0)], []),
        by=[],
        kind="mean",
        axis_title="Mean change (points)",
    )
    assert fig.data[0].x == (-8.0,)
    assert list(fig.data[0].text) == ["-8.0 (n = 2)"]
    assert fig.layout.xaxis.zeroline is True
    assert value_text(23.0, "median_days") == "23 d"


def test_median_limit_not_reached():
    """A Kaplan–Meier median whose upper limit is never reached says so in the hover."""
    fig = dot_interval(
        _table([(26, 54, 57.0, 14.0, math.nan)], []),
        by=[],
        kind="median_days",
        axis_title="Time to response (days)",
    )
    assert fig.data[0].customdata[0][1] == "95% CI 14 d to not reached"
    assert list(fig.data[0].text) == ["57 d (n = 54)"]


def test_imported_text_is_escaped():
    """A site name with markup is shown as text in rows, labels and panel titles."""
    rows = [("<b>N</b>", "<i>x</i>", 1, 2, 0.5, 0.1, 0.9)]
    fig = dot_interval(
        _table(rows, ["site", "indication"]),
        by=["site", "indication"],
        kind="proportion",
        axis_title="%",
    )
    spec = fig.to_dict()
    assert spec["data"][0]["y"] == ["&lt;b>N&lt;/b>"]
    assert spec["layout"]["annotations"][0]["text"] == "&lt;i>x&lt;/i>"
    assert "<b>N" not in str(spec["layout"]["yaxis"]["categoryarray"])


def test_too_many_dimensions_refused():
    with pytest.raises(ValueError, match="at most two"):
        dot_interval(_table([], []), by=["a", "b", "c"], kind="mean", axis_title="")


def test_route_colour_by_code_or_label():
    """The API names routes by label ("IV"), the template by code ("iv"): one colour."""
    assert group_color("route", "IV") == group_color("route", "iv") == category_color("route", "iv")
    assert group_color("route", "Intranasal") == category_color("route", "intranasal")


def test_group_color_other_dimensions_one_colour():
    assert group_color("sex", "female") == group_color("sex", "male") == PALETTE[0]
    assert group_color(None, None) == TEXT_COLOR


def test_labels_point_inwards():
    """Labels of low values sit right of their dot, of high values left, inside the plot."""
    rows = [("a", 0, 3, 0.0, 0.0, 0.5615), ("b", 3, 3, 1.0, 0.4385, 1.0)]
    fig = dot_interval(_table(rows, ["sex"]), by=["sex"], kind="proportion", axis_title="%")
    assert [t.textposition for t in fig.data] == [("top right",), ("top left",)]


def test_median_not_reached_is_drawn_as_such():
    """A group whose median is never reached is an open arrow at its lower limit, labelled
    "median not reached", not an empty row."""
    fig = dot_interval(
        _table([(9, 24, math.nan, 16.0, math.nan)], []),
        by=[],
        kind="median_days",
        axis_title="days",
    )
    (trace,) = fig.data
    assert trace.x == (16.0,)
    assert list(trace.marker.symbol) == ["triangle-right-open"]
    assert list(trace.text) == ["median not reached (n = 24)"]
    assert trace.customdata[0][1] == "95% CI 16 d to not reached"
