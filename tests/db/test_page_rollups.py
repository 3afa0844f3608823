"""The per-course rollups (the Case explorer's cohort band inputs) give exactly the live
summary for every choice of sites and indications, on the hand clinic and a demo clinic, on
SQLite and PostgreSQL; an import refreshes only the courses it touched, and the refreshed
rows equal a full rebuild's and the live path's."""

from __future__ import annotations

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from sqlalchemy import insert, select

from kapviz.db import rollups
from kapviz.db.aggregates import case as case_sql
from kapviz.db.aggregates import quality as quality_sql
from kapviz.db.engine import make_engine
from kapviz.db.models import Assessment, Course, Patient, RollupCourseBaseline, RollupCoursePoint
from kapviz.demo import generate_clinic
from kapviz.filters import Filters
from kapviz.io.export import export_template
from kapviz.io.template import read_template
from kapviz.io.validate import ExistingKeys, validate
from kapviz.io.write import write_batch
from tests.clinic import build_clinic
from tests.db.test_rollups import _choices

DEMO_SEED = 11
"""Seed of this module's 300-patient demo clinic (tests/db/conftest.py)."""

WINDOW = rollups.COHORT_WINDOW_DAYS


def assert_summary_equal_live(conn, filters: Filters) -> case_sql.CohortSummary:
    """The rollups' cohort summary equals the live one under `filters`; returns it."""
    got = rollups.cohort_summary(conn, filters)
    live = case_sql.cohort_summary(conn, filters, window_days=WINDOW)
    assert_frame_equal(got.values, live.values.reset_index(drop=True), check_exact=True)
    assert_frame_equal(got.baselines, live.baselines.reset_index(drop=True), check_exact=True)
    return got


def assert_missing_equal_live(conn, limit: int = 200) -> int:
    """The rollups' missing pre-dose check equals the live one; returns the count."""
    got = rollups.dosing_without_predose(conn, Filters(), limit=limit)
    live = quality_sql.dosing_without_predose(conn, Filters(), limit=limit)
    assert got.count == live.count
    assert_frame_equal(got.newest, live.newest, check_exact=True)
    return got.count


def test_demo_cohort_rows_are_built_with_the_clinic_and_equal_live(demo):
    """The demo generator builds them; every choice of sites and indications agrees."""
    assert rollups.is_current(demo)
    summaries = [assert_summary_equal_live(demo, f) for f in _choices(demo)]
    assert summaries[0].baselines["courses"].sum() > 200
    assert summaries[-1].values.empty and summaries[-1].baselines.empty
    assert 0 < summaries[1].baselines["courses"].sum() < summaries[0].baselines["courses"].sum()
    assert assert_missing_equal_live(demo) > 0
    assert assert_missing_equal_live(demo, limit=3) > 3  # ties at the cut included as live


def test_missing_predose_rollup_serves_the_whole_clinic_only(clinic):
    """A filtered Data check is asked of the live query, never of the rollup."""
    assert rollups.rebuild(clinic.engine)
    with pytest.raises(ValueError):
        rollups.dosing_without_predose(clinic, Filters(sites=("North",)))


def test_clinic_cohort_rows_hand_values_and_equal_live(clinic):
    """Hand clinic: P1's PHQ-9 course (baseline 18: intake 20, preparation 18, dose 3 12,
    follow-up 8) is kept as four point rows with its site and indication."""
    assert rollups.rebuild(clinic.engine)
    t = RollupCoursePoint
    rows = clinic.execute(
        select(t.site, t.indication, t.baseline, t.total_sum, t.scores)
        .join(Course, Course.course_id == t.course_id)
        .where(Course.patient_id == "P1", t.instrument == "PHQ-9")
        .order_by(t.point_order)
    ).all()
    assert [tuple(r) for r in rows] == [
        ("North", "TRD", 18, 20, 1),
        ("North", "TRD", 18, 18, 1),
        ("North", "TRD", 18, 12, 1),
        ("North", "TRD", 18, 8, 1),
    ]
    for filters in _choices(clinic):
        assert_summary_equal_live(clinic, filters)
    # Without a PHQ-9 in the 7 days before: P4's two doses (its scores are 40 days before
    # and after) and P2's third (day 14; its PHQ-9 was on day 5).
    assert assert_missing_equal_live(clinic) == 3
    newest = rollups.dosing_without_predose(clinic, Filters()).newest
    assert list(newest["session_id"]) == ["P4-D2", "P4-D1", "P2-D3"]


def test_clinic_cohort_rows_skip_courses_without_a_baseline(clinic):
    """Only courses with a baseline have rows: exactly the live summary's course count."""
    assert rollups.rebuild(clinic.engine)
    live = case_sql.cohort_summary(clinic, Filters(), window_days=WINDOW)
    stored = clinic.execute(select(RollupCourseBaseline.course_id)).scalars().all()
    assert len(stored) == live.baselines["courses"].sum()


# --- Incremental refresh ----------------------------------------------------------------


def _dump(conn) -> dict[str, list[tuple]]:
    """Every rollup table's rows without surrogate ids, sorted."""
    out = {}
    for table in rollups.TABLES:
        columns = [c for c in table.__table__.c if not (c.primary_key and c.name == "id")]
        rows = conn.execute(select(*columns)).all()
        out[table.__tablename__] = sorted((tuple(r) for r in rows), key=repr)
    return out


