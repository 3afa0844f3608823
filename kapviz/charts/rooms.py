"""Figures restyled for the rooms they are shown in: a wall screen read from three metres,
a dark room. Pure plotly: a copy of the page's figure, never the cached original."""

from __future__ import annotations

import plotly.graph_objects as go

KIOSK_TICK_PX = 18
"""Tick labels on a wall screen at 1080p: the smallest type still read from ~3 m."""

KIOSK_TEXT_PX = 20
"""Axis titles, legends and annotations on a wall screen."""

KIOSK_TITLE_PX = 26
"""Chart titles on a wall screen."""

KIOSK_MAX_TICKS = 6
"""At most this many ticks on an axis: 18 px month labels in a third of a screen."""

DARK_BACKGROUND = "#0E1117"
DARK_TEXT = "#F2F4F7"
DARK_GRID = "#2B313C"
DARK_LINE = "#C9CED6"
"""A near-black line redrawn for a dark room (light grey, still not a data colour)."""
DARK_LABEL_BOX = "rgba(14, 17, 23, 0.8)"
"""Behind a label over lines in a dark room (the page's labels sit on white boxes)."""


LEGEND_ROW_PX = 30
"""Height of one legend row at KIOSK_TEXT_PX."""

SUBTITLE_ROW_PX = 26
"""Height of a title's subtitle line at KIOSK_TICK_PX."""


def legend_entries(fig: go.Figure) -> int:
    """How many entries the figure's legend shows."""
    if fig.layout.showlegend is False:
        return 0
    shown = [t for t in fig.data if t.showlegend is not False and t.name]
    return len(shown) if len(shown) > 1 or fig.layout.showlegend else 0


