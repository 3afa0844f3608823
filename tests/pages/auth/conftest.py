"""Fixtures of the access-control page tests: the tiny clinic with sign-in on.

Accounts on tests/clinic.py (North: P1, P2 by clinician CL-N1; South: P3, P4 by CL-S1 and
P5 referred only, without sessions):
- dora, director; sam, supervisor of North; cleo, clinician CL-S1 (P3, P4); ana, analyst;
  wall, a display (wall screen; its token is DISPLAY_TOKEN["wall"] after `add_accounts`).
The browser tests import the plain helpers (accounts, audit rows) from here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, select
from streamlit.testing.v1 import AppTest

from kapviz.auth import accounts, display
from kapviz.auth.models import AuditEvent
from kapviz.auth.scope import ANALYST, CLINICIAN, DIRECTOR, DISPLAY, SUPERVISOR
from kapviz.db import queries, rollups
from kapviz.db.engine import make_engine
from kapviz.filters import Filters
from kapviz.ui import auth, data
from kapviz.ui.session import SEEN_KEY, USER_KEY

ROOT = Path(__file__).resolve().parents[3]
PASSWORDS = {
    "dora": "director-pass-1",
    "sam": "supervisor-pass-1",
    "cleo": "clinician-pass-1",
    "ana": "analyst-pass-1",
}
ROLE_USER = {
    DIRECTOR: "dora",
    SUPERVISOR: "sam",
    CLINICIAN: "cleo",
    ANALYST: "ana",
    DISPLAY: "wall",
}
DISPLAY_TOKEN: dict[str, str] = {}
PAGE_TITLES = {
    "pages/overview.py": "Overview",
    "pages/trajectories.py": "Trajectories",
    "pages/safety.py": "Safety",
    "pages/explore.py": "Explore",
    "pages/case_explorer.py": "Case explorer",
    "pages/data.py": "Data",
    "pages/audit.py": "Audit",
}
PATIENTS = ("P1", "P2", "P3", "P4", "P5")
COURSES = ("P1-C1", "P2-C1", "P3-C1", "P4-C1")


def fast_hasher() -> PasswordHasher:
    """Cheap argon2 parameters (0.7 s per hash otherwise); the same code paths."""
    return PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)


def add_accounts(engine: Engine) -> None:
    with engine.begin() as conn:
        accounts.add_user(conn, "dora", PASSWORDS["dora"], role=DIRECTOR, display_name="Dora")
        accounts.add_user(conn, "sam", PASSWORDS["sam"], role=SUPERVISOR, sites=("North",))
        accounts.add_user(conn, "cleo", PASSWORDS["cleo"], role=CLINICIAN, clinician="CL-S1")
        accounts.add_user(conn, "ana", PASSWORDS["ana"], role=ANALYST)
        _, DISPLAY_TOKEN["wall"] = display.add_display(conn, "wall", display_name="Wall screen")


@pytest.fixture(autouse=True)
def fresh_throttle() -> Iterator[None]:
    """Failed sign-ins counted by source live in the process: none carried between tests."""
    auth._throttle.clear()
    yield
    auth._throttle.clear()


@pytest.fixture
def auth_url(clinic_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The clinic with its five accounts, served with local sign-in."""
    monkeypatch.setattr(accounts, "_HASHER", fast_hasher())
    monkeypatch.setenv("KAPVIZ_AUTH_MODE", "local")
    engine = make_engine(clinic_url)
    add_accounts(engine)
    # Current rollups, as after an import: the app's start-up rebuild (kapviz.ui.db) finds
    # nothing to do, so the loads a test records are the page's own.
    rollups.rebuild(engine)
    return clinic_url


def audit_rows(url: str) -> pd.DataFrame:
    """Every audit row, oldest first."""
    with make_engine(url).connect() as conn:
        rows = conn.execute(select(AuditEvent.__table__).order_by(AuditEvent.id)).mappings().all()
    frame = pd.DataFrame([dict(r) for r in rows], columns=[c.name for c in AuditEvent.__table__.c])
    return frame.astype(object).where(frame.notna(), None)


@pytest.fixture
def run_as(auth_url: str) -> Callable[..., AppTest]:
    """Run a page as a signed-in user (None: nobody signed in); query params as keywords."""

    def run(path: str, user: str | None, *, state: dict | None = None, **query) -> AppTest:
        at = AppTest.from_file(str(ROOT / path), default_timeout=60)
        for key, value in query.items():
            at.query_params[key] = value
        if user is not None:
            at.session_state[USER_KEY] = user
            at.session_state[SEEN_KEY] = datetime.now()
        for key, value in (state or {}).items():
            at.session_state[key] = value
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return run


LOADERS = (
    "sessions",
    "assessments",
    "side_effects",
    "vitals",
    "patients",
    "patient_ids",
    "has_patients",
    "known_patients",
    "find_patients",
    "outcomes",
    "trajectory_points",
    "aggregate",
)
"""kapviz.ui.data's loaders that take the filters."""
SCOPES = ("course_scope", "patient_conditions", "rollup_conditions")
"""kapviz.db.queries' WHERE builders: every filtered query, frame or SQL-side aggregate,
goes through one of them (the aggregates modules call them as `queries.<name>`)."""


@pytest.fixture
def data_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, Filters]]]:
    """Every data loader call and every scoped query built in this test: (name, filters)."""
    calls: list[tuple[str, Filters]] = []
    targets = [(data, name) for name in LOADERS] + [(queries, name) for name in SCOPES]
    for module, name in targets:
        if not hasattr(module, name):
            continue
        original = getattr(module, name)

        def recording(*args, _name=name, _original=original, **kwargs):
            filters = kwargs.get("filters")
            if filters is None:
                filters = next(a for a in args if isinstance(a, Filters))
            calls.append((_name, filters))
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, name, recording)
    yield calls


def sidebar_links(at: AppTest) -> list[str]:
    """Titles of the menu's page links (plain links when a page runs on its own)."""
    texts = [m.value for m in at.sidebar.markdown]
    return [title for title in PAGE_TITLES.values() if any(f"[{title}](" in t for t in texts)]


def shown_text(at: AppTest) -> str:
    """What the page wrote in its main area (markdown, captions, metrics, messages, tables)."""
    main = at.main
    parts = [m.value for m in main.markdown] + [c.value for c in main.caption]
    parts += [f"{m.label} {m.value}" for m in main.metric]
    parts += [e.value for e in main.error] + [w.value for w in main.warning]
    parts += [i.value for i in main.info] + [df.value.to_csv() for df in main.dataframe]
    return "\n".join(str(p) for p in parts)