def _change_file(engine, folder) -> None:
    """A template folder that moves DEMO-00001 to another site, lowers DEMO-00002's scores,
    and adds a new patient NEW-00001 (a copy of DEMO-00003's course under new ids)."""
    whole = folder.parent / "whole"
    export_template(engine, whole)

    def read(name):
        return pd.read_csv(whole / f"{name}.csv", dtype=str, keep_default_na=False)

    def renamed(frame):
        return frame.replace({"DEMO-00003": "NEW-00001", "DEMO-S": "NEW-S"}, regex=True)

    patients, sessions, scores = read("patients"), read("sessions"), read("assessments")
    moved = patients[patients["patient_id"] == "DEMO-00001"].copy()
    other = sorted(set(patients["site"]) - set(moved["site"]))[0]
    moved["site"] = other
    new = renamed(patients[patients["patient_id"] == "DEMO-00003"])
    items = [c for c in scores.columns if c.startswith("item_")]
    whole_only = (scores[items] == "").all(axis=1)  # a total without items to add up
    lowered = scores[(scores["patient_id"] == "DEMO-00002") & whole_only].copy()
    assert len(lowered)
    lowered["total"] = (lowered["total"].astype(int) // 2).astype(str)
    folder.mkdir()
    pd.concat([moved, new]).to_csv(folder / "patients.csv", index=False)
    renamed(sessions[sessions["patient_id"] == "DEMO-00003"]).to_csv(
        folder / "sessions.csv", index=False
    )
    pd.concat([lowered, renamed(scores[scores["patient_id"] == "DEMO-00003"])]).to_csv(
        folder / "assessments.csv", index=False
    )


def _import(engine, folder):
    with engine.connect() as conn:
        validated = validate(read_template(folder), existing=ExistingKeys.load(conn))
    assert not validated.problems, validated.problems[:3]
    return write_batch(engine, validated, source="change", kind="template")


def test_import_refreshes_only_touched_courses(db_url, tmp_path, monkeypatch):
    """Refreshed rollups == a full rebuild == live, after an import that changes a few
    courses (a site change, changed scores, a new patient); only those courses recomputed."""
    engine = make_engine(db_url)
    generate_clinic(engine, patients=120, seed=DEMO_SEED)
    folder = tmp_path / "change"
    _change_file(engine, folder)
    asked: list = []
    course_rows = rollups._course_rows

    def spy(conn, courses):
        asked.append(None if courses is None else list(courses))
        return course_rows(conn, courses)

    monkeypatch.setattr(rollups, "_course_rows", spy)
    result = _import(engine, folder)
    assert result.added > 0 and result.updated > 0
    with engine.connect() as conn:
        expected = conn.execute(
            select(Course.course_id).where(
                Course.patient_id.in_(["DEMO-00001", "DEMO-00002", "NEW-00001"])
            )
        ).scalars()
        assert asked == [sorted(expected)]
        assert rollups.is_current(conn)
        refreshed = _dump(conn)
        for filters in _choices(conn):
            assert_summary_equal_live(conn, filters)
        assert_missing_equal_live(conn)
        site = conn.execute(
            select(Patient.site).where(Patient.patient_id == "DEMO-00001")
        ).scalar_one()
        moved = conn.execute(
            select(RollupCourseBaseline.site)
            .join(Course, Course.course_id == RollupCourseBaseline.course_id)
            .where(Course.patient_id == "DEMO-00001")
        ).scalars()
        assert set(moved) <= {site}
    monkeypatch.setattr(rollups, "_course_rows", course_rows)
    assert rollups.rebuild(engine)
    with engine.connect() as conn:
        assert _dump(conn) == refreshed


def test_refresh_rebuilds_rollups_that_were_not_current(sqlite_url, tmp_path, monkeypatch):
    """Rollups stale before the import (another program wrote the data): all rebuilt."""
    engine = make_engine(sqlite_url)
    generate_clinic(engine, patients=60, seed=DEMO_SEED)
    folder = tmp_path / "change"
    _change_file(engine, folder)
    with engine.begin() as conn:  # written behind the rollups' back
        course = conn.execute(
            select(Course.course_id).where(Course.patient_id == "DEMO-00004")
        ).scalar_one()
        score = {"patient_id": "DEMO-00004", "course_id": course, "instrument": "PHQ-9"}
        score |= {"administered_at": pd.Timestamp("2020-01-01").to_pydatetime(), "total": 5}
        conn.execute(insert(Assessment), [score])
    asked: list = []
    course_rows = rollups._course_rows
    monkeypatch.setattr(
        rollups,
        "_course_rows",
        lambda conn, courses: asked.append(courses) or course_rows(conn, courses),
    )
    _import(engine, folder)
    assert asked == [] or asked[0] is None


@pytest.mark.parametrize("many", [False, True])
def test_refresh_by_hand(sqlite_url, many):
    """`refresh` with the stamp before a change: a few courses incrementally, most courses
    (or no known stamp) by a full rebuild; both leave current rollups."""
    engine = make_engine(sqlite_url)
    build_clinic(engine)
    assert rollups.rebuild(engine)
    with engine.connect() as conn:
        was = rollups.stamp(rollups.queries.clinic_version(conn))
        courses = conn.execute(select(Course.course_id)).scalars().all()
        before = _dump(conn)
    assert rollups.refresh(engine, courses if many else courses[:1], was=was)
    with engine.connect() as conn:
        assert rollups.is_current(conn)
        assert _dump(conn) == before
