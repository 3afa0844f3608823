"""Trajectories page glue: cached derived views, outcome tiles and chart selections.

Everything heavy (tables, course lines, the mixed model, rates and the figures themselves)
is cached per filters × data version × instrument × axis, on top of the shared outcome and
point frames of `kapviz.ui.data`, so a warm rerun only sends what is already built. Cached
objects are shared and read-only by convention (as in `kapviz.ui.data`).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from kapviz.charts import trajectories as charts
from kapviz.charts.waterfall import waterfall
from kapviz.db import rollups
from kapviz.db.aggregates import trajectories as trajectory_sql
from kapviz.domain import PHASE_LABELS
from kapviz.filters import Filters
from kapviz.metrics import course_attributes, trajectory_tables
from kapviz.metrics import model as model_metrics
from kapviz.metrics import outcomes as outcome_metrics
from kapviz.metrics.trajectory_tables import CohortMeasure
from kapviz.ui import case_view, data, redact
from kapviz.ui.db import database_url, engine_for, settings

TTL = 3600
"""An hour: every entry is keyed by the data version and dropped on a new one
(kapviz.ui.data.drop_old_versions); the hour lets go of filter sets nobody asks for again."""
MAX_LINES = 500
"""Spaghetti layer: at most this many courses (seeded sample), for readability and speed."""
MODEL_COURSES = model_metrics.MAX_COURSES
"""The mixed model is fitted on a seeded sample of at most this many courses."""

MEASURES: dict[str, CohortMeasure] = {
    "Change from baseline (the same courses at every point)": CohortMeasure.CHANGE,
    "All available scores (the courses change from point to point)": CohortMeasure.SCORES,
}
"""The cohort line's two views, the paired change first (the default; docs/domain.md §3)."""

MEASURE_HELP = (
    "Change from baseline: at each point, the mean of each course's own change from its "
    "baseline, among the courses with both a baseline and a score there — courses that "
    "leave early or have few doses do not move the line. All available scores: the mean "
    "of every score at the point, whichever courses have one."
)


def composition_note(measure: CohortMeasure) -> str:
    """What the cohort line is, its n, and the "too few" rule, in words."""
    what = (
        "Mean change from each course's own baseline, among the courses with a baseline and "
        "a score at that point."
        if measure is CohortMeasure.CHANGE
        else "Mean of all available scores at each point: the courses behind it change from "
        "point to point."
    )
    return (
        f"{what} n under each point: the courses it stands on; points of fewer than "
        f"{trajectory_tables.MIN_COURSES} courses are grey (too few to read)."
    )


def model_notes(
    fitted: model_metrics.TrajectoryModel, axis: str, measure: CohortMeasure
) -> list[str]:
    """What the model is and whether its band is drawn here, in words."""
    if not fitted.ok:
        return [fitted.note]
    notes = [fitted.note]
    if measure is CohortMeasure.CHANGE:
        notes.append('The model band is drawn on the "All available scores" view.')
    elif (misfit := fitted.misfit(axis)) is not None:
        notes.append(misfit)
    else:
        notes.append(
            f"Model band drawn at the points with ≥ {model_metrics.MIN_CHECK_COURSES} courses, "
            "where its mean lies within the observed 95% CI."
        )
    return notes


GROUPINGS: dict[str, str | None] = {
    "None": None,
    "Site": "site",
    "Route": "route",
    "Indication": "indication",
    "Dose band": "dose_band",
}


@dataclass(frozen=True)
class View:
    """What the trajectory chart of one instrument on one axis needs: the cohort tables
    (from value counts, `trajectory_tables.value_counts`), attrition and the sampled course
    lines of both measures."""

    table: pd.DataFrame
    attrition: pd.DataFrame
    lines: pd.DataFrame
    courses_total: int
    change_table: pd.DataFrame
    """The paired view: each course's change from its baseline, courses with one only."""
    change_lines: pd.DataFrame
    change_total: int

    def table_of(self, measure: CohortMeasure) -> pd.DataFrame:
        return self.change_table if measure is CohortMeasure.CHANGE else self.table

    def lines_of(self, measure: CohortMeasure) -> tuple[pd.DataFrame, int]:
        if measure is CohortMeasure.CHANGE:
            return self.change_lines, self.change_total
        return self.lines, self.courses_total


def _key(filters: Filters) -> tuple:
    return (database_url(), filters, data.version(), settings().baseline_window_days)


