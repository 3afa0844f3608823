"""An upgraded database engine per test (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine

from kapviz.auth import accounts
from kapviz.db.engine import make_engine
from kapviz.db.migrate import upgrade


@pytest.fixture
def engine(db_url: str) -> Engine:
    """A fresh database at the head revision (users and audit tables included)."""
    eng = make_engine(db_url)
    upgrade(eng)
    return eng


@pytest.fixture(autouse=True)
def fast_hasher(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2 parameters in tests (0.7 s per hash otherwise); same code paths."""
    monkeypatch.setattr(
        accounts, "_HASHER", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )
