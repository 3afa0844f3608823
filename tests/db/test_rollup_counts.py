"""The Data page's row counts from the per-course rollup equal a live count of every table,
on the hand clinic (counted by hand) and a demo clinic, on SQLite and PostgreSQL, also after
an import refreshed a few courses; stale rollups are never read."""

from __future__ import annotations

from sqlalchemy import delete, select

from kapviz.db import queries, rollup_counts, rollups
from kapviz.db.engine import make_engine
from kapviz.db.models import Assessment, RollupCourseCount
from kapviz.demo import generate_clinic
from tests.db.test_page_rollups import DEMO_SEED, _change_file, _import

HAND_COUNTS = {
    "patients": 5,  # P1–P5
    "courses": 4,  # one each for P1–P4 (P5 is referred only)
    "sessions": 18,  # P1 8 (intake, preparation, 4 doses, integration, follow-up), P2 6
    # (intake, cancelled dose, 3 doses, integration), P3 1 (intake), P4 3 (intake, 2 doses)
    "dosings": 10,  # P1 4, P2 4 (the cancelled one has its dosing row), P4 2
    "assessments": 15,  # P1 8 (4 PHQ-9, 2 GAD-7, MOAA/S, CADSS), P2 5, P4 2
    "side_effects": 6,  # P1 4 (dose 1: 3, dose 2: 1), P2 2
    "vitals": 5,  # P1 dose 1: 3, P2 dose 1: 2
}


def test_hand_clinic_counts_equal_live(clinic):
    """Hand clinic (tests/clinic.py): the rollup's sums are the live counts, key by key."""
    assert rollups.rebuild(clinic.engine)
    clinic.commit()
    live = queries.table_counts(clinic)
    assert rollup_counts.table_counts(clinic) == live
    assert live == HAND_COUNTS
    # One row per course, zeros included (P5 is referred only: no course).
    stored = clinic.execute(select(RollupCourseCount.course_id)).scalars().all()
    assert len(stored) == live["courses"]


def test_assessments_without_a_course_are_counted(clinic):
    """A score stored without a course is in no course's row: counted from its index."""
    clinic.execute(delete(Assessment).where(Assessment.instrument == "GAD-7"))
    clinic.execute(
        Assessment.__table__.update().where(Assessment.patient_id == "P4").values(course_id=None)
    )
    clinic.commit()
    assert rollups.rebuild(clinic.engine)
    clinic.commit()
    unattached = clinic.execute(select(Assessment.id).where(Assessment.course_id.is_(None))).all()
    assert unattached
    assert rollup_counts.table_counts(clinic) == queries.table_counts(clinic)


def test_demo_counts_equal_live(demo):
    """The demo generator builds them; every table's sum equals its count."""
    assert rollups.is_current(demo)
    counts = rollup_counts.table_counts(demo)
    assert counts == queries.table_counts(demo)
    assert counts["patients"] == 300 and counts["vitals"] > 1000


def test_counts_after_an_import_equal_live(db_url, tmp_path):
    """An import refreshes the touched courses' counts: still every table's true count,
    and the same rows as a full rebuild."""
    engine = make_engine(db_url)
    generate_clinic(engine, patients=80, seed=DEMO_SEED)
    with engine.connect() as conn:
        before = queries.table_counts(conn)
    folder = tmp_path / "change"
    _change_file(engine, folder)
    _import(engine, folder)
    with engine.connect() as conn:
        assert rollups.is_current(conn)
        counts = rollup_counts.table_counts(conn)
        assert counts == queries.table_counts(conn)
        assert counts["patients"] == before["patients"] + 1
        assert counts["sessions"] > before["sessions"]
        refreshed = sorted(map(tuple, conn.execute(select(RollupCourseCount)).all()))
    assert rollups.rebuild(engine)
    with engine.connect() as conn:
        assert sorted(map(tuple, conn.execute(select(RollupCourseCount)).all())) == refreshed
