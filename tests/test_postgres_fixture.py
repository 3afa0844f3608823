"""The database fixtures: each test gets its own empty database, on both backends."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
notes = sa.Table(
    "fixture_note",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("text", sa.String(50), nullable=False),
)


def test_db_url_gives_a_writable_empty_database(db_url: str) -> None:
    """A fresh database starts without tables, accepts DDL and returns what was inserted."""
    engine = sa.create_engine(db_url)
    try:
        assert sa.inspect(engine).get_table_names() == []
        metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(notes.insert(), [{"text": "dosing session 1"}])
        with engine.connect() as conn:
            assert conn.execute(sa.select(notes.c.id, notes.c.text)).all() == [
                (1, "dosing session 1")
            ]
    finally:
        engine.dispose()


def test_db_url_backend_matches_its_id(db_url: str, request) -> None:
    """The `sqlite` case really is SQLite and the `postgresql` case a real PostgreSQL 15+."""
    backend = request.node.callspec.params["db_url"]
    engine = sa.create_engine(db_url)
    try:
        assert engine.dialect.name == backend
        if backend == "postgresql":
            with engine.connect() as conn:
                assert conn.execute(sa.text("SHOW server_version_num")).scalar_one() >= "150000"
                assert conn.execute(sa.text("SHOW fsync")).scalar_one() == "off"
    finally:
        engine.dispose()


def test_pg_url_databases_are_isolated(pg_server: str, pg_url: str) -> None:
    """Each pg_url is a separate database named t_<uuid hex> on the worker's server."""
    name = sa.make_url(pg_url).database
    assert name.startswith("t_") and len(name) == 34
    engine = sa.create_engine(pg_server)
    try:
        with engine.connect() as conn:
            names = conn.execute(sa.text("SELECT datname FROM pg_database")).scalars().all()
        assert name in names
    finally:
        engine.dispose()
