"""Figures for the wall screen: large type, few ticks, the original left unchanged."""

from datetime import date

import pandas as pd
import plotly.graph_objects as go

from kapviz.charts import program
from kapviz.charts.rooms import (
    DARK_BACKGROUND,
    DARK_LABEL_BOX,
    DARK_LINE,
    KIOSK_TICK_PX,
    PRESENT_TEXT_PX,
    PRESENT_TICK_PX,
    PRESENT_TITLE_PX,
    SUBTITLE_ROW_PX,
    for_kiosk,
    for_presentation,
    is_near_black,
    legend_entries,
)


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


def test_compare_marks_baseline_endpoint_response():
    """Compare panels: baseline and endpoint markers where the outcome places them, the
    response line at half the baseline in each case's own panel, the verdict in the title."""
    from kapviz import instruments
    from kapviz.charts.case import compare_trajectories

    at = pd.to_datetime(["2026-01-01", "2026-01-10", "2026-02-01", "2026-01-02", "2026-02-02"])
    points = pd.DataFrame(
        {
            "patient_id": ["A", "A", "A", "B", "B"],
            "course_id": ["A-C1", "A-C1", "A-C1", "B-C1", "B-C1"],
            "point_order": [1, 2, 3, 1, 3],
            "point": ["Preparation", "Dose 1", "Follow-up", "Preparation", "Follow-up"],
            "phase": ["preparation", "dosing", "follow_up", "preparation", "follow_up"],
            "administered_at": at,
            "total": [20, 14, 8, 16, 12],
        }
    )
    axis = pd.DataFrame(
        {"label": ["Preparation", "Dose 1", "Follow-up"], "order": [1, 2, 3],
         "phase": ["preparation", "dosing", "follow_up"]}
    )  # fmt: skip
    marks = pd.DataFrame(
        {
            "patient_id": ["A", "B"],
            "course_id": ["A-C1", "B-C1"],
            "baseline": [20.0, 16.0],
            "baseline_at": at[[0, 3]],
            "endpoint_at": at[[2, 4]],
            "is_response": [True, False],
        }
    )
    fig = compare_trajectories(points, instrument=instruments.get("PHQ-9"), axis=axis, marks=marks)
    named = {(t.name, t.xaxis): (list(t.x), list(t.y)) for t in fig.data if t.name in
             ("Baseline", "Endpoint")}  # fmt: skip
    assert named[("Baseline", "x")] == ([0], [20]) and named[("Endpoint", "x")] == ([2], [8])
    assert named[("Baseline", "x2")] == ([0], [16]) and named[("Endpoint", "x2")] == ([2], [12])
    lines = [s for s in fig.layout.shapes if s.type == "line"]
    assert [(s.yref, s.y0) for s in lines] == [("y", 10.0), ("y2", 8.0)]
    titles = [a.text for a in fig.layout.annotations][:2]
    assert "response: yes" in titles[0] and "response: no" in titles[1]
    # Shared axes: every panel the same y range.
    assert fig.layout.yaxis.range == fig.layout.yaxis2.range


def test_same_span_tick_survives_the_kiosk():
    """The same-span tick keeps its trace and hover on the wall screen, and its legend entry
    joins the others in one legend row under the title."""
    from datetime import datetime

    span = program.SameSpanLastMonth(4, datetime(2026, 2, 1), datetime(2026, 2, 15, 10))
    fig = program.with_same_span(_volume(), span, today=date(2026, 3, 15))
    kiosk = for_kiosk(fig, height=730, title="Dosing sessions per month").to_dict()
    tick = kiosk["data"][-1]
    assert tick["name"] == "Same span last month" and list(tick["y"]) == [4, 4, 4]
    assert "1–15 Feb, to 10:00" in tick["hovertemplate"]
    assert legend_entries(fig) == 3
    assert kiosk["layout"]["margin"]["t"] == 64 + 30 + 12  # three entries: one row


def test_notes_at_the_tick_size_on_the_wall_screen():
    """The partial month's "to date" is read from three metres: tick size, its grey kept."""
    fig = for_kiosk(program.monthly_dosing(_current(), today=date(2026, 3, 15)), height=730)
    (note,) = fig.layout.annotations
    assert note.text == "to date"
    assert note.font.size == KIOSK_TICK_PX and note.font.color == "#6B7080"


def _current() -> pd.DataFrame:
    months = pd.to_datetime(["2026-02-01", "2026-03-01"])
    return pd.DataFrame({"month": months, "route": ["iv", "iv"], "sessions": [5, 2]})


def test_dark_room_label_boxes_and_subtitle_count():
    """In a dark room a label's white box turns dark (light text on white was unreadable),
    and a subtitle's count ("n = … of …") is set at the tick size like the other notes."""
    fig = go.Figure(go.Scatter(x=[1], y=[1]))
    fig.add_annotation(text="527", x=1, y=1, bgcolor="rgba(255, 255, 255, 0.75)")
    fig.add_annotation(text="to date", x=1, y=1)
    fig.update_layout(title={"text": "t", "subtitle": {"text": "n = 5 of 6", "font": {"size": 12}}})
    dark = for_kiosk(fig, height=500, dark=True)
    boxed, plain = dark.layout.annotations
    assert boxed.bgcolor == DARK_LABEL_BOX and boxed.font.color == "#F2F4F7"
    assert plain.bgcolor is None
    assert dark.layout.title.subtitle.font.size == KIOSK_TICK_PX
    # The legend goes under the subtitle's line (it was drawn over it) and the margin grows.
    two = go.Figure([go.Scatter(name="a"), go.Scatter(name="b")], layout=fig.layout)
    plain = go.Figure([go.Scatter(name="a"), go.Scatter(name="b")])
    with_sub, without = for_kiosk(two, height=500), for_kiosk(plain, height=500)
    assert with_sub.layout.margin.t == without.layout.margin.t + SUBTITLE_ROW_PX
    assert with_sub.layout.legend.y == 1 - (52 + SUBTITLE_ROW_PX) / 500
    light = for_kiosk(fig, height=500)
    assert light.layout.annotations[0].bgcolor == "rgba(255, 255, 255, 0.75)"
    assert fig.layout.title.subtitle.font.size == 12  # the page's figure is untouched


