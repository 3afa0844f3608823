"""Analyst figures: course lines keep their shape but lose patient and course ids."""

import plotly.graph_objects as go

from kapviz.ui import redact


def test_deidentify_figure_drops_ids_and_renumbers_hover(monkeypatch):
    monkeypatch.setattr(redact, "shows_ids", lambda: False)
    fig = go.Figure(
        go.Scatter(
            x=[0, 1],
            y=[18, 8],
            name="Individual courses (1)",
            customdata=[["P1", "P1-C1", "Dose 1"], ["P1", "P1-C1", "Integration"]],
            hovertemplate="patient %{customdata[0]} · course %{customdata[1]}<br>"
            "%{customdata[2]}: %{y}<br>click to open in the Case explorer<extra></extra>",
        )
    )
    out = redact.deidentify_figure(fig)
    trace = out.data[0]
    assert [list(row) for row in trace.customdata] == [["Dose 1"], ["Integration"]]
    assert trace.hovertemplate == "%{customdata[0]}: %{y}<extra></extra>"
    assert "P1" not in out.to_json()
    assert fig.data[0].customdata[0][0] == "P1"  # the cached figure itself is unchanged


def test_deidentify_figure_leaves_others_alone(monkeypatch):
    monkeypatch.setattr(redact, "shows_ids", lambda: True)
    fig = go.Figure(go.Scatter(x=[0], y=[1], customdata=[["P1", "P1-C1"]]))
    assert redact.deidentify_figure(fig) is fig
