"""The Safety rollups (side-effect counts by term, dose number and route; BP value counts)
give exactly the live page's tables for every choice of sites and indications, on the hand
clinic and a demo clinic, on SQLite and PostgreSQL, also after an import's incremental
refresh of the courses it touched."""

from __future__ import annotations

from pandas.testing import assert_frame_equal
from sqlalchemy import select

from kapviz import config
from kapviz.db import rollups, safety_rollups
from kapviz.db.aggregates import safety as safety_sql
from kapviz.db.engine import make_engine
from kapviz.db.models import Course, RollupCourseDose
from kapviz.demo import generate_clinic
from kapviz.filters import Filters
from kapviz.metrics import safety
from tests.db.test_page_rollups import _change_file, _dump, _import
from tests.db.test_rollups import _choices

DEMO_SEED = 11
"""Seed of this module's 300-patient demo clinic (tests/db/conftest.py)."""


def live(conn, filters: Filters, cfg: config.Settings | None = None) -> safety.DoseSafety:
    """The Safety page's live tables (kapviz.ui.safety's reads, on either backend)."""
    cfg = cfg or config.load_settings(env={})
    doses = safety_sql.doses(conn, filters)
    bp = safety.dose_bp(doses, safety_sql.readings(conn, filters), settings=cfg)
    effects = safety_sql.dose_effects(conn, filters)
    scales = safety_sql.scale_scores(conn, filters)
    return safety.dose_safety(doses, effects, scales, bp=bp, settings=cfg)


def assert_counts_equal_live(conn, filters: Filters) -> safety_rollups.SafetyCounts:
    """Every table the rollups serve equals the live one under `filters`; returns them."""
    got = safety_rollups.safety_counts(conn, filters)
    want = live(conn, filters)
    assert got.dosing_sessions == want.dosing_sessions
    assert got.patients_dosed == want.patients_dosed
    assert_frame_equal(got.rates, want.rates, check_exact=True)
    assert_frame_equal(got.by_number, want.by_number, check_exact=True)
    assert_frame_equal(got.by_route, want.rates_by("route"), check_exact=True, check_dtype=False)
    assert_frame_equal(got.curve, want.curve, check_exact=True)
    return got


def test_hand_clinic_counts_by_hand_and_equal_live(clinic):
    """Hand clinic: 9 doses of 3 patients; dissociation on P1's doses 1 (moderate and
    severe records: once, severe) and 2 (mild); nausea on P1's dose 1 (mild) and P2's dose 1
    (moderate); P2's dizziness was on a cancelled session and never counts."""
    assert rollups.rebuild(clinic.engine)
    got = assert_counts_equal_live(clinic, Filters())
    assert (got.dosing_sessions, got.patients_dosed) == (9, 3)
    rates = got.rates.set_index("term")
    assert list(rates.index) == ["dissociation", "nausea"]
    assert rates.loc["dissociation", ["sessions", "patients", "mild", "severe"]].tolist() == [
        2,
        1,
        1,
        1,
    ]
    assert rates.loc["nausea", ["sessions", "patients", "mild", "moderate"]].tolist() == [
        2,
        2,
        1,
        1,
    ]
    first = got.by_number[got.by_number["session_number"] == 1].set_index("term")
    assert first["dosing_sessions"].tolist() == [3, 3]
    assert first["sessions"].to_dict() == {"dissociation": 1, "nausea": 2}
    routes = got.by_route.set_index(["route", "term"])["sessions"]
    assert routes[("iv", "dissociation")] == 2 and routes[("im", "nausea")] == 1
    # Readings: −5 min falls in the bin at −10; P1 at 40 min 182, P2 at 40 min 170.
    at_40 = got.curve[(got.curve["minute"] == 40) & (got.curve["measure"] == "systolic")]
    assert at_40[["n", "median"]].values.tolist() == [[2, 176.0]]
    assert got.curve["minute"].tolist()[0] == -10
    north = assert_counts_equal_live(clinic, Filters(sites=("North",)))
    assert (north.dosing_sessions, north.patients_dosed) == (7, 2)
    for filters in _choices(clinic):
        assert_counts_equal_live(clinic, filters)


def test_demo_counts_are_built_with_the_clinic_and_equal_live(demo):
    """The demo generator builds them; every choice of sites and indications agrees."""
    assert rollups.is_current(demo)
    counts = [assert_counts_equal_live(demo, f) for f in _choices(demo)]
    assert counts[0].dosing_sessions > 1000 and len(counts[0].rates) > 3
    assert 0 < counts[1].dosing_sessions < counts[0].dosing_sessions
    assert counts[-1].dosing_sessions == 0 and counts[-1].rates.empty
    assert counts[-1].curve.empty and counts[-1].by_route.empty


def test_import_refresh_keeps_safety_counts_equal_live(db_url, tmp_path, monkeypatch):
    """After an import (a site change, changed scores, a new patient with doses) only the
    touched courses are recomputed, and the counts equal live and a full rebuild."""
    engine = make_engine(db_url)
    generate_clinic(engine, patients=120, seed=DEMO_SEED)
    folder = tmp_path / "change"
    _change_file(engine, folder)
    asked: list = []
    course_rows = safety_rollups.course_rows

    def spy(conn, courses):
        asked.append(None if courses is None else list(courses))
        return course_rows(conn, courses)

    # COURSE_ROLLUPS holds the function itself: patch its entry.
    entries = [(tables, spy if fn is course_rows else fn) for tables, fn in rollups.COURSE_ROLLUPS]
    monkeypatch.setattr(rollups, "COURSE_ROLLUPS", tuple(entries))
    _import(engine, folder)
    with engine.connect() as conn:
        assert rollups.is_current(conn)
        assert len(asked) == 1 and asked[0] is not None
        touched = conn.execute(
            select(Course.course_id).where(
                Course.patient_id.in_(["DEMO-00001", "DEMO-00002", "NEW-00001"])
            )
        ).scalars()
        assert asked[0] == sorted(touched)
        new = conn.execute(
            select(RollupCourseDose.dosing_sessions)
            .join(Course, Course.course_id == RollupCourseDose.course_id)
            .where(Course.patient_id == "NEW-00001")
        ).scalars()
        assert sum(new) > 0  # the new patient's doses are counted
        for filters in _choices(conn):
            assert_counts_equal_live(conn, filters)
        refreshed = _dump(conn)
    monkeypatch.undo()
    assert rollups.rebuild(engine)
    with engine.connect() as conn:
        assert _dump(conn) == refreshed
