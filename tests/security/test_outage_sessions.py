"""Defence: during a database outage a signed-in session keeps its last good values, whichever
way it signed in.

A local-account session re-reads its account on every run and, when the database does not
answer, keeps the account it already holds (kapviz.ui.outage.account_or_held). An OpenID
Connect session re-read its account the same way but without that fallback, so the failed read
stopped the run: the banner showed with nothing under it. Both now show the banner over the
values read before the outage. A real PostgreSQL server is stopped under an AppTest session.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from kapviz.auth import accounts
from kapviz.auth.scope import DIRECTOR
from kapviz.db import rollups
from kapviz.db.engine import make_engine
from kapviz.ui import data
from kapviz.ui.session import SEEN_KEY, USER_KEY
from tests import pg
from tests.clinic import build_clinic
from tests.conftest import missing_requirement
from tests.pages.auth.conftest import fast_hasher
from tests.pages.auth.test_auth_sign_in import AUTH_SECRETS
from tests.pages.conftest import RECENT_ANCHOR

ROOT = Path(__file__).resolve().parents[2]
BANNER = "The database is not reachable"


@pytest.fixture
def server(monkeypatch) -> Iterator[tuple[str, str]]:
    """(server URL, database URL): a PostgreSQL server of this test only, the tiny clinic and
    a director who signs in with a password (dora) and one by identity provider (olga)."""
    if pg.find_bindir() is None:
        missing_requirement(pg.INSTALL_HINT)
    monkeypatch.setattr(accounts, "_HASHER", fast_hasher())
    with pg.postgres_server() as server_url:
        db_url = pg.create_database(server_url)
        engine = make_engine(db_url)
        build_clinic(engine, RECENT_ANCHOR)
        with engine.begin() as conn:
            accounts.add_user(conn, "dora", "director-pass-1", role=DIRECTOR)
            accounts.add_user(conn, "olga@clinic.org", None, role=DIRECTOR)
        rollups.rebuild(engine)
        engine.dispose()
        monkeypatch.setenv("KAPVIZ_DATABASE_URL", db_url)
        st.cache_data.clear()
        st.cache_resource.clear()
        yield server_url, db_url
        st.cache_data.clear()
        st.cache_resource.clear()


def _signed_in(mode: str, monkeypatch, path: str) -> AppTest:
    monkeypatch.setenv("KAPVIZ_AUTH_MODE", mode)
    at = AppTest.from_file(str(ROOT / path), default_timeout=60)
    if mode == "oidc":
        at.secrets["auth"] = AUTH_SECRETS
        at.user = {"is_logged_in": True, "email": "olga@clinic.org", "iat": int(time.time())}
    else:
        at.session_state[USER_KEY] = "dora"
        at.session_state[SEEN_KEY] = datetime.now()
    return at


def _tiles(at: AppTest) -> list[tuple[str, str]]:
    return [(m.label, m.value) for m in at.metric]


@pytest.mark.parametrize(
    ("mode", "path"),
    [("local", "pages/overview.py"), ("oidc", "pages/overview.py"), ("oidc", "pages/safety.py")],
)
def test_signed_in_session_keeps_last_values_in_an_outage(server, monkeypatch, mode, path):
    """Signed in by password or by identity provider: with the database stopped the next run
    shows one banner over the same tiles as before, and no exception (on Safety too, whose
    worklist asks the audit trail for the viewer's previous visit on every run)."""
    server_url, _ = server
    at = _signed_in(mode, monkeypatch, path)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    before = _tiles(at)
    assert len(before) >= 4
    pg.stop_server(server_url)
    try:
        data._version.clear()  # the data version's few seconds of cache have run out
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        banners = [w.value for w in at.warning if BANNER in w.value]
        assert len(banners) == 1 and "showing data as of" in banners[0]
        assert _tiles(at) == before
    finally:
        pg.start_server(server_url)
