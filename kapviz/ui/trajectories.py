"""Trajectories page glue: cached derived views, outcome tiles and chart selections.

Everything heavy (tables, course lines, the mixed model, rates and the figures themselves)
is cached per filters × data version × instrument × axis, on top of the shared outcome and
point frames of `kapviz.ui.data`, so a warm rerun only sends what is already built. Cached
objects are shared and read-only by convention (as in `kapviz.ui.data`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from kapviz.charts import trajectories as charts
from kapviz.db.aggregates import cohort
from kapviz.filters import Filters
from kapviz.metrics import model as model_metrics
from kapviz.metrics import outcomes as outcome_metrics
from kapviz.metrics import trajectories as tr
from kapviz.ui import data, redact
from kapviz.ui.db import database_url, settings

TTL = 3600
MAX_LINES = 500
"""Spaghetti layer: at most this many courses (seeded sample), for readability and speed."""

GROUPINGS: dict[str, str | None] = {
    "None": None,
    "Site": "site",
    "Route": "route",
    "Indication": "indication",
    "Dose band": "dose_band",
}


@dataclass(frozen=True)
class View:
    """What the trajectory chart of one instrument on one axis needs."""

    table: pd.DataFrame
    attrition: pd.DataFrame
    lines: pd.DataFrame
    courses_total: int
    values: pd.DataFrame
    """One value per course and point (`course_values`), for the small multiples."""


def _key(filters: Filters) -> tuple:
    return (database_url(), filters, data.version(), settings().baseline_window_days)


@st.cache_resource(ttl=TTL, max_entries=64, show_spinner=False)
def _view(key: tuple, instrument: str, axis: str) -> View:
    mine = data.trajectory_points(key[1], instrument=instrument)
    values = tr.course_values(mine, axis=axis)  # once, for the table, attrition and lines
    lines, total = tr.course_lines(
        mine, axis=axis, instrument=instrument, max_courses=MAX_LINES, values=values
    )
    return View(
        table=tr.table_from_values(values, axis=axis),
        attrition=tr.attrition(mine, axis=axis, values=values),
        lines=lines,
        courses_total=total,
        values=values,
    )


def points_table(v: View) -> pd.DataFrame:
    """Per point: courses contributing (attrition), retained share, mean, CI, median, IQR."""
    table = v.table.merge(v.attrition[["order", "share"]], on="order", how="left")
    cols = ["point", "phase", "courses", "share", "mean", "ci_low", "ci_high"]
    return table[[*cols, "median", "q1", "q3"]]


def view(filters: Filters, instrument: str, axis: str) -> View:
    """Trajectory table, attrition and (sampled) course lines of one instrument."""
    return _view(_key(filters), instrument, axis)


@st.cache_resource(ttl=TTL, max_entries=32, show_spinner="Fitting the mixed model…")
def _model(key: tuple, instrument: str) -> model_metrics.TrajectoryModel:
    points = data.trajectory_points(key[1], instrument=instrument)
    return model_metrics.fit_trajectory_model(points, instrument=instrument)


def model(filters: Filters, instrument: str) -> model_metrics.TrajectoryModel:
    """The mixed-model average trajectory (fitted once per filters and data version)."""
    return _model(_key(filters), instrument)


@st.cache_resource(ttl=TTL, max_entries=32, show_spinner=False)
def _rates(key: tuple) -> pd.DataFrame:
    return outcome_metrics.outcome_rates(data.outcomes(key[1]))


def rates(filters: Filters) -> pd.DataFrame:
    """Cohort rates per instrument with denominators and Wilson CIs."""
    return _rates(_key(filters))


GROUP_PLURALS = {
    "site": "other sites",
    "route": "other routes",
    "indication": "other indications",
    "dose_band": "other dose bands",
}


@st.cache_resource(ttl=TTL, max_entries=64, show_spinner=False)
def _grouped(key: tuple, instrument: str, axis: str, column: str) -> pd.DataFrame:
    values = _view(key, instrument, axis).values
    first_doses = data.aggregate(cohort.course_first_doses, key[1])
    groups = tr.attributes_from_first_doses(first_doses).set_index("course_id")[column]
    return tr.grouped_table(values, groups, axis=axis, others=GROUP_PLURALS[column])


def grouped_table(filters: Filters, instrument: str, axis: str, column: str) -> pd.DataFrame:
    """Trajectory table per group of courses (site, route, indication or dose band)."""
    return _grouped(_key(filters), instrument, axis, column)


@st.cache_resource(ttl=TTL, max_entries=64, show_spinner=False)
def _trajectory_figure(
    key: tuple, instrument: str, axis: str, show_lines: bool, show_model: bool, small: int | None
) -> go.Figure:
    # small (analysts): points of fewer courses are not drawn, nor the course lines of a
    # cohort that small (kapviz.ui.redact.drawable).
    v = _view(key, instrument, axis)
    band = None
    if show_model:
        fitted = _model(key, instrument)
        if fitted.ok:
            band = fitted.days_band if axis == "days" else fitted.session_band
    lines_allowed = small is None or v.courses_total >= small
    return charts.score_trajectory(
        redact.drawable(v.table, ["courses"], small),
        instrument=instrument,
        axis=axis,
        lines=v.lines if show_lines and lines_allowed else None,
        courses_total=v.courses_total,
        model_band=band,
        baseline_window_days=key[3],
    )


def trajectory_figure(
    filters: Filters, instrument: str, axis: str, *, show_lines: bool, show_model: bool
) -> go.Figure:
    """The cohort trajectory figure (cached; do not modify the returned figure)."""
    return _trajectory_figure(
        _key(filters), instrument, axis, show_lines, show_model, redact.small_below()
    )


@st.cache_resource(ttl=TTL, max_entries=32, show_spinner=False)
def _waterfall_figure(key: tuple, instrument: str, small: int | None) -> go.Figure:
    outcomes = data.outcomes(key[1])
    mine = outcomes[outcomes["instrument"] == instrument]
    if small is not None and 0 < len(mine) < small:
        mine = mine.iloc[:0]  # a bar per course of so few courses: not for analysts
    return charts.waterfall(mine, instrument=instrument)


def waterfall_figure(filters: Filters, instrument: str) -> go.Figure:
    """Percent change per course (cached; do not modify the returned figure)."""
    return _waterfall_figure(_key(filters), instrument, redact.small_below())


@st.cache_resource(ttl=TTL, max_entries=64, show_spinner=False)
def _multiples_figure(
    key: tuple, instrument: str, axis: str, by: str, small: int | None
) -> go.Figure:
    grouped = redact.drawable(_grouped(key, instrument, axis, GROUPINGS[by]), ["courses"], small)
    return charts.small_multiples(grouped, instrument=instrument, by=by, axis=axis)


def multiples_figure(filters: Filters, instrument: str, axis: str, by: str) -> go.Figure:
    """Small multiples by site, route, indication or dose band (cached)."""
    return _multiples_figure(_key(filters), instrument, axis, by, redact.small_below())


MAX_TABLE_ROWS = 1000
"""Course rows sent to the browser when nothing is selected (20,000 would slow reruns)."""


def _pct(value: float) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.0%}"


TILES = (
    ("response", "Response"),
    ("remission", "Remission"),
    ("reliable_improvement", "Reliable improvement"),
    ("reliable_deterioration", "Reliable deterioration"),
)


def outcome_tiles(row: pd.Series, *, window_days: int) -> None:
    """Four rate tiles with their denominators, 95% CIs and who was left out and why."""
    columns = st.columns(len(TILES))
    for column, (measure, label) in zip(columns, TILES, strict=True):
        n, k = int(row[f"{measure}_denominator"]), int(row[f"{measure}_n"])
        rate = row[f"{measure}_rate"]
        ci = (
            f"95% CI {_pct(row[f'{measure}_ci_low'])}–{_pct(row[f'{measure}_ci_high'])}"
            if n
            else "no denominator"
        )
        column.metric(
            f"{row['instrument']} {label.lower()}",
            _pct(rate),
            border=True,
            help=_tile_help(measure),
        )
        column.caption(f"{k} of {n} courses · {ci}")
    st.caption(_left_out(row, window_days=window_days) + _first_response(row))


def _num(value: float) -> str:
    """At most one decimal, none when whole (31.0 → "31", 3.5 → "3.5")."""
    return f"{value:,.1f}".removesuffix(".0")


def _first_response(row: pd.Series) -> str:
    """Sentence on time to first response (days and completed dosing sessions)."""
    n = int(row["responded_ever"])
    if not n:
        return ""
    return (
        f" First response (any post-dose score meeting the rule) in {n} courses: median "
        f"{_num(row['median_days_to_response'])} days and "
        f"{_num(row['median_doses_to_response'])} dosing sessions after the first dose."
    )


def _tile_help(measure: str) -> str:
    return {
        "response": "Registry response rule on evaluable courses (percent rules: baseline > 0).",
        "remission": "Endpoint in remission, among evaluable courses not already in remission "
        "at baseline.",
        "reliable_improvement": "Change ≤ −Jacobson–Truax threshold, all evaluable courses.",
        "reliable_deterioration": "Change ≥ +Jacobson–Truax threshold, all evaluable courses.",
    }[measure]


def _left_out(row: pd.Series, *, window_days: int) -> str:
    """Sentence on evaluable and not-evaluable courses, with reasons."""
    text = f"**{int(row['evaluable'])}** evaluable of {int(row['courses'])} courses with scores."
    reasons = [
        (int(row["not_evaluable_no_dose"]), outcome_metrics.REASON_NO_DOSE),
        (int(row["not_evaluable_no_baseline"]), outcome_metrics.reason_no_baseline(window_days)),
        (int(row["not_evaluable_no_endpoint"]), outcome_metrics.REASON_NO_ENDPOINT),
    ]
    parts = [f"{n} {why}" for n, why in reasons if n]
    if parts:
        text += f" Not evaluable: {int(row['not_evaluable'])} ({'; '.join(parts)})."
    if int(row["response_undefined"]):
        text += f" {int(row['response_undefined'])} with baseline 0 have no percent response."
    if int(row["remission_excluded"]):
        text += (
            f" {int(row['remission_excluded'])} already in remission at baseline are left out "
            "of the remission rate."
        )
    return text


COURSE_TABLE_COLUMNS = [
    "patient_id",
    "course_id",
    "first_dose_at",
    "baseline",
    "endpoint",
    "change",
    "pct_change",
    "is_response",
    "is_remission",
    "reliable_improvement",
    "reliable_deterioration",
    "time_to_response_days",
    "time_to_response_doses",
    "not_evaluable_reason",
    "baseline_at",
    "endpoint_at",
]


def course_table_config() -> dict[str, Any]:
    """Readable headers for the per-course outcome table."""
    col = st.column_config
    return {
        # Pinned: on a narrow screen the course stays in view while the outcomes scroll.
        "patient_id": col.TextColumn("Patient", pinned=True),
        "course_id": col.TextColumn("Course", pinned=True),
        "first_dose_at": col.DatetimeColumn("First dose", format="YYYY-MM-DD HH:mm"),
        "baseline": col.NumberColumn("Baseline"),
        "endpoint": col.NumberColumn("Endpoint"),
        "change": col.NumberColumn("Change", format="%+d"),
        "pct_change": col.NumberColumn("Change %", format="percent"),
        "is_response": col.CheckboxColumn("Response"),
        "is_remission": col.CheckboxColumn("Remission"),
        "reliable_improvement": col.CheckboxColumn("Reliable improvement"),
        "reliable_deterioration": col.CheckboxColumn("Reliable deterioration"),
        "time_to_response_days": col.NumberColumn("Days to response", format="%.0f"),
        "time_to_response_doses": col.NumberColumn("Doses to response"),
        "not_evaluable_reason": "Not evaluable because",
        "baseline_at": col.DatetimeColumn("Baseline at", format="YYYY-MM-DD HH:mm"),
        "endpoint_at": col.DatetimeColumn("Endpoint at", format="YYYY-MM-DD HH:mm"),
    }


def selected_customdata(fig: go.Figure, event: Any, *, trace_prefix: str) -> list[list]:
    """customdata of the selected points on traces whose name starts with `trace_prefix`."""
    try:
        points = event["selection"]["points"]
    except (KeyError, TypeError):
        return []
    out = []
    for p in points:
        curve, index = p.get("curve_number"), p.get("point_index")
        if curve is None or index is None or curve >= len(fig.data):
            continue
        trace = fig.data[curve]
        if not (trace.name or "").startswith(trace_prefix) or trace.customdata is None:
            continue
        value = trace.customdata[index]
        if value is not None and value[0] is not None:
            out.append(list(value))
    return out
