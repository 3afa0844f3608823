"""Overview tiles on the hand-written clinic, clock pinned to Saturday 2026-02-21 12:00.

Expected values are counted by hand in tests/metrics/test_program.py::test_director_kpis.
"""

import os
from datetime import date, datetime

import pytest

from kapviz.db import rollups
from kapviz.db.aggregates import outcomes as outcome_sql
from kapviz.db.aggregates import program as program_sql
from kapviz.db.engine import make_engine
from tests.clinic import ANCHOR

CLOCK = datetime(2026, 2, 21, 12, 0)


@pytest.fixture
def clinic_anchor() -> date:
    return ANCHOR


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_page(request):
    """The page tests on both backends (PostgreSQL builds the figures in a thread)."""
    return request.getfixturevalue(
        "run_page" if request.param == "sqlite" else "run_page_on_postgresql"
    )


def _refuse(*args, **kwargs):
    raise AssertionError("a live whole-period query ran although the rollups are current")


@pytest.fixture(params=["live", "rollups"])
def run_page(request, backend_page, monkeypatch):
    """Each test twice: with the live queries (the clinic is written without rollups) and
    with rollups built (kapviz.db.rollups), the live whole-period queries then refused."""
    if request.param == "live":
        return backend_page

    def run(path: str, **kwargs):
        rollups.rebuild(make_engine(os.environ["KAPVIZ_DATABASE_URL"]))
        for name in ("funnel_counts", "daily_dosing", "ineligibility_reasons"):
            monkeypatch.setattr(program_sql, name, _refuse)
        monkeypatch.setattr(outcome_sql, "course_outcomes", _refuse)
        return backend_page(path, **kwargs)

    return run


AS_OF = " · data as of Fri 20 Feb 2026"
"""The clinic's newest record is the day before the clock: every tile says so."""


def _tiles(at) -> dict[str, tuple[str, str]]:
    return {m.label.removesuffix(AS_OF): (m.value, m.delta) for m in at.metric}


def test_tiles_values_and_deltas(run_page):
    """Each tile shows the hand-counted value and the delta against the previous period;
    labels carry unit and window; a zero change is neutral (no arrow, no colour)."""
    at = run_page("pages/overview.py", state={"clock": CLOCK})
    assert all(m.label.endswith(AS_OF) for m in at.metric)
    tiles = _tiles(at)
    assert tiles["Active patients (30 days)"] == ("2", "-2")
    assert tiles["Dosing sessions this week (to date)"] == ("1", "±0")
    assert tiles["Dosing sessions this month (to date)"] == ("2", "-4")
    assert tiles["PHQ-9 response, % of evaluable courses (90 days)"][0] == "100%"
    assert tiles["PHQ-9 remission, % of evaluable courses (90 days)"][0] == "50%"
    assert tiles["Doses with a PHQ-9 in the 7 days before, % (30 days)"] == ("0%", "-86 pts")
    # Safety tiles: hand-counted in tests/metrics/test_program.py::test_safety_kpis_on_clinic.
    assert tiles["Adverse events per 100 dosing sessions (30 days)"] == ("0.0", "-57.1")
    assert tiles["Patients needing attention (now)"] == ("1", "±0")
    zero = next(m for m in at.metric if m.label.startswith("Dosing sessions this week"))
    from streamlit.proto.Metric_pb2 import Metric

    assert zero.proto.direction == Metric.MetricDirection.NONE
    assert zero.proto.color == Metric.MetricColor.GRAY
    described = {m.label.removesuffix(AS_OF): m.proto.delta_description for m in at.metric}
    assert described["Dosing sessions this week (to date)"] == "vs same span last week"


def test_tiles_follow_site_filter(run_page):
    """?site=South keeps P3–P5: one active patient (P4), no evaluable PHQ-9 course."""
    at = run_page("pages/overview.py", state={"clock": CLOCK}, site="South")
    tiles = _tiles(at)
    assert tiles["Active patients (30 days)"][0] == "1"
    assert tiles["PHQ-9 response, % of evaluable courses (90 days)"][0] == "—"


def test_freshness_line(run_page):
    """'Data as of' names the newest record (P1's follow-up, day 46 at 09:00)."""
    at = run_page("pages/overview.py", state={"clock": CLOCK})
    captions = " ".join(c.value for c in at.caption)
    assert "Data as of **2026-02-20 09:00**" in captions
    assert "refreshed at **12:00:00**" in captions


def test_funnel_chart_counts(run_page):
    """The funnel figure (built in a thread on PostgreSQL) shows the hand counts of
    tests/db/test_aggregates_program.py::test_clinic_funnel_hand_counts."""
    import json

    at = run_page("pages/overview.py", state={"clock": CLOCK})
    figures = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    funnel = next(f for f in figures if f["data"] and f["data"][0]["type"] == "funnel")
    assert list(funnel["data"][0]["x"]) == [5, 4, 3, 3, 2]
