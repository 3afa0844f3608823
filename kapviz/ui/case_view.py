"""The Case explorer's content, computed once per filters × data version × case.

A warm rerun of the page only draws: the figures, verdicts and tables of a course are one
cached CaseView. The course's own rows come from patient-scoped queries; the cohort band
from a small summary of the whole cohort (kapviz.db.aggregates.case), computed once per
filters × data version and shared by every case.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from kapviz import instruments
from kapviz.charts import case as case_charts
from kapviz.config import Settings
from kapviz.db import rollups
from kapviz.db.aggregates import case as case_sql
from kapviz.filters import Filters
from kapviz.metrics import case
from kapviz.metrics.case import MAX_COMPARE
from kapviz.metrics.outcomes import course_outcomes
from kapviz.metrics.trajectory_axes import session_points
from kapviz.report.case_content import (
    CaseRows,
    CaseView,
    ScoreView,
    build_case_view,
    build_score_views,
)
from kapviz.ui import background, data, rollup_panel
from kapviz.ui.case import presented
from kapviz.ui.db import database_url, settings
from kapviz.ui.safety import settings_digest

VIEW_TTL_SECONDS = 3600
MAX_VIEWS = 16
"""Per opened case: the last 16 cases (a clinic meeting's list) for an hour, then dropped."""


def case_points(filters: Filters, patient_id: str) -> pd.DataFrame:
    """The patient's outcome scores placed on the session axis (cached, read-only)."""
    window = settings().baseline_window_days
    return data.aggregate(case_sql.case_points, filters, patient_id=patient_id, window_days=window)


def cohort_summary(filters: Filters) -> case_sql.CohortSummary:
    """Every case's similar-baseline band inputs (cached per filters × data version): from
    the per-course rollups when they serve these filters and window, else live (the same
    numbers; tests/db/test_rollups.py)."""
    window = settings().baseline_window_days
    if cohort_from_rollups(filters, window):
        return data.aggregate(rollups.cohort_summary, filters)
    return data.aggregate(case_sql.cohort_summary, filters, window_days=window)


def cohort_from_rollups(filters: Filters, window_days: int) -> bool:
    """Whether the cohort band inputs come from kapviz.db.rollups: current, sites and
    indications only, their baseline window, and no outcome score stored without a course
    (the live path derives its course)."""
    return (
        window_days == rollups.COHORT_WINDOW_DAYS
        and rollups.serves(filters)
        and rollup_panel.status().current
        and not data.aggregate(case_sql.has_unresolved_scores, filters)
    )


def start_cohort_summary(filters: Filters) -> None:
    """Compute `cohort_summary` in the background (kapviz.ui.background, PostgreSQL only)
    while the page reads and draws the case itself; the score views then wait for it (or
    find it cached).

    The largest read of the page (every outcome score placed on the session axis): run
    alone it adds up with the case's own reads and figures, in the background they overlap.
    """
    url = database_url()
    if not background.side_by_side(url):
        return
    key = ("case-cohort-summary", url, filters, data.version())
    background.start(key, cohort_summary, filters)


def case_view(
    filters: Filters, *, patient_id: str, course_id: str, today: date, presenting: bool
) -> CaseView:
    """The CaseView of one course as of `today` (alerts look back from the end of it),
    all but the score views (their cohort summary: `start_cohort_summary`)."""
    return _case_view(
        database_url(),
        filters,
        data.version(),
        patient_id,
        course_id,
        today,
        presenting,
        settings(),
    )


@st.cache_resource(ttl=VIEW_TTL_SECONDS, max_entries=MAX_VIEWS, show_spinner=False)
def _case_view(
    url: str,
    filters: Filters,
    data_version: tuple,
    patient_id: str,
    course_id: str,
    today: date,
    presenting: bool,
    config: Settings,
) -> CaseView:
    show = presented if presenting else (lambda fig: fig)
    # The page has begun the cohort summary (start_cohort_summary) before the case's own
    # rows are read and these figures (and the page's other tabs) drawn; the score views,
    # which need it, come last.
    rows = CaseRows(
        sessions=data.sessions(filters, patient_id=patient_id),
        assessments=data.assessments(filters, patient_id=patient_id),
        item_assessments=data.assessments(filters, patient_id=patient_id, with_items=True),
        side_effects=data.side_effects(filters, patient_id=patient_id),
        vitals=data.vitals(filters, patient_id=patient_id),
    )
    return build_case_view(
        rows, patient_id=patient_id, course_id=course_id, today=today, config=config, show=show
    )


def score_views(
    filters: Filters, *, patient_id: str, course_id: str, presenting: bool
) -> tuple[ScoreView, ...]:
    """Per outcome instrument of the course: verdicts and the trajectory over its band
    (cached like the CaseView; waits for the cohort summary `case_view` started)."""
    # The settings as a digest: hashing the Settings object on every rerun costs more.
    digest = settings_digest(settings())
    return _cached_score_views(
        database_url(), filters, data.version(), patient_id, course_id, presenting, digest
    )


@st.cache_resource(ttl=VIEW_TTL_SECONDS, max_entries=MAX_VIEWS, show_spinner=False)
def _cached_score_views(
    url: str,
    filters: Filters,
    data_version: tuple,
    patient_id: str,
    course_id: str,
    presenting: bool,
    settings_digest: str,
) -> tuple[ScoreView, ...]:
    show = presented if presenting else (lambda fig: fig)
    sessions = data.sessions(filters, patient_id=patient_id)
    points = case_points(filters, patient_id)
    scores = _score_views(filters, sessions, points, course_id=course_id)
    return tuple(ScoreView(s.instrument, s.lines, show(s.figure)) for s in scores)


def _score_views(
    filters: Filters, sessions: pd.DataFrame, points: pd.DataFrame, *, course_id: str
) -> list[ScoreView]:
    """Per outcome instrument of the course (kapviz.report.case_content.build_score_views),
    the band from this filters' cached cohort summary."""
    return build_score_views(
        sessions,
        points,
        course_id=course_id,
        window_days=settings().baseline_window_days,
        cohort=lambda: cohort_summary(filters),
    )


def compare_chart(filters: Filters, patient_ids: list[str]) -> go.Figure | None:
    """Small multiples of the chosen cases' latest PHQ-9 course (None when none has one)."""
    return _compare_chart(database_url(), filters, data.version(), tuple(patient_ids))


@st.cache_resource(ttl=VIEW_TTL_SECONDS, max_entries=MAX_VIEWS, show_spinner=False)
def _compare_chart(
    url: str, filters: Filters, data_version: tuple, patient_ids: tuple[str, ...]
) -> go.Figure | None:
    wanted = list(dict.fromkeys(patient_ids))[:MAX_COMPARE]
    if not wanted:
        return None
    points = pd.concat([case_points(filters, p) for p in wanted], ignore_index=True)
    rows = case.compare_points(points, patient_ids=wanted)
    if rows.empty:
        return None
    window = settings().baseline_window_days
    marks = pd.concat(
        [
            course_outcomes(
                data.sessions(filters, patient_id=p),
                case_points(filters, p)[case_sql.SCORE_COLUMNS],
                baseline_window_days=window,
            )
            for p in wanted
        ],
        ignore_index=True,
    )
    return case_charts.compare_trajectories(
        rows,
        instrument=instruments.PHQ9,
        axis=session_points(),
        marks=marks[marks["instrument"] == instruments.PHQ9.id],
    )
