"""The Overview in a real browser: live refresh picks up new rows; links restore filters."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import insert

from kapviz.db.engine import make_engine
from kapviz.db.models import Dosing, Session
from tests.browser.conftest import open_app
from tests.clinic import build_clinic
from tests.pages.conftest import RECENT_ANCHOR


@pytest.fixture
def app_db_url(sqlite_url: str) -> str:
    build_clinic(make_engine(sqlite_url), RECENT_ANCHOR)
    return sqlite_url


def _tile_value(page, label: str) -> str:
    tile = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return tile.locator('[data-testid="stMetricValue"]').inner_text().strip()


def test_tile_changes_after_insert_without_reload(app_factory, app_db_url, page):
    """Rows written by another process show up at the next refresh (2 s here), no reload."""
    url = app_factory(app_db_url, {"KAPVIZ_REFRESH_SECONDS": "2"})
    open_app(page, url, "/")
    page.locator('[data-testid="stMetric"]').first.wait_for()
    before = int(_tile_value(page, "Dosing sessions this week"))
    now = datetime.now().replace(microsecond=0) - timedelta(minutes=5)
    rows = [
        dict(
            session_id=f"LIVE-{i}",
            patient_id="P1",
            course_id="P1-C1",
            started_at=now - timedelta(minutes=i),
            phase="dosing",
            status="completed",
        )
        for i in range(3)
    ]
    engine = make_engine(app_db_url)
    with engine.begin() as conn:
        conn.execute(insert(Session), rows)
        conn.execute(
            insert(Dosing),
            [dict(session_id=r["session_id"], route="iv", drug="ketamine", dose_mg=35.0)
             for r in rows],
        )  # fmt: skip
    page.wait_for_function(
        """([label, expected]) => [...document.querySelectorAll('[data-testid="stMetric"]')]
            .some(m => m.innerText.includes(label) &&
                 m.querySelector('[data-testid="stMetricValue"]').innerText.trim() === expected)""",
        arg=["Dosing sessions this week", str(before + 3)],
        timeout=20000,
    )


def test_url_restores_filters(app_url, page):
    """A link with ?site=North&route=IV opens the page with those filters applied."""
    open_app(page, app_url, "/?site=North&route=IV")
    sidebar = page.locator('[data-testid="stSidebar"]')
    site = sidebar.locator('[data-testid="stMultiSelect"]').filter(has_text="Site")
    site.get_by_text("North").wait_for(timeout=20000)
    route = sidebar.locator('[data-testid="stMultiSelect"]').filter(has_text="Route")
    assert "IV" in route.inner_text()
    # North with IV: only P1 remains; the funnel starts at one referred patient.
    page.get_by_text("Treatment funnel (patients)").wait_for()
    assert "site=North" in page.url and "route=IV" in page.url
