"""The Overview's rollups give exactly the live queries' numbers, for every choice of sites
and indications, on the hand clinic and a 300-patient demo clinic, on SQLite and PostgreSQL;
they stand in only while they are current and the filters are sites/indications only."""

from datetime import date, datetime

import pytest
from pandas.testing import assert_frame_equal
from sqlalchemy import insert, select

from kapviz.auth.scope import ScopedFilters
from kapviz.db import queries, rollups
from kapviz.db.aggregates import outcomes as outcome_sql
from kapviz.db.aggregates import program as program_sql
from kapviz.db.models import Assessment, Patient, Session
from kapviz.filters import Filters
from kapviz.instruments import OUTCOME_INSTRUMENTS
from kapviz.metrics import program
from tests.clinic import ANCHOR
from tests.reference import outcomes as reference

DEMO_SEED = 11
"""Seed of this module's 300-patient demo clinic (tests/db/conftest.py)."""


def _monthly(daily):
    volume = program.monthly_from_daily(daily)
    events = program.monthly_from_daily(daily.assign(route=""), value="events")
    return volume, events


def assert_rollups_equal_live(conn, filters: Filters) -> list[int]:
    """Each rollup read equals its live query under `filters`; returns the funnel."""
    assert rollups.serves(filters)
    funnel = rollups.funnel_counts(conn, filters)
    assert funnel == program_sql.funnel_counts(conn, filters)
    assert_frame_equal(
        rollups.ineligibility_reasons(conn, filters),
        program_sql.ineligibility_reasons(conn, filters),
        check_exact=True,
    )
    got, live = rollups.dosing_months(conn, filters), program_sql.daily_dosing(conn, filters)
    for got_part, live_part in zip(_monthly(got), _monthly(live), strict=True):
        assert_frame_equal(got_part, live_part, check_exact=True)
    for instrument in (None, "PHQ-9"):
        from_rollup = rollups.course_outcomes(
            conn, filters, instrument=instrument, baseline_window_days=30
        )
        from_live = outcome_sql.course_outcomes(
            conn, filters, instrument=instrument, baseline_window_days=30
        )
        assert_frame_equal(from_rollup, from_live, check_exact=True)
    if filters.is_empty:
        sessions = queries.sessions(conn)
        assessments = queries.assessments(conn, instruments=list(OUTCOME_INSTRUMENTS))
        plain = reference.course_outcomes(sessions, assessments)
        assert reference.as_comparable(from_rollup) == reference.as_comparable(
            [row for row in plain if row["instrument"] == "PHQ-9"]
        )
    return funnel


def _choices(conn) -> list[Filters]:
    """Every kind of site/indication choice on this clinic's own names."""
    sites = sorted(conn.execute(select(Patient.site).distinct()).scalars())
    indications = sorted(
        i for i in conn.execute(select(Patient.indication).distinct()).scalars() if i
    )
    return [
        Filters(),
        Filters(sites=(sites[0],)),
        Filters(sites=tuple(sites[:2])),
        Filters(indications=(indications[0],)),
        Filters(sites=(sites[-1],), indications=tuple(indications[:2])),
        Filters(sites=("Nowhere",)),
    ]


def test_demo_rollups_are_built_with_the_clinic_and_equal_live(demo):
    """The demo generator builds them; every choice of sites and indications agrees."""
    assert rollups.is_current(demo)
    funnels = [assert_rollups_equal_live(demo, f) for f in _choices(demo)]
    assert funnels[0][0] == 300 and funnels[-1] == [0, 0, 0, 0, 0]
    assert 0 < funnels[1][0] < 300


def test_clinic_rollups_hand_counts_and_equal_live(clinic):
    """Hand clinic (tests/clinic.py): P1–P5 referred, P1, P2, P4 eligible (P3 not, for
    uncontrolled hypertension), all three dosed, P1 and P2 finished."""
    clinic.commit()
    assert not rollups.is_current(clinic)  # written without them: the live path
    assert rollups.rebuild(clinic.engine)
    clinic.commit()
    assert rollups.is_current(clinic)
    assert assert_rollups_equal_live(clinic, Filters()) == [5, 4, 3, 3, 2]
    reasons = rollups.ineligibility_reasons(clinic, Filters())
    assert reasons.to_dict("records") == [{"reason": "uncontrolled hypertension", "patients": 1}]
    for filters in _choices(clinic):
        assert_rollups_equal_live(clinic, filters)


