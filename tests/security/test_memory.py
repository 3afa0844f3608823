"""Defence: memory stays bounded on a server that runs all day through many imports.

Defended: every Streamlit cache of kapviz.ui has max_entries, and a ttl except the few that
must outlive one (engines, settings, sign-in activity and throttle: NO_TTL); a new
data version drops every cached frame and figure of the old versions, which grew the server
by tens of MB per import. benchmarks/bench_memory.py shows the resident memory levelling off
over 50 imports.
"""

from __future__ import annotations

import importlib
import pkgutil
from datetime import datetime

import pytest
from sqlalchemy import insert
from streamlit.runtime.caching.cache_utils import CachedFunc

import kapviz.ui
from kapviz.db import queries
from kapviz.db.engine import make_engine
from kapviz.db.models import Patient
from kapviz.filters import Filters
from kapviz.ui import data
from kapviz.ui import db as ui_db
from tests.clinic import build_clinic

UNBOUNDED_BY_DESIGN: dict[str, str] = {}
"""Every cache names max_entries now (issue 22: a wall screen runs for days)."""
NO_TTL = {
    "kapviz.ui.db._settings": "one entry per set of KAPVIZ_* variables (changes by hand)",
    "kapviz.ui.db._primary": "one engine per database URL",
    "kapviz.ui.db._replica": "one engine per read replica URL",
    "kapviz.ui.oidc._activity": "one dict of sign-in times, pruned by kapviz.ui.oidc",
    "kapviz.ui.auth._throttle": "failed sign-ins are counted across the lock-out window",
}
"""The caches without a time to live, and why they must outlive one."""


def _cached_functions() -> dict[str, CachedFunc]:
    found: dict[str, CachedFunc] = {}
    for info in pkgutil.iter_modules(kapviz.ui.__path__, "kapviz.ui."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if isinstance(value, CachedFunc) and value._info.func.__module__ == info.name:
                found[f"{info.name}.{name}"] = value
    return found


def test_every_cache_is_bounded():
    """Every cache of kapviz.ui has max_entries (a time to live alone lets an hour of filter
    variants pile up), except the justified ones above."""
    functions = _cached_functions()
    assert len(functions) > 20
    unbounded = [name for name, fn in functions.items() if fn._info.max_entries is None]
    assert sorted(unbounded) == sorted(UNBOUNDED_BY_DESIGN)


def test_every_cache_has_a_ttl_or_a_reason_not_to():
    functions = _cached_functions()
    no_ttl = [name for name, fn in functions.items() if fn._info.ttl is None]
    assert sorted(no_ttl) == sorted(NO_TTL)


@pytest.fixture
def clinic_url(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    build_clinic(make_engine(sqlite_url))
    monkeypatch.setenv("KAPVIZ_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("KAPVIZ_AUTH_MODE", "none")
    data.drop_old_versions()
    data._SEEN.clear()
    return sqlite_url


def test_new_data_version_drops_the_old_versions_frames(clinic_url, monkeypatch):
    """After a write, the frames cached for the old version are gone: asking for them again
    reads the database again (here: the patients query runs a third time)."""
    calls = []
    real = queries.patients
    monkeypatch.setattr(queries, "patients", lambda conn, f: calls.append(1) or real(conn, f))
    engine = ui_db.engine_for(clinic_url)
    old = data.version()
    assert len(data.patients(Filters())) == 5
    assert len(data.patients(Filters())) == 5
    assert len(calls) == 1, "cached while the data do not change"
    now = datetime.now()
    with make_engine(clinic_url).begin() as conn:
        conn.execute(insert(Patient).values(patient_id="P9", site="North", updated_at=now))
    data.forget_version()
    assert len(data.patients(Filters())) == 6
    assert data.version() != old
    assert len(calls) == 2
    data._patients(clinic_url, Filters(), old)  # the old version's entry: dropped
    assert len(calls) == 3
    assert ui_db.engine_for(clinic_url) is engine, "the engine is kept across versions"
