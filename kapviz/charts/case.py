"""Charts of one patient's course for the Case explorer (tidy frames in, figures out)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from kapviz.charts.safety import hline
from kapviz.charts.theme import (
    PALETTE,
    PHASE_COLORS,
    SEVERITY_COLORS,
    TITLE_ONLY_TOP_PX,
    apply_theme,
)
from kapviz.domain import PHASE_LABELS, PHASES, ROUTE_LABELS, SEVERITIES
from kapviz.instruments import Instrument
from kapviz.safe_text import plotly

PHASE_SYMBOLS = {
    "intake": "square",
    "preparation": "circle",
    "dosing": "diamond",
    "integration": "triangle-up",
    "follow_up": "star",
}

MIN_TIMELINE_SPAN = pd.Timedelta(days=14)
"""A course shorter than this is drawn on a two-week axis (dates, not hours, as ticks)."""


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
    frame["label"] = pd.Series(
        [_session_label(r) for _, r in frame.iterrows()], index=frame.index, dtype=object
    )
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
    # The course order before the theme, which escapes ids for plotly (data and order alike).
    fig.update_yaxes(categoryorder="array", categoryarray=courses, type="category")
    apply_theme(fig, title="Course timeline")
    fig.update_layout(height=150 + 70 * len(courses))
    fig.update_xaxes(title_text="Date")
    if len(frame):
        first, last = frame["started_at"].min(), frame["started_at"].max()
        if last - first < MIN_TIMELINE_SPAN:
            middle = first + (last - first) / 2
            fig.update_xaxes(range=[middle - MIN_TIMELINE_SPAN / 2, middle + MIN_TIMELINE_SPAN / 2])
    fig.update_yaxes(title_text="Course")
    return fig


def side_effect_strip(effects: pd.DataFrame, *, doses: int | None = None) -> go.Figure:
    """Side effects per dosing session as a strip coloured by the session's highest severity.

    `effects` has dose_number, term, severity (one row per session × term at its highest
    severity); columns are dosing sessions 1…n (1…`doses` when given, so that sessions
    without effects show as gaps), rows are effects.
    """
    levels = {s: i + 1 for i, s in enumerate(SEVERITIES)}
    fig = go.Figure()
    if not effects.empty:
        grid = effects.assign(level=effects["severity"].map(levels)).pivot_table(
            index="term", columns="dose_number", values="level", aggfunc="max"
        )
        if doses is not None:
            grid = grid.reindex(columns=range(1, max(doses, int(grid.columns.max())) + 1))
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


def session_vitals(
    per_session: pd.DataFrame,
    *,
    excursion_systolic: float | None = None,
    excursion_diastolic: float | None = None,
) -> go.Figure:
    """Blood pressure per dosing session: pre-dose, peak and last systolic/diastolic (mmHg).

    `per_session` has dose_number and pre/peak/last _systolic/_diastolic columns (one course);
    the excursion thresholds, when given, are drawn as dotted lines.
    """
    fig = go.Figure()
    x = [f"Dose {int(n)}" for n in per_session["dose_number"]]
    for column, name, color, dash, symbol in (
        ("pre_systolic", "Systolic pre-dose", PALETTE[0], "dot", "circle-open"),
        ("peak_systolic", "Systolic peak", PALETTE[5], "solid", "triangle-up"),
        ("last_systolic", "Systolic last", PALETTE[0], "solid", "circle"),
        ("pre_diastolic", "Diastolic pre-dose", PALETTE[2], "dot", "circle-open"),
        ("peak_diastolic", "Diastolic peak", PALETTE[1], "solid", "triangle-up"),
        ("last_diastolic", "Diastolic last", PALETTE[2], "solid", "circle"),
    ):
        if column in per_session:
            fig.add_scatter(
                x=x,
                y=per_session[column],
                name=name,
                mode="lines+markers",
                line={"color": color, "dash": dash},
                marker={"symbol": symbol, "size": 9},
                hovertemplate=f"{name}: %{{y}} mmHg<extra>%{{x}}</extra>",
            )
    shapes, notes = [], []
    for value, label in (
        (excursion_systolic, "systolic excursion"),
        (excursion_diastolic, "diastolic excursion"),
    ):
        if value is not None:
            shape, note = hline(
                value,
                line={"color": "#D7301F", "dash": "dot", "width": 1},
                text=f"{label}<br>≥ {value:g}",
                position="top right",
                font={"size": 10, "color": "#D7301F"},
            )
            # Under the readings (a pre-dose line at the threshold stays visible), the label
            # in the right margin rather than over the last doses' points.
            shapes.append(shape | {"layer": "below"})
            notes += [n | {"x": 1.01, "xanchor": "left", "yanchor": "middle"} for n in note]
    apply_theme(fig, title="Blood pressure per dosing session (mmHg)")
    lines = {"shapes": shapes, "annotations": notes} if shapes else {}
    fig.update_layout(height=380, **lines)
    if shapes:
        fig.update_layout(margin={"r": 120})
    fig.update_xaxes(title_text="Dosing session", type="category")
    fig.update_yaxes(title_text="Blood pressure (mmHg)")
    return fig


def sedation_dissociation(per_session: pd.DataFrame, *, sedation_max: int) -> go.Figure:
    """Lowest MOAA/S (0–5, lower = deeper sedation) and CADSS (0–92) per dosing session.

    `per_session` has dose_number, moaas, is_sedation, cadss; sedated sessions (MOAA/S ≤
    `sedation_max`) are drawn in red.
    """
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("Sedation: lowest MOAA/S", "Dissociation: CADSS"),
        horizontal_spacing=0.12,
    )
    x = [f"Dose {int(n)}" for n in per_session["dose_number"]]
    colors = ["#D7301F" if flag else PALETTE[0] for flag in per_session["is_sedation"]]
    fig.add_scatter(
        x=x,
        y=per_session["moaas"],
        mode="lines+markers",
        name="MOAA/S",
        marker={"size": 11, "color": colors},
        line={"color": "#9aa3b5"},
        connectgaps=False,
        hovertemplate="MOAA/S %{y} at %{x}<extra></extra>",
        row=1,
        col=1,
    )
    fig.add_hline(
        y=sedation_max,
        line={"color": "#D7301F", "dash": "dot", "width": 1},
        annotation_text=f"sedation ≤ {sedation_max}",
        annotation_position="bottom left",
        annotation_font={"size": 10, "color": "#D7301F"},
        row=1,
        col=1,
    )
    fig.add_bar(
        x=x,
        y=per_session["cadss"],
        name="CADSS",
        marker={"color": PALETTE[3]},
        hovertemplate="CADSS %{y} at %{x}<extra></extra>",
        row=1,
        col=2,
    )
    apply_theme(fig, title="Sedation and dissociation per dosing session")
    fig.update_layout(height=340, showlegend=False)
    fig.update_xaxes(type="category", title_text="Dosing session")
    fig.update_yaxes(
        title_text="MOAA/S (5 alert … 0 unresponsive)", range=[-0.3, 5.3], row=1, col=1
    )
    fig.update_yaxes(title_text="CADSS total (0–92)", rangemode="tozero", row=1, col=2)
    return fig


def _verdict_word(value: object) -> str:
    if value is None or pd.isna(value):
        return "not evaluable"
    return "yes" if bool(value) else "no"


def compare_trajectories(
    points: pd.DataFrame,
    *,
    instrument: Instrument,
    axis: pd.DataFrame,
    marks: pd.DataFrame | None = None,
) -> go.Figure:
    """Small multiples, one panel per case, of one instrument on the phase-ordered axis.

    `points` come from `compare_points` (patient_id, course_id, point_order, total, …);
    `axis` is the session axis (label, order, phase). Every panel has the same x and y range.
    `marks` (patient_id, course_id, baseline, baseline_at, endpoint_at, is_response: the
    outcome of each shown course) adds the baseline and endpoint markers, the response line
    (half the baseline) and the verdict in the panel title.
    """
    cases = list(dict.fromkeys(points["patient_id"]))
    outcome = {}
    if marks is not None and len(marks):
        shown = points.drop_duplicates("patient_id").set_index("patient_id")["course_id"]
        for row in marks.itertuples():
            if shown.get(row.patient_id) == row.course_id:
                outcome[row.patient_id] = row
    # Id over course on two short lines: "id · course" of four panels ran into each other.
    titles = [
        f"<b>{plotly(p)}</b><br>"
        f"{plotly(points.loc[points['patient_id'] == p, 'course_id'].iloc[0])}"
        + (f" · response: {_verdict_word(outcome[p].is_response)}" if p in outcome else "")
        for p in cases
    ]
    fig = make_subplots(
        rows=1,
        cols=max(1, len(cases)),
        shared_yaxes=True,
        subplot_titles=titles or None,
        horizontal_spacing=0.05,
    )
    for note in fig.layout.annotations:
        note.font = {"size": 12}
    used = axis[axis["order"].isin(points["point_order"].dropna().astype(int))]
    # Only the points some case has, one slot each, so panels stay readable at a quarter width.
    slot = {int(order): i for i, order in enumerate(used["order"])}
    shapes = []
    for i, patient in enumerate(cases, start=1):
        part = points[points["patient_id"] == patient].dropna(subset=["point_order"])
        # Every score, as on the Scores tab (the first version kept only the latest score at
        # each point and showed one PHQ-9 fewer), in axis order, then time order at a point.
        part = part.sort_values(["point_order", "administered_at"], kind="stable")
        shapes += _severity_bands(instrument, panel=i)[0]
        fig.add_scatter(
            x=part["point_order"].astype(int).map(slot),
            y=part["total"],
            mode="lines+markers",
            name=patient,
            line={"color": PALETTE[(i - 1) % len(PALETTE)], "width": 3},
            marker={"size": 8},
            customdata=part["administered_at"].dt.strftime("%Y-%m-%d").to_numpy(),
            hovertemplate=f"{patient} %{{customdata}}: %{{y}}<extra></extra>",
            row=1,
            col=i,
        )
        if patient in outcome:
            shapes += _compare_marks(fig, points, outcome[patient], slot, panel=i)
    fig.update_layout(shapes=shapes)
    apply_theme(
        fig,
        title=f"{instrument.id} of the compared cases (same axes; ○ baseline, ◇ endpoint, "
        "dashed: response at half the baseline)",
    )
    fig.update_layout(height=420, showlegend=False)
    fig.update_xaxes(
        tickmode="array",
        tickvals=list(range(len(used))),
        ticktext=used["label"].tolist(),
        tickangle=-90,
        tickfont={"size": 11},  # 14 points in a quarter of the width: no overprint
        range=[-0.5, max(len(used), 1) - 0.5],
        showgrid=False,
    )
    fig.update_yaxes(range=[instrument.total_min - 0.5, instrument.total_max + 0.5])
    fig.update_yaxes(title_text=f"{instrument.id} total (higher = worse)", row=1, col=1)
    return fig


def _compare_marks(
    fig: go.Figure, points: pd.DataFrame, mark: object, slot: dict[int, int], *, panel: int
) -> list[dict]:
    """Baseline (circle) and endpoint (diamond) of one compared course, and its response
    line at half the baseline (a fall of at least 50%); returns the line's shape."""
    mine = points[(points["patient_id"] == mark.patient_id) & points["point_order"].notna()]
    for when, label, symbol in (
        (mark.baseline_at, "Baseline", "circle-open"),
        (mark.endpoint_at, "Endpoint", "diamond-open"),
    ):
        hit = mine[mine["administered_at"] == when] if pd.notna(when) else mine.iloc[:0]
        if hit.empty or int(hit["point_order"].iloc[0]) not in slot:
            continue
        fig.add_scatter(
            x=[slot[int(hit["point_order"].iloc[0])]],
            y=[hit["total"].iloc[0]],
            mode="markers",
            name=label,
            marker={"symbol": symbol, "size": 16, "color": "#31333F", "line": {"width": 2}},
            hovertemplate=f"{label}: %{{y}}<extra>{mark.patient_id}</extra>",
            cliponaxis=False,
            row=1,
            col=panel,
        )
    if pd.isna(mark.baseline):
        return []
    n = "" if panel == 1 else str(panel)
    half = float(mark.baseline) / 2
    return [
        {"type": "line", "xref": f"x{n} domain", "x0": 0, "x1": 1, "yref": f"y{n}",
         "y0": half, "y1": half, "layer": "below",
         "line": {"color": "#1a7f37", "dash": "dash", "width": 1.5}}
    ]  # fmt: skip


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
            # The title up the bar's side: above the bar it sat on the "3".
            colorbar={"title": {"text": "Score", "side": "right"}, "tickvals": [0, 1, 2, 3]},
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
    fig.update_layout(height=360, margin={"t": TITLE_ONLY_TOP_PX})  # no legend: no room for one
    fig.update_xaxes(title_text="Date", type="category", showgrid=False)
    fig.update_yaxes(autorange="reversed", showgrid=False)
    return fig


