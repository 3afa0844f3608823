"""One course's content as the Case explorer shows it and the case summary prints it.

Pure (no streamlit): the page builds it from its cached loaders, the `case-summary` command
from its own connection (`load_case`), so the screen and the paper show the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd
import plotly.graph_objects as go
from sqlalchemy import Connection

from kapviz import instruments
from kapviz.charts import case as case_charts
from kapviz.config import Settings
from kapviz.db import queries
from kapviz.db.aggregates import case as case_sql
from kapviz.filters import Filters
from kapviz.metrics import case
from kapviz.metrics.alerts import alerts_now
from kapviz.metrics.outcomes import course_outcomes
from kapviz.report.case import CaseSummary, InstrumentStatus


def _same(fig: go.Figure) -> go.Figure:
    return fig


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


@dataclass(frozen=True)
class CaseRows:
    """One patient's own rows (every course), as the patient-scoped queries return them."""

    sessions: pd.DataFrame
    assessments: pd.DataFrame
    item_assessments: pd.DataFrame
    side_effects: pd.DataFrame
    vitals: pd.DataFrame


def build_case_view(  # noqa: PLR0913 - the case, its moment and its settings
    rows: CaseRows,
    *,
    patient_id: str,
    course_id: str,
    today: date,
    config: Settings,
    show: Callable[[go.Figure], go.Figure] = _same,
) -> CaseView:
    """The CaseView of one course as of `today` (alerts look back from the end of it), all
    but the score views (`build_score_views`); `show` restyles each figure for its mode."""
    sessions, assessments = rows.sessions, rows.assessments
    side_effects, vitals = rows.side_effects, rows.vitals
    items = case.phq9_item_rows(rows.item_assessments)
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
        now=alerts_now(today),
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


def build_score_views(
    sessions: pd.DataFrame,
    points: pd.DataFrame,
    *,
    course_id: str,
    window_days: int,
    cohort: Callable[[], case_sql.CohortSummary],
) -> list[ScoreView]:
    """Per outcome instrument of the course: verdicts and the trajectory over its band.

    The course's own scores come from a patient-scoped query (`points`, case_points); its
    band from the cohort summary (`cohort`, asked only when some instrument has a baseline),
    less the course itself.
    """
    outcomes = course_outcomes(
        sessions, points[case_sql.SCORE_COLUMNS], baseline_window_days=window_days
    )
    mine = outcomes[outcomes["course_id"] == course_id]
    course_points = points[points["course_id"] == course_id]
    own = case.course_point_values(course_points)
    summary = cohort() if mine["baseline"].notna().any() else None
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


def load_case(  # noqa: PLR0913 - the case, its moment and its settings
    conn: Connection,
    filters: Filters,
    *,
    patient_id: str,
    course_id: str | None,
    today: date,
    config: Settings,
) -> tuple[str, CaseView, list[ScoreView]] | None:
    """(course id, view, score views) of a patient's course (None: the patient's latest),
    read on `conn` within `filters`; None when the patient has no such course."""
    sessions = queries.sessions(conn, filters, patient_id=patient_id)
    courses = sorted(sessions["course_id"].dropna().unique())
    if course_id is None and courses:
        course_id = courses[-1]
    if course_id not in courses:
        return None
    rows = CaseRows(
        sessions=sessions,
        assessments=queries.assessments(conn, filters, patient_id=patient_id),
        item_assessments=queries.assessments(conn, filters, patient_id=patient_id, with_items=True),
        side_effects=queries.side_effects(conn, filters, patient_id=patient_id),
        vitals=queries.vitals(conn, filters, patient_id=patient_id),
    )
    window = config.baseline_window_days
    view = build_case_view(
        rows, patient_id=patient_id, course_id=course_id, today=today, config=config
    )
    points = case_sql.case_points(conn, filters, patient_id=patient_id, window_days=window)
    scores = build_score_views(
        sessions,
        points,
        course_id=course_id,
        window_days=window,
        cohort=lambda: case_sql.cohort_summary(conn, filters, window_days=window),
    )
    return course_id, view, scores


def effects_table(effects: pd.DataFrame) -> pd.DataFrame:
    """Side effects as printed in the summary: dose, effect, highest severity."""
    return effects.rename(
        columns={"dose_number": "Dose", "term": "Effect", "severity": "Severity"}
    )[["Dose", "Effect", "Severity"]]


def vitals_table(per_dose: pd.DataFrame) -> pd.DataFrame:
    """BP per dosing session as 'systolic/diastolic' strings (mmHg) with the flags in words."""

    def bp(prefix: str) -> pd.Series:
        sys, dia = per_dose[f"{prefix}_systolic"], per_dose[f"{prefix}_diastolic"]
        return pd.Series(
            ["—" if pd.isna(s) else f"{s:.0f}/{d:.0f}" for s, d in zip(sys, dia, strict=True)],
            index=per_dose.index,
        )

    flags = [
        ", ".join(
            word
            for word, on in (
                ("excursion", row.is_excursion),
                ("rise", row.is_rise),
                ("pre-dose review", row.needs_predose_review),
            )
            if on
        )
        for row in per_dose.itertuples()
    ]
    return pd.DataFrame(
        {
            "Dose": per_dose["dose_number"],
            "Date": pd.to_datetime(per_dose["started_at"]).dt.strftime("%Y-%m-%d"),
            "Pre-dose": bp("pre"),
            "Peak": bp("peak"),
            "Last": bp("last"),
            "Flags": flags,
        }
    )


def alerts_table(alerts: pd.DataFrame) -> pd.DataFrame:
    """Alerts as printed: reason, detail, date, course."""
    return pd.DataFrame(
        {
            "Reason": alerts["reason"],
            "Detail": alerts["detail"],
            "Date": pd.to_datetime(alerts["date"]).dt.strftime("%Y-%m-%d"),
            "Course": alerts["course_id"],
        }
    )
