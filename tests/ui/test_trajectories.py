"""Chart selections on the Trajectories page map back to patients and courses."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import pytest

from kapviz.ui.trajectories import _left_out, selected_customdata


def figure() -> go.Figure:
    """A spaghetti trace (with a gap) and a mean trace."""
    return go.Figure(
        [
            go.Scatter(
                x=[0, 1, None, 0],
                y=[1, 2, None, 3],
                name="Individual courses (2)",
                customdata=[["P1", "C1"], ["P1", "C1"], [None, None], ["P2", "C2"]],
            ),
            go.Scatter(x=[0, 1], y=[2, 2], name="Cohort mean", customdata=[["a"], ["b"]]),
        ]
    )


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"selection": {"points": [{"curve_number": 0, "point_index": 3}]}}, [["P2", "C2"]]),
        ({"selection": {"points": [{"curve_number": 1, "point_index": 0}]}}, []),
        ({"selection": {"points": [{"curve_number": 0, "point_index": 2}]}}, []),
        ({"selection": {"points": [{"curve_number": 5, "point_index": 0}]}}, []),
        ({"selection": {"points": []}}, []),
        (None, []),
        ({}, []),
    ],
)
def test_selected_customdata(event, expected) -> None:
    """Only points on the named trace count; gaps, other traces and bad events are ignored."""
    assert selected_customdata(figure(), event, trace_prefix="Individual courses") == expected


def test_left_out_counts_have_thousands_separated():
    """At 20,000 patients the sentence read "18450 evaluable of 21760 courses"."""
    row = pd.Series(
        {
            "evaluable": 18450,
            "courses": 21760,
            "not_evaluable": 3310,
            "not_evaluable_no_dose": 2919,
            "not_evaluable_no_baseline": 66,
            "not_evaluable_no_endpoint": 325,
            "response_undefined": 0,
            "remission_excluded": 1204,
        }
    )
    text = _left_out(row, window_days=30)
    assert text.startswith("**18,450** evaluable of 21,760 courses with scores.")
    assert "Not evaluable: 3,310 (2,919 no completed dosing session;" in text
    assert "1,204 already" in text
