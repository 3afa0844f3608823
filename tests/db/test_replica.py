"""Reads from a PostgreSQL streaming replica, writes to the primary (KAPVIZ_READ_DATABASE_URL).

The replica is real: `pg_basebackup -R` of the test server, started on its own port
(tests/pg.py). Pausing its replay (`pg_wal_replay_pause()`) makes a write on the primary
invisible to the replica, which tells apart the reads that go to each.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime

import pytest
import sqlalchemy as sa
import streamlit as st
from sqlalchemy import insert

from kapviz.auth import accounts
from kapviz.db.engine import make_engine, replica_lag
from kapviz.db.models import Patient
from kapviz.filters import Filters
from kapviz.ui import data, replica, session
from kapviz.ui import db as ui_db
from tests import pg
from tests.clinic import ANCHOR, build_clinic
from tests.pages.conftest import run_app

pytestmark = pytest.mark.postgresql
CLOCK = datetime(2026, 2, 21, 12, 0)


@pytest.fixture(scope="module")
def replica_server(pg_server: str) -> Iterator[str]:
    with pg.postgres_replica(pg_server) as url:
        yield url


@pytest.fixture
def pair(pg_server, replica_server, pg_url, monkeypatch) -> Iterator[tuple[str, str]]:
    """(primary, replica) URLs of the hand clinic, replayed, set as the app's databases."""
    build_clinic(make_engine(pg_url), ANCHOR)
    pg.wait_for_replay(pg_server, replica_server)
    read_url = pg.on_replica(replica_server, pg_url)
    monkeypatch.setenv("KAPVIZ_DATABASE_URL", pg_url)
    monkeypatch.setenv("KAPVIZ_READ_DATABASE_URL", read_url)
    monkeypatch.setenv("KAPVIZ_AUTH_MODE", "none")
    st.cache_data.clear()
    st.cache_resource.clear()
    data._SEEN.clear()
    ui_db.engine()  # the app's start: migrations, rollups rebuilt on the primary
    pg.wait_for_replay(pg_server, replica_server)
    yield pg_url, read_url
    if pg.replica_execute(replica_server, "SELECT pg_is_wal_replay_paused()"):
        pg.replica_execute(replica_server, "SELECT pg_wal_replay_resume()")
    # The test database is dropped on the primary: no replica session may hold it open.
    for engine in (ui_db._replica(read_url),):
        engine.dispose()
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def paused(pair, pg_server, replica_server) -> Iterator[tuple[str, str]]:
    pg.replica_execute(replica_server, "SELECT pg_wal_replay_pause()")
    yield pair
    pg.replica_execute(replica_server, "SELECT pg_wal_replay_resume()")


def _port(engine: sa.Engine) -> int | None:
    return engine.url.port


def _add_patient(url: str, patient_id: str) -> None:
    with make_engine(url).begin() as conn:
        conn.execute(
            insert(Patient).values(patient_id=patient_id, site="North", updated_at=datetime.now())
        )


def test_reads_go_to_the_replica_and_writes_to_the_primary(pair):
    primary, read_url = pair
    assert _port(ui_db.read_engine()) == sa.make_url(read_url).port
    assert _port(ui_db.engine_for(primary)) == sa.make_url(read_url).port
    assert _port(ui_db.engine()) == sa.make_url(primary).port
    with ui_db.read_engine().connect() as conn:
        assert conn.exec_driver_sql("SELECT pg_is_in_recovery()").scalar() is True
    with ui_db.engine().connect() as conn:
        assert conn.exec_driver_sql("SELECT pg_is_in_recovery()").scalar() is False
    # The pages' loaders read the replica: 5 patients, as written and replayed.
    assert len(data.patients(Filters())) == 5


