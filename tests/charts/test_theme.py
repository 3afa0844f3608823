"""The shared plotly theme: colours for every phase and severity, layout applied."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest

from kapviz.charts import theme
from kapviz.domain import PHASES, SEVERITIES


def test_every_phase_and_severity_has_a_colour() -> None:
    """Each domain phase and severity maps to a distinct colour."""
    assert list(theme.PHASE_COLORS) == list(PHASES)
    assert list(theme.SEVERITY_COLORS) == list(SEVERITIES)
    assert len(set(theme.PHASE_COLORS.values())) == len(PHASES)


def test_base_layout_is_a_fresh_dict() -> None:
    """Callers may edit the returned layout without changing the next one."""
    first = theme.base_layout()
    first["font"]["size"] = 99
    assert theme.base_layout()["font"]["size"] == 13


@pytest.mark.parametrize(("title", "expected"), [(None, None), ("PHQ-9", "PHQ-9")])
def test_apply_theme_sets_layout_and_title(title: str | None, expected: str | None) -> None:
    """apply_theme gives the colourway, white background and the optional title."""
    fig = theme.apply_theme(go.Figure(go.Scatter(x=[1], y=[2])), title=title)
    layout = fig.to_dict()["layout"]
    assert layout["colorway"] == list(theme.PALETTE)
    assert layout["plot_bgcolor"] == "white"
    assert layout.get("title", {}).get("text") == expected


def _reference_theme(fig: go.Figure, title: str | None) -> go.Figure:
    """The theme as plotly's own update calls apply it (the previous implementation)."""
    fig.update_layout(**theme.base_layout())
    axis = {k: v for k, v in theme.base_layout()["xaxis"].items() if k != "title"}
    fig.update_xaxes(**axis)
    fig.update_yaxes(**axis)
    if title is not None:
        fig.update_layout(
            title={
                "text": title,
                "x": 0,
                "xanchor": "left",
                "yref": "container",
                "y": 0.985,
                "yanchor": "top",
                "font": {"size": 16},
            },
            margin={"t": 96},
            legend={"y": 1.02},
        )
    return fig


def _figures() -> list[go.Figure]:
    from plotly.subplots import make_subplots

    plain = go.Figure(go.Scatter(x=[1, 2], y=[3, 4]))
    styled = go.Figure(go.Bar(x=["a"], y=[1]))
    styled.update_layout(
        margin={"l": 10, "b": 5}, legend={"x": 0.5}, title="old", xaxis={"title": {"text": "mg"}}
    )
    grid = make_subplots(rows=2, cols=2, subplot_titles=["A", "B", "C", "D"])
    grid.add_trace(go.Scatter(x=[1], y=[1]), row=2, col=2)
    heat = go.Figure(go.Heatmap(z=[[1, 2], [3, 4]]))
    heat.add_hrect(y0=0, y1=1, fillcolor="red", opacity=0.1)
    return [plain, styled, grid, heat]


@pytest.mark.parametrize("title", [None, "PHQ-9 (points)"])
@pytest.mark.parametrize("index", range(4))
def test_apply_theme_equals_plotlys_own_updates(index: int, title: str | None) -> None:
    """One merged layout assignment gives exactly what update_layout/update_axes gave:
    caller settings kept unless the theme sets them, every subplot axis themed."""
    fast = theme.apply_theme(_figures()[index], title=title)
    reference = _reference_theme(_figures()[index], title)
    assert fast.to_plotly_json() == reference.to_plotly_json()
