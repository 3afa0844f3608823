"""Published figures beside the clinic's rates: Trajectories, Overview and the Safety BP panel.

The hand clinic (tests/clinic.py) with P1's last PHQ-9 (8) taken on day 30 instead of day
46: 23 days after P1's first dose (day 7), after 4 IV doses. Among IV courses (P1 only)
the endpoint is then within ORKA-1's 14–31 days: response 1 of 1 (18 → 8), remission 0 of
1 (8 is not < 5). All courses together mix IV (P1) and IM (P2): no study matches.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, time, timedelta

import pytest
import streamlit as st
from sqlalchemy import insert

from kapviz.db.engine import make_engine
from kapviz.db.migrate import upgrade
from kapviz.db.models import ImportRun
from tests.clinic import ANCHOR, TABLES, clinic_rows
from tests.pages.conftest import run_app


@pytest.fixture
def early_endpoint_url(tmp_path, monkeypatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path}/early.db"
    engine = make_engine(url)
    upgrade(engine)
    rows = clinic_rows(ANCHOR)
    for score in rows["assessments"]:
        if score["patient_id"] == "P1" and score["instrument"] == "PHQ-9" and score["total"] == 8:
            score["administered_at"] = datetime.combine(ANCHOR + timedelta(days=30), time(9))
            score["session_id"] = None
    with engine.begin() as conn:
        for name, model in TABLES:
            conn.execute(insert(model), rows[name])
        conn.execute(
            insert(ImportRun), [dict(source="test", kind="test", added=0, updated=0, is_demo=False)]
        )
    monkeypatch.setenv("KAPVIZ_DATABASE_URL", url)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield url
    st.cache_data.clear()
    st.cache_resource.clear()


def _text(at) -> str:
    return "\n".join([m.value for m in at.markdown] + [c.value for c in at.caption])


ORKA = (
    "ORKA-1 (real-world IV ketamine for depression, 178 practices; IV; n = 537 patients): "
    "PHQ-9 response, 14–31 days after the first infusion (about 6 infusions): 53.6%"
)


def test_trajectories_matching_reference_beside_rate(early_endpoint_url):
    at = run_app("pages/trajectories.py", route="IV")
    text = _text(at)
    assert f"- **{ORKA}** — response, this selection: 100% (95% CI 21%–100%; 1 of 1 courses)" in (
        text
    )
    assert (
        "PHQ-9 remission, 14–31 days after the first infusion (about 6 infusions): 28.9%** — "
        in text
    )
    assert "remission, this selection: 0% (95% CI 0%–79%; 0 of 1 courses)" in text
    assert "not targets" in text
    assert "median 23 days, 4 dosing sessions after the first dose" in text
    assert "Hull 2022" not in text  # sublingual study: not beside IV courses


def test_trajectories_no_match_says_why(early_endpoint_url):
    at = run_app("pages/trajectories.py")
    text = _text(at)
    assert "ORKA-1 (" not in text
    assert "Published PHQ-9 response and remission figures (ORKA-1: IV, 14–31 days" in text
    assert "routes (IM, IV) differ from the studies'" in text


def test_overview_line(early_endpoint_url):
    at = run_app("pages/overview.py", route="IV")
    assert ORKA in _text(at)
    at = run_app("pages/overview.py")
    assert "No published PHQ-9 figure matches these courses" in _text(at)


def test_safety_bp_panel_published_rise(early_endpoint_url):
    at = run_app("pages/safety.py")
    text = _text(at)
    assert (
        "Published, for context: Yale BP series (IV ketamine infusions for depression; "
        "n = 2,342 infusions): mean peak rise +16.0/+11.0 mmHg (peak, about 40 min after the "
        "start of the infusion); severe hypertension in 0.98% of infusions" in text
    )
    at = run_app("pages/safety.py", route="Sublingual")
    assert "Yale BP series" not in _text(at)
