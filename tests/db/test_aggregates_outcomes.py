"""Outcomes of one instrument with baseline and endpoint picked in SQL equal `course_outcomes`
(time to response aside, which they leave unknown): on the hand clinic and a 300-patient demo
clinic, SQLite and PostgreSQL, with filters, a clinician's scope, other baseline windows,
same-time ties and scores stored without a course."""

from datetime import datetime, timedelta

import numpy as np
import pytest
from pandas.testing import assert_frame_equal
from sqlalchemy import insert

from kapviz.auth.scope import ScopedFilters
from kapviz.db import queries
from kapviz.db.aggregates.outcomes import instrument_outcomes
from kapviz.db.models import Assessment
from kapviz.filters import Filters
from kapviz.instruments import OUTCOME_INSTRUMENTS
from kapviz.metrics.outcomes import course_outcomes
from tests.clinic import ANCHOR
from tests.db.test_aggregates_cohort import FILTERS, IDS

DEMO_SEED = 5

UNKNOWN_HERE = ["time_to_response_days", "time_to_response_doses"]


def expected(conn, filters, instrument, window):
    sessions = queries.sessions(conn, filters)
    assessments = queries.assessments(conn, filters, instruments=list(OUTCOME_INSTRUMENTS))
    every = course_outcomes(sessions, assessments, baseline_window_days=window)
    return every[every["instrument"] == instrument].reset_index(drop=True)


def assert_same(conn, filters, *, instrument="PHQ-9", window=30):
    got = instrument_outcomes(conn, filters, instrument=instrument, baseline_window_days=window)
    want = expected(conn, filters, instrument, window)
    assert_frame_equal(got.drop(columns=UNKNOWN_HERE), want.drop(columns=UNKNOWN_HERE))
    assert got["time_to_response_days"].isna().all()
    assert got["time_to_response_doses"].isna().all()
    return got


@pytest.mark.parametrize("filters", FILTERS, ids=IDS)
def test_clinic_equals_course_outcomes(clinic, filters):
    assert_same(clinic, filters)


def test_clinic_hand_values(clinic):
    """P1: PHQ-9 18 → 8 (−55.6 %, response, no remission); tests/clinic.py."""
    got = assert_same(clinic, Filters()).set_index("course_id")
    p1 = got.loc["P1-C1"]
    assert (p1["baseline"], p1["endpoint"]) == (18, 8)
    assert p1["is_response"] and not p1["is_remission"]
    assert p1["pct_change"] == pytest.approx(-10 / 18)


@pytest.mark.parametrize("window", [1, 7, 30, 90])
def test_clinic_other_baseline_windows(clinic, window):
    assert_same(clinic, Filters(), window=window)


@pytest.mark.parametrize("instrument", ["GAD-7", "PCL-5"])
def test_clinic_other_instruments(clinic, instrument):
    assert_same(clinic, Filters(), instrument=instrument)


def test_clinic_scoped_to_a_clinician(clinic):
    assert_same(clinic, ScopedFilters(clinician="CL-S1"))


def test_scores_without_a_stored_course_take_the_general_path(clinic):
    """A PHQ-9 stored without a course is placed by its date, as course_outcomes does."""
    at = datetime.combine(ANCHOR, datetime.min.time()) + timedelta(days=-3, hours=9)
    with clinic.engine.begin() as writer:
        writer.execute(
            insert(Assessment),
            [
                dict(
                    patient_id="P3",
                    course_id=None,
                    session_id=None,
                    instrument="PHQ-9",
                    administered_at=at,
                    total=11,
                )
            ],
        )
    assert_same(clinic, Filters())


@pytest.mark.parametrize("filters", FILTERS[:4], ids=IDS[:4])
def test_demo_equals_course_outcomes(demo, filters):
    got = assert_same(demo, filters)
    if filters.is_empty:
        assert got["evaluable"].sum() > 100
        assert np.isin(got["is_response"].dropna(), [True, False]).all()


def test_demo_scoped_to_a_clinician(demo):
    clinician = queries.sessions(demo)["clinician"].dropna().iloc[0]
    assert len(assert_same(demo, ScopedFilters(clinician=clinician))) > 0
