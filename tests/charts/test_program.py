"""The Overview's site comparison: labels placed apart, room for them on the right."""

import pandas as pd

from kapviz.charts.program import label_positions, site_funnel_plot
from kapviz.charts.theme import category_color
from kapviz.metrics.program import funnel_plot_limits


def test_label_positions_keep_labels_off_the_program_line():
    """Above the point at or over the program rate, below under it; neighbours in volume
    alternate right and left."""
    rates = pd.Series([0.5, 0.3, 0.4, 0.45])
    volumes = pd.Series([100, 85, 93, 60])
    assert label_positions(rates, volumes, 0.45) == [
        "top left",
        "bottom left",
        "bottom right",
        "top right",
    ]


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
    fig = site_funnel_plot(
        sites,
        limits,
        overall_rate=0.45,
        what="PHQ-9 response rate",
        outer=funnel_plot_limits(0.45, list(range(1, 112)), coverage=0.998),
    )
    sites_drawn = [t for t in fig.data if t.mode == "markers"]
    assert [t.name for t in sites_drawn] == ["East", "North", "South"]
    assert [t.y[0] for t in sites_drawn] == [0.50, 0.40, 0.4516]
    assert [t.marker.color for t in sites_drawn] == [
        category_color("site", s) for s in ("East", "North", "South")
    ]
    assert tuple(fig.layout.xaxis.range) == (0, 135.0)
    assert fig.layout.xaxis.title.text == "Evaluable courses (volume)"
    assert fig.layout.yaxis.title.text == "PHQ-9 response rate, % of evaluable courses"
    names = [t.name for t in fig.data if t.showlegend is not False]
    assert names == ["95% limits", "99.8% limits", "Program 45%", "East", "North", "South"]
    # The program rate is a trace (in the legend), not a layout line with text over labels.
    assert not fig.layout.annotations


def test_many_sites_name_only_those_outside_the_limits():
    n = 12
    sites = pd.DataFrame(
        {
            "site": [f"S{i}" for i in range(n)],
            "n": [40 + i for i in range(n)],
            "responders": [20] * (n - 1) + [5],
            "rate": [20 / (40 + i) for i in range(n - 1)] + [5 / 51],
        }
    )
    limits = funnel_plot_limits(0.45, list(range(1, 80)))
    sites = sites.merge(limits, on="n")
    fig = site_funnel_plot(sites, limits, overall_rate=0.45, what="PHQ-9 response rate")
    points = fig.data[-1]
    assert list(points.text) == [""] * (n - 1) + ["S11"]
