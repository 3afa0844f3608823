"""One "needing attention" number (issue 17): the Overview's tile, the Safety page's KPI and
the Safety worklist count the same active patients, and say how many inactive ones they
leave out (listed apart on the Safety page)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
import streamlit as st

from kapviz.db.engine import make_engine
from kapviz.demo import generate_clinic
from tests.clinic import ANCHOR
from tests.pages.conftest import run_app

LABEL = "Patients needing attention (now)"
DEMO_TODAY = date(2026, 11, 20)


@pytest.fixture
def clinic_anchor() -> date:
    return ANCHOR


def _tile(at) -> tuple[str, str]:
    """(value, the line under it) of the needing-attention tile ("" when none)."""
    metric = next(m for m in at.metric if m.label.startswith(LABEL))
    notes = [c.value for c in at.caption if "inactive not counted" in c.value]
    return metric.value, notes[0] if notes else ""


def _worklist_counts(at) -> tuple[int, int]:
    """(active, inactive) patients on the Safety worklist as the page shows them."""
    active = inactive = 0
    for frame in at.dataframe:
        columns = set(frame.value.columns)
        if "last_contact" in columns:
            inactive = frame.value["patient_id"].nunique()
        elif "alerts" in columns and "clinician" in columns:
            active = int(frame.value["patients"].sum())
    return active, inactive


def test_hand_clinic_inactive_patient_counted_nowhere(run_page):
    """On 2026-06-01 P2's item-9 alert stands but P2 has had no session for 90 days: the
    worklist lists P2 apart; tile and KPI show 0 active and name the 1 inactive patient."""
    clock = {"clock": datetime(2026, 6, 1, 12, 0)}
    note = "1 inactive not counted (no session in 90 days)"
    safety = run_page("pages/safety.py", state=clock)
    assert _worklist_counts(safety) == (0, 1)
    assert _tile(safety) == ("0", note)
    overview = run_page("pages/overview.py", state=clock)
    assert _tile(overview) == ("0", note)


def test_hand_clinic_active_patient_on_every_count(run_page):
    """On 2026-02-21 P2 is active (dosed in February) with item 9 = 1: 1 everywhere, no note."""
    clock = {"clock": datetime(2026, 2, 21, 12, 0)}
    safety = run_page("pages/safety.py", state=clock)
    overview = run_page("pages/overview.py", state=clock)
    assert _worklist_counts(safety)[0] == 1
    assert _tile(safety) == _tile(overview) == ("1", "")


@pytest.fixture
def demo_url(tmp_path, monkeypatch):
    """The 300-patient demo clinic as the `demo` command builds it, as the app's database."""
    url = f"sqlite:///{tmp_path}/demo.db"
    generate_clinic(make_engine(url), patients=300, seed=7, today=DEMO_TODAY)
    monkeypatch.setenv("KAPVIZ_DATABASE_URL", url)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield url
    st.cache_data.clear()
    st.cache_resource.clear()


def test_demo_tile_kpi_and_worklist_agree(demo_url):
    """On the demo clinic some patients with alerts are inactive: the tile and the KPI equal
    the worklist's active patients, and both name the inactive ones it lists apart."""
    clock = {"clock": datetime.combine(DEMO_TODAY, datetime.min.time()) + timedelta(hours=12)}
    safety = run_app("pages/safety.py", state=clock)
    overview = run_app("pages/overview.py", state=clock)
    active, inactive = _worklist_counts(safety)
    assert active > 0 and inactive > 0
    note = f"{inactive} inactive not counted (no session in 90 days)"
    assert _tile(safety) == _tile(overview) == (str(active), note)
