"""The Overview's site comparison: labels placed apart, room for them on the right."""

import pandas as pd

from kapviz.charts.program import label_positions, site_funnel_plot
from kapviz.metrics.program import funnel_plot_limits


def test_label_positions_by_rate_rank():
    """Highest rate above its point, lowest below, the others to the right (ties: order)."""
    rates = pd.Series([0.5, 0.3, 0.4, 0.4])
    assert label_positions(rates) == ["top center", "bottom center", "middle right", "middle right"]
    assert label_positions(pd.Series([0.7])) == ["top center"]


def test_site_funnel_plot_points_labels_and_range():
    sites = pd.DataFrame(
        {
            "site": ["East", "North", "South"],
            "n": [100, 85, 93],
            "responders": [50, 34, 42],
            "rate": [0.50, 0.40, 0.4516],
        }
    )
    limits = funnel_plot_limits(0.45, list(range(1, 112)))
    sites = sites.merge(limits, on="n")
    fig = site_funnel_plot(sites, limits, overall_rate=0.45, what="PHQ-9 response rate")
    points = fig.data[-1]
    assert list(points.text) == ["East", "North", "South"]
    assert list(points.y) == [0.50, 0.40, 0.4516]
    assert list(points.textposition) == ["top center", "bottom center", "middle right"]
    assert tuple(fig.layout.xaxis.range) == (0, 135.0)
    assert fig.layout.xaxis.title.text == "Evaluable courses (volume)"
