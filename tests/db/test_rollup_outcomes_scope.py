"""The Overview's outcome rows under route, date and clinician filters, read from the
per-course outcome rollup, equal the live computation on the hand clinic and a demo clinic,
on SQLite and PostgreSQL; with a score stored without a course they are not served."""

from __future__ import annotations

from datetime import date, timedelta

from pandas.testing import assert_frame_equal
from sqlalchemy import select, update

from kapviz.db import rollups
from kapviz.db.aggregates import outcomes as outcome_sql
from kapviz.db.models import Assessment, Session
from kapviz.filters import Filters
from kapviz.instruments import PHQ9

DEMO_SEED = 11
"""Seed of this module's 300-patient demo clinic (tests/db/conftest.py)."""
WINDOW = 30


def _scoped_choices(conn) -> list[Filters]:
    """Route, date-range and clinician filters on this clinic's own values."""
    clinicians = sorted(
        c for c in conn.execute(select(Session.clinician).distinct()).scalars() if c
    )
    first, last = (
        conn.execute(select(Session.started_at).order_by(Session.started_at).limit(1)).scalar(),
        conn.execute(
            select(Session.started_at).order_by(Session.started_at.desc()).limit(1)
        ).scalar(),
    )
    middle = (first + (last - first) / 2).date()
    clinician = clinicians[0]
    return [
        Filters(routes=("iv",)),
        Filters(routes=("im", "intranasal")),
        Filters(start=middle),
        Filters(end=middle - timedelta(days=1)),
        Filters(start=first.date(), end=middle, routes=("iv",)),
        Filters(clinician=clinician),
        Filters(clinician=clinician, start=middle),
        Filters(start=date(1990, 1, 1), end=date(1990, 2, 1)),
    ]


def assert_scoped_equal_live(conn, filters: Filters, instrument: str | None) -> int:
    got = rollups.course_outcomes_in_scope(
        conn, filters, instrument=instrument, baseline_window_days=WINDOW
    )
    live = outcome_sql.course_outcomes(
        conn, filters, instrument=instrument, baseline_window_days=WINDOW
    )
    assert got is not None
    assert_frame_equal(got.reset_index(drop=True), live.reset_index(drop=True), check_exact=True)
    return len(got)


def test_demo_scoped_outcomes_equal_live(demo):
    sizes = [assert_scoped_equal_live(demo, f, PHQ9.id) for f in _scoped_choices(demo)]
    every = len(outcome_sql.course_outcomes(demo, Filters(), instrument=PHQ9.id))
    assert sizes[-1] == 0 and all(0 < n <= every for n in sizes[:-1])
    assert sizes[0] + sizes[1] <= every and sizes[0] < every  # one route, then two others
    assert_scoped_equal_live(demo, Filters(routes=("iv",)), None)


def test_clinic_scoped_outcomes_equal_live(clinic):
    """Hand clinic: IV-dosed courses are P1's and P2's (PHQ-9 rows of both)."""
    assert rollups.rebuild(clinic.engine)
    for filters in _scoped_choices(clinic):
        assert_scoped_equal_live(clinic, filters, PHQ9.id)
        assert_scoped_equal_live(clinic, filters, None)


def test_not_served_with_a_score_without_a_course(clinic):
    clinic.execute(update(Assessment).where(Assessment.patient_id == "P1").values(course_id=None))
    clinic.commit()
    assert rollups.rebuild(clinic.engine)
    assert (
        rollups.course_outcomes_in_scope(
            clinic, Filters(routes=("iv",)), instrument=PHQ9.id, baseline_window_days=WINDOW
        )
        is None
    )
    assert (
        rollups.course_outcomes_in_scope(
            clinic, Filters(routes=("iv",)), instrument=PHQ9.id, baseline_window_days=14
        )
        is None
    )