def test_rollups_go_stale_when_the_data_change(clinic):
    """A row written afterwards (by anyone) makes them stale until the next rebuild."""
    clinic.commit()
    assert rollups.rebuild(clinic.engine)
    with clinic.engine.begin() as conn:
        conn.execute(
            insert(Session),
            [
                {
                    "session_id": "P1-S99",
                    "patient_id": "P1",
                    "course_id": "P1-C1",
                    "phase": "follow_up",
                    "status": "completed",
                    "started_at": datetime.combine(ANCHOR, datetime.min.time()),
                    "updated_at": datetime(2099, 1, 1),
                }
            ],
        )
    clinic.commit()
    assert not rollups.is_current(clinic)
    assert rollups.rebuild(clinic.engine)
    clinic.commit()
    assert rollups.is_current(clinic)
    assert_rollups_equal_live(clinic, Filters())


def test_untied_phq9_scores_are_placed_in_the_rollups_too(clinic):
    """PHQ-9s stored without a course: the rollups derive their course as the live path."""
    clinic.commit()
    with clinic.engine.begin() as conn:
        conn.execute(
            insert(Assessment),
            [
                {
                    "patient_id": "P1",
                    "course_id": None,
                    "instrument": "PHQ-9",
                    "administered_at": datetime.combine(ANCHOR, datetime.min.time()),
                    "total": 12,
                }
            ],
        )
    assert rollups.rebuild(clinic.engine)
    clinic.commit()
    assert rollups.is_current(clinic)
    assert_rollups_equal_live(clinic, Filters())


def test_rollup_outcomes_of_another_window_are_not_served(clinic):
    """Built with a 30-day baseline window, they do not answer for 14 days: None, read live."""
    clinic.commit()
    assert rollups.rebuild(clinic.engine)
    clinic.commit()
    assert rollups.course_outcomes(clinic, Filters(), baseline_window_days=14) is None
    served = rollups.course_outcomes(clinic, Filters(), baseline_window_days=30)
    assert served is not None and len(served) > 0


def test_course_outcome_rows_of_a_subset_equal_the_whole_build(clinic):
    """The rows of some courses (an incremental refresh) are the whole build's rows."""
    clinic.commit()
    whole = rollups.course_outcome_rows(clinic, baseline_window_days=30)
    assert set(whole.columns) >= {"site", "indication", "course_id", "instrument"}
    ids = {"P1-C1", "P4-C1"}
    part = rollups.course_outcome_rows(clinic, ids, baseline_window_days=30)
    want = whole[whole["course_id"].isin(ids)].reset_index(drop=True)
    assert_frame_equal(part, want, check_exact=True)
    assert set(part["course_id"]) == ids


@pytest.mark.parametrize(
    ("filters", "served"),
    [
        (Filters(), True),
        (Filters(sites=("A", "B"), indications=("TRD",)), True),
        (Filters(routes=("iv",)), False),
        (Filters(start=date(2026, 1, 1)), False),
        (Filters(end=date(2026, 1, 1)), False),
        (ScopedFilters(sites=("A",)), True),
        (ScopedFilters(clinician="CL-1"), False),
    ],
    ids=str,
)
def test_rollups_serve_site_and_indication_choices_only(filters, served):
    assert rollups.serves(filters) is served


def test_a_rebuild_changes_the_pages_version_not_the_clinics(clinic):
    """The pages' data version includes the rollups' build time (their caches refresh at
    once after a rebuild); the clinic's fingerprint, which stamps the rollups, does not."""
    from kapviz.db import queries

    clinic.commit()
    before = (queries.data_version(clinic), queries.clinic_version(clinic))
    clinic.commit()
    assert rollups.rebuild(clinic.engine)
    clinic.commit()
    after = (queries.data_version(clinic), queries.clinic_version(clinic))
    assert after[1] == before[1] and after[0] != before[0]
    assert after[0][: len(after[1])] == after[1]
    status = rollups.status(clinic)
    assert status.current and status.built_at is not None
