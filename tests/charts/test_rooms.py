"""Figures for the wall screen: large type, few ticks, the original left unchanged."""

from datetime import date

import pandas as pd
import plotly.graph_objects as go

from kapviz.charts import program
from kapviz.charts.rooms import DARK_BACKGROUND, KIOSK_TICK_PX, for_kiosk, legend_entries


def _volume() -> go.Figure:
    months = pd.to_datetime(["2026-01-01", "2026-02-01", "2026-01-01", "2026-02-01"])
    frame = pd.DataFrame(
        {"month": months, "route": ["iv", "iv", "im", "im"], "sessions": [3, 4, 1, 2]}
    )
    return program.monthly_dosing(frame, today=date(2026, 3, 15))


def test_for_kiosk_large_type_and_few_ticks():
    """Ticks at 18 px, a fixed height, the month axis no longer forced to every month."""
    original = _volume()
    fig = for_kiosk(original, height=790, title="Dosing sessions per month").to_dict()
    layout = fig["layout"]
    assert layout["height"] == 790
    assert layout["xaxis"]["tickfont"]["size"] == KIOSK_TICK_PX == 18
    assert layout["yaxis"]["tickfont"]["size"] == 18
    assert layout["xaxis"]["nticks"] == 6 and "dtick" not in layout["xaxis"]
    assert layout["title"]["text"] == "Dosing sessions per month"
    # Two legend entries in one row under the title: the top margin holds title and legend.
    assert layout["legend"]["entrywidth"] == 0.5 and layout["margin"]["t"] == 64 + 30 + 12
    # The page's (cached) figure is untouched.
    assert original.layout.height == 320 and original.layout.xaxis.dtick == "M1"
    assert [list(t.y) for t in for_kiosk(original, height=790).data] == [[1, 2], [3, 4]]


def test_dark_room_colours():
    """`dark`: dark paper and plot, light text, grid kept faint."""
    layout = for_kiosk(_volume(), height=500, dark=True).to_dict()["layout"]
    assert layout["paper_bgcolor"] == layout["plot_bgcolor"] == DARK_BACKGROUND
    assert layout["font"]["color"] == "#F2F4F7"
    assert layout["xaxis"]["gridcolor"] == "#2B313C"


def test_legend_entries_counts_named_shown_traces():
    """Only named traces that show in the legend; a single trace has no legend."""
    fig = go.Figure([go.Scatter(name="a"), go.Scatter(name="b", showlegend=False)])
    assert legend_entries(fig) == 0
    fig.add_scatter(name="c")
    assert legend_entries(fig) == 2