def test_a_paused_replica_hides_a_new_write_from_reads_not_from_own_reads(
    paused, pg_server, replica_server
):
    """With replay paused, a patient written to the primary is not in the pages' reads (the
    replica), while an account added now is found at once (sign-in reads the primary);
    once replay resumes the pages see the patient."""
    primary, _ = paused
    _add_patient(primary, "P-NEW")
    with ui_db.engine().begin() as conn:
        accounts.add_user(conn, "newcomer", "a long enough password 1", role="analyst")
    data.forget_version()
    assert "P-NEW" not in set(data.patients(Filters())["patient_id"])
    assert session.find_account("newcomer") is not None, "read-your-write: the primary"
    with ui_db.read_engine().connect() as conn:
        assert accounts.get_account(conn, "newcomer") is None, "not yet on the replica"
    pg.replica_execute(replica_server, "SELECT pg_wal_replay_resume()")
    pg.wait_for_replay(pg_server, replica_server)
    data.forget_version()
    time.sleep(data.VERSION_TTL_SECONDS)
    assert "P-NEW" in set(data.patients(Filters())["patient_id"])


def test_lag_is_zero_on_an_idle_caught_up_replica(pair, replica_server, pg_url):
    """An idle primary: the last replayed commit gets old, yet nothing is behind."""
    _, read_url = pair
    deadline = time.monotonic() + 15  # a commit by the server itself restarts the wait
    while True:
        time.sleep(1.2)
        with make_engine(read_url).connect() as conn:
            lag = replica_lag(conn)
            since = conn.exec_driver_sql(
                "SELECT EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())"
            ).scalar()
        if since >= 1.0 or time.monotonic() > deadline:
            break
    assert lag == 0.0
    assert since >= 1.0, "the naive figure would have said a second or more"
    with make_engine(pg_url).connect() as conn:
        assert replica_lag(conn) is None, "the primary is no replica"
    assert replica_lag_on_sqlite() is None


def replica_lag_on_sqlite() -> float | None:
    with make_engine("sqlite://").connect() as conn:
        return replica_lag(conn)


def test_lag_grows_while_replay_is_paused(paused):
    primary, read_url = paused
    _add_patient(primary, "P-LAG1")
    time.sleep(1.5)
    _add_patient(primary, "P-LAG2")
    with make_engine(read_url).connect() as conn:
        lag = replica_lag(conn)
    assert lag is not None and lag >= 1.5


def test_overview_shows_the_lag_on_its_freshness_line(pair):
    at = run_app("pages/overview.py", state={"clock": CLOCK})
    captions = " ".join(c.value for c in at.caption)
    assert "Data as of **2026-02-20 09:00**" in captions
    assert "read replica 0 s behind" in captions
    assert not [w for w in at.warning if "read replica" in w.value]


def test_a_replica_over_the_limit_is_named_on_every_page(paused, monkeypatch):
    primary, read_url = paused
    monkeypatch.setenv("KAPVIZ_REPLICA_MAX_LAG_SECONDS", "1")
    _add_patient(primary, "P-LAG1")
    time.sleep(1.5)
    _add_patient(primary, "P-LAG2")
    replica._lag.clear()
    name = f"127.0.0.1:{sa.make_url(read_url).port}/{sa.make_url(read_url).database}"
    for page in ("pages/overview.py", "pages/safety.py"):
        at = run_app(page, state={"clock": CLOCK})
        warnings = [w.value for w in at.warning if "read replica" in w.value]
        assert len(warnings) == 1, page
        assert name in warnings[0] and "(limit 1 s)" in warnings[0]
    kiosk = run_app("pages/overview.py", state={"clock": CLOCK}, kiosk="1")
    header = " ".join(h.proto.body for h in kiosk.get("html"))
    assert f"read replica {name}" in header and "not the latest data" in header
    captions = " ".join(c.value for c in run_app("pages/overview.py").caption)
    behind = re.search(r"read replica ([\d,]+) s behind", captions)
    assert behind is not None and int(behind.group(1).replace(",", "")) >= 1


def test_no_replica_no_lag_text(pg_url, monkeypatch):
    build_clinic(make_engine(pg_url), ANCHOR)
    monkeypatch.setenv("KAPVIZ_DATABASE_URL", pg_url)
    monkeypatch.delenv("KAPVIZ_READ_DATABASE_URL", raising=False)
    monkeypatch.setenv("KAPVIZ_AUTH_MODE", "none")
    st.cache_resource.clear()
    assert ui_db.read_engine() is ui_db.engine()
    assert replica.lag_seconds() is None and replica.lag_text(None) == ""
    assert replica.lag_text(2.4) == " · read replica 2 s behind"