def from_rollups(filters: Filters) -> bool:
    """Whether the course values come from kapviz.db.rollups (the cohort band's rule:
    current, sites and indications only, their baseline window, no score waiting for its
    course, outcome rows of that window); both paths give the same values."""
    return case_view.cohort_from_rollups(
        filters, settings().baseline_window_days
    ) and data.aggregate(_outcome_window_is, filters, window_days=settings().baseline_window_days)


def _outcome_window_is(conn, filters: Filters, *, window_days: int) -> bool:
    del filters  # one answer for every filter; taken so every loader is given the scope
    return rollups.outcome_window_is(conn, window_days)


_NO_POINTS = pd.DataFrame()
"""What course_lines and attrition are handed as points when their values are given."""


def course_values(
    filters: Filters, instrument: str, axis: str, measure: CohortMeasure = CohortMeasure.SCORES
) -> pd.DataFrame:
    """One value per course and point of one instrument (`course_values`; each course's
    change from its baseline for the paired measure), from the rollups when they can
    answer, else from the live placed points. Every course's: for the small multiples."""
    if from_rollups(filters):
        values = data.aggregate(
            rollups.trajectory_values, filters, instrument=instrument, axis=axis
        )
    else:
        mine = data.trajectory_points(filters, instrument=instrument)
        values = trajectory_tables.course_values(mine, axis=axis)
    if measure is CohortMeasure.CHANGE:
        return trajectory_tables.paired_change_values(values, data.outcomes(filters))
    return values


def _rollup_view(filters: Filters, instrument: str, axis: str) -> View:
    """The view from SQL counts of the rollups and the values of the sampled courses only:
    rows bounded by the scales and MAX_LINES, not by the clinic's size."""
    of = {"instrument": instrument, "axis": axis}
    parts = {}
    for paired in (False, True):
        counts = data.aggregate(rollups.trajectory_counts, filters, **of, paired=paired)
        courses = data.aggregate(rollups.trajectory_courses, filters, **of, paired=paired)
        keep = trajectory_tables.sample_positions(len(courses), MAX_LINES)
        chosen = courses["course_id"] if keep is None else courses["course_id"].iloc[keep]
        values = data.aggregate(
            rollups.trajectory_values, filters, **of, courses=tuple(sorted(chosen))
        )
        if paired:
            values = trajectory_tables.paired_change_values(values, data.outcomes(filters))
        lines, _ = trajectory_tables.course_lines(
            _NO_POINTS, axis=axis, instrument=instrument, max_courses=MAX_LINES, values=values
        )
        table = trajectory_tables.table_from_counts(
            counts, axis=axis, baseline_window_days=rollups.COHORT_WINDOW_DAYS
        )
        parts[paired] = (table, lines, len(courses), counts)
    table, lines, total, counts = parts[False]
    change_table, change_lines, change_total, _ = parts[True]
    return View(
        table=table,
        attrition=trajectory_tables.attrition_from_counts(counts, total),
        lines=lines,
        courses_total=total,
        change_table=change_table,
        change_lines=change_lines,
        change_total=change_total,
    )


def _live_view(filters: Filters, instrument: str, axis: str, window_days: int) -> View:
    """The view from every placed score in scope (the live path)."""
    mine = data.trajectory_points(filters, instrument=instrument)
    values = trajectory_tables.course_values(mine, axis=axis)  # once, for tables and lines
    change = trajectory_tables.paired_change_values(values, data.outcomes(filters))
    lines, total = trajectory_tables.course_lines(
        _NO_POINTS, axis=axis, instrument=instrument, max_courses=MAX_LINES, values=values
    )
    change_lines, change_total = trajectory_tables.course_lines(
        _NO_POINTS, axis=axis, instrument=instrument, max_courses=MAX_LINES, values=change
    )
    counts = trajectory_tables.value_counts(values)
    return View(
        table=trajectory_tables.table_from_counts(
            counts, axis=axis, baseline_window_days=window_days
        ),
        attrition=trajectory_tables.attrition(_NO_POINTS, axis=axis, values=values),
        lines=lines,
        courses_total=total,
        change_table=trajectory_tables.table_from_counts(
            trajectory_tables.value_counts(change),
            axis=axis,
            baseline_window_days=window_days,
        ),
        change_lines=change_lines,
        change_total=change_total,
    )


@st.cache_resource(ttl=TTL, max_entries=64, show_spinner=False)
def _view(key: tuple, instrument: str, axis: str) -> View:
    if from_rollups(key[1]):
        return _rollup_view(key[1], instrument, axis)
    return _live_view(key[1], instrument, axis, key[3])


