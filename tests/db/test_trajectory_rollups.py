"""The Trajectories page's per-course rollup (RollupTrajectoryValue) gives exactly the live
course values (kapviz.metrics.trajectory_tables.course_values of the live placed points)
for every outcome instrument, both time axes and every choice of sites and indications, on
the hand clinic and a demo clinic, on SQLite and PostgreSQL; also after an import refreshed
only the courses it touched."""

from __future__ import annotations

import pandas as pd
from pandas.testing import assert_frame_equal
from sqlalchemy import select

from kapviz.db import rollups
from kapviz.db.aggregates import cohort
from kapviz.db.engine import make_engine
from kapviz.db.models import RollupTrajectoryValue
from kapviz.demo import generate_clinic
from kapviz.filters import Filters
from kapviz.instruments import OUTCOME_INSTRUMENTS
from kapviz.metrics import trajectory_tables
from kapviz.metrics.trajectory_axes import AXES, points_from_scores
from tests.db.test_page_rollups import _change_file, _import
from tests.db.test_rollups import _choices

DEMO_SEED = 11
WINDOW = rollups.COHORT_WINDOW_DAYS


def live_values(conn, filters: Filters, instrument: str, axis: str) -> pd.DataFrame:
    """The page's live path: the scores in scope placed, one value per course and point."""
    scores = cohort.outcome_scores(conn, filters)
    points = points_from_scores(
        scores,
        cohort.course_anchors(conn, filters),
        cohort.completed_doses(conn, filters),
        cohort.session_times(conn, filters),
        baseline_window_days=WINDOW,
        compact=True,
    )
    mine = points[points["instrument"].astype(object) == instrument]
    return trajectory_tables.course_values(mine, axis=axis)


def assert_values_equal_live(conn, filters: Filters) -> int:
    """Every instrument and axis agree exactly; returns the number of course values."""
    n = 0
    for instrument in OUTCOME_INSTRUMENTS:
        for axis in AXES:
            got = rollups.trajectory_values(conn, filters, instrument=instrument, axis=axis)
            live = live_values(conn, filters, instrument, axis)
            assert_frame_equal(got, live, check_exact=True, obj=f"{instrument} {axis} {filters}")
            n += len(got)
    return n


def test_clinic_hand_values_and_equal_live(clinic):
    """P1's PHQ-9 (intake day 0: 20, day 7 08:00 before the first dose at 10:00: 18, dose 3
    on day 14: 12, follow-up day 46: 8): one row per point on the session axis; on the days
    axis the first two share the baseline bin (sum 38 of 2 scores, mean 19)."""
    assert rollups.rebuild(clinic.engine)
    t = RollupTrajectoryValue
    rows = clinic.execute(
        select(t.axis, t.point_order, t.phase, t.total_sum, t.scores, t.site, t.indication)
        .where(t.course_id == "P1-C1", t.instrument == "PHQ-9")
        .order_by(t.axis.desc(), t.point_order)
    ).all()
    assert [tuple(r) for r in rows] == [
        ("session", 0, "intake", 20, 1, "North", "TRD"),
        ("session", 1, "preparation", 18, 1, "North", "TRD"),
        ("session", 4, "dosing", 12, 1, "North", "TRD"),
        ("session", 14, "follow_up", 8, 1, "North", "TRD"),
        ("days", 0, "intake", 38, 2, "North", "TRD"),
        ("days", 1, "dosing", 12, 1, "North", "TRD"),
        ("days", 6, "follow_up", 8, 1, "North", "TRD"),
    ]
    got = rollups.trajectory_values(clinic, Filters(), instrument="PHQ-9", axis="days")
    p1 = got[got["course_id"] == "P1-C1"]
    assert list(p1["total"]) == [19.0, 12.0, 8.0]
    assert list(p1["point"]) == ["Baseline (−30–0 d)", "Week 1", "Week 6"]
    for filters in _choices(clinic):
        assert_values_equal_live(clinic, filters)


