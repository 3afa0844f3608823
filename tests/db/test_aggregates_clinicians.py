"""The clinician view's inputs grouped in SQL (kapviz.db.aggregates.clinicians) equal the
pandas path they replace: each course's clinician from the sessions frame, the safety
counts from the Safety view's tables, and so the whole clinician table, on the hand clinic
and a demo clinic, on SQLite and PostgreSQL, for every kind of filter."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta

import pandas as pd
from pandas.testing import assert_frame_equal, assert_series_equal
from sqlalchemy import insert, select, update

from kapviz.auth.scope import ScopedFilters
from kapviz.config import Settings
from kapviz.db import queries, rollups
from kapviz.db.aggregates import clinicians as clinicians_sql
from kapviz.db.aggregates import cohort
from kapviz.db.aggregates import safety as safety_sql
from kapviz.db.models import Clinician, Session
from kapviz.filters import Filters
from kapviz.instruments import OUTCOME_INSTRUMENTS
from kapviz.metrics import clinicians as metric
from kapviz.metrics import safety
from tests.clinic import ANCHOR
from tests.db.test_rollups import _choices

DEMO_SEED = 11
SETTINGS = Settings()
WINDOW = rollups.COHORT_WINDOW_DAYS


def _filters(conn) -> list[Filters]:
    return [
        *_choices(conn),
        Filters(routes=("im",)),
        Filters(start=ANCHOR + timedelta(days=8), end=ANCHOR + timedelta(days=12)),
        ScopedFilters(clinician="CL-N1"),
    ]


def _sql(conn, filters: Filters, settings: Settings = SETTINGS) -> tuple[pd.Series, pd.DataFrame]:
    return clinicians_sql.inputs(
        conn,
        filters,
        systolic=settings.bp_excursion_systolic,
        diastolic=settings.bp_excursion_diastolic,
    )


def _pandas(conn, filters: Filters, settings: Settings = SETTINGS) -> tuple[pd.Series, dict]:
    """The page's former path: every session, and the whole Safety view."""
    clinician_of = metric.course_clinicians(queries.sessions(conn, filters))
    doses = safety_sql.doses(conn, filters)
    view = safety.dose_safety(
        doses,
        safety_sql.dose_effects(conn, filters),
        safety_sql.scale_scores(conn, filters),
        bp=safety.dose_bp(doses, safety_sql.readings(conn, filters), settings=settings),
        settings=settings,
    )
    frames = {"doses": view.doses, "effects": view.effects}
    return clinician_of, {**frames, "session_vitals": view.session_vitals}


def _routes(conn, filters: Filters) -> pd.Series:
    first = cohort.course_first_doses(conn, filters)
    return first.drop_duplicates("course_id").set_index("course_id")["route"]


def assert_equal_pandas(conn, filters: Filters, settings: Settings = SETTINGS) -> pd.DataFrame:
    """Clinicians, counts and every instrument's table and programme figures agree exactly;
    returns the counts."""
    clinician_of, counts = _sql(conn, filters, settings)
    want_of, frames = _pandas(conn, filters, settings)
    assert_series_equal(clinician_of, want_of.sort_index(), obj=f"clinicians {filters}")
    want_counts = metric.safety_counts(want_of, **frames)
    assert_frame_equal(counts, want_counts, obj=f"counts {filters}")
    outcomes = rollups.course_outcomes(conn, filters, baseline_window_days=WINDOW)
    routes = _routes(conn, filters)
    for instrument in OUTCOME_INSTRUMENTS:
        got, got_programme = metric.clinician_table_from_counts(
            outcomes, clinician_of, counts, instrument=instrument, first_routes=routes
        )
        want, want_programme = metric.clinician_table(
            outcomes, want_of, instrument=instrument, first_routes=routes, **frames
        )
        assert_frame_equal(got, want, check_exact=True, obj=f"{instrument} {filters}")
        assert str(got_programme) == str(want_programme)
    return counts


def test_clinic_hand_counts_and_equal_pandas(clinic):
    """Hand clinic (tests/clinic.py): P1, P2 dosed by CL-N1, P3, P4 by CL-S1; every filter
    agrees with the pandas path."""
    assert rollups.rebuild(clinic.engine)
    clinician_of, counts = _sql(clinic, Filters())
    assert set(clinician_of.index) <= {"P1-C1", "P2-C1", "P3-C1", "P4-C1"}
    assert {clinician_of[c] for c in clinician_of.index if c < "P3"} == {"CL-N1"}
    assert {clinician_of[c] for c in clinician_of.index if c >= "P3"} == {"CL-S1"}
    doses = safety_sql.doses(clinic, Filters())
    assert counts["dosing_sessions"].sum() == len(doses)
    for filters in _filters(clinic):
        assert_equal_pandas(clinic, filters)


def test_tie_goes_to_the_first_code_in_byte_order(clinic):
    """P1's completed doses split evenly between "cl-a" and "CL-B": "CL-B" sorts first by
    code point (as in Python), whatever the database's collation says."""
    assert rollups.rebuild(clinic.engine)
    clinic.execute(insert(Clinician), [{"code": "cl-a"}, {"code": "CL-B"}])
    ids = clinic.execute(
        select(Session.session_id)
        .where(
            Session.course_id == "P1-C1",
            Session.phase == "dosing",
            Session.status == "completed",
        )
        .order_by(Session.session_id)
    ).scalars()
    ids = list(ids)
    half = len(ids) // 2
    assert half >= 1
    for code, part in (("cl-a", ids[:half]), ("CL-B", ids[half : 2 * half])):
        clinic.execute(update(Session).where(Session.session_id.in_(part)).values(clinician=code))
    clinic.commit()  # the Arrow reads go through a connection of their own
    clinician_of, _ = _sql(clinic, Filters())
    assert clinician_of["P1-C1"] == "CL-B"
    assert_equal_pandas(clinic, Filters())


def test_excursion_thresholds_are_the_settings(clinic):
    """Lower thresholds flag more doses, the same ones as the Safety view's flags."""
    assert rollups.rebuild(clinic.engine)
    usual = assert_equal_pandas(clinic, Filters())
    low = replace(SETTINGS, bp_excursion_systolic=100, bp_excursion_diastolic=60)
    lowered = assert_equal_pandas(clinic, Filters(), low)
    assert lowered["excursion_sessions"].sum() > usual["excursion_sessions"].sum()


def test_demo_equal_pandas(demo):
    """Every kind of filter on the demo clinic; the counts are not trivially zero."""
    counts = [assert_equal_pandas(demo, f) for f in _filters(demo)]
    whole = counts[0]
    assert len(whole) > 1 and whole["dosing_sessions"].sum() > 1000
    assert whole["adverse_events"].sum() > 0 and whole["excursion_sessions"].sum() > 0
    assert counts[5].empty  # Nowhere
    ae = 100 * whole["adverse_events"].sum() / whole["dosing_sessions"].sum()
    assert not math.isnan(ae)