def for_kiosk(
    fig: go.Figure,
    *,
    width: int | None = None,
    height: int,
    dark: bool = False,
    title: str | None = None,
    x_title: str | None = None,
) -> go.Figure:
    """A copy of `fig` for the wall screen: large type, few ticks, a fixed height, the
    legend in columns under the title (and dark colours for a dark room); traces and data
    are unchanged. `title` and `x_title` replace titles too long for the screen."""
    out = go.Figure(fig)
    text = DARK_TEXT if dark else None
    entries = legend_entries(out)
    columns = 2 if entries > 3 else max(entries, 1)
    rows = -(-entries // columns)
    # A subtitle (the waterfall's "n = … of …") takes a line under the title, at the tick
    # size: the legend goes below it rather than over it.
    sub = SUBTITLE_ROW_PX if out.layout.title.subtitle.text else 0
    top = 64 + sub + rows * LEGEND_ROW_PX
    out.update_layout(
        width=width,
        autosize=width is None,
        height=height,
        font={"size": KIOSK_TEXT_PX, **({"color": text} if dark else {})},
        title={"font": {"size": KIOSK_TITLE_PX}, **({"text": title} if title else {})},
        legend={
            "font": {"size": KIOSK_TEXT_PX},
            "orientation": "h",
            "yref": "container",
            "y": 1 - (52 + sub) / height,
            "yanchor": "top",
            "entrywidth": 1 / columns,
            "entrywidthmode": "fraction",
        },
        margin={"l": 20, "r": 24, "t": top + 12, "b": 20},
        hoverlabel={"font": {"size": KIOSK_TEXT_PX}},
    )
    axis = {
        "tickfont": {"size": KIOSK_TICK_PX},
        "title": {"font": {"size": KIOSK_TEXT_PX}},
        "nticks": KIOSK_MAX_TICKS,
        "automargin": True,
    }
    out.update_xaxes(**axis)
    if x_title is not None:
        out.update_xaxes(title_text=x_title)
    out.update_yaxes(**axis)
    # Every category is read (side effects on a bar chart): nticks would skip some.
    if _has_categories(out, "y"):
        out.update_yaxes(nticks=None)
    # A fixed month step ("M1", "M3") was chosen for the page's width: let plotly space them.
    out.update_xaxes(dtick=None, selector={"type": "date"})
    for x in out.layout:
        dtick = out.layout[x].dtick if x.startswith("xaxis") else None
        if isinstance(dtick, str) and dtick.startswith("M"):
            out.layout[x].dtick = None
    # Notes ("to date", "too few") at the tick size: the page's 11 px is unreadable at 3 m.
    for note in out.layout.annotations:
        note.font.size = KIOSK_TICK_PX
        if dark:
            note.font.color = text
            if note.bgcolor is not None:  # a white box behind light text: unreadable
                note.bgcolor = DARK_LABEL_BOX
    if out.layout.title.subtitle.text:  # "n = … of …": the count is read at 3 m too
        out.layout.title.subtitle.font.size = KIOSK_TICK_PX
    for trace in out.data:
        if getattr(trace, "textfont", None) is not None and trace.type in ("scatter", "bar"):
            trace.textfont = {"size": KIOSK_TEXT_PX, **({"color": text} if dark else {})}
    if dark:
        darken(out)
    return out


PRESENT_TICK_PX = 18
"""Tick labels, legends and notes in presentation mode: a 1920-px projector image read from
the back of a meeting room (the page's 11–13 px were unreadable beyond the front row)."""

PRESENT_TEXT_PX = 20
"""Axis titles and hover labels in presentation mode."""

PRESENT_TITLE_PX = 26
"""Chart titles in presentation mode."""

PRESENT_GROWTH = 1.25
"""Presented figures are this much taller (before room for the legend): the larger type
takes height from the plot."""

PRESENT_LEGEND_COLUMNS = 3
"""Legend columns under a presented chart's title (a projector image is wide)."""

PRESENT_LONG_NAME = 24
"""A legend name longer than this (characters) gets two columns, not three: a third of a
1280-px chart holds about that many at PRESENT_TICK_PX."""


def for_presentation(fig: go.Figure) -> go.Figure:
    """A copy of `fig` for presentation mode: every text of the chart (titles, ticks,
    legend, notes, colour bars, labels on bars) at a size read across a meeting room, the
    legend in columns under the title, the figure taller; traces and data unchanged."""
    out = go.Figure(fig)
    entries = legend_entries(out)
    longest = max((len(t.name or "") for t in out.data if t.showlegend is not False), default=0)
    # A long name ("Similar-baseline IQR (171 courses)") ran into its neighbour at 1280 px.
    wide = PRESENT_LEGEND_COLUMNS if longest <= PRESENT_LONG_NAME else 2
    columns = min(wide, max(entries, 1))
    rows = -(-entries // columns)
    title_px = 48 if out.layout.title.text else 12
    sub = SUBTITLE_ROW_PX if out.layout.title.subtitle.text else 0
    top = title_px + sub + rows * LEGEND_ROW_PX + 12
    old_top = out.layout.margin.t if out.layout.margin.t is not None else 100
    height = round((out.layout.height or 450) * PRESENT_GROWTH) + max(0, top - old_top)
    out.update_layout(
        height=height,
        font={"size": PRESENT_TEXT_PX},
        title={"font": {"size": PRESENT_TITLE_PX}},
        legend={
            "font": {"size": PRESENT_TICK_PX},
            "orientation": "h",
            "yref": "container",
            "y": 1 - (title_px - 4 + sub) / height,
            "yanchor": "top",
            "entrywidth": 1 / columns,
            "entrywidthmode": "fraction",
        },
        margin={"t": max(top, old_top)},
        hoverlabel={"font": {"size": PRESENT_TEXT_PX}},
    )
    axis = {"tickfont": {"size": PRESENT_TICK_PX}, "title": {"font": {"size": PRESENT_TEXT_PX}}}
    out.update_xaxes(**axis)
    out.update_yaxes(**axis)
    right = out.layout.margin.r or 0
    for note in out.layout.annotations:
        note.font.size = max(note.font.size or 0, PRESENT_TICK_PX)
        if _in_right_margin(note):  # severity bands' names: "moderately severe" was cut
            right = max(right, round(len(note.text or "") * PRESENT_TICK_PX * CHAR_EM) + 24)
    out.layout.margin.r = right
    if out.layout.title.subtitle.text:
        out.layout.title.subtitle.font.size = PRESENT_TICK_PX
    for trace in out.data:
        if trace.type in ("scatter", "bar") and getattr(trace, "textfont", None) is not None:
            trace.textfont.size = PRESENT_TICK_PX
        if trace.type == "heatmap":
            trace.colorbar.tickfont.size = PRESENT_TICK_PX
            trace.colorbar.title.font.size = PRESENT_TICK_PX
            trace.colorbar.title.side = "right"  # above the bar it sits on the top tick
    return out


CHAR_EM = 0.56
"""Width of an average character of the sans-serif chart font, in em (for margins)."""


def _in_right_margin(note: go.layout.Annotation) -> bool:
    """Whether a note is written to the right of the plot (a label beside the last band)."""
    xref = str(note.xref or "")
    return (
        (xref == "paper" or xref.endswith("domain"))
        and note.x is not None
        and note.x >= 1
        and note.xanchor == "left"
    )


def _has_categories(fig: go.Figure, letter: str) -> bool:
    """Whether the figure's values along x or y are names (a category axis)."""
    for trace in fig.data:
        values = getattr(trace, letter, None)
        if values is not None and len(values) and isinstance(values[0], str):
            return True
    return False


def darken(fig: go.Figure) -> go.Figure:
    """Dark background, light text and faint grid, in place (for a dark room)."""
    fig.update_layout(
        paper_bgcolor=DARK_BACKGROUND,
        plot_bgcolor=DARK_BACKGROUND,
        font={"color": DARK_TEXT},
        title={"font": {"color": DARK_TEXT}},
        legend={"bgcolor": "rgba(0,0,0,0)", "font": {"color": DARK_TEXT}},
    )
    fig.update_xaxes(gridcolor=DARK_GRID, linecolor=DARK_GRID, tickcolor=DARK_GRID)
    fig.update_yaxes(gridcolor=DARK_GRID, linecolor=DARK_GRID, tickcolor=DARK_GRID)
    # Near-black lines (the same-span tick, a u-chart's centre line) vanish on the dark
    # paper: drawn light instead, their meaning unchanged.
    for trace in fig.data:
        line = getattr(trace, "line", None)
        if line is not None and is_near_black(line.color):
            line.color = DARK_LINE
        # A 95% CI whisker drawn near-black (the side-effect bars) vanished the same way.
        for name in ("error_x", "error_y"):
            error = getattr(trace, name, None)
            if error is not None and is_near_black(error.color):
                error.color = DARK_LINE
    return fig


def is_near_black(color: object) -> bool:
    """Whether a "#rrggbb" colour is too dark to see on DARK_BACKGROUND (luminance < 0.3)."""
    if not (isinstance(color, str) and len(color) == 7 and color.startswith("#")):
        return color == "black"
    red, green, blue = (int(color[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue < 0.3