def _rect(  # a shape's coordinates
    xref: str, yref: str, x0: float, x1: float, y0: float, y1: float, fill: str, **extra
) -> dict:
    """A filled rectangle below the data, as add_hrect/add_vrect draw it."""
    shape = {"type": "rect", "layer": "below", "line": {"width": 0}, "fillcolor": fill}
    return {**shape, **extra, "xref": xref, "yref": yref, "x0": x0, "x1": x1, "y0": y0, "y1": y1}


def _note(  # an annotation's placement
    text: str,
    xref: str,
    yref: str,
    x: float,
    y: float,
    xanchor: str,
    yanchor: str,
    size: int,
    color: str | None = None,
) -> dict:
    """A label placed as add_hrect/add_vrect's annotation_position places it."""
    font = {"size": size} if color is None else {"size": size, "color": color}
    return {
        "text": text,
        "showarrow": False,
        "font": font,
        "xref": xref,
        "yref": yref,
        "x": x,
        "y": y,
        "xanchor": xanchor,
        "yanchor": yanchor,
    }


def _severity_bands(
    instrument: Instrument, *, panel: int = 1, label_font: dict | None = None
) -> tuple[list[dict], list[dict]]:
    """The instrument's severity bands across the plot (shapes), labelled in the right
    margin (inside the plot, an endpoint's label at the right edge printed over them)."""
    n = "" if panel == 1 else str(panel)
    shapes, notes = [], []
    for i, b in enumerate(instrument.bands):
        y0, y1 = b.low - 0.5, b.high + 0.5
        fill = BAND_SHADES[min(i, len(BAND_SHADES) - 1)]
        shapes.append(_rect(f"x{n} domain", f"y{n}", 0, 1, y0, y1, fill))
        if label_font is not None:
            notes.append(
                _note(b.label, f"x{n} domain", f"y{n}", 1.01, (y0 + y1) / 2, "left", "middle",
                      label_font["size"], label_font.get("color"))
            )  # fmt: skip
    return shapes, notes