def points_table(v: View, measure: CohortMeasure = CohortMeasure.SCORES) -> pd.DataFrame:
    """Per point: courses contributing, retained share (of all available scores), mean, CI,
    median, IQR of the chosen measure, and whether the point has too few courses."""
    table = v.table_of(measure).merge(v.attrition[["order", "share"]], on="order", how="left")
    table = table.assign(
        too_few=table["courses"] < trajectory_tables.MIN_COURSES,
        share=(table["share"] * 100).round(0),  # whole percent, as shown
        # Display names in the table and its CSV ("Follow-up", not "follow_up").
        phase=table["phase"].map(lambda p: PHASE_LABELS.get(p, p) if isinstance(p, str) else p),
    )
    cols = ["point", "phase", "courses", "too_few", "share", "mean", "ci_low", "ci_high"]
    return table[[*cols, "median", "q1", "q3"]]


def view(filters: Filters, instrument: str, axis: str) -> View:
    """Trajectory table, attrition and (sampled) course lines of one instrument."""
    return _view(_key(filters), instrument, axis)


@st.cache_resource(ttl=TTL, max_entries=32, show_spinner="Fitting the mixed model…")
def _model(key: tuple, instrument: str) -> model_metrics.TrajectoryModel:
    if not from_rollups(key[1]):
        points = data.trajectory_points(key[1], instrument=instrument)
        return model_metrics.fit_trajectory_model(
            points, instrument=instrument, max_courses=MODEL_COURSES
        )
    return _rollup_model(key[0], key[1], instrument)


def _rollup_model(url: str, filters: Filters, instrument: str) -> model_metrics.TrajectoryModel:
    # The same courses as the live sample (of the courses with a score on the days axis, in
    # course order), placed alone: only their scores are read.
    courses = data.aggregate(
        rollups.trajectory_courses, filters, instrument=instrument, axis="days", paired=False
    )
    ids = courses["course_id"].sort_values(ignore_index=True)
    keep = trajectory_tables.sample_positions(len(ids), MODEL_COURSES)
    chosen = ids if keep is None else ids.iloc[np.sort(keep)]
    with engine_for(url).connect() as conn:
        points = trajectory_sql.placed_points(
            conn, list(chosen), window_days=rollups.COHORT_WINDOW_DAYS, filters=filters
        )
    return model_metrics.fit_trajectory_model(
        points,
        instrument=instrument,
        max_courses=MODEL_COURSES,
        sampled_from=None if keep is None else len(ids),
    )


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
def _grouped(
    key: tuple, instrument: str, axis: str, column: str, measure: CohortMeasure
) -> pd.DataFrame:
    values = course_values(key[1], instrument, axis, measure)
    first_doses = data.first_doses(key[1])
    groups = course_attributes.attributes_from_first_doses(first_doses).set_index("course_id")[
        column
    ]
    return trajectory_tables.grouped_table(values, groups, axis=axis, others=GROUP_PLURALS[column])


def grouped_table(
    filters: Filters,
    instrument: str,
    axis: str,
    column: str,
    measure: CohortMeasure = CohortMeasure.CHANGE,
) -> pd.DataFrame:
    """Trajectory table per group of courses (site, route, indication or dose band)."""
    return _grouped(_key(filters), instrument, axis, column, measure)


@st.cache_resource(ttl=TTL, max_entries=64, show_spinner=False)
def _trajectory_figure(
    key: tuple,
    instrument: str,
    axis: str,
    show_lines: bool,
    show_model: bool,
    small: int | None,
    measure: CohortMeasure,
) -> go.Figure:
    # small (analysts): points of fewer courses are not drawn, nor the course lines of a
    # cohort that small (kapviz.ui.redact.drawable).
    v = _view(key, instrument, axis)
    band = None
    if show_model and measure is CohortMeasure.SCORES:
        fitted = _model(key, instrument)
        band = fitted.band(axis)
    lines, total = v.lines_of(measure)
    lines_allowed = small is None or total >= small
    return charts.score_trajectory(
        redact.drawable(v.table_of(measure), ["courses"], small),
        instrument=instrument,
        axis=axis,
        lines=lines if show_lines and lines_allowed else None,
        courses_total=total,
        model_band=band,
        baseline_window_days=key[3],
        measure=measure,
    )


