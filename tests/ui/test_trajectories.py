"""Chart selections on the Trajectories page map back to patients and courses."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest

from kapviz.ui.trajectories import selected_customdata


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