TRAJECTORY_TOP_PX = 135
"""Top margin of a course's trajectory: title, a legend of three rows (also at the
presentation mode's larger type) and the phase names above the plot."""

LABEL_ABOVE_SHARE = 0.2
"""A baseline or endpoint marker in the lowest fifth of the scale has its word above it:
below, it printed over the dose ticks."""


def _label_side(total: float, instrument: Instrument) -> str:
    """Where a baseline or endpoint marker's word goes: under the marker, or above it when
    the score is near the scale's minimum (the x-axis labels are right below)."""
    span = instrument.total_max - instrument.total_min
    near_floor = total - instrument.total_min <= LABEL_ABOVE_SHARE * span
    return "top center" if near_floor else "bottom center"


TOP_ROOM = 1.5
"""Score units above the scale's maximum: a marker of 20 px at the maximum stays inside."""

BAND_SHADES = ("#f4faf4", "#fbfbee", "#fdf5e9", "#fcefe8", "#fbe7e4", "#f8dcdc")
"""Severity band fills from the mildest to the most severe (quiet: data stays on top)."""


def _taken_at(points: pd.DataFrame) -> list[str]:
    """Hover words for each score: its own session's phase, which its point may not show
    (an integration session after dose 2 sits at dose 2; docs/domain.md §3)."""
    own = points["session_phase"] if "session_phase" in points else pd.Series(index=points.index)
    return [
        f"{PHASE_LABELS.get(p, p).lower()} session" if isinstance(p, str) else "no session"
        for p in own
    ]


