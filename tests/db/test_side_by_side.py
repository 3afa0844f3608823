"""`side_by_side` (the alerts tile's reads at once on PostgreSQL) gives each read's result in
the order asked, the same as one after the other on one connection, on both backends."""

from __future__ import annotations

from sqlalchemy import func, select

from kapviz.db.aggregates.program import side_by_side
from kapviz.db.models import Patient, Session


def _count(model):
    return lambda conn: conn.execute(select(func.count()).select_from(model)).scalar_one()


def test_results_in_order(clinic):
    """Hand clinic: 5 patients, 18 sessions, in the order the reads were given."""
    reads = [_count(Patient), _count(Session), _count(Patient)]
    assert side_by_side(clinic, *reads) == [read(clinic) for read in reads] == [5, 18, 5]


def test_own_connections_on_postgresql(clinic):
    """On PostgreSQL each read runs on a connection of its own (not the caller's), elsewhere
    on the caller's connection."""
    seen = side_by_side(clinic, lambda c: c, lambda c: c)
    if clinic.dialect.name == "postgresql":
        assert all(c is not clinic for c in seen) and seen[0] is not seen[1]
    else:
        assert seen == [clinic, clinic]
