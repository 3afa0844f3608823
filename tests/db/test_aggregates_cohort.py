"""The cohort reads (scores, course anchors, doses, first doses) equal the pandas definitions,
so outcomes, trajectory points and course attributes computed from them are exactly
`course_outcomes`, `trajectory_points` and `course_attributes` of the raw frames: on the
hand clinic and a 300-patient demo clinic, on SQLite and PostgreSQL, with filters and a
clinician's scope."""

from datetime import date, datetime, timedelta

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from sqlalchemy import insert

from kapviz.auth.scope import ScopedFilters
from kapviz.db import queries
from kapviz.db.aggregates import cohort
from kapviz.db.models import Assessment, Course, Session
from kapviz.filters import Filters
from kapviz.instruments import OUTCOME_INSTRUMENTS
from kapviz.metrics import course_attributes
from kapviz.metrics import scores as sm
from kapviz.metrics.outcomes import course_outcomes, outcomes_from_scores
from kapviz.metrics.trajectory_axes import points_from_scores, trajectory_points
from tests.clinic import ANCHOR

DEMO_SEED = 5
"""Seed of this module's 300-patient demo clinic (tests/db/conftest.py)."""

FILTERS = [
    Filters(),
    Filters(sites=("North",)),
    Filters(routes=("im",)),
    Filters(start=date(2026, 2, 14), end=date(2026, 2, 20)),
    Filters(sites=("Nowhere",)),
]
IDS = ["all", "site", "route", "dates", "nothing"]


def assert_same(conn, filters, *, window: int = 30):
    """Each cohort read equals its definition; outcomes and points equal the raw metrics."""
    sessions = queries.sessions(conn, filters)
    assessments = queries.assessments(conn, filters, instruments=list(OUTCOME_INSTRUMENTS))
    scores = cohort.outcome_scores(conn, filters)
    anchors = cohort.course_anchors(conn, filters)
    doses = cohort.completed_doses(conn, filters)
    assert_frame_equal(scores, sm.course_scores(assessments, sessions), check_exact=True)
    assert_frame_equal(anchors, sm.course_anchors(sessions), check_exact=True)
    assert_frame_equal(doses, sm.completed_doses(sessions), check_exact=True)
    outcomes = outcomes_from_scores(scores, anchors, doses, baseline_window_days=window)
    assert_frame_equal(
        outcomes,
        course_outcomes(sessions, assessments, baseline_window_days=window),
        check_exact=True,
    )
    times = cohort.session_times(conn, filters)
    assert_frame_equal(
        times.sort_values("session_id", ignore_index=True),
        sessions[list(sm.SESSION_TIME_COLUMNS)]
        .astype({"started_at": "datetime64[us]"})
        .sort_values("session_id", ignore_index=True),
        check_exact=True,
        check_dtype=False,
    )
    points = points_from_scores(scores, anchors, doses, times, baseline_window_days=window)
    assert_frame_equal(
        points,
        trajectory_points(sessions, assessments, baseline_window_days=window),
        check_exact=True,
    )
    assert_frame_equal(
        course_attributes.attributes_from_first_doses(cohort.course_first_doses(conn, filters)),
        course_attributes.course_attributes(sessions),
        check_exact=True,
    )
    return outcomes, points


@pytest.mark.parametrize("filters", FILTERS, ids=IDS)
def test_clinic_reads_equal_the_definitions(clinic, filters):
    """Hand clinic: the SQL reads give the pandas frames, hence the same outcomes."""
    assert_same(clinic, filters)


def test_clinic_hand_computed_outcomes(clinic):
    """P1 PHQ-9 18 → 8 responds; P4 has no baseline; P2 PCL-5 −9 is a reliable improvement."""
    outcomes, points = assert_same(clinic, Filters())
    rows = outcomes.set_index(["course_id", "instrument"])
    assert rows.loc[("P1-C1", "PHQ-9"), ["baseline", "endpoint", "is_response"]].tolist() == [
        18,
        8,
        True,
    ]
    assert rows.loc[("P4-C1", "PHQ-9"), "not_evaluable_reason"].startswith("no baseline")
    assert bool(rows.loc[("P2-C1", "PCL-5"), "reliable_improvement"]) is True
    assert len(points) == 12  # 15 scores less two MOAA/S and one CADSS


def test_clinic_scoped_to_a_clinician(clinic):
    """A clinician's scope (own patients) applies to the cohort reads like the raw frames."""
    outcomes, _ = assert_same(clinic, ScopedFilters(clinician="CL-S1"))
    assert set(outcomes["patient_id"]) == {"P4"}


