"""Shared fixtures: a fresh empty database per test, on SQLite and on a real PostgreSQL server.

- `db_url`: parametrized `sqlite` / `postgresql`; the data layer's tests use it to run on both.
- `sqlite_url`, `pg_url`: one backend only.
- `pg_server`: one throwaway server per pytest worker (see tests/pg.py).

Without the PostgreSQL binaries the `postgresql` cases are skipped locally and fail in CI.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import pg

# Tests run with sign-in off on their throwaway databases ("auto" would ask for an account on
# any database but the embedded demo); access-control tests set KAPVIZ_AUTH_MODE themselves.
os.environ.setdefault("KAPVIZ_AUTH_MODE", "none")


def in_ci() -> bool:
    """True when the CI environment variable is set (CI must not skip what it cannot run)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing_requirement(message: str) -> None:
    """Skip the test on a developer machine; fail it in CI, where everything must run."""
    if in_ci():
        pytest.fail(f"{message} (CI is set, so this is an error rather than a skip)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """URL of this worker's throwaway PostgreSQL server, database `postgres`, user `postgres`."""
    if pg.find_bindir() is None:
        missing_requirement(pg.INSTALL_HINT)
    with pg.postgres_server() as url:
        yield url


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """URL of a fresh empty PostgreSQL database, dropped after the test."""
    url = pg.create_database(pg_server)
    try:
        yield url
    finally:
        pg.drop_database(pg_server, url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of a fresh empty SQLite database file in the test's tmp_path."""
    return f"sqlite:///{tmp_path}/kapviz.db"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """URL of a fresh empty database; every test using it runs once per backend."""
    # getfixturevalue keeps the PostgreSQL server lazy: `-k sqlite` never starts one.
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests that need PostgreSQL, so `-m "not postgresql"` gives a quick local run."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_pg = callspec is not None and callspec.params.get("db_url") == "postgresql"
        if on_pg or {"pg_url", "pg_server"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgresql)


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium per pytest worker, shared by tests/browser and tests/security."""
    from tests.browser.conftest import chromium_session

    with chromium_session() as chromium:
        yield chromium