def patient_trajectory(
    points: pd.DataFrame,
    band: pd.DataFrame,
    *,
    instrument: Instrument,
    baseline_at: pd.Timestamp | None = None,
    endpoint_at: pd.Timestamp | None = None,
    cohort_courses: int = 0,
) -> go.Figure:
    """One course's scores on the phase-ordered axis, over severity bands and the cohort.

    `points` are the course's scores (point, point_order, phase, administered_at, total);
    `band` is the similar-baseline cohort's trajectory table (order, point, median, q1, q3).
    """
    fig = go.Figure()
    axis = (
        pd.concat(
            [
                points[["point_order", "point", "phase"]].rename(columns={"point_order": "order"}),
                band[["order", "point", "phase"]] if len(band) else None,
            ]
        )
        .drop_duplicates("order")
        .sort_values("order")
    )
    shapes, notes = _severity_bands(instrument, label_font={"size": 10, "color": "#7a7f8a"})
    for phase, part in axis.groupby("phase", sort=False):
        x0, x1 = part["order"].min() - 0.45, part["order"].max() + 0.45
        shapes.append(
            _rect("x", "y domain", x0, x1, 0, 1, PHASE_COLORS.get(phase, "#ddd"), opacity=0.10)
        )
        # One-point phases are named by their tick label; a label there would overlap.
        # Above the plot (under the legend), not inside it: a high baseline's marker and its
        # label sit at the top of the plot, where "Dosing" used to print over "Baseline".
        if part["order"].nunique() > 1:
            notes.append(
                _note(PHASE_LABELS.get(phase, phase), "x", "y domain", x0, 1, "left", "bottom", 11)
            )
    # Shapes and labels set at once: add_hrect/add_vrect re-process the figure per call.
    fig.update_layout(shapes=shapes, annotations=notes)
    if len(band):
        fig.add_scatter(
            x=pd.concat([band["order"], band["order"][::-1]]),
            y=pd.concat([band["q3"], band["q1"][::-1]]),
            fill="toself",
            fillcolor="rgba(120,130,150,0.18)",
            line={"width": 0},
            name=f"Similar-baseline IQR ({cohort_courses:,} courses)",
            hoverinfo="skip",
        )
        fig.add_scatter(
            x=band["order"],
            y=band["median"],
            mode="lines",
            line={"color": "#7a8294", "dash": "dash"},
            name="Cohort median",
            customdata=band[["courses"]].to_numpy(),
            hovertemplate="Cohort median %{y:.1f} (%{customdata[0]} courses)<extra></extra>",
        )
    ordered = points.sort_values("administered_at")
    fig.add_scatter(
        x=ordered["point_order"],
        y=ordered["total"],
        mode="lines+markers",
        name="This course",
        line={"color": PALETTE[0], "width": 3},
        marker={"size": 9},
        customdata=np.column_stack(
            [ordered["administered_at"].dt.strftime("%Y-%m-%d"), _taken_at(ordered)]
        ),
        hovertemplate="%{customdata[0]} (%{customdata[1]}): %{y}<extra></extra>",
    )
    for when, label, symbol in (
        (baseline_at, "Baseline", "circle-open"),
        (endpoint_at, "Endpoint", "diamond-open"),
    ):
        if when is None or pd.isna(when):
            continue
        hit = ordered[ordered["administered_at"] == when]
        if hit.empty:
            continue
        fig.add_scatter(
            x=hit["point_order"].iloc[:1],
            y=hit["total"].iloc[:1],
            mode="markers+text",
            name=label,
            text=[label],
            textposition=_label_side(float(hit["total"].iloc[0]), instrument),
            marker={"symbol": symbol, "size": 20, "color": "#31333F", "line": {"width": 2}},
            hovertemplate=f"{label}: %{{y}}<extra></extra>",
            cliponaxis=False,  # a baseline at the scale's maximum is drawn whole
        )
    apply_theme(fig, title=f"{instrument.id} through the course")
    # The legend right under the title in two columns (three rows at every width: a fixed
    # top margin fitted to one row left a blank band at 1440 px, to three rows overlapped at
    # 1024 px), the phase names between it and the plot.
    height = 470
    fig.update_layout(
        height=height,
        margin={"r": 130, "t": TRAJECTORY_TOP_PX},
        legend={
            "yref": "container",
            "y": 1 - 34 / height,
            "yanchor": "top",
            "entrywidth": 0.5,
            "entrywidthmode": "fraction",
        },
    )
    fig.update_xaxes(
        title_text="When the score was taken (before the first dose → after dose k → "
        "after the last dose)",
        tickmode="array",
        tickvals=axis["order"].tolist(),
        ticktext=axis["point"].tolist(),
        showgrid=False,
    )
    fig.update_yaxes(
        title_text=f"{instrument.id} total ({instrument.total_min}–{instrument.total_max}, "
        "higher = worse)",
        range=[instrument.total_min - 0.5, instrument.total_max + TOP_ROOM],
    )
    return fig
