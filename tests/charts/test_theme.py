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
