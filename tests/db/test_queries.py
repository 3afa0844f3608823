"""Query functions return the frame contract, with filters applied in SQL, on both backends."""

from datetime import date

import pytest

from kapviz.db import queries
from kapviz.db.engine import make_engine
from kapviz.filters import Filters
from tests.clinic import build_clinic


@pytest.fixture
def clinic(db_url):
    engine = make_engine(db_url)
    build_clinic(engine)
    with engine.connect() as conn:
        yield conn


def test_sessions_contract(clinic):
    """All 18 sessions come back with the contract's columns and dosing details joined."""
    frame = queries.sessions(clinic)
    assert list(frame.columns) == queries.SESSION_COLUMNS
    assert len(frame) == 18
    d1 = frame.set_index("session_id").loc["P1-D1"]
    assert (d1["route"], d1["dose_mg"], d1["dose_mg_per_kg"], d1["site"]) == (
        "iv",
        35.0,
        0.5,
        "North",
    )
    assert str(frame["started_at"].dtype).startswith("datetime64")


@pytest.mark.parametrize(
    ("filters", "patients"),
    [
        (Filters(), {"P1", "P2", "P3", "P4"}),
        (Filters(sites=("North",)), {"P1", "P2"}),
        (Filters(indications=("TRD",)), {"P1", "P4"}),
        (Filters(routes=("im",)), {"P2"}),
        (Filters(routes=("iv", "sublingual")), {"P1", "P4"}),
        (Filters(start=date(2026, 2, 14), end=date(2026, 2, 20)), {"P1", "P4"}),
        (Filters(start=date(2026, 3, 1)), set()),
        (Filters(sites=("South",), routes=("iv",)), set()),
    ],
    ids=["none", "site", "indication", "route", "two-routes", "dates", "after", "empty"],
)
def test_filters_select_whole_courses(clinic, filters, patients):
    """Filters keep whole courses of the matching patients (P5 has no course)."""
    frame = queries.sessions(clinic, filters)
    assert set(frame["patient_id"]) == patients
    if patients:
        full = queries.sessions(clinic)
        assert len(frame) == full["patient_id"].isin(patients).sum()


def test_assessments_items_and_instruments(clinic):
    """Items are parsed only when asked for; instrument filter works."""
    plain = queries.assessments(clinic, instruments=["PHQ-9"])
    assert len(plain) == 8 and plain["items"].isna().all()
    rich = queries.assessments(clinic, patient_id="P2", with_items=True)
    phq = rich[(rich["instrument"] == "PHQ-9") & (rich["total"] == 4)].iloc[0]
    assert phq["items"] == [1, 1, 0, 0, 0, 1, 0, 0, 1]
    assert phq["suicide_item"] == 1


def test_side_effects_and_vitals(clinic):
    """Child rows come back in order and filtered through their session's course."""
    effects = queries.side_effects(clinic, Filters(sites=("North",)))
    assert len(effects) == 6
    assert effects.loc[effects["seq"] == 2, "ctcae_grade"].tolist() == [3]
    vitals = queries.vitals(clinic, patient_id="P2")
    assert vitals["systolic"].tolist() == [150, 170]


def test_counts_and_versions(clinic):
    """Phase counts count completed sessions only; the data version is stable when idle."""
    assert queries.phase_counts(clinic) == {
        "intake": 4,
        "preparation": 1,
        "dosing": 9,
        "integration": 2,
        "follow_up": 1,
    }
    assert queries.data_version(clinic) == queries.data_version(clinic)
    assert queries.filter_options(clinic) == {
        "sites": ["North", "South"],
        "indications": ["GAD", "MDD", "PTSD", "TRD"],
        "routes": ["im", "iv", "sublingual"],
    }
    assert queries.is_demo_data(clinic) is False