def test_dark_room_lightens_near_black_lines():
    """The same-span tick (#3B3F4A) and a black centre line were invisible on the dark
    paper; they turn light grey. Data colours (the route blue) are kept."""
    fig = go.Figure(
        [
            go.Scatter(name="Same span last month", line={"color": "#3B3F4A"}),
            go.Scatter(name="Centre line", line={"color": "black"}),
            go.Scatter(name="IV", line={"color": "#0072B2"}),
        ]
    )
    dark = for_kiosk(fig, height=500, dark=True)
    assert [t.line.color for t in dark.data] == [DARK_LINE, DARK_LINE, "#0072B2"]
    assert [t.line.color for t in for_kiosk(fig, height=500).data] == [
        "#3B3F4A",
        "black",
        "#0072B2",
    ]
    assert is_near_black("#31333F") and not is_near_black("#9AA0AA") and not is_near_black(None)


def _long_volume() -> go.Figure:
    """19 months of one route: the page's axis steps by quarters (month_tick_step)."""
    months = pd.date_range("2025-06-01", periods=19, freq="MS")
    frame = pd.DataFrame({"month": months, "route": "iv", "sessions": 5})
    return program.monthly_dosing(frame, today=date(2026, 12, 7))


def test_kiosk_spaces_a_quarterly_month_axis_itself():
    """The page's "M3" step was chosen for its width: on the wall screen plotly spaces the
    months (at most KIOSK_MAX_TICKS), the original keeps its step."""
    original = _long_volume()
    assert original.layout.xaxis.dtick == "M3"
    axis = for_kiosk(original, height=700).to_dict()["layout"]["xaxis"]
    assert "dtick" not in axis and axis["nticks"] == 6
    assert original.layout.xaxis.dtick == "M3"


def test_kiosk_keeps_every_category_of_a_bar_chart():
    """A side-effect bar per name: nticks would print only some of the names."""
    fig = go.Figure(go.Bar(x=[10, 20, 30, 40, 50, 60, 70], y=list("abcdefg"), orientation="h"))
    layout = for_kiosk(fig, height=700).to_dict()["layout"]
    assert "nticks" not in layout["yaxis"] and layout["xaxis"]["nticks"] == 6


def test_presentation_text_sizes():
    """Every text of a presented chart is read from the back of a meeting room: titles 26 px,
    axis titles 20, ticks, legend, notes and colour bars 18; taller, data unchanged."""
    original = _long_volume()
    original.add_annotation(x=1.01, xref="paper", y=3, text="moderately severe",
                            xanchor="left", font={"size": 10})  # fmt: skip
    original.add_heatmap(z=[[1, 2]], colorbar={"title": {"text": "Score"}})
    fig = for_presentation(original).to_dict()
    layout = fig["layout"]
    assert layout["title"]["font"]["size"] == PRESENT_TITLE_PX == 26
    for axis in ("xaxis", "yaxis"):
        assert layout[axis]["tickfont"]["size"] == PRESENT_TICK_PX == 18
        assert layout[axis]["title"]["font"]["size"] == PRESENT_TEXT_PX == 20
    assert layout["legend"]["font"]["size"] == 18
    assert {a["text"]: a["font"]["size"] for a in layout["annotations"]} == {
        "to date": 18,
        "moderately severe": 18,
    }
    # The band's name beside the plot fits in the right margin at 18 px (it was cut).
    assert layout["margin"]["r"] >= len("moderately severe") * 18 * 0.56
    heatmap = fig["data"][-1]
    assert heatmap["colorbar"]["tickfont"]["size"] == 18
    assert heatmap["colorbar"]["title"] == {"text": "Score", "side": "right", "font": {"size": 18}}
    assert layout["height"] >= 1.25 * 320
    assert list(for_presentation(original).data[0].y) == [5] * 19
    # The page's figure is untouched.
    assert original.layout.height == 320 and original.layout.xaxis.tickfont.size is None


def test_presentation_legend_columns_by_name_length():
    """Short names: three columns under the title; a long one ("Similar-baseline IQR (171
    courses)", which ran into its neighbour at 1280 px): two."""
    short = go.Figure([go.Scatter(name=n, y=[1]) for n in ("a", "b", "c", "d")])
    assert for_presentation(short).layout.legend.entrywidth == 1 / 3
    names = ("Similar-baseline IQR (171 courses)", "Cohort median", "This course")
    long = go.Figure([go.Scatter(name=n, y=[1]) for n in names])
    layout = for_presentation(long).layout
    assert layout.legend.entrywidth == 0.5 and layout.legend.font.size == PRESENT_TICK_PX


def test_dark_room_lightens_near_black_whiskers():
    """The side-effect bars' 95% CI whiskers (#1F2430) vanished on the dark wall screen."""
    fig = go.Figure(
        go.Bar(x=[10], y=["nausea"], orientation="h", error_x={"array": [2], "color": "#1F2430"})
    )
    dark = for_kiosk(fig, height=500, dark=True)
    assert dark.data[0].error_x.color == DARK_LINE
    assert fig.data[0].error_x.color == "#1F2430"
