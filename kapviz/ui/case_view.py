"""The Case explorer's content, computed once per filters × data version × case.

A warm rerun of the page only draws: the figures, verdicts and tables of a course are one
cached CaseView. The course's own rows come from patient-scoped queries; the cohort band
from a small summary of the whole cohort (kapviz.db.aggregates.case), computed once per
filters × data version and shared by every case.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from kapviz import instruments
from kapviz.charts import case as case_charts
from kapviz.config import Settings
from kapviz.db.aggregates import case as case_sql
from kapviz.filters import Filters
from kapviz.metrics import case
from kapviz.metrics.case import MAX_COMPARE
from kapviz.metrics.outcomes import course_outcomes
from kapviz.metrics.scores import SCORE_COLUMNS
from kapviz.metrics.trajectories import session_points
from kapviz.report.case import CaseSummary, InstrumentStatus
from kapviz.ui import background, data
from kapviz.ui.case import alerts_table, effects_table, presented, vitals_table
from kapviz.ui.db import database_url, settings
from kapviz.ui.safety import settings_digest, today_end

VIEW_TTL_SECONDS = 3600
MAX_VIEWS = 16


def case_points(filters: Filters, patient_id: str) -> pd.DataFrame:
    """The patient's outcome scores placed on the session axis (cached, read-only)."""
    window = settings().baseline_window_days
    return data.aggregate(case_sql.case_points, filters, patient_id=patient_id, window_days=window)


def cohort_summary(filters: Filters) -> case_sql.CohortSummary:
    """Every case's similar-baseline band inputs (cached per filters × data version)."""
    window = settings().baseline_window_days
    return data.aggregate(case_sql.cohort_summary, filters, window_days=window)


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


@dataclass(frozen=True)
class ScoreView:
    """One instrument of the course: verdict lines and the trajectory against the cohort."""

    instrument: str
    lines: list
    figure: go.Figure


@dataclass(frozen=True)
class CaseView:
    """Everything the Case explorer shows of one course, figures drawn for their mode.

    Shared between reruns and sessions (cached): read-only.
    """

    facts: list[tuple[str, str]]
    timeline: go.Figure
    items: go.Figure | None
    alerts: pd.DataFrame
    effects: pd.DataFrame
    strip: go.Figure | None
    bp: go.Figure | None
    bp_table: pd.DataFrame
    bp_printed: pd.DataFrame
    sedation: go.Figure | None

    def figures(self, scores: tuple[ScoreView, ...]) -> list[go.Figure]:
        """The figures of the printed summary, in page order."""
        shown = [self.timeline, *[s.figure for s in scores], self.strip, self.bp]
        return [f for f in shown if f is not None]

    def summary(
        self,
        scores: tuple[ScoreView, ...],
        *,
        patient_id: str,
        course_id: str,
        generated_at: datetime,
    ) -> CaseSummary:
        """The one-page summary of this view and its `score_views` (rendered only when
        downloaded)."""
        return CaseSummary(
            patient_id=patient_id,
            course_id=course_id,
            generated_at=generated_at,
            facts=self.facts,
            statuses=[InstrumentStatus(s.instrument, s.lines) for s in scores],
            figures=self.figures(scores),
            side_effects=effects_table(self.effects),
            vitals=self.bp_printed,
            alerts=self.alerts,
        )


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
    sessions = data.sessions(filters, patient_id=patient_id)
    items = case.phq9_item_rows(data.assessments(filters, patient_id=patient_id, with_items=True))
    assessments = data.assessments(filters, patient_id=patient_id)
    side_effects = data.side_effects(filters, patient_id=patient_id)
    vitals = data.vitals(filters, patient_id=patient_id)
    course_sessions = sessions[sessions["course_id"] == course_id]
    effects = case.dose_side_effects(course_sessions, side_effects)
    per_dose = case.dose_vitals(course_sessions, vitals, settings=config)
    sedation = case.dose_sedation(course_sessions, assessments, settings=config)
    alerts = case.case_alerts(
        sessions,
        side_effects,
        vitals,
        assessments,
        patient_id=patient_id,
        settings=config,
        now=today_end(today),
    )
    has_vitals = per_dose["readings"].sum() > 0
    has_sedation = sedation[["moaas", "cadss"]].notna().sum().sum() > 0
    return CaseView(
        facts=case.course_facts(sessions, course_id=course_id),
        timeline=show(case_charts.course_timeline(sessions)),
        items=show(case_charts.phq9_items(items)) if not items.empty else None,
        alerts=alerts_table(alerts),
        effects=effects,
        strip=(
            None
            if effects.empty
            else show(case_charts.side_effect_strip(effects, doses=len(per_dose)))
        ),
        bp=(
            show(
                case_charts.session_vitals(
                    per_dose,
                    excursion_systolic=config.bp_excursion_systolic,
                    excursion_diastolic=config.bp_excursion_diastolic,
                )
            )
            if has_vitals
            else None
        ),
        bp_table=vitals_table(per_dose),
        bp_printed=vitals_table(per_dose[per_dose["readings"] > 0]),
        sedation=(
            show(
                case_charts.sedation_dissociation(sedation, sedation_max=config.sedation_moaas_max)
            )
            if has_sedation
            else None
        ),
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
    """Per outcome instrument of the course: verdicts and the trajectory over its band.

    The course's own scores come from a patient-scoped query (`points`, case_points); its
    band from the cohort summary (one small table per filters × data version), less the
    course itself.
    """
    window = settings().baseline_window_days
    outcomes = course_outcomes(sessions, points[SCORE_COLUMNS], baseline_window_days=window)
    mine = outcomes[outcomes["course_id"] == course_id]
    course_points = points[points["course_id"] == course_id]
    own = case.course_point_values(course_points)
    summary = cohort_summary(filters) if mine["baseline"].notna().any() else None
    views = []
    for _, outcome in mine.iterrows():
        instrument = instruments.get(outcome["instrument"])
        if summary is not None and pd.notna(outcome["baseline"]):
            band, n_similar = case.band_from_summary(
                summary.values,
                summary.baselines,
                own,
                instrument=instrument.id,
                baseline=outcome["baseline"],
            )
        else:
            band, n_similar = case.empty_band(), 0
        figure = case_charts.patient_trajectory(
            course_points[course_points["instrument"] == instrument.id],
            band,
            instrument=instrument,
            baseline_at=outcome["baseline_at"],
            endpoint_at=outcome["endpoint_at"],
            cohort_courses=n_similar,
        )
        views.append(ScoreView(instrument.id, case.status_lines(outcome), figure))
    return views


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
    return case_charts.compare_trajectories(
        rows, instrument=instruments.get("PHQ-9"), axis=session_points()
    )
