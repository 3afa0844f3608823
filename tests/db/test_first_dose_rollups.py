"""Each course's first completed dose kept per course (RollupCourseFirstDose,
kapviz.db.first_dose_rollups) gives exactly the live read
(kapviz.db.aggregates.cohort.course_first_doses): the same rows in the same order for every
choice of sites and indications, on the hand clinic and a demo clinic, on SQLite and
PostgreSQL; also after an import refreshed only the courses it touched."""

from __future__ import annotations

import pandas as pd
from pandas.testing import assert_frame_equal
from sqlalchemy import select

from kapviz.db import first_dose_rollups, rollups
from kapviz.db.aggregates import cohort
from kapviz.db.engine import make_engine
from kapviz.db.models import RollupCourseFirstDose
from kapviz.demo import generate_clinic
from kapviz.filters import Filters
from tests.db.test_page_rollups import _change_file, _import
from tests.db.test_rollups import _choices

DEMO_SEED = 11


def assert_equal_live(conn, filters) -> int:
    """The rows agree exactly; returns how many there are."""
    got = first_dose_rollups.first_doses(conn, filters)
    want = cohort.course_first_doses(conn, filters)
    assert_frame_equal(got, want, check_exact=True, obj=f"first doses {filters}")
    return len(got)


def test_clinic_hand_first_doses_and_equal_live(clinic):
    """Hand clinic (tests/clinic.py): every course with a completed dose has its route and
    dose; every choice of sites and indications agrees with the live read."""
    assert rollups.rebuild(clinic.engine)
    whole = first_dose_rollups.first_doses(clinic, Filters()).set_index("course_id")
    # P3 had an intake only (not eligible): a course with no dose, so no route or dose.
    assert whole.loc[["P1-C1", "P2-C1", "P4-C1"], "route"].tolist() == ["iv", "im", "sublingual"]
    assert whole.loc[["P1-C1", "P2-C1", "P4-C1"], "dose_mg"].notna().all()
    assert pd.isna(whole.loc["P3-C1", "route"]) and pd.isna(whole.loc["P3-C1", "dose_mg"])
    for filters in _choices(clinic):
        assert_equal_live(clinic, filters)


def test_demo_equal_live(demo):
    """The demo generator builds them; every choice of sites and indications agrees."""
    assert rollups.is_current(demo)
    counts = [assert_equal_live(demo, f) for f in _choices(demo)]
    assert counts[0] > 250
    assert 0 < counts[1] < counts[0]
    assert counts[-1] == 0


def test_import_refresh_keeps_first_doses_equal_live(db_url, tmp_path):
    """After an import that moves a patient, changes scores and adds a patient, the
    refreshed rows equal the live read and a full rebuild's rows."""
    engine = make_engine(db_url)
    generate_clinic(engine, patients=80, seed=DEMO_SEED)
    folder = tmp_path / "change"
    _change_file(engine, folder)
    _import(engine, folder)

    def stored(conn) -> list[tuple]:
        columns = list(RollupCourseFirstDose.__table__.c)
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
