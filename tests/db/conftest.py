"""Fixtures of the data-layer tests: the hand clinic and a 300-patient demo clinic, each on
SQLite and PostgreSQL. A module picks its demo clinic with DEMO_SEED (and DEMO_TODAY)."""

from __future__ import annotations

import pytest

from kapviz.db.engine import make_engine
from kapviz.demo import generate_clinic
from tests.clinic import build_clinic


@pytest.fixture
def clinic(db_url):
    """A connection to the hand-written clinic (tests/clinic.py) on each backend."""
    engine = make_engine(db_url)
    build_clinic(engine)
    with engine.connect() as conn:
        yield conn


@pytest.fixture(scope="module")
def demo_urls(request, tmp_path_factory, pg_server):
    """A 300-patient demo clinic on SQLite and PostgreSQL (built once for the module, with
    the module's DEMO_SEED and DEMO_TODAY)."""
    from tests import pg

    seed = getattr(request.module, "DEMO_SEED", 11)
    today = getattr(request.module, "DEMO_TODAY", None)
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    urls = {"sqlite": f"sqlite:///{path}", "postgresql": pg.create_database(pg_server)}
    for url in urls.values():
        generate_clinic(make_engine(url), patients=300, seed=seed, today=today)
    return urls


@pytest.fixture(params=["sqlite", "postgresql"])
def demo(request, demo_urls):
    """A connection to the module's demo clinic on each backend."""
    with make_engine(demo_urls[request.param]).connect() as conn:
        yield conn
