"""ADBC reads on PostgreSQL: pooled connections that see new commits, survive a server-side
disconnect, are kept for one database only, and run without JIT (as the engine's do)."""

import pytest
from sqlalchemy import func, insert, literal, select, text
from sqlalchemy.engine import make_url

from kapviz.db import arrow, queries
from kapviz.db.engine import make_engine, with_analytics_settings
from kapviz.db.migrate import upgrade
from kapviz.db.models import Site

pytestmark = pytest.mark.postgresql


@pytest.fixture
def engine(pg_url):
    engine = make_engine(pg_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def site_count(engine) -> int:
    with engine.connect() as conn:
        frame = queries.read_frame(conn, select(func.count(Site.name)), ["n"])
    return int(frame["n"].iloc[0])


def idle_connections(engine) -> int:
    pool = arrow._PG_POOL.get(arrow.adbc_uri(engine.url)[1])
    return 0 if pool is None else pool.checkedin()


def backend_pid(engine) -> int:
    with engine.connect() as conn:
        frame = queries.read_frame(conn, select(func.pg_backend_pid()), ["pid"])
    return int(frame["pid"].iloc[0])


def test_reads_reuse_a_connection_and_see_new_commits(engine):
    assert site_count(engine) == 0
    assert idle_connections(engine) == 1
    pid = backend_pid(engine)
    with engine.begin() as conn:
        conn.execute(insert(Site), [{"name": "North"}])
    assert site_count(engine) == 1  # the read's transaction was ended: the commit is seen
    assert backend_pid(engine) == pid  # and the same connection served it
    assert idle_connections(engine) == 1


def test_a_connection_ended_by_the_server_is_replaced(engine):
    site_count(engine)
    with engine.connect() as conn:
        ended = conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).all()
    assert ended and all(row[0] for row in ended)
    assert site_count(engine) == 0  # no error: the dead connection was pinged and replaced


def test_idle_connections_are_kept_for_the_last_database_only(engine, pg_server):
    from tests import pg

    site_count(engine)
    other = make_engine(pg.create_database(pg_server))
    upgrade(other)
    try:
        assert site_count(other) == 0
        assert idle_connections(engine) == 0
        assert idle_connections(other) == 1
    finally:
        other.dispose()
        arrow._close_connections()
        pg.drop_database(pg_server, other.url.render_as_string(hide_password=False))


def test_sessions_run_with_analytics_settings(engine):
    with engine.connect() as conn:
        assert conn.execute(text("SELECT current_setting('jit')")).scalar() == "off"
        frame = queries.read_frame(conn, select(func.current_setting(literal("jit"))), ["jit"])
    assert frame["jit"].tolist() == ["off"]


@pytest.mark.parametrize(
    ("url", "options"),
    [
        ("postgresql+psycopg://u@h/db", "-c jit=off -c work_mem=64MB"),
        (
            "postgresql+psycopg://u@h/db?options=-c%20statement_timeout%3D5000",
            "-c statement_timeout=5000 -c jit=off -c work_mem=64MB",
        ),
        ("postgresql+psycopg://u@h/db?options=-c%20jit%3Don", "-c jit=on -c work_mem=64MB"),
        (
            "postgresql+psycopg://u@h/db?options=-c%20jit%3Don%20-c%20work_mem%3D8MB",
            "-c jit=on -c work_mem=8MB",
        ),
    ],
)
def test_analytics_settings_keep_other_options_and_an_operators_choice(url, options):
    assert with_analytics_settings(make_url(url)).query["options"] == options
