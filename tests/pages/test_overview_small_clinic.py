"""The Overview on a 20-patient clinic (issue 17 screenshots): response and remission of a
few courses swing by tens of points from one 90 days to the next; the tile shows the rate
with its n and says why it shows no change, rather than "-64 pts" on 1 course."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
import streamlit as st

from kapviz.db.engine import make_engine
from kapviz.demo import generate_clinic
from kapviz.ui.overview import too_few_to_compare
from tests.pages.conftest import run_app

TODAY = date(2026, 12, 7)


@pytest.mark.parametrize(
    ("kpi", "expected"),
    [
        ({"value": 0.36, "previous": 1.0, "denominator": 11, "previous_denominator": 1},
         "No change shown: 11 courses now, 1 before (fewer than 10 in a period)"),
        ({"value": 0.36, "previous": 0.4, "denominator": 10, "previous_denominator": 12}, None),
        ({"value": 0.5, "previous": None, "denominator": 2, "previous_denominator": 0}, None),
        ({"value": 0.98, "previous": 0.95, "numerator": 49, "denominator": 50}, None),
    ],
)  # fmt: skip
def test_too_few_to_compare(kpi, expected):
    """Both periods need 10 courses for a change to be shown; no previous: nothing to say;
    measurement completion (doses, no previous_denominator) is not a course rate."""
    assert too_few_to_compare(kpi) == expected


@pytest.fixture
def small_clinic(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/small.db"
    generate_clinic(make_engine(url), patients=20, seed=7, today=TODAY)
    monkeypatch.setenv("KAPVIZ_DATABASE_URL", url)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield url
    st.cache_data.clear()
    st.cache_resource.clear()


def test_small_clinic_rate_tiles_show_no_swing(small_clinic):
    clock = {"clock": datetime.combine(TODAY, datetime.min.time()) + timedelta(hours=12)}
    at = run_app("pages/overview.py", state=clock)
    tiles = {m.label.split(" · ")[0]: m for m in at.metric}
    response = tiles["PHQ-9 response, % of evaluable courses (90 days)"]
    assert response.value.endswith("%") and not response.delta
    captions = [c.value for c in at.caption if c.value.startswith("No change shown:")]
    assert captions and all("(fewer than 10 in a period)" in c for c in captions)
    # Counts keep their deltas.
    assert tiles["Active patients (30 days)"].delta
