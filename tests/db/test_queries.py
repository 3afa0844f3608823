"""Query functions return the frame contract, with filters applied in SQL, on both backends."""

from datetime import date

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from kapviz.db import queries
from kapviz.db.engine import make_engine
from kapviz.db.migrate import upgrade
from kapviz.filters import Filters
from kapviz.instruments import OUTCOME_INSTRUMENTS
from kapviz.metrics.outcomes import course_outcomes
from kapviz.metrics.scores import course_scores
from kapviz.metrics.trajectory_axes import trajectory_points
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


@pytest.mark.parametrize(
    ("reaching", "sessions"),
    [
        ((180, 110), ["P1-D1"]),
        ((181, 110), ["P1-D1"]),
        ((183, 110), []),
        ((180, 109), ["P1-D1", "P2-D1"]),
    ],
)
def test_vitals_of_sessions_reaching_limits(clinic, reaching, sessions):
    """`reaching` keeps every reading of the sessions with one at or above either limit:
    P1-D1 peaks at 182/95, P2-D1 at 170/109 (hand values in tests/clinic.py)."""
    vitals = queries.vitals(clinic, reaching=reaching)
    assert sorted(vitals["session_id"].unique()) == sessions
    everything = queries.vitals(clinic)
    expected = everything[everything["session_id"].isin(sessions)].reset_index(drop=True)
    # (An empty read keeps the columns; its string dtype may differ from a filtered frame's.)
    pd.testing.assert_frame_equal(
        vitals.reset_index(drop=True), expected, check_dtype=bool(sessions)
    )


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


def _from_records(conn, stmt, columns):
    """The row-wise frame construction the query layer used before (reference)."""
    return pd.DataFrame.from_records(conn.execute(stmt).all(), columns=list(columns))


@pytest.mark.parametrize(
    ("name", "call"),
    [
        ("sessions", lambda c: queries.sessions(c)),
        ("sessions-none", lambda c: queries.sessions(c, Filters(sites=("Nowhere",)))),
        ("assessments", lambda c: queries.assessments(c, with_items=True)),
        ("side_effects", lambda c: queries.side_effects(c)),
        ("vitals", lambda c: queries.vitals(c)),
        ("patients", lambda c: queries.patients(c)),
        ("imports", lambda c: queries.import_history(c)),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_columnwise_frames_equal_row_wise(clinic, monkeypatch, name, call):
    """Column-wise frame building (the fast path) gives the very frame, dtypes included."""
    fast = call(clinic)
    monkeypatch.setattr(queries, "read_frame", _from_records)
    assert_frame_equal(fast, call(clinic), check_exact=True)


def test_shared_scores_change_no_number(clinic):
    """Outcomes and trajectory points from one shared course_scores frame equal the unshared."""
    sessions = queries.sessions(clinic)
    scores_in = queries.assessments(clinic, instruments=OUTCOME_INSTRUMENTS)
    shared = course_scores(scores_in, sessions)
    before = shared.copy()
    assert_frame_equal(
        course_outcomes(sessions, scores_in, scores=shared), course_outcomes(sessions, scores_in)
    )
    assert_frame_equal(
        trajectory_points(sessions, scores_in, scores=shared),
        trajectory_points(sessions, scores_in),
    )
    assert_frame_equal(shared, before)


def test_phq9_subset_of_outcome_frame(clinic):
    """PHQ-9 rows cut from the outcome-instrument frame equal the PHQ-9 query (order too)."""
    every = queries.assessments(clinic, instruments=OUTCOME_INSTRUMENTS)
    cut = every[every["instrument"].isin(("PHQ-9",))].reset_index(drop=True)
    assert_frame_equal(cut, queries.assessments(clinic, instruments=["PHQ-9"]))


@pytest.mark.parametrize(
    ("clinician", "patients"),
    [("CL-N1", {"P1", "P2"}), ("CL-S1", {"P3", "P4"}), ("\x00no-clinician", set())],
    ids=["north", "south", "none"],
)
def test_clinician_scope_keeps_own_patients_only(clinic, clinician, patients):
    """A clinician's scoped filters reach every query: sessions, scores, effects, patients."""
    from kapviz.auth.scope import ScopedFilters

    scoped = ScopedFilters(clinician=clinician)
    assert set(queries.sessions(clinic, scoped)["patient_id"]) == patients
    assert set(queries.assessments(clinic, scoped)["patient_id"]) <= patients
    assert set(queries.patients(clinic, scoped)["patient_id"]) == patients
    assert set(queries.patient_ids(clinic, scoped)) == patients
    sessions_in_scope = set(queries.sessions(clinic, scoped)["session_id"])
    assert set(queries.side_effects(clinic, scoped)["session_id"]) <= sessions_in_scope
    assert set(queries.vitals(clinic, scoped)["session_id"]) <= sessions_in_scope


def test_fast_reads_see_rows_committed_after_an_earlier_read(db_url):
    """The long-lived Arrow connection (SQLite) ends each read: the next one sees new rows."""
    from kapviz.db.models import Patient, Site

    engine = make_engine(db_url)
    build_clinic(engine)
    with engine.connect() as conn:
        before = queries.patients(conn)
    with engine.begin() as conn:
        conn.execute(Site.__table__.insert(), [{"name": "East"}])
        conn.execute(
            Patient.__table__.insert(),
            [{"patient_id": "P9", "site": "East", "indication": "TRD"}],
        )
    with engine.connect() as conn:
        after = queries.patients(conn)
    assert len(after) == len(before) + 1
    assert "P9" in set(after["patient_id"])


def test_has_imported_clinic_data(clinic):
    """The hand clinic's import run is a clinic's; with only the demo's there is none."""
    from sqlalchemy import delete, insert

    from kapviz.db.models import ImportRun

    assert queries.has_imported_clinic_data(clinic) is True
    with clinic.engine.begin() as conn:
        conn.execute(delete(ImportRun))
    assert queries.has_imported_clinic_data(clinic) is False
    with clinic.engine.begin() as conn:
        conn.execute(insert(ImportRun), [{"source": "demo", "kind": "demo", "is_demo": True}])
    assert queries.has_imported_clinic_data(clinic) is False


def test_first_session_on(clinic, db_url):
    """The programme's first session day (5 January 2026, P1's intake), where its monthly
    charts begin; None on an empty database."""
    assert queries.first_session_on(clinic) == date(2026, 1, 5)


def test_first_session_on_empty(sqlite_url):
    engine = make_engine(sqlite_url)
    upgrade(engine)
    with engine.connect() as conn:
        assert queries.first_session_on(conn) is None
