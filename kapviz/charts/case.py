"""Charts of one patient's course for the Case explorer (tidy frames in, figures out)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from kapviz.charts.theme import PALETTE, PHASE_COLORS, SEVERITY_COLORS, apply_theme
from kapviz.domain import PHASE_LABELS, PHASES, ROUTE_LABELS, SEVERITIES

PHASE_SYMBOLS = {
    "intake": "square",
    "preparation": "circle",
    "dosing": "diamond",
    "integration": "triangle-up",
    "follow_up": "star",
}


def _session_label(row: pd.Series) -> str:
    label = PHASE_LABELS.get(row["phase"], row["phase"])
    if row["phase"] == "dosing" and isinstance(row.get("route"), str):
        dose = "" if pd.isna(row.get("dose_mg")) else f" {row['dose_mg']:.0f} mg"
        label += f" — {ROUTE_LABELS.get(row['route'], row['route'])}{dose}"
    if row["status"] != "completed":
        label += f" ({row['status'].replace('_', '-')})"
    return label


def course_timeline(sessions: pd.DataFrame) -> go.Figure:
    """Every session of every course as a marker on a date axis, phases as coloured bands.

    One row per course (courses separated), marker shape and colour by phase; cancelled
    and no-show sessions are hollow grey markers so that they read as "did not happen".
    """
    fig = go.Figure()
    frame = sessions.sort_values("started_at").copy()
    frame["label"] = frame.apply(_session_label, axis=1)
    courses = list(dict.fromkeys(frame["course_id"]))
    for course in courses:
        done = frame[(frame["course_id"] == course) & (frame["status"] == "completed")]
        for phase, part in done.groupby("phase", sort=False):
            start, end = part["started_at"].min(), part["started_at"].max()
            fig.add_shape(
                type="rect",
                x0=start - pd.Timedelta(hours=12),
                x1=end + pd.Timedelta(hours=12),
                y0=courses.index(course) - 0.35,
                y1=courses.index(course) + 0.35,
                fillcolor=PHASE_COLORS.get(phase, "#ccc"),
                opacity=0.18,
                line={"width": 0},
                layer="below",
            )
    for phase in PHASES:
        part = frame[(frame["phase"] == phase) & (frame["status"] == "completed")]
        if part.empty:
            continue
        fig.add_scatter(
            x=part["started_at"],
            y=part["course_id"],
            mode="markers",
            name=PHASE_LABELS[phase],
            marker={
                "symbol": PHASE_SYMBOLS[phase],
                "size": 13,
                "color": PHASE_COLORS[phase],
                "line": {"width": 1, "color": "white"},
            },
            text=part["label"],
            hovertemplate="%{x|%Y-%m-%d %H:%M}<br>%{text}<extra></extra>",
        )
    missed = frame[frame["status"] != "completed"]
    if not missed.empty:
        fig.add_scatter(
            x=missed["started_at"],
            y=missed["course_id"],
            mode="markers",
            name="Cancelled / no-show",
            marker={
                "symbol": "x-open",
                "size": 12,
                "color": "#8C8C8C",
                "line": {"width": 2},
            },
            text=missed["label"],
            hovertemplate="%{x|%Y-%m-%d}<br>%{text}<extra></extra>",
        )
    apply_theme(fig, title="Course timeline")
    fig.update_layout(height=150 + 70 * len(courses))
    fig.update_xaxes(title_text="Date")
    fig.update_yaxes(
        title_text="Course", categoryorder="array", categoryarray=courses, type="category"
    )
    return fig


def side_effect_strip(effects: pd.DataFrame) -> go.Figure:
    """Side effects per dosing session as a strip coloured by the session's highest severity.

    `effects` has dose_number, term, severity (one row per session × term at its highest
    severity); columns are dosing sessions 1…n, rows are effects.
    """
    levels = {s: i + 1 for i, s in enumerate(SEVERITIES)}
    fig = go.Figure()
    if not effects.empty:
        grid = effects.assign(level=effects["severity"].map(levels)).pivot_table(
            index="term", columns="dose_number", values="level", aggfunc="max"
        )
        text = grid.apply(lambda col: col.map(lambda v: SEVERITIES[int(v) - 1] if v == v else ""))
        scale = [
            [0.0, SEVERITY_COLORS["mild"]],
            [0.5, SEVERITY_COLORS["moderate"]],
            [1.0, SEVERITY_COLORS["severe"]],
        ]
        fig.add_heatmap(
            z=grid.to_numpy(),
            x=[f"Dose {int(c)}" for c in grid.columns],
            y=grid.index.tolist(),
            text=text.to_numpy(),
            zmin=1,
            zmax=3,
            colorscale=scale,
            xgap=2,
            ygap=2,
            showscale=False,
            hovertemplate="%{y} at %{x}: %{text}<extra></extra>",
        )
    apply_theme(fig, title="Side effects by dosing session (colour = highest severity)")
    fig.update_layout(height=max(220, 60 + 28 * effects["term"].nunique()) if len(effects) else 220)
    fig.update_xaxes(title_text="Dosing session", showgrid=False)
    fig.update_yaxes(title_text="", showgrid=False, autorange="reversed")
    return fig


def session_vitals(per_session: pd.DataFrame) -> go.Figure:
    """Blood pressure per dosing session: pre-dose, peak and last systolic/diastolic (mmHg)."""
    fig = go.Figure()
    x = [f"Dose {int(n)}" for n in per_session["dose_number"]]
    for column, name, color, dash in (
        ("pre_systolic", "Systolic pre-dose", PALETTE[0], "dot"),
        ("peak_systolic", "Systolic peak", PALETTE[5], "solid"),
        ("last_systolic", "Systolic last", PALETTE[0], "solid"),
        ("pre_diastolic", "Diastolic pre-dose", PALETTE[2], "dot"),
        ("peak_diastolic", "Diastolic peak", PALETTE[1], "solid"),
    ):
        if column in per_session:
            fig.add_scatter(
                x=x,
                y=per_session[column],
                name=name,
                mode="lines+markers",
                line={"color": color, "dash": dash},
                hovertemplate=f"{name}: %{{y}} mmHg<extra>%{{x}}</extra>",
            )
    apply_theme(fig, title="Blood pressure per dosing session")
    fig.update_layout(height=320)
    fig.update_xaxes(title_text="Dosing session")
    fig.update_yaxes(title_text="Blood pressure (mmHg)")
    return fig


def phq9_items(items: pd.DataFrame) -> go.Figure:
    """PHQ-9 item scores (0–3) over time; item 9 (self-harm thoughts) outlined in red.

    `items` has administered_at and item_1 … item_9.
    """
    labels = [
        "1 Interest",
        "2 Feeling down",
        "3 Sleep",
        "4 Energy",
        "5 Appetite",
        "6 Self-worth",
        "7 Concentration",
        "8 Psychomotor",
        "9 Self-harm thoughts",
    ]
    cols = [f"item_{i}" for i in range(1, 10)]
    z = items[cols].to_numpy().T
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=items["administered_at"].dt.strftime("%Y-%m-%d").tolist(),
            y=labels,
            zmin=0,
            zmax=3,
            colorscale="Blues",
            xgap=2,
            ygap=2,
            colorbar={"title": {"text": "Score"}, "tickvals": [0, 1, 2, 3]},
            hovertemplate="%{y} on %{x}: %{z}<extra></extra>",
        )
    )
    positive = [j for j, v in enumerate(z[8]) if v and v > 0]
    for j in positive:
        fig.add_shape(
            type="rect",
            x0=j - 0.5,
            x1=j + 0.5,
            y0=7.5,
            y1=8.5,
            line={"color": "#D7301F", "width": 3},
        )
    apply_theme(fig, title="PHQ-9 items (item 9 > 0 outlined in red)")
    fig.update_layout(height=360)
    fig.update_xaxes(title_text="Date", type="category", showgrid=False)
    fig.update_yaxes(autorange="reversed", showgrid=False)
    return fig
