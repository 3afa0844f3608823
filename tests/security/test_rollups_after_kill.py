"""Defence: a process killed between an import's commit and the rollups' rebuild leaves no
stale counts behind for long.

Defended: the Overview's stored counts (kapviz.db.rollups) are stamped with the data version
they were computed from, so stale ones are never read (the pages compute live, the same
numbers); and the app rebuilds them when it starts (kapviz.ui.db.engine_for), so a kill
after the commit costs speed until the next start, never correctness.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy import func, select

from kapviz.db import rollups
from kapviz.db.engine import make_engine
from kapviz.db.migrate import upgrade
from kapviz.db.models import ImportRun
from kapviz.io.template import read_template
from kapviz.io.validate import validate
from kapviz.io.write import write_batch
from kapviz.ui import db as ui_db

FIXTURES = Path(__file__).parents[1] / "io" / "fixtures"


class Killed(BaseException):
    """Stands for SIGKILL right after the commit: nothing of the process runs any more."""


def test_kill_after_commit_then_start_rebuilds(sqlite_url, monkeypatch):
    engine = make_engine(sqlite_url)
    upgrade(engine)
    validated = validate(read_template(FIXTURES / "template_valid"))

    def killed(_engine):
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(rollups, "rebuild", killed)
        with pytest.raises(Killed):
            write_batch(engine, validated, source="template_valid", kind="template")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ImportRun)).scalar_one() == 1
        assert not rollups.status(conn).current  # stale: the pages read live meanwhile
        assert not rollups.is_current(conn)
    monkeypatch.setenv("KAPVIZ_DATABASE_URL", sqlite_url)
    st.cache_resource.clear()
    try:
        started = ui_db.engine_for(sqlite_url)  # what the app does on its first page
        with started.connect() as conn:
            assert rollups.status(conn).current
    finally:
        st.cache_resource.clear()


def test_nothing_rebuilt_when_current_or_empty(sqlite_url):
    engine = make_engine(sqlite_url)
    upgrade(engine)
    assert not rollups.rebuild_if_stale(engine)  # no data: nothing to count
