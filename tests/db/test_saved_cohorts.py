"""Saved cohorts (kapviz.db.saved_cohorts) on SQLite and PostgreSQL: per owner, unique
names, overwrite only when asked, parameters back exactly as saved, values never in SQL."""

from __future__ import annotations

import pytest
from sqlalchemy import event, inspect
from sqlalchemy.exc import IntegrityError

from kapviz.db import saved_cohorts as sc
from kapviz.db.engine import make_engine
from kapviz.db.migrate import upgrade
from kapviz.db.models import SavedCohort

PARAMS = {"measure": "response", "instrument": "PHQ-9", "by": ["route", "site"]}


@pytest.fixture
def engine(db_url):
    eng = make_engine(db_url)
    upgrade(eng)
    yield eng
    eng.dispose()


def test_migration_makes_the_table(engine):
    """Revision 0009 creates saved_cohorts with a unique (owner, name)."""
    inspector = inspect(engine)
    assert {c["name"] for c in inspector.get_columns("saved_cohorts")} == {
        "id",
        "owner",
        "name",
        "params",
        "created_at",
    }
    uniques = inspector.get_unique_constraints("saved_cohorts")
    assert [u["column_names"] for u in uniques] == [["owner", "name"]]


def test_save_list_get_delete(engine):
    """What is saved comes back as saved, listed by name, for its owner only."""
    with engine.begin() as conn:
        assert sc.save(conn, "dora", "  Severe   IM ", PARAMS) == "Severe IM"
        sc.save(conn, "dora", "All", {"measure": "remission"})
        sc.save(conn, "sam", "Mine", {"measure": "mean_change"})
    with engine.connect() as conn:
        assert [s.name for s in sc.list_for(conn, "dora")] == ["All", "Severe IM"]
        assert [s.name for s in sc.list_for(conn, "sam")] == ["Mine"]
        assert sc.list_for(conn, "nobody") == []
        got = sc.get(conn, "dora", "Severe IM")
        assert got is not None and got.params == PARAMS
        assert sc.get(conn, "sam", "Severe IM") is None
        assert sc.exists(conn, "dora", "All") and not sc.exists(conn, "sam", "All")
    with engine.begin() as conn:
        assert sc.remove(conn, "dora", "All") is True
        assert sc.remove(conn, "dora", "All") is False
        assert sc.remove(conn, "sam", "Severe IM") is False  # not sam's
    with engine.connect() as conn:
        assert [s.name for s in sc.list_for(conn, "dora")] == ["Severe IM"]


def test_same_name_needs_overwrite(engine):
    """A taken name is refused unless overwriting, which replaces the parameters in place."""
    with engine.begin() as conn:
        sc.save(conn, "dora", "North", PARAMS)
    with pytest.raises(sc.CohortExists), engine.begin() as conn:
        sc.save(conn, "dora", "North", {"measure": "remission"})
    with engine.begin() as conn:
        sc.save(conn, "dora", "North", {"measure": "remission"}, overwrite=True)
        sc.save(conn, "sam", "North", PARAMS)  # another owner may use the name
    with engine.connect() as conn:
        assert [s.params for s in sc.list_for(conn, "dora")] == [{"measure": "remission"}]


def test_database_keeps_names_unique(engine):
    """The unique constraint holds even for a writer that skips the module."""
    row = {"owner": "dora", "name": "X", "params": "{}"}
    with engine.begin() as conn:
        conn.execute(SavedCohort.__table__.insert(), [row])
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(SavedCohort.__table__.insert(), [row])


@pytest.mark.parametrize("name", ["", "   ", "x" * (sc.MAX_NAME_LENGTH + 1)])
def test_bad_names_refused(engine, name):
    """Empty and over-long names are refused with a message, nothing written."""
    with pytest.raises(sc.CohortNameError), engine.begin() as conn:
        sc.save(conn, "dora", name, PARAMS)
    with engine.connect() as conn:
        assert sc.list_for(conn, "dora") == []


def test_values_are_bound_parameters(engine):
    """Owner, name and parameters reach the database as bound values, quotes and all."""
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    tricky = "x'); DROP TABLE saved_cohorts; --"
    with engine.begin() as conn:
        sc.save(conn, tricky, tricky, {"site": [tricky]})
    with engine.connect() as conn:
        (saved,) = sc.list_for(conn, tricky)
    assert saved.name == tricky and saved.params == {"site": [tricky]}
    assert not [s for s in statements if "DROP TABLE" in s]
