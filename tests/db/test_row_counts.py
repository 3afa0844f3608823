"""The data version's numbers of patients and sessions (on PostgreSQL kept by the triggers of
migration 0020, on SQLite counted) equal count(*) after inserts, deletes and a truncate,
and a deletion changes the data version."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, insert, select, text

from kapviz.db import queries
from kapviz.db.engine import make_engine
from kapviz.db.models import Patient, Session
from tests.clinic import build_clinic

PATIENTS, SESSIONS = 10, 11
"""Positions of the two numbers in queries.clinic_version."""


def _counts(conn) -> tuple[int, int]:
    version = queries.clinic_version(conn)
    return int(version[PATIENTS]), int(version[SESSIONS])


def _counted(conn) -> tuple[int, int]:
    return tuple(
        conn.execute(select(func.count()).select_from(m)).scalar_one() for m in (Patient, Session)
    )


def _copy(conn, model, key: str, old: str, new: str, **changes) -> None:
    row = dict(
        conn.execute(select(model.__table__).where(getattr(model, key) == old)).one()._mapping
    )
    conn.execute(insert(model), [row | {key: new} | changes])


@pytest.fixture
def engine(db_url):
    engine = make_engine(db_url)
    build_clinic(engine)
    return engine


def test_counts_follow_inserts_and_deletes(engine):
    """Hand clinic: 5 patients and 18 sessions; then one more of each (two statements), one
    session fewer, and a patient with a session of their own removed."""
    with engine.connect() as conn:
        assert _counts(conn) == _counted(conn) == (5, 18)
        first = conn.execute(select(Session.session_id, Session.patient_id)).first()
    with engine.begin() as conn:
        _copy(conn, Patient, "patient_id", first.patient_id, "ZZ-NEW")
        _copy(conn, Session, "session_id", first.session_id, "ZZ-S1", patient_id="ZZ-NEW")
        _copy(conn, Session, "session_id", first.session_id, "ZZ-S2", patient_id="ZZ-NEW")
    with engine.connect() as conn:
        assert _counts(conn) == _counted(conn) == (6, 20)
        before = queries.data_version(conn)
    with engine.begin() as conn:
        conn.execute(delete(Session).where(Session.session_id == "ZZ-S2"))
    with engine.connect() as conn:
        assert _counts(conn) == _counted(conn) == (6, 19)
        assert queries.data_version(conn) != before
    with engine.begin() as conn:
        conn.execute(delete(Session).where(Session.session_id == "ZZ-S1"))
        conn.execute(delete(Patient).where(Patient.patient_id == "ZZ-NEW"))
    with engine.connect() as conn:
        assert _counts(conn) == _counted(conn) == (5, 18)


def test_rolled_back_rows_are_not_counted(engine):
    """A write that is rolled back leaves the numbers as they were."""
    with engine.connect() as conn:
        first = conn.execute(select(Session.session_id)).scalar()
    with engine.connect() as conn:
        trans = conn.begin()
        _copy(conn, Session, "session_id", first, "ZZ-S9")
        trans.rollback()
    with engine.connect() as conn:
        assert _counts(conn) == _counted(conn) == (5, 18)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_truncate_counts_zero(engine):
    """PostgreSQL: a truncate (cascading to the sessions) leaves zero of each."""
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE patients, sessions CASCADE"))
    with engine.connect() as conn:
        assert _counts(conn) == _counted(conn) == (0, 0)


def test_demo_clinic_counts(demo):
    """The 300-patient demo clinic, written in bulk (COPY on PostgreSQL): the same numbers."""
    assert _counts(demo) == _counted(demo)
    assert _counts(demo)[0] == 300
