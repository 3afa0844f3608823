"""The Case explorer's SQL reads give exactly the pandas numbers: a patient's placed scores
are their rows of `trajectory_points`, their outcomes those of `course_outcomes`, and every
similar-baseline band drawn from the cohort summary is `cohort_band` of the whole cohort —
on the hand clinic and a 300-patient demo clinic, on SQLite and PostgreSQL, with filters,
a clinician's scope, another baseline window and scores stored without a course."""

from datetime import date, datetime, timedelta

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from sqlalchemy import insert

from kapviz.auth.scope import ScopedFilters
from kapviz.db import queries
from kapviz.db.aggregates import case as case_sql
from kapviz.db.models import Assessment, Course, Session
from kapviz.filters import Filters
from kapviz.instruments import OUTCOME_INSTRUMENTS
from kapviz.metrics import case
from kapviz.metrics.outcomes import course_outcomes
from kapviz.metrics.scores import SCORE_COLUMNS
from kapviz.metrics.trajectory_axes import trajectory_points
from kapviz.metrics.trajectory_tables import TABLE_COLUMNS
from tests.clinic import ANCHOR

DEMO_SEED = 11
"""Seed of this module's 300-patient demo clinic (tests/db/conftest.py)."""

FILTERS = [
    Filters(),
    Filters(sites=("North",)),
    Filters(routes=("im",)),
    Filters(start=date(2026, 2, 14), end=date(2026, 2, 20)),
    Filters(sites=("Nowhere",)),
]
IDS = ["all", "site", "route", "dates", "nothing"]
PLACED = ["id", "patient_id", "course_id", "instrument", "administered_at", "total", "phase"]
EXACT = ["instrument", "point", "order", "x", "phase", "courses", "median", "q1", "q3"]


def assert_case_reads(conn, filters, *, window: int = 30, every: int = 1) -> int:
    """Every `every`-th patient: placed scores, outcomes and bands equal the pandas path.

    Returns how many non-empty bands were compared.
    """
    sessions = queries.sessions(conn, filters)
    assessments = queries.assessments(conn, filters, instruments=list(OUTCOME_INSTRUMENTS))
    outcomes = course_outcomes(sessions, assessments, baseline_window_days=window)
    points = trajectory_points(sessions, assessments, baseline_window_days=window)
    summary = case_sql.cohort_summary(conn, filters, window_days=window)
    bands = 0
    for patient_id in sorted(sessions["patient_id"].unique())[::every]:
        mine = queries.sessions(conn, filters, patient_id=patient_id)
        placed = case_sql.case_points(conn, filters, patient_id=patient_id, window_days=window)
        courses = set(mine["course_id"])
        expected = points[points["course_id"].isin(courses)].reset_index(drop=True)
        assert_frame_equal(
            placed[[*PLACED, "point_order", "point"]],
            expected[[*PLACED, "point_order", "point"]],
            check_exact=True,
        )
        theirs = outcomes[outcomes["course_id"].isin(courses)].reset_index(drop=True)
        ours = course_outcomes(mine, placed[SCORE_COLUMNS], baseline_window_days=window)
        assert_frame_equal(ours, theirs, check_exact=True)
        baselines = placed.drop_duplicates(["course_id", "instrument"]).set_index(
            ["course_id", "instrument"]
        )["baseline"]
        for outcome in theirs.itertuples():
            key = (outcome.course_id, outcome.instrument)
            assert pd.isna(baselines[key]) == pd.isna(outcome.baseline)
            if pd.isna(outcome.baseline):
                continue
            assert baselines[key] == outcome.baseline
            own = case.course_point_values(placed[placed["course_id"] == outcome.course_id])
            got, got_n = case.band_from_summary(
                summary.values,
                summary.baselines,
                own,
                instrument=outcome.instrument,
                baseline=outcome.baseline,
            )
            want, want_n = case.cohort_band(
                points,
                outcomes,
                instrument=outcome.instrument,
                baseline=outcome.baseline,
                exclude_course=outcome.course_id,
            )
            assert got_n == want_n
            assert list(got.columns) == TABLE_COLUMNS
            assert_frame_equal(
                got[EXACT], want[EXACT].reset_index(drop=True), check_exact=True, check_dtype=False
            )
            # The mean sums the same values in another order: equal to rounding.
            assert_frame_equal(
                got[["mean", "ci_low", "ci_high"]],
                want[["mean", "ci_low", "ci_high"]].reset_index(drop=True),
                rtol=1e-12,
                check_dtype=False,
            )
            bands += int(len(got) > 0)
    return bands


@pytest.mark.parametrize("filters", FILTERS, ids=IDS)
def test_clinic_case_reads_equal_the_definitions(clinic, filters):
    """Hand clinic: every patient's placed scores, outcomes and bands equal pandas'."""
    assert_case_reads(clinic, filters)


