"""The Data page's quality checks counted in SQL give exactly the pandas metrics' results:
the count and the newest rows of dosing sessions without a pre-dose PHQ-9, and the
side-effect wordings mapped to preferred terms — on the hand clinic and a 300-patient demo
clinic, on SQLite and PostgreSQL, with filters and a clinician's scope."""

from datetime import date, datetime, timedelta

import pytest
from pandas.testing import assert_frame_equal
from sqlalchemy import insert

from kapviz.auth.scope import ScopedFilters
from kapviz.db import queries
from kapviz.db.aggregates import quality as quality_sql
from kapviz.db.models import Assessment, SideEffect
from kapviz.filters import Filters
from kapviz.metrics import quality
from tests.clinic import ANCHOR
from tests.reference import quality as reference

DEMO_SEED = 3
"""Seed of this module's 300-patient demo clinic (tests/db/conftest.py)."""

FILTERS = [
    Filters(),
    Filters(sites=("North",)),
    Filters(routes=("im",)),
    Filters(start=date(2026, 2, 14), end=date(2026, 2, 20)),
    Filters(sites=("Nowhere",)),
]
IDS = ["all", "site", "route", "dates", "nothing"]


def assert_same(conn, filters, *, limit: int = 200) -> quality_sql.MissingPreDose:
    """SQL counts equal the pandas metrics on the frames of the same filters."""
    expected = reference.dosing_without_predose(
        queries.sessions(conn, filters), queries.assessments(conn, filters, instruments=["PHQ-9"])
    )
    missing = quality_sql.dosing_without_predose(conn, filters, limit=limit)
    assert missing.count == len(expected)
    assert_frame_equal(missing.newest, expected.head(limit), check_exact=True)
    assert_frame_equal(
        quality_sql.term_mapping(conn, filters),
        quality.term_mapping(queries.side_effects(conn, filters)),
        check_exact=True,
    )
    return missing


@pytest.mark.parametrize("filters", FILTERS, ids=IDS)
def test_clinic_checks_equal_the_metrics(clinic, filters):
    """Hand clinic: the same sessions without a pre-dose PHQ-9, the same wordings."""
    assert_same(clinic, filters)


def test_clinic_hand_computed(clinic):
    """P2 dose 3 and P4 doses 1–2 lack a PHQ-9 in the 7 days before, newest first; the
    limit cuts the list, not the count."""
    missing = assert_same(clinic, Filters(), limit=2)
    assert missing.count == 3
    assert list(missing.newest["session_id"]) == ["P4-D2", "P4-D1"]
    assert list(missing.newest.columns) == quality.MISSING_COLUMNS


def test_clinic_scoped_to_a_clinician(clinic):
    """A clinician's scope: only CL-S1's patient P4 (two doses without a PHQ-9)."""
    missing = assert_same(clinic, ScopedFilters(clinician="CL-S1"))
    assert sorted(missing.newest["session_id"]) == ["P4-D1", "P4-D2"]


def test_window_edges_to_the_microsecond(clinic):
    """A PHQ-9 exactly 7 days before a dose counts (it is in the window), one a microsecond
    earlier does not; the same on both backends as in pandas."""
    dose = datetime.combine(ANCHOR, datetime.min.time()) + timedelta(days=40, hours=9)
    edge = dose - timedelta(days=7)
    with clinic.engine.begin() as writer:  # committed: the Arrow reads see committed rows
        writer.execute(
            insert(Assessment),
            [
                dict(patient_id="P4", instrument="PHQ-9", administered_at=edge, total=20),
                dict(
                    patient_id="P2",
                    instrument="PHQ-9",
                    administered_at=datetime.combine(ANCHOR, datetime.min.time())
                    + timedelta(days=7, hours=9)
                    - timedelta(days=7, microseconds=1),
                    total=12,
                ),
            ],
        )
    missing = assert_same(clinic, Filters())
    assert sorted(missing.newest["session_id"]) == ["P2-D3", "P4-D2"]


def test_wordings_that_only_differ_in_case_and_spaces(clinic):
    """'Nausea ' and 'NAUSEA' are the term itself (Python's strip/lower); 'queasy' is a
    synonym worth a look; the most frequent first."""
    rows = [
        ("P1-D3", 1, "nausea", "Nausea "),
        ("P1-D3", 2, "nausea", "queasy"),
        ("P1-D4", 1, "nausea", "queasy"),
        ("P1-D4", 2, "nausea", "NAUSEA"),
        ("P1-D4", 3, "dizziness", "Woozy"),
    ]
    with clinic.engine.begin() as writer:
        writer.execute(
            insert(SideEffect),
            [
                dict(session_id=sid, seq=seq, term=term, verbatim=verbatim, severity="mild")
                for sid, seq, term, verbatim in rows
            ],
        )
    assert_same(clinic, Filters())
    mapping = quality_sql.term_mapping(clinic, Filters())
    assert mapping.to_dict("records") == [
        {"verbatim": "queasy", "term": "nausea", "records": 2},
        {"verbatim": "Woozy", "term": "dizziness", "records": 1},
    ]


@pytest.mark.parametrize("filters", FILTERS[:4], ids=IDS[:4])
def test_demo_checks_equal_the_metrics(demo, filters):
    """300-patient demo clinic, both backends: the same count, rows and wordings."""
    missing = assert_same(demo, filters, limit=25)
    if filters.is_empty:
        assert missing.count > 25 and len(missing.newest) == 25


def test_demo_scoped_to_a_clinician(demo):
    """A clinician's scope on the demo clinic (own patients only)."""
    clinician = queries.sessions(demo)["clinician"].dropna().iloc[0]
    assert_same(demo, ScopedFilters(clinician=clinician))
