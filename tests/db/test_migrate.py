"""Schema creation and upgrade: idempotent, on SQLite and PostgreSQL, and never drops data."""

import pytest
from sqlalchemy import func, insert, inspect, select
from sqlalchemy.exc import IntegrityError

from kapviz.db.engine import make_engine
from kapviz.db.migrate import current_revision, head_revision, upgrade
from kapviz.db.models import Base, Patient, Site, VitalSign
from tests.clinic import build_clinic


def test_upgrade_creates_every_table(db_url):
    """An empty database gets every model table and the head revision."""
    engine = make_engine(db_url)
    assert current_revision(engine) is None
    assert upgrade(engine) == head_revision()
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_upgrade_twice_keeps_data(db_url):
    """Upgrading an up-to-date database changes nothing and keeps every row."""
    engine = make_engine(db_url)
    build_clinic(engine)
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Patient)).scalar_one() == 5


@pytest.mark.parametrize(
    "row",
    [
        dict(session_id="P1-D1", minutes_from_dose=200, systolic=301, diastolic=80),
        dict(session_id="P1-D1", minutes_from_dose=201, systolic=80, diastolic=90),
        dict(session_id="P1-D1", minutes_from_dose=202, spo2=101),
        dict(session_id="NOPE", minutes_from_dose=0, systolic=120, diastolic=80),
    ],
    ids=["systolic-range", "systolic-below-diastolic", "spo2-range", "unknown-session"],
)
def test_constraints_keep_bad_vitals_out(db_url, row):
    """Ranges, the systolic > diastolic rule and foreign keys are enforced by the database."""
    engine = make_engine(db_url)
    build_clinic(engine)
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(VitalSign), [row])


def test_enumerations_enforced(db_url):
    """A patient with a sex outside the enumeration is refused."""
    engine = make_engine(db_url)
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(insert(Site), [{"name": "X"}])
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(Patient), [{"patient_id": "A", "site": "X", "sex": "f"}])
