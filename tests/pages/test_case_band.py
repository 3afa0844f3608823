"""Case explorer on a demo clinic: the band drawn is the pandas cohort band, number for number.

The page reads the course from patient-scoped queries and the band from the cohort summary
(kapviz.db.aggregates.case); here the figure's median line, IQR and course count are checked
against `cohort_band` of the whole cohort's trajectory points.
"""

from __future__ import annotations

import json

import plotly.io as pio
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from kapviz.db import queries
from kapviz.db.engine import make_engine
from kapviz.demo import generate_clinic
from kapviz.instruments import OUTCOME_INSTRUMENTS
from kapviz.metrics import case
from kapviz.metrics.outcomes import course_outcomes
from kapviz.metrics.trajectory_axes import trajectory_points
from tests.pages.conftest import ROOT
from tests.pages.test_case_explorer import _charts, _values


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('demo')}/demo.db"
    generate_clinic(make_engine(url), patients=120, seed=4)
    return url


@pytest.fixture(scope="module")
def cohort(demo_url):
    """Outcomes and trajectory points of the whole demo cohort (the pandas definitions)."""
    with make_engine(demo_url).connect() as conn:
        sessions = queries.sessions(conn)
        scores = queries.assessments(conn, instruments=list(OUTCOME_INSTRUMENTS))
    return course_outcomes(sessions, scores), trajectory_points(sessions, scores)


def test_band_on_the_page_is_the_cohort_band(demo_url, cohort, monkeypatch):
    """For three patients' latest courses: median line, IQR edges and course counts."""
    monkeypatch.setenv("KAPVIZ_DATABASE_URL", demo_url)
    st.cache_data.clear()
    st.cache_resource.clear()
    outcomes, points = cohort
    latest = outcomes.sort_values("course_id").drop_duplicates("patient_id", keep="last")
    chosen = latest[(latest["instrument"] == "PHQ-9") & latest["baseline"].notna()].head(3)
    assert len(chosen) == 3
    for row in chosen.itertuples():
        at = AppTest.from_file(str(ROOT / "pages/case_explorer.py"), default_timeout=60)
        at.query_params["patient"] = row.patient_id
        at.query_params["course"] = row.course_id
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        band, n = case.cohort_band(
            points,
            outcomes,
            instrument="PHQ-9",
            baseline=row.baseline,
            exclude_course=row.course_id,
        )
        assert n > 0
        fig = _charts(at)["scores-PHQ-9"]
        traces = {t.name: t for t in fig.data}
        iqr = traces[f"Similar-baseline IQR ({n:,} courses)"]
        median = traces["Cohort median"]
        assert _values(median.y) == list(band["median"])
        assert _values(median.x) == list(band["order"])
        assert _values(iqr.y) == [*band["q3"], *band["q1"][::-1]]
        assert [c[0] for c in _values(median.customdata)] == list(band["courses"])
    st.cache_data.clear()
    st.cache_resource.clear()


def test_figure_json_round_trips(demo_url, monkeypatch):
    """The cached figures serialise like freshly drawn ones (nothing shared is mutated)."""
    monkeypatch.setenv("KAPVIZ_DATABASE_URL", demo_url)
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "pages/case_explorer.py"), default_timeout=60)
    at.query_params["patient"] = "DEMO-00001"
    at.run()
    first = [c.proto.spec for c in at.get("plotly_chart")]
    at.query_params["present"] = "true"
    at.run()
    del at.query_params["present"]
    at.run()
    # The same figures (values, not the JSON's key order) as before presentation mode.
    again = [c.proto.spec for c in at.get("plotly_chart")]
    assert [json.loads(spec) for spec in again] == [json.loads(spec) for spec in first]
    assert all(pio.from_json(spec, skip_invalid=True) for spec in first)
    st.cache_data.clear()
    st.cache_resource.clear()


def test_band_comes_from_the_rollups(demo_url, cohort, monkeypatch):
    """With current rollups and no filters the page never places the whole cohort's scores
    (the live summary would raise here), and still draws the case and its band."""
    from kapviz.db.aggregates import case as case_sql

    def live(*args, **kwargs):
        raise AssertionError("the live cohort summary was read")

    monkeypatch.setenv("KAPVIZ_DATABASE_URL", demo_url)
    monkeypatch.setattr(case_sql, "cohort_summary", live)
    st.cache_data.clear()
    st.cache_resource.clear()
    outcomes, _ = cohort
    row = outcomes[(outcomes["instrument"] == "PHQ-9") & outcomes["baseline"].notna()].iloc[0]
    at = AppTest.from_file(str(ROOT / "pages/case_explorer.py"), default_timeout=60)
    at.query_params["patient"] = row["patient_id"]
    at.query_params["course"] = row["course_id"]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("PHQ-9" in key for key in _charts(at))  # the score chart with its band
