"""Measurement completion per course (kapviz.db.aggregates.program.measurement_by_course)
equals the plain reference (tests/reference/program.py) summed over any grouping: on the
hand clinic (hand-checked) and a 300-patient demo clinic, SQLite and PostgreSQL, with
filters, a clinician's scope and periods."""

from datetime import datetime

import pytest

from kapviz.auth.scope import ScopedFilters
from kapviz.db import queries
from kapviz.db.aggregates import program as program_sql
from kapviz.filters import Filters
from kapviz.metrics import program
from tests.db.test_aggregates_cohort import FILTERS, IDS
from tests.reference import program as reference

DEMO_SEED = 13
WHOLE = (datetime(2020, 1, 1), datetime(2030, 1, 1))


def assert_same(conn, filters, *, start=WHOLE[0], end=WHOLE[1], instrument="PHQ-9"):
    courses = program_sql.measurement_by_course(
        conn, filters, start=start, end=end, instrument=instrument
    )
    sessions = queries.sessions(conn, filters)
    assessments = queries.assessments(conn, filters, instruments=[instrument])
    want = reference.measurement_completion(
        sessions, assessments, start=start, end=end, instrument=instrument
    )
    assert program.measurement_completion(courses) == want
    assert list(courses.columns) == program_sql.MEASUREMENT_COLUMNS
    assert (courses["measured"] <= courses["expected"]).all()
    assert (courses["expected"] > 0).all()
    # Any grouping sums to the same: per site against the reference on that site's frames.
    for site, part in courses.groupby("site"):
        sessions_of = sessions[sessions["site"] == site]
        assert program.measurement_completion(part) == reference.measurement_completion(
            sessions_of, assessments, start=start, end=end, instrument=instrument
        )
    return courses


def test_clinic_hand_counts(clinic):
    """6 of 9 completed dosing sessions measured (tests/metrics/test_program.py): P1 4 of 4,
    P2 2 of 3, P4 0 of 2."""
    courses = assert_same(clinic, Filters()).set_index("course_id")
    assert program.measurement_completion(courses) == (6, 9)
    assert courses[["measured", "expected"]].to_dict("index") == {
        "P1-C1": {"measured": 4, "expected": 4},
        "P2-C1": {"measured": 2, "expected": 3},
        "P4-C1": {"measured": 0, "expected": 2},
    }


@pytest.mark.parametrize("filters", FILTERS, ids=IDS)
def test_clinic_filters(clinic, filters):
    assert_same(clinic, filters)


def test_clinic_scoped_and_gad7(clinic):
    assert_same(clinic, ScopedFilters(clinician="CL-S1"))
    assert_same(clinic, Filters(), instrument="GAD-7")


@pytest.mark.parametrize("filters", FILTERS[:3], ids=IDS[:3])
def test_demo_equals_reference(demo, filters):
    courses = assert_same(demo, filters)
    if filters.is_empty:
        assert courses["expected"].sum() > 500


def test_demo_periods_and_open_bounds(demo):
    assert_same(demo, Filters(), start=datetime(2026, 1, 1), end=datetime(2026, 2, 1))
    open_ended = program_sql.measurement_by_course(demo, Filters())
    whole = program_sql.measurement_by_course(demo, Filters(), start=WHOLE[0], end=WHOLE[1])
    assert program.measurement_completion(open_ended) == program.measurement_completion(whole)
