"""The one plotly theme of kapviz: palette, phase colours, severity colours, layout.

Colours are Okabe–Ito (phases, categories; safe for colour-vision deficiency) and a
sequential orange–red ramp for severity, so that "worse" always reads as "redder".
"""

from __future__ import annotations

import copy
import re
import zlib
from typing import Any, Literal

import plotly.graph_objects as go
import plotly.io as pio

from kapviz.charts.escape import escape_figure_text
from kapviz.safe_text import plotly_layout

FONT_FAMILY = "Inter, 'Source Sans Pro', 'Helvetica Neue', Arial, sans-serif"
TEXT_COLOR = "#31333F"
GRID_COLOR = "#E6E9EF"

PALETTE: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # green
    "#CC79A7",  # purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#F0E442",  # yellow
    "#000000",
)
"""Categorical colourway (Okabe & Ito 2008), in the order traces take them."""

PHASE_COLORS: dict[str, str] = {
    "intake": "#8C8C8C",
    "preparation": "#56B4E9",
    "dosing": "#E69F00",
    "integration": "#009E73",
    "follow_up": "#CC79A7",
}
"""One colour per session phase (kapviz.domain.PHASES), used for bands and markers."""

SEVERITY_COLORS: dict[str, str] = {
    "mild": "#FDD49E",
    "moderate": "#FC8D59",
    "severe": "#D7301F",
}
"""Side-effect and symptom severity, mildest first (kapviz.domain.SEVERITIES)."""

ROUTE_COLORS: dict[str, str] = {
    "iv": "#0072B2",
    "im": "#009E73",
    "sublingual": "#E69F00",
    "oral": "#CC79A7",
    "intranasal": "#56B4E9",
    "unknown": "#8C8C8C",
}
"""One colour per route value (kapviz.domain.ROUTES), whatever the filter leaves on screen."""

INSTRUMENT_COLORS: dict[str, str] = {
    "PHQ-9": "#0072B2",
    "GAD-7": "#009E73",
    "PCL-5": "#CC79A7",
    "MADRS": "#D55E00",
    "QIDS-SR16": "#56B4E9",
    "BDI-II": "#E69F00",
    "CADSS": "#8C6D31",
    "MOAA/S": "#7F7F7F",
}
"""One colour per instrument of the registry (kapviz.instruments)."""

SITE_COLORS: tuple[str, ...] = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#8C6D31",
    "#5E3C99",
)
"""Colours a site name is hashed onto: site names are the clinic's own, so the colour is a
function of the name (never of its position among the sites a filter leaves)."""

Category = Literal["route", "phase", "severity", "site", "instrument"]
_FIXED: dict[str, dict[str, str]] = {
    "route": ROUTE_COLORS,
    "phase": PHASE_COLORS,
    "severity": SEVERITY_COLORS,
    "instrument": INSTRUMENT_COLORS,
}
OTHER_COLOR = "#8C8C8C"


def category_color(category: Category, value: object) -> str:
    """The colour of one value of a category, the same on every page, filter and export.

    Routes, phases, severities and instruments have a fixed map; a site's colour is chosen
    by a stable hash of its name; an unknown value is grey.
    """
    text = "" if value is None else str(value)
    if category == "site":
        return (
            SITE_COLORS[zlib.crc32(text.encode("utf-8")) % len(SITE_COLORS)]
            if text
            else OTHER_COLOR
        )
    return _FIXED[category].get(text, OTHER_COLOR)


_WHITE = pio.templates["plotly_white"]
_TEMPLATE = go.layout.Template(
    layout=_WHITE.layout,
    data={trace: _WHITE.data[trace] for trace in ("scatter", "bar", "heatmap")},
)
"""plotly_white's layout and the defaults of the trace types kapviz draws (scatter, bar,
heatmap; funnel has none), built once. Naming "plotly_white" in every figure made plotly
rebuild and validate the whole template, defaults of 24 trace types included, each time
(~20–30 ms a figure, a tenth of the Overview's cold run); this one validates in a third."""


TITLE_ONLY_TOP_PX = 56
"""Top margin of a titled figure without a legend above its plot (a heatmap: its colour bar
is beside it). apply_theme's margin holds a title and a legend; without the legend it was a
blank band under the title."""


def base_layout() -> dict[str, Any]:
    """Layout settings every kapviz figure shares (a fresh dict each call)."""
    axis = {
        "showgrid": True,
        "gridcolor": GRID_COLOR,
        "zeroline": False,
        "linecolor": "#B8BCC6",
        "ticks": "outside",
        "tickcolor": "#B8BCC6",
        "title": {"standoff": 8},
        "automargin": True,
    }
    return {
        "template": _TEMPLATE,
        "colorway": list(PALETTE),
        "font": {"family": FONT_FAMILY, "size": 13, "color": TEXT_COLOR},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
        "hoverlabel": {"font": {"family": FONT_FAMILY, "size": 12}},
        "hovermode": "closest",
        "legend": {
            "orientation": "h",
            "yanchor": "bottom",
            "y": 1.02,
            "xanchor": "left",
            "x": 0,
            "bgcolor": "rgba(255,255,255,0.6)",
        },
        "xaxis": dict(axis),
        "yaxis": dict(axis),
    }


def apply_theme(fig: go.Figure, *, title: str | None = None) -> go.Figure:
    """Give `fig` the kapviz look (in place, on a figure the caller just built); returns it.

    The theme is merged into the figure's layout as plain dicts and assigned once: plotly
    validates an assigned layout in one pass, where `update_layout` / `update_xaxes` calls
    went property by property through the template (~50 ms a figure, ~12 ms now). The result
    is what those calls gave: the theme wins where both set a value, axes of every subplot
    get the axis look, the first x and y axes also the title standoff.
    """
    escape_figure_text(fig)  # imported text in labels and hover is shown as text, not HTML
    layout = fig.layout.to_plotly_json()
    _merge(layout, {k: v for k, v in base_layout().items() if k != "template"})
    layout["template"] = copy.deepcopy(_TEMPLATE_JSON)  # replaced whole, as plotly does
    for name in [key for key in layout if _AXIS.fullmatch(key)]:
        _merge(layout[name], _axis_defaults())
    if title is not None:
        # The title sits at the top of the figure and the legend just above the plot, so
        # the top margin holds both without overlap.
        _merge(
            layout,
            {
                "title": {
                    "text": plotly_layout(title),
                    "x": 0,
                    "xanchor": "left",
                    "yref": "container",
                    "y": 0.985,
                    "yanchor": "top",
                    "font": {"size": 16},
                },
                "margin": {"t": 96},
                "legend": {"y": 1.02},
            },
        )
    fig.layout = layout
    return fig


_AXIS = re.compile(r"[xy]axis\d*")
_TEMPLATE_JSON = _TEMPLATE.to_plotly_json()


def _merge(into: dict[str, Any], update: dict[str, Any]) -> None:
    """Deep-merge `update` into `into` as plotly's update_layout does (dicts merge, other
    values replace)."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)


def _axis_defaults() -> dict[str, Any]:
    """Axis look applied to every subplot's axes, not only the first."""
    return {k: v for k, v in base_layout()["xaxis"].items() if k != "title"}