def test_clinic_other_baseline_window(clinic):
    """The configurable window reaches the SQL path too (45 days: P4 gets its baseline)."""
    outcomes, _ = assert_same(clinic, Filters(), window=45)
    p4 = outcomes[outcomes["course_id"] == "P4-C1"].iloc[0]
    assert (p4["baseline"], p4["endpoint"]) == (22, 15)


def test_scores_without_a_stored_course(clinic):
    """Scores stored without a course: the tied session's, else by date (DOMAIN.md §3)."""

    def at(day: int) -> datetime:
        return datetime.combine(ANCHOR, datetime.min.time()) + timedelta(days=day, hours=9)

    rows = [
        ("P1", None, 130, 9),  # untied, after P1-C2 began → P1-C2
        ("P1", None, -10, 21),  # untied, before every course → the first, P1-C1
        ("P2", "P2-D1", 7, 9),  # tied → the session's course, P2-C1
    ]
    # Committed: the Arrow reads open their own connection and see committed rows only.
    with clinic.engine.begin() as writer:
        writer.execute(insert(Course), [{"course_id": "P1-C2", "patient_id": "P1"}])
        writer.execute(
            insert(Session),
            [
                dict(
                    session_id="P1-C2-S1",
                    patient_id="P1",
                    course_id="P1-C2",
                    started_at=at(120),
                    phase="preparation",
                    status="completed",
                )
            ],
        )
        writer.execute(
            insert(Assessment),
            [
                dict(
                    patient_id=pid,
                    course_id=None,
                    session_id=sid,
                    instrument="GAD-7",
                    administered_at=at(day),
                    total=total,
                )
                for pid, sid, day, total in rows
            ],
        )
    scores = cohort.outcome_scores(clinic, Filters())
    courses = scores.set_index("total").loc[[9, 21], ["course_id", "administered_at"]]
    assert sorted(map(tuple, courses.astype(str).to_numpy())) == [
        ("P1-C1", str(at(-10))),
        ("P1-C2", str(at(130))),
        ("P2-C1", str(at(7))),
    ]
    assert_same(clinic, Filters())


@pytest.mark.parametrize("filters", FILTERS[:4], ids=IDS[:4])
def test_demo_reads_equal_the_definitions(demo, filters):
    """300-patient demo clinic, both backends: the same frames and outcomes as pandas."""
    outcomes, points = assert_same(demo, filters)
    if filters.is_empty:
        assert outcomes["evaluable"].sum() > 100
        assert len(points) > 3000


def test_demo_scoped_to_a_clinician(demo):
    """A clinician's scope on the demo clinic (own patients only)."""
    clinician = queries.sessions(demo)["clinician"].dropna().iloc[0]
    outcomes, _ = assert_same(demo, ScopedFilters(clinician=clinician))
    assert len(outcomes) > 0


def test_clinic_first_doses_hand_computed(clinic):
    """P2's first completed dose is IM 60 mg at 0.75 mg/kg (its cancelled first session is
    skipped); P3 has no dose; P4's sublingual 200 mg bands by mg."""
    attributes = course_attributes.attributes_from_first_doses(
        cohort.course_first_doses(clinic, Filters())
    )
    rows = attributes.set_index("course_id")
    assert rows.loc["P2-C1", ["site", "route", "dose_band"]].tolist() == [
        "North",
        "IM",
        "≥ 0.75 mg/kg",
    ]
    assert pd.isna(rows.loc["P3-C1", "route"]) and rows.loc["P3-C1", "dose_band"] is None
    assert rows.loc["P4-C1", ["route", "dose_band"]].tolist() == ["Sublingual", "≥ 200 mg"]


def test_first_dose_without_dosing_details(clinic):
    """A course's first completed dose recorded without dosing details: no route or band
    (the pandas definition's outer join), not the next dose's."""
    started = datetime.combine(ANCHOR, datetime.min.time()) + timedelta(days=39, hours=9)
    with clinic.engine.begin() as writer:
        writer.execute(
            insert(Session),
            [
                dict(
                    session_id="P4-D0",
                    patient_id="P4",
                    course_id="P4-C1",
                    started_at=started,
                    phase="dosing",
                    status="completed",
                )
            ],
        )
    assert_same(clinic, Filters())
    rows = course_attributes.attributes_from_first_doses(
        cohort.course_first_doses(clinic, Filters())
    )
    p4 = rows.set_index("course_id").loc["P4-C1"]
    assert pd.isna(p4["route"]) and p4["dose_band"] is None