def test_clinic_hand_computed_points(clinic):
    """P1's PHQ-9: intake 20, preparation 18 (the baseline), dose 3 12, follow-up 8."""
    placed = case_sql.case_points(clinic, Filters(), patient_id="P1")
    phq9 = placed[placed["instrument"] == "PHQ-9"]
    assert list(zip(phq9["point"], phq9["total"], strict=True)) == [
        ("Intake", 20),
        ("Preparation", 18),
        ("Dose 3", 12),
        ("Follow-up", 8),
    ]
    assert set(phq9["baseline"]) == {18.0}
    # No other PHQ-9 course has a baseline within ±3 of 18: an empty band.
    summary = case_sql.cohort_summary(clinic, Filters())
    own = case.course_point_values(placed)
    band, n = case.band_from_summary(
        summary.values, summary.baselines, own, instrument="PHQ-9", baseline=18
    )
    assert band.empty and n == 0
    assert summary.baselines.to_dict("records") == [
        {"instrument": "GAD-7", "baseline": 12, "courses": 1},
        {"instrument": "PCL-5", "baseline": 50, "courses": 1},
        {"instrument": "PHQ-9", "baseline": 10, "courses": 1},
        {"instrument": "PHQ-9", "baseline": 18, "courses": 1},
    ]


def test_clinic_scoped_to_a_clinician(clinic):
    """A clinician's scope (own patients) reaches the case reads like the raw frames."""
    assert_case_reads(clinic, ScopedFilters(clinician="CL-S1"))
    summary = case_sql.cohort_summary(clinic, ScopedFilters(clinician="CL-S1"))
    assert summary.values.empty  # P4 has no baseline


def test_clinic_other_baseline_window(clinic):
    """The configurable window reaches the SQL path (45 days: P4 gets its baseline, 22)."""
    assert_case_reads(clinic, Filters(), window=45)
    placed = case_sql.case_points(clinic, Filters(), patient_id="P4", window_days=45)
    assert set(placed["baseline"]) == {22.0}


def test_scores_without_a_stored_course(clinic):
    """Scores stored without a course get the tied session's, else one by date, as in
    pandas; the patient's reads and the cohort summary place them alike."""

    def at(day: int) -> datetime:
        return datetime.combine(ANCHOR, datetime.min.time()) + timedelta(days=day, hours=9)

    rows = [
        ("P1", None, 130, 9),  # untied, after P1-C2 began → P1-C2
        ("P1", None, -10, 21),  # untied, before every course → the first, P1-C1
        ("P2", "P2-D1", 7, 9),  # tied → the session's course, P2-C1
    ]
    # Committed: the Arrow reads open their own connection and see committed rows only.
    with clinic.engine.begin() as writer:
        writer.execute(insert(Course), [{"course_id": "P1-C2", "patient_id": "P1"}])
        writer.execute(
            insert(Session),
            [
                dict(
                    session_id="P1-C2-S1",
                    patient_id="P1",
                    course_id="P1-C2",
                    started_at=at(120),
                    phase="preparation",
                    status="completed",
                )
            ],
        )
        writer.execute(
            insert(Assessment),
            [
                dict(
                    patient_id=pid,
                    course_id=None,
                    session_id=sid,
                    instrument="GAD-7",
                    administered_at=at(day),
                    total=total,
                )
                for pid, sid, day, total in rows
            ],
        )
    assert case_sql.has_unresolved_scores(clinic, Filters())
    placed = case_sql.case_points(clinic, Filters(), patient_id="P1")
    gad7 = placed[placed["instrument"] == "GAD-7"].set_index("total")
    assert gad7.loc[21, "course_id"] == "P1-C1" and gad7.loc[9, "course_id"] == "P1-C2"
    assert_case_reads(clinic, Filters())
    # A scoped view never sees them (kapviz.db.queries keeps courses in scope only).
    assert not case_sql.has_unresolved_scores(clinic, Filters(sites=("North",)))


@pytest.mark.parametrize("filters", FILTERS[:4], ids=IDS[:4])
def test_demo_case_reads_equal_the_definitions(demo, filters):
    """300-patient demo clinic, both backends: a tenth of the patients, every band."""
    bands = assert_case_reads(demo, filters, every=10)
    if filters.is_empty:
        assert bands >= 20


def test_demo_scoped_to_a_clinician(demo):
    """A clinician's scope on the demo clinic (own patients only)."""
    clinician = queries.sessions(demo)["clinician"].dropna().iloc[0]
    assert_case_reads(demo, ScopedFilters(clinician=clinician), every=3)


def test_demo_summary_counts_every_course_with_a_baseline(demo):
    """The summary's course counts add up to the courses with a baseline in pandas."""
    sessions = queries.sessions(demo)
    assessments = queries.assessments(demo, instruments=list(OUTCOME_INSTRUMENTS))
    outcomes = course_outcomes(sessions, assessments)
    summary = case_sql.cohort_summary(demo, Filters())
    with_baseline = outcomes[outcomes["baseline"].notna()]
    assert summary.baselines["courses"].sum() == len(with_baseline)
    expected = with_baseline.groupby("instrument")["course_id"].nunique().to_dict()
    got = summary.baselines.groupby("instrument")["courses"].sum().to_dict()
    assert got == expected
