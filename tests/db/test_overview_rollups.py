"""The Overview's reads from the rollups equal the live reads: the first-dose routes of the
evaluable PHQ-9 courses (the published-figure line) on the hand clinic and a demo clinic,
on SQLite and PostgreSQL, for every choice of sites and indications, also after an import
refreshed only the courses it touched."""

from __future__ import annotations

from sqlalchemy import delete, insert, select

from kapviz.db import rollups
from kapviz.db.aggregates import cohort
from kapviz.db.aggregates import outcomes as outcome_sql
from kapviz.db.engine import make_engine
from kapviz.db.models import Dosing, Session
from kapviz.demo import generate_clinic
from kapviz.evidence.clinic import clinic_figure
from kapviz.filters import Filters
from kapviz.instruments import PHQ9
from tests.db.test_page_rollups import _change_file, _import
from tests.db.test_rollups import _choices

DEMO_SEED = 11
WINDOW = 30


def live_routes(conn, filters: Filters) -> frozenset[str]:
    """The routes as the published-figure line finds them from every course's first dose."""
    outcomes = outcome_sql.course_outcomes(
        conn, filters, instrument=PHQ9.id, baseline_window_days=WINDOW
    )
    first = cohort.course_first_doses(conn, filters)
    return clinic_figure(outcomes, None, first, instrument=PHQ9.id, measure="response").routes


def assert_routes_equal_live(conn, filters: Filters) -> frozenset[str]:
    got = rollups.first_dose_routes(conn, filters, instrument=PHQ9.id, baseline_window_days=WINDOW)
    assert got == live_routes(conn, filters), filters
    return got


def test_clinic_hand_routes(clinic):
    """tests/clinic.py: P1's course is IV, P2's IM, each with a PHQ-9 in the 30 days before
    its first dose and one after; P4's sublingual course has its only earlier PHQ-9 40 days
    before its first dose (no baseline: not evaluable), so its route is not counted."""
    assert rollups.rebuild(clinic.engine)
    assert assert_routes_equal_live(clinic, Filters()) == {"iv", "im"}
    for filters in _choices(clinic):
        assert_routes_equal_live(clinic, filters)
    other_window = rollups.first_dose_routes(
        clinic, Filters(), instrument=PHQ9.id, baseline_window_days=14
    )
    assert other_window is None


def test_tie_at_the_first_start_goes_to_the_lowest_session_id(clinic):
    """A second completed dose at P1's first dose's very start, by another route and with a
    lower id, is the first dose (the live rule's tie-break): its route replaces IV."""
    first = clinic.execute(select(Session).where(Session.session_id == "P1-D1")).mappings().one()
    clinic.execute(insert(Session), [dict(first) | {"session_id": "P1-D0"}])
    clinic.execute(
        insert(Dosing),
        [{"session_id": "P1-D0", "route": "intranasal", "drug": "esketamine", "dose_mg": 56.0}],
    )
    clinic.commit()
    assert rollups.rebuild(clinic.engine)
    assert assert_routes_equal_live(clinic, Filters()) == {"intranasal", "im"}
    # Without a dosing record, the first dose has no route: none is counted for P1.
    clinic.execute(delete(Dosing).where(Dosing.session_id == "P1-D0"))
    clinic.commit()
    assert rollups.rebuild(clinic.engine)
    assert assert_routes_equal_live(clinic, Filters()) == {"im"}


def test_demo_routes_equal_live(demo):
    assert rollups.is_current(demo)
    found = [assert_routes_equal_live(demo, f) for f in _choices(demo)]
    assert len(found[0]) >= 3 and found[-1] == frozenset()


def test_import_refresh_keeps_routes_equal_live(db_url, tmp_path):
    engine = make_engine(db_url)
    generate_clinic(engine, patients=80, seed=DEMO_SEED)
    folder = tmp_path / "change"
    _change_file(engine, folder)
    _import(engine, folder)
    with engine.connect() as conn:
        assert rollups.is_current(conn)
        for filters in _choices(conn):
            assert_routes_equal_live(conn, filters)
