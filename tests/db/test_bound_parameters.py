"""Values reach the database as bound parameters, never as SQL text, on both backends."""

from datetime import datetime

import pytest
from sqlalchemy import select, update
from sqlalchemy.dialects import sqlite

from kapviz.db import arrow, queries
from kapviz.db.engine import make_engine
from kapviz.db.models import Patient, Session, Site
from kapviz.filters import Filters
from kapviz.io.validate import ExistingKeys
from tests.clinic import build_clinic

AWKWARD = "O'Brien; DROP TABLE x --"


@pytest.fixture
def clinic(db_url):
    """The hand clinic with the North site renamed to a name with quotes and a semicolon."""
    engine = make_engine(db_url)
    build_clinic(engine)
    with engine.begin() as conn:
        conn.execute(Site.__table__.insert(), [{"name": AWKWARD}])
        conn.execute(update(Patient).where(Patient.site == "North").values(site=AWKWARD))
    with engine.connect() as conn:
        yield conn
    engine.dispose()


def test_a_site_with_quotes_and_a_semicolon_filters_correctly(clinic):
    """The renamed site selects exactly North's patients (P1, P2) through the Arrow reads."""
    frame = queries.sessions(clinic, Filters(sites=(AWKWARD,)))
    assert set(frame["patient_id"]) == {"P1", "P2"}
    assert set(frame["site"]) == {AWKWARD}
    assert queries.patient_ids(clinic, Filters(sites=(AWKWARD, "South"))) == queries.patient_ids(
        clinic
    )
    assert queries.sessions(clinic, Filters(sites=("O'Brien",))).empty


def test_existing_keys_read_with_bound_parameters(clinic):
    keys = ExistingKeys.load(clinic)
    assert {"P1", "P2"} <= keys.patients
    assert str(keys.sessions["started_at"].dtype) == "datetime64[us]"


def test_bound_sql_sends_values_as_parameters():
    """No value in the SQL text; IN lists expanded; SQLite datetimes as SQLAlchemy stores them."""
    stmt = select(Patient.patient_id).where(
        Patient.site.in_([AWKWARD, "South"]),
        Patient.patient_id.in_(
            select(Session.patient_id).where(Session.started_at >= datetime(2026, 2, 1))
        ),
    )
    sql, parameters = arrow.bound_sql(stmt, sqlite.dialect())
    assert "O'Brien" not in sql and "2026" not in sql
    assert parameters == (AWKWARD, "South", "2026-02-01 00:00:00.000000")
    sql, parameters = arrow.bound_sql(stmt, arrow._ADBC_POSTGRESQL)
    assert "$1" in sql and "O'Brien" not in sql
    assert sorted(map(str, parameters)) == sorted([AWKWARD, "South", "2026-02-01 00:00:00"])
