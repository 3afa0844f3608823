"""Bulk writes: COPY text and SQLite storage spelling, foreign keys checked once per table."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from kapviz.db import bulk
from kapviz.db.bulk import bulk_insert, insert_frame
from kapviz.db.engine import SQLITE_CACHE_KIB, make_engine
from kapviz.db.migrate import upgrade
from kapviz.db.models import Clinician, Course, Dosing, Patient, Session, SideEffect, Site
from kapviz.io import write
from kapviz.io.template import read_template
from kapviz.io.validate import ValidatedBatch, validate
from kapviz.io.write import write_batch
from tests.io.test_template import TABLES, VALID, dump

AWKWARD = ["tab\there", "new\nline", "carriage\rreturn", "back\\slash", "\\N", "", "ümlaut ✓",
           'quote " and \'', None, "  spaces  "]  # fmt: skip


def seed_parents(conn) -> None:
    """One site, patient, course and the dosing sessions the rows below hang off."""
    bulk_insert(conn, Site.__table__, ("name",), [("North",)])
    bulk_insert(conn, Clinician.__table__, ("code",), [("CL1",)])
    bulk_insert(conn, Patient.__table__, ("patient_id", "site", "enrolled_on"),
                [("P1", "North", date(2025, 12, 31))])  # fmt: skip
    bulk_insert(conn, Course.__table__, ("course_id", "patient_id"), [("C1", "P1")])


@pytest.mark.parametrize("stage_rows", [0, 10_000], ids=["staged", "direct"])
def test_insert_frame_keeps_every_value(db_url, monkeypatch, stage_rows):
    """Tabs, newlines, backslashes, a literal \\N, "", None, microseconds, NaN: all intact."""
    monkeypatch.setattr(bulk, "STAGE_ROWS", stage_rows)
    engine = make_engine(db_url)
    upgrade(engine)
    n = len(AWKWARD)
    sessions = pd.DataFrame(
        {
            "session_id": [f"S{k}" for k in range(n)],
            "patient_id": "P1",
            "course_id": "C1",
            "started_at": pd.to_datetime(
                [f"2026-01-{k + 1:02d} 09:30:{k:02d}.{k * 111111 % 1000000:06d}" for k in range(n)]
            ).astype("datetime64[us]"),
            "phase": ["intake"] * 3 + ["dosing"] * (n - 3),
            "status": "completed",
            "clinician": ["CL1", None] * (n // 2),
            "eligible": pd.Series([True, False, None] + [None] * (n - 3), dtype=object),
            "ineligible_reason": ["a\tb", None, ""] + [None] * (n - 3),
        }
    )
    doses = sessions.loc[sessions["phase"] == "dosing", ["session_id"]].assign(
        route="iv", drug="ketamine", dose_mg=[0.1, 1 / 3, 56.0, 1e-7, 72.5, 1e20, 3.25][: n - 3],
        weight_kg=[70.0, float("nan"), 81.3, None, 64.0, 1.5, 2.0][: n - 3],
        duration_min=pd.array([40, None, 0, 5, 6, 7, 8][: n - 3], dtype="Int64"),
    )  # fmt: skip
    effects = pd.DataFrame(
        {
            "session_id": "S3",
            "seq": range(1, n + 1),
            "term": "nausea",
            "verbatim": AWKWARD,
            "severity": "mild",
            "ctcae_grade": pd.array([1, None] * (n // 2), dtype="Int64"),
            "serious": [True, False] * (n // 2),
            "resolved": pd.Series([None, True] * (n // 2), dtype=object),
        }
    )
    with engine.begin() as conn:
        seed_parents(conn)
        assert insert_frame(conn, Session.__table__, sessions) == n
        assert insert_frame(conn, Dosing.__table__, doses) == n - 3
        assert insert_frame(conn, SideEffect.__table__, effects) == n
    with engine.connect() as conn:
        s = conn.execute(select(Session).order_by(Session.session_id)).all()
        d = conn.execute(select(Dosing).order_by(Dosing.session_id)).all()
        e = conn.execute(select(SideEffect).order_by(SideEffect.seq)).all()
        patient = conn.execute(select(Patient.enrolled_on)).scalar_one()
    assert patient == date(2025, 12, 31)
    assert [r.started_at for r in s] == [t.to_pydatetime() for t in sessions["started_at"]]
    assert [r.eligible for r in s[:3]] == [True, False, None]
    assert [r.ineligible_reason for r in s[:3]] == ["a\tb", None, ""]
    assert [r.clinician for r in s] == ["CL1", None] * (n // 2)
    assert [r.dose_mg for r in d] == doses["dose_mg"].tolist()
    assert [r.weight_kg for r in d] == [70.0, None, 81.3, None, 64.0, 1.5, 2.0]
    assert [r.duration_min for r in d] == [40, None, 0, 5, 6, 7, 8]
    assert [r.verbatim for r in e] == AWKWARD
    assert [r.ctcae_grade for r in e] == [1, None] * (n // 2)
    assert [r.serious for r in e] == [True, False] * (n // 2)
    assert [r.resolved for r in e] == [None, True] * (n // 2)


@pytest.mark.parametrize("stage_rows", [0, 10_000], ids=["staged", "direct"])
def test_sqlite_storage_spelling_matches_sqlalchemy(sqlite_url, monkeypatch, stage_rows):
    """Raw executemany writes DateTime/Date/Boolean exactly as SQLAlchemy itself would."""
    monkeypatch.setattr(bulk, "STAGE_ROWS", stage_rows)
    engine = make_engine(sqlite_url)
    upgrade(engine)
    stamp = datetime(2026, 1, 2, 9, 30, 5, 120000)
    with engine.begin() as conn:
        seed_parents(conn)
        conn.execute(Session.__table__.insert(), [
            {"session_id": "ORM", "patient_id": "P1", "course_id": "C1", "started_at": stamp,
             "phase": "intake", "status": "completed", "eligible": True}])  # fmt: skip
        insert_frame(conn, Session.__table__, pd.DataFrame({
            "session_id": ["RAW"], "patient_id": ["P1"], "course_id": ["C1"],
            "started_at": [pd.Timestamp(stamp)], "phase": ["intake"], "status": ["completed"],
            "eligible": [True]}))  # fmt: skip
        patient = {"patient_id": ["P2"], "site": ["North"], "enrolled_on": [date(2025, 12, 31)]}
        insert_frame(conn, Patient.__table__, pd.DataFrame(patient))
        raw = conn.execute(
            text("SELECT session_id, started_at, eligible FROM sessions ORDER BY session_id")
        ).all()
        enrolled = conn.execute(text("SELECT enrolled_on FROM patients")).scalars().all()
    assert raw[0][1:] == raw[1][1:] == ("2026-01-02 09:30:05.120000", 1)
    assert enrolled == ["2025-12-31", "2025-12-31"]


def broken_batch() -> ValidatedBatch:
    """Valid rows whose session points at a patient the database does not hold."""
    good = validate(read_template(VALID))
    frames = {k: v.copy() for k, v in good.frames.items() if k in ("patients", "sessions")}
    frames["sessions"].loc[frames["sessions"]["session_id"] == "S8", "patient_id"] = "NOPE"
    return ValidatedBatch(frames=frames, problems=[], warnings=[])


@pytest.mark.parametrize("bulk_rows", [0, 100_000], ids=["checked-once", "checked-per-row"])
def test_foreign_key_violation_rolls_back(db_url, monkeypatch, bulk_rows):
    """A row the foreign keys refuse stops the import either way: nothing is written."""
    monkeypatch.setattr(write, "BULK_ROWS", bulk_rows)
    engine = make_engine(db_url)
    write_batch(engine, validate(read_template(VALID)), source="seed", kind="template")
    before = dump(db_url)
    with pytest.raises(IntegrityError):
        write_batch(engine, broken_batch(), source="broken", kind="template")
    assert dump(db_url) == before


SCHEMA = {
    "sqlite": "SELECT type, name, sql FROM sqlite_master ORDER BY type, name",
    "postgresql": "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
    "UNION ALL SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
    "ORDER BY 1, 2",
}


def test_keys_and_indexes_are_back_after_a_bulk_import(db_url, monkeypatch):
    """Checked-once mode (indexes rebuilt) leaves schema and connection as they were."""
    monkeypatch.setattr(write, "BULK_ROWS", 0)
    monkeypatch.setattr(write, "REBUILD_ROWS", 0)
    engine = make_engine(db_url)
    upgrade(engine)
    query = (
        "PRAGMA foreign_key_list(sessions)"
        if engine.dialect.name == "sqlite"
        else "SELECT conname FROM pg_constraint WHERE contype = 'f' ORDER BY conname"
    )
    with engine.connect() as conn:
        constraints = conn.execute(text(query)).all()
        schema = conn.execute(text(SCHEMA[engine.dialect.name])).all()
    write_batch(engine, validate(read_template(VALID)), source="bulk", kind="template")
    with engine.connect() as conn:
        assert conn.execute(text(query)).all() == constraints
        assert conn.execute(text(SCHEMA[engine.dialect.name])).all() == schema
        if engine.dialect.name == "sqlite":
            raw = conn.connection.driver_connection
            assert raw.execute("PRAGMA foreign_keys").fetchone()[0] == 1
            # The bulk write's large cache is handed back: the connection has kapviz's own.
            assert raw.execute("PRAGMA cache_size").fetchone()[0] == -SQLITE_CACHE_KIB
    assert len(constraints) >= 3
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text("UPDATE vitals SET session_id = 'NOPE'"))


def test_a_failed_load_into_empty_tables_keeps_their_indexes(db_url, monkeypatch):
    """Indexes dropped for a load into empty tables come back with the rollback."""
    monkeypatch.setattr(write, "BULK_ROWS", 0)
    monkeypatch.setattr(write, "REBUILD_ROWS", 0)
    engine = make_engine(db_url)
    upgrade(engine)
    with engine.connect() as conn:
        schema = conn.execute(text(SCHEMA[engine.dialect.name])).all()
    with pytest.raises(IntegrityError):
        write_batch(engine, broken_batch(), source="broken", kind="template")
    with engine.connect() as conn:
        assert conn.execute(text(SCHEMA[engine.dialect.name])).all() == schema
    engine.dispose()


def contents(url: str) -> dict[str, list]:
    """Every clinic row without its surrogate id and updated_at, in key order."""
    engine = make_engine(url)
    out = {}
    with engine.connect() as conn:
        for table in TABLES:
            rows = conn.execute(text(f"SELECT * FROM {table}")).mappings().all()
            rows = [{k: v for k, v in r.items() if k not in ("id", "updated_at")} for r in rows]
            out[table] = sorted(rows, key=lambda r: [str(v) for v in r.values()])
    return out


def test_bulk_and_row_checked_imports_write_the_same(tmp_path, monkeypatch):
    """Checked-once and checked-per-row imports give identical databases."""
    dumps = []
    for bulk_rows in (0, 100_000):
        monkeypatch.setattr(write, "BULK_ROWS", bulk_rows)
        url = f"sqlite:///{tmp_path}/{bulk_rows}.db"
        engine = make_engine(url)
        write_batch(engine, validate(read_template(VALID)), source="a", kind="template")
        dumps.append(contents(url))
    assert dumps[0] == dumps[1] and dumps[0]["vitals"]