def trajectory_figure(
    filters: Filters,
    instrument: str,
    axis: str,
    *,
    show_lines: bool,
    show_model: bool,
    measure: CohortMeasure = CohortMeasure.CHANGE,
) -> go.Figure:
    """The cohort trajectory figure (cached; do not modify the returned figure)."""
    return _trajectory_figure(
        _key(filters), instrument, axis, show_lines, show_model, redact.small_below(), measure
    )


@st.cache_resource(ttl=TTL, max_entries=32, show_spinner=False)
def _waterfall_figure(key: tuple, instrument: str, small: int | None) -> go.Figure:
    rows = data.outcomes(key[1])
    mine = rows[rows["instrument"] == instrument]
    if small is not None and 0 < len(mine) < small:
        mine = mine.iloc[:0]  # a bar per course of so few courses: not for analysts
    return waterfall(mine, instrument=instrument)


def waterfall_figure(filters: Filters, instrument: str) -> go.Figure:
    """Percent change per course (cached; do not modify the returned figure)."""
    return _waterfall_figure(_key(filters), instrument, redact.small_below())


@st.cache_resource(ttl=TTL, max_entries=64, show_spinner=False)
def _multiples_figure(
    key: tuple,
    instrument: str,
    axis: str,
    by: str,
    small: int | None,
    measure: CohortMeasure,
) -> go.Figure:
    grouped = _grouped(key, instrument, axis, GROUPINGS[by], measure)
    return charts.small_multiples(
        redact.drawable(grouped, ["courses"], small),
        instrument=instrument,
        by=by,
        axis=axis,
        measure=measure,
    )


def multiples_figure(
    filters: Filters,
    instrument: str,
    axis: str,
    by: str,
    measure: CohortMeasure = CohortMeasure.CHANGE,
) -> go.Figure:
    """Small multiples by site, route, indication or dose band (cached)."""
    return _multiples_figure(_key(filters), instrument, axis, by, redact.small_below(), measure)


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
        column.caption(f"{k:,} of {n:,} courses · {ci}")
    st.caption(_left_out(row, window_days=window_days))


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
    text = (
        f"**{int(row['evaluable']):,}** evaluable of {int(row['courses']):,} courses with scores."
    )
    reasons = [
        (int(row["not_evaluable_no_dose"]), outcome_metrics.REASON_NO_DOSE),
        (int(row["not_evaluable_no_baseline"]), outcome_metrics.reason_no_baseline(window_days)),
        (int(row["not_evaluable_no_endpoint"]), outcome_metrics.REASON_NO_ENDPOINT),
    ]
    parts = [f"{n:,} {why}" for n, why in reasons if n]
    if parts:
        text += f" Not evaluable: {int(row['not_evaluable']):,} ({'; '.join(parts)})."
    if int(row["response_undefined"]):
        text += f" {int(row['response_undefined']):,} with baseline 0 have no percent response."
    if int(row["remission_excluded"]):
        text += (
            f" {int(row['remission_excluded']):,} already in remission at baseline are left out "
            "of the remission rate."
        )
    return text


COURSE_TABLE_COLUMNS = [
    # The outcomes first, then the dates: at 1440 px the first dose's date pushed "Reliable
    # deterioration" past the table's edge, cut mid-header.
    "patient_id",
    "course_id",
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
    "first_dose_at",
    "not_evaluable_reason",
    "baseline_at",
    "endpoint_at",
]


def course_table_caption(table: pd.DataFrame) -> str:
    """How many courses the table lists and how that relates to the waterfall's n."""
    shown = min(len(table), MAX_TABLE_ROWS)
    evaluable = int(table["evaluable"].astype(bool).sum())
    with_pct = int((table["evaluable"].astype(bool) & table["pct_change"].notna()).sum())
    text = f"Showing {shown:,} of {len(table):,} courses with scores"
    if with_pct < len(table):
        text += (
            f"; the waterfall's n = {with_pct:,} are the evaluable ones with a percent change "
            f"({len(table) - evaluable:,} not evaluable"
        )
        text += f", {evaluable - with_pct:,} with baseline 0)" if evaluable > with_pct else ")"
    return text + ". Select bars on the waterfall to filter this table."


def course_table(table: pd.DataFrame) -> pd.DataFrame:
    """The per-course table as shown: percent change in whole percent (as on the waterfall)."""
    return table.assign(pct_change=(table["pct_change"] * 100).round(0))


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
        "pct_change": col.NumberColumn("Change %", format="%+.0f%%"),
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
            # Text in a figure is escaped for plotly (kapviz.charts.escape): ids come back as-is.
            out.append([html.unescape(v) if isinstance(v, str) else v for v in value])
    return out
