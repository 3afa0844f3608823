"""Per-course outcomes read live (kapviz.db.aggregates.outcomes) equal `course_outcomes` of
the whole frames and the plain reference (tests/reference/outcomes.py): on the hand clinic
and a 300-patient demo clinic, SQLite and PostgreSQL, with filters, a clinician's scope,
other baseline windows, one instrument at a time, a subset of courses and scores stored
without a course."""

from datetime import datetime, timedelta

import numpy as np
import pytest
from pandas.testing import assert_frame_equal
from sqlalchemy import insert, select

from kapviz.auth.scope import ScopedFilters
from kapviz.db import queries
from kapviz.db.aggregates.outcomes import course_outcomes, outcomes_of_courses
from kapviz.db.models import Assessment, Course
from kapviz.filters import Filters
from kapviz.instruments import OUTCOME_INSTRUMENTS
from kapviz.metrics import outcomes
from tests.clinic import ANCHOR
from tests.db.test_aggregates_cohort import FILTERS, IDS
from tests.reference import outcomes as reference

DEMO_SEED = 5


def _frames(conn, filters):
    sessions = queries.sessions(conn, filters)
    assessments = queries.assessments(conn, filters, instruments=list(OUTCOME_INSTRUMENTS))
    return sessions, assessments


def assert_same(conn, filters, *, instrument=None, window=30):
    """Live rows == course_outcomes of the frames == the plain reference."""
    got = course_outcomes(conn, filters, instrument=instrument, baseline_window_days=window)
    sessions, assessments = _frames(conn, filters)
    want = outcomes.course_outcomes(sessions, assessments, baseline_window_days=window)
    plain = reference.course_outcomes(sessions, assessments, baseline_window_days=window)
    if instrument is not None:
        want = want[want["instrument"] == instrument].reset_index(drop=True)
        plain = [row for row in plain if row["instrument"] == instrument]
    assert_frame_equal(got, want, check_exact=True)
    assert reference.as_comparable(got) == reference.as_comparable(plain)
    return got


@pytest.mark.parametrize("filters", FILTERS, ids=IDS)
def test_clinic_equals_course_outcomes_and_reference(clinic, filters):
    assert_same(clinic, filters)


def test_clinic_hand_values(clinic):
    """P1: PHQ-9 18 → 8 (−55.6 %, response, no remission); tests/clinic.py."""
    got = assert_same(clinic, Filters(), instrument="PHQ-9").set_index("course_id")
    p1 = got.loc["P1-C1"]
    assert (p1["baseline"], p1["endpoint"]) == (18, 8)
    assert p1["is_response"] and not p1["is_remission"]
    assert p1["pct_change"] == pytest.approx(-10 / 18)


@pytest.mark.parametrize("window", [1, 7, 30, 90])
def test_clinic_other_baseline_windows(clinic, window):
    assert_same(clinic, Filters(), window=window)


@pytest.mark.parametrize("instrument", ["PHQ-9", "GAD-7", "PCL-5"])
def test_clinic_one_instrument(clinic, instrument):
    assert_same(clinic, Filters(), instrument=instrument)


def test_clinic_scoped_to_a_clinician(clinic):
    assert_same(clinic, ScopedFilters(clinician="CL-S1"))


def _untied_phq9(conn, patient_id: str, days: int, total: int) -> None:
    at = datetime.combine(ANCHOR, datetime.min.time()) + timedelta(days=days, hours=9)
    with conn.engine.begin() as writer:
        writer.execute(
            insert(Assessment),
            [
                dict(
                    patient_id=patient_id,
                    course_id=None,
                    session_id=None,
                    instrument="PHQ-9",
                    administered_at=at,
                    total=total,
                )
            ],
        )


def test_scores_without_a_stored_course_are_placed_by_date(clinic):
    """A PHQ-9 stored without a course is placed by its date, as course_outcomes does."""
    _untied_phq9(clinic, "P3", -3, 11)
    assert_same(clinic, Filters())


def test_a_subset_of_courses_equals_their_rows_of_the_whole(clinic):
    """outcomes_of_courses (a partial rollup rebuild) gives those courses' rows of the whole,
    also for a score stored without a course."""
    _untied_phq9(clinic, "P1", 40, 6)
    whole = course_outcomes(clinic, Filters())
    for ids in (["P1-C1"], ["P1-C1", "P2-C1"], []):
        part = outcomes_of_courses(clinic, ids)
        want = whole[whole["course_id"].isin(ids)].reset_index(drop=True)
        assert_frame_equal(part, want, check_exact=True)


@pytest.mark.parametrize("filters", FILTERS[:4], ids=IDS[:4])
def test_demo_equals_course_outcomes_and_reference(demo, filters):
    got = assert_same(demo, filters)
    if filters.is_empty:
        assert got["evaluable"].sum() > 100
        assert np.isin(got["is_response"].dropna(), [True, False]).all()


def test_demo_scoped_to_a_clinician(demo):
    clinician = queries.sessions(demo)["clinician"].dropna().iloc[0]
    assert len(assert_same(demo, ScopedFilters(clinician=clinician), instrument="PHQ-9")) > 0


def test_demo_subset_of_courses(demo):
    whole = course_outcomes(demo, Filters())
    ids = sorted(demo.execute(select(Course.course_id)).scalars())[::7]
    part = outcomes_of_courses(demo, ids)
    assert len(part) > 20
    assert_frame_equal(part, whole[whole["course_id"].isin(ids)].reset_index(drop=True))