def test_demo_values_are_built_with_the_clinic_and_equal_live(demo):
    """The demo generator builds them; every choice of sites and indications agrees."""
    assert rollups.is_current(demo)
    counts = [assert_values_equal_live(demo, f) for f in _choices(demo)]
    assert counts[0] > 1000
    assert 0 < counts[1] < counts[0]
    assert counts[-1] == 0


def test_import_refresh_keeps_values_equal_live(db_url, tmp_path):
    """After an import that moves a patient, changes scores and adds a patient, the
    refreshed rows equal the live values and a full rebuild's rows."""
    engine = make_engine(db_url)
    generate_clinic(engine, patients=80, seed=DEMO_SEED)
    folder = tmp_path / "change"
    _change_file(engine, folder)
    _import(engine, folder)

    def stored(conn) -> list[tuple]:
        t = RollupTrajectoryValue
        columns = [c for c in t.__table__.c if c.name != "id"]
        return sorted((tuple(r) for r in conn.execute(select(*columns))), key=repr)

    with engine.connect() as conn:
        assert rollups.is_current(conn)
        refreshed = stored(conn)
        assert any(r[0].startswith("NEW-") for r in refreshed)  # course_id of the new patient
        for filters in _choices(conn):
            assert_values_equal_live(conn, filters)
    assert rollups.rebuild(engine)
    with engine.connect() as conn:
        assert stored(conn) == refreshed


def assert_counts_equal_live(conn, filters: Filters) -> None:
    """The value counts of both measures, counted in SQL, equal the live values' counts."""
    outcomes = rollups.course_outcomes(conn, filters, baseline_window_days=WINDOW)
    for instrument in OUTCOME_INSTRUMENTS:
        for axis in AXES:
            live = live_values(conn, filters, instrument, axis)
            change = trajectory_tables.paired_change_values(live, outcomes)
            for paired, values in ((False, live), (True, change)):
                got = rollups.trajectory_counts(
                    conn, filters, instrument=instrument, axis=axis, paired=paired
                )
                expected = trajectory_tables.value_counts(values)
                assert_frame_equal(got, expected, check_exact=True)
                courses = rollups.trajectory_courses(
                    conn, filters, instrument=instrument, axis=axis, paired=paired
                )
                assert list(courses["course_id"]) == list(pd.unique(values["course_id"]))


def test_counts_and_courses_equal_live(demo):
    """Counted in SQL (with the outcome rows' baselines for the paired view): the same
    counts and the same courses, in the same order, as the live values."""
    for filters in _choices(demo):
        assert_counts_equal_live(demo, filters)


def test_table_from_counts_is_table_from_values(demo):
    """The cohort table from counts is the table of the values themselves (the same
    courses, medians and quartiles; the mean to the last bits of its sum's order)."""
    for axis in AXES:
        values = live_values(demo, Filters(), "PHQ-9", axis)
        got = trajectory_tables.table_from_counts(trajectory_tables.value_counts(values), axis=axis)
        want = trajectory_tables.table_from_values(values, axis=axis)
        assert_frame_equal(got, want, check_exact=False, rtol=1e-12, atol=1e-12)


