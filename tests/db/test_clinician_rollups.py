"""The clinician view's per-course rollup (RollupCourseClinician, kapviz.db.clinician_rollups)
gives exactly the live inputs (kapviz.db.aggregates.clinicians.inputs): each course's
clinician and the doses, adverse events and BP-excursion doses per clinician, for every
choice of sites and indications, on the hand clinic and a demo clinic, on SQLite and
PostgreSQL; also after an import refreshed only the courses it touched. Rows built at
other excursion thresholds are not used."""

from __future__ import annotations

from pandas.testing import assert_frame_equal, assert_series_equal
from sqlalchemy import select

from kapviz.config import Settings
from kapviz.db import clinician_rollups, rollups
from kapviz.db.aggregates import clinicians as clinicians_sql
from kapviz.db.engine import make_engine
from kapviz.db.models import RollupCourseClinician
from kapviz.demo import generate_clinic
from kapviz.filters import Filters
from tests.db.test_page_rollups import _change_file, _import
from tests.db.test_rollups import _choices

DEMO_SEED = 11
SETTINGS = Settings()
THRESHOLDS = {
    "systolic": SETTINGS.bp_excursion_systolic,
    "diastolic": SETTINGS.bp_excursion_diastolic,
}


def assert_equal_live(conn, filters: Filters) -> int:
    """Clinicians and counts agree exactly; returns the doses counted."""
    stored = clinician_rollups.inputs(conn, filters, **THRESHOLDS)
    assert stored is not None
    got_of, got_counts = stored
    want_of, want_counts = clinicians_sql.inputs(conn, filters, **THRESHOLDS)
    assert_series_equal(got_of, want_of, check_exact=True, obj=f"clinicians {filters}")
    assert_frame_equal(got_counts, want_counts, check_exact=True, obj=f"counts {filters}")
    return int(got_counts["dosing_sessions"].sum())


def test_clinic_hand_counts_and_equal_live(clinic):
    """Hand clinic (tests/clinic.py): P1, P2 dosed by CL-N1, P3, P4 by CL-S1; the rows sum to
    the live figures for every choice of sites and indications."""
    assert rollups.rebuild(clinic.engine)
    rows = clinic.execute(
        select(RollupCourseClinician.course_id, RollupCourseClinician.clinician).order_by(
            RollupCourseClinician.course_id
        )
    ).all()
    assert {who for c, who in rows if c < "P3"} == {"CL-N1"}
    assert {who for c, who in rows if c >= "P3"} == {"CL-S1"}
    for filters in _choices(clinic):
        assert_equal_live(clinic, filters)


def test_other_thresholds_read_live(clinic):
    """Rows stored at the settings' thresholds do not answer for other ones."""
    assert rollups.rebuild(clinic.engine)
    assert clinician_rollups.inputs(clinic, Filters(), systolic=100, diastolic=60) is None
    assert clinician_rollups.inputs(clinic, Filters(), **THRESHOLDS) is not None


def test_demo_equal_live(demo):
    """The demo generator builds them; every choice of sites and indications agrees, and
    the counts are not trivially zero."""
    assert rollups.is_current(demo)
    doses = [assert_equal_live(demo, f) for f in _choices(demo)]
    assert doses[0] > 1000
    assert 0 < doses[1] < doses[0]
    assert doses[-1] == 0
    _, counts = clinician_rollups.inputs(demo, Filters(), **THRESHOLDS)
    assert counts["adverse_events"].sum() > 0 and counts["excursion_sessions"].sum() > 0


def test_import_refresh_keeps_counts_equal_live(db_url, tmp_path):
    """After an import that moves a patient, changes scores and adds a patient, the
    refreshed rows equal the live inputs and a full rebuild's rows."""
    engine = make_engine(db_url)
    generate_clinic(engine, patients=80, seed=DEMO_SEED)
    folder = tmp_path / "change"
    _change_file(engine, folder)
    _import(engine, folder)

    def stored(conn) -> list[tuple]:
        columns = list(RollupCourseClinician.__table__.c)
        return sorted((tuple(r) for r in conn.execute(select(*columns))), key=repr)

    with engine.connect() as conn:
        assert rollups.is_current(conn)
        refreshed = stored(conn)
        assert any(r[0].startswith("NEW-") for r in refreshed)  # the new patient's course
        for filters in _choices(conn):
            assert_equal_live(conn, filters)
    assert rollups.rebuild(engine)
    with engine.connect() as conn:
        assert stored(conn) == refreshed
