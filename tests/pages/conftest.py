"""Page tests: AppTest against the tiny hand-written clinic (tests/clinic.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from kapviz.db.engine import make_engine
from tests.clinic import build_clinic

ROOT = Path(__file__).resolve().parents[2]
RECENT_ANCHOR = date.today() - timedelta(days=20)
"""Anchor that puts the clinic's sessions in the last weeks, so 'active' tiles count."""


@pytest.fixture
def clinic_anchor() -> date:
    """Day 0 of the clinic; override in a module to pin dates (default: 20 days ago)."""
    return RECENT_ANCHOR


@pytest.fixture
def clinic_url(tmp_path, monkeypatch, clinic_anchor) -> Iterator[str]:
    """A SQLite file with the tiny clinic, set as the app's database."""
    url = f"sqlite:///{tmp_path}/clinic.db"
    build_clinic(make_engine(url), clinic_anchor)
    monkeypatch.setenv("KAPVIZ_DATABASE_URL", url)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield url
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def run_page(clinic_url) -> Callable[..., AppTest]:
    """Run a page file on the clinic; query params may be passed as keyword arguments."""
    return run_app


def run_app(path: str, *, state: dict | None = None, **query: str) -> AppTest:
    """Run a page file with these session-state values and query params; no exception."""
    at = AppTest.from_file(str(ROOT / path), default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = value
    for key, value in (state or {}).items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture
def run_page_on_postgresql(pg_url, monkeypatch, clinic_anchor) -> Iterator[Callable[..., AppTest]]:
    """`run_page` on the same clinic in PostgreSQL, where pages read side by side in threads
    (kapviz.ui.background) and some aggregates take PostgreSQL-only forms."""
    build_clinic(make_engine(pg_url), clinic_anchor)
    monkeypatch.setenv("KAPVIZ_DATABASE_URL", pg_url)
    st.cache_data.clear()
    st.cache_resource.clear()

    def run(path: str, *, state: dict | None = None, **query: str) -> AppTest:
        monkeypatch.setenv("KAPVIZ_DATABASE_URL", pg_url)  # a test may switch in between
        return run_app(path, state=state, **query)

    yield run
    st.cache_data.clear()
    st.cache_resource.clear()