def test_page_view_and_model_from_rollups_equal_live(demo, monkeypatch):
    """The page's view from the rollups (SQL counts, the sampled courses' values only) and
    its mixed model (the sampled courses placed alone) equal the live ones, with samples
    small enough to be taken on this clinic."""
    import streamlit as st

    from kapviz.metrics.trajectory_tables import CohortMeasure
    from kapviz.ui import trajectories as page

    url = demo.engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("KAPVIZ_DATABASE_URL", url)
    monkeypatch.setattr(page, "MAX_LINES", 25)
    monkeypatch.setattr(page, "MODEL_COURSES", 40)
    st.cache_data.clear()
    st.cache_resource.clear()
    try:
        site = sorted(demo.execute(select(rollups.Patient.site).distinct()).scalars())[0]
        for filters in (Filters(), Filters(sites=(site,))):
            assert page.from_rollups(filters)
            for axis in AXES:
                got = page._rollup_view(filters, "PHQ-9", axis)
                live = page._live_view(filters, "PHQ-9", axis, WINDOW)
                assert got.courses_total > 25 and got.change_total > 25
                assert got.lines["course_id"].nunique() == 25
                for name in ("table", "change_table", "lines", "change_lines"):
                    assert_frame_equal(getattr(got, name), getattr(live, name), check_exact=True)
                assert (got.courses_total, got.change_total) == (
                    live.courses_total,
                    live.change_total,
                )
                for measure in CohortMeasure:
                    assert_frame_equal(
                        page.points_table(got, measure), page.points_table(live, measure)
                    )
            fitted = page._rollup_model(url, filters, "PHQ-9")
            points = page.data.trajectory_points(filters, instrument="PHQ-9")
            want = page.model_metrics.fit_trajectory_model(
                points, instrument="PHQ-9", max_courses=40
            )
            assert fitted.sampled_from == want.sampled_from and want.sampled_from > 40
            assert (fitted.n_scores, fitted.n_courses) == (want.n_scores, want.n_courses)
            assert fitted.params == want.params
            for axis in AXES:
                band, expected = fitted.band(axis), want.band(axis)
                assert (band is None) == (expected is None)
                if band is not None:
                    assert_frame_equal(band, expected, check_exact=True)
    finally:
        st.cache_data.clear()
        st.cache_resource.clear()


def assert_censored_doses_give_the_same_times(conn, filters: Filters) -> int:
    """Time to response from the censored courses' doses alone equals it from every
    completed dose, for each outcome instrument; returns how many courses were censored."""
    from kapviz.metrics import time_to_response as ttr

    outcomes = rollups.course_outcomes(conn, filters, baseline_window_days=30)
    every = cohort.completed_doses(conn, filters)
    censored = 0
    for instrument in OUTCOME_INSTRUMENTS:
        mine = outcomes[outcomes["instrument"] == instrument]
        some = rollups.censored_doses(conn, filters, instrument=instrument, baseline_window_days=30)
        want = ttr.response_times(mine, every)
        assert_frame_equal(ttr.response_times(mine, some), want, check_exact=True)
        assert set(some["course_id"]) <= set(want.loc[~want["responded"], "course_id"])
        censored += int((~want["responded"]).sum())
    return censored


def test_censored_doses_give_the_same_times_to_response(demo):
    """TTR's dose counts at censored endpoints from a fraction of the doses: the same
    frame, on every choice of sites and indications; another window reads live (None)."""
    assert rollups.is_current(demo)
    counts = [assert_censored_doses_give_the_same_times(demo, f) for f in _choices(demo)]
    assert counts[0] > 50 and counts[-1] == 0
    assert (
        rollups.censored_doses(demo, Filters(), instrument="PHQ-9", baseline_window_days=14) is None
    )


def test_censored_doses_on_the_hand_clinic(clinic):
    assert rollups.rebuild(clinic.engine)
    for filters in _choices(clinic):
        assert_censored_doses_give_the_same_times(clinic, filters)


def test_page_reads_censored_doses_from_rollups(demo, monkeypatch):
    """With current rollups the Trajectories page's time to response reads the censored
    courses' doses only (fewer rows than every dose) and draws the same times."""
    import streamlit as st

    from kapviz.metrics import time_to_response as ttr
    from kapviz.ui import time_to_response as section

    url = demo.engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("KAPVIZ_DATABASE_URL", url)
    st.cache_data.clear()
    st.cache_resource.clear()
    try:
        every = cohort.completed_doses(demo, Filters())
        outcomes = rollups.course_outcomes(demo, Filters(), baseline_window_days=30)
        mine = outcomes[outcomes["instrument"] == "PHQ-9"]
        doses = section._doses(Filters(), "PHQ-9", 30)
        assert 0 < len(doses) < len(every)
        assert_frame_equal(
            ttr.response_times(mine, doses), ttr.response_times(mine, every), check_exact=True
        )
    finally:
        st.cache_data.clear()
        st.cache_resource.clear()
