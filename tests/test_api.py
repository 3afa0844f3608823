"""kapviz.connect: the API's figures equal the pages' and the hand-computed ones."""

from __future__ import annotations

import math

import pandas as pd
import pytest

import kapviz
from kapviz.db import queries
from kapviz.db.engine import make_engine
from kapviz.demo import generate_clinic
from kapviz.instruments import OUTCOME_INSTRUMENTS
from kapviz.metrics.outcomes import course_outcomes, outcome_rates
from kapviz.metrics.side_effects import effect_rates
from tests.clinic import build_clinic

RATE_KEYS = [
    "evaluable",
    "not_evaluable",
    "response_rate",
    "remission_rate",
    "reliable_improvement_rate",
    "reliable_deterioration_rate",
    "mean_change",
]


def _page_rates(url: str, instrument: str) -> pd.Series:
    """The rates the pages show: outcome_rates over course_outcomes of every session."""
    with make_engine(url).connect() as conn:
        sessions = queries.sessions(conn)
        scores = queries.assessments(conn, instruments=list(OUTCOME_INSTRUMENTS))
    rates = outcome_rates(course_outcomes(sessions, scores))
    return rates.set_index("instrument").loc[instrument]


def _assert_same(api_row: pd.Series, page_row: pd.Series) -> None:
    for key in RATE_KEYS:
        a, b = float(api_row[key]), float(page_row[key])
        assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-12), key
    assert api_row["responders"] == page_row["response_n"]
    assert api_row["remitters"] == page_row["remission_n"]


def test_outcomes_equal_the_pages_on_the_hand_clinic(db_url):
    build_clinic(make_engine(db_url))
    clinic = kapviz.connect(db_url)
    for instrument in ("PHQ-9", "GAD-7", "PCL-5"):
        table = clinic.outcomes(instrument)
        assert len(table) == 1
        _assert_same(table.iloc[0], _page_rates(db_url, instrument))


def test_outcomes_equal_the_pages_on_a_demo_clinic(db_url):
    generate_clinic(make_engine(db_url), patients=80, seed=11)
    clinic = kapviz.connect(db_url)
    _assert_same(clinic.outcomes("PHQ-9").iloc[0], _page_rates(db_url, "PHQ-9"))
    # The groups add up to the whole: every course is in exactly one site.
    by_site = clinic.outcomes("PHQ-9", by="site")
    whole = clinic.outcomes("PHQ-9").iloc[0]
    for key in ("courses", "evaluable", "responders", "response_denominator"):
        assert by_site[key].sum() == whole[key]


@pytest.fixture
def hand(sqlite_url):
    build_clinic(make_engine(sqlite_url))
    return kapviz.connect(sqlite_url)


def test_outcomes_by_site_by_hand_with_an_empty_group(hand):
    table = hand.outcomes("PHQ-9", by="site").set_index("site")
    north, south = table.loc["North"], table.loc["South"]
    # P1 18 → 8 (response, no remission), P2 10 → 4 (response and remission).
    assert (north["evaluable"], north["not_evaluable"], north["responders"]) == (2, 0, 2)
    assert north["response_rate"] == 1.0
    assert (north["remitters"], north["remission_rate"]) == (1, 0.5)
    assert north["reliable_improvement_rate"] == 1.0
    assert north["reliable_deterioration_rate"] == 0.0
    assert north["mean_change"] == -8.0
    # P4: no baseline within 30 days → not evaluable; every rate has an empty denominator.
    assert (south["evaluable"], south["not_evaluable"], south["responders"]) == (0, 1, 0)
    for key in ("response_rate", "remission_rate", "reliable_improvement_rate", "mean_change"):
        assert math.isnan(south[key])


def test_two_dimensions_and_cohort_keywords(hand):
    table = hand.outcomes("PHQ-9", by=["route", "baseline_band"])
    rows = {(r.route, r.baseline_band): r for r in table.itertuples()}
    assert rows[("IV", "moderately severe")].mean_change == -10.0  # P1 18 → 8
    assert rows[("IM", "moderate")].remission_rate == 1.0  # P2 10 → 4
    assert rows[("Sublingual", "unknown")].evaluable == 0  # P4 without a baseline
    moderate = hand.outcomes("PHQ-9", baseline_band="moderate")
    assert (moderate.loc[0, "evaluable"], moderate.loc[0, "remitters"]) == (1, 1)
    iv = hand.outcomes("PHQ-9", route="IV")
    assert (iv.loc[0, "evaluable"], iv.loc[0, "remitters"]) == (1, 0)
    assert hand.outcomes("PHQ-9", site="South", by="site")["evaluable"].tolist() == [0]
    assert hand.outcomes("PHQ-9", sex="male")["not_evaluable"].tolist() == [1]  # P2, P4
    assert hand.outcomes("PHQ-9", clinician="CL-N1")["evaluable"].tolist() == [2]
    assert hand.outcomes("PHQ-9", age_band="45-54")["evaluable"].tolist() == [2]  # P1, P2
    assert hand.outcomes("PHQ-9", dose_band="0.5-<0.75 mg/kg")["evaluable"].tolist() == [1]
    late = hand.outcomes("PHQ-9", start="2027-01-01")
    assert late["courses"].tolist() == [0] and math.isnan(late.loc[0, "response_rate"])


def test_bad_breakdowns_are_refused(hand):
    with pytest.raises(ValueError, match="cannot break down"):
        hand.outcomes("PHQ-9", by="colour")
    with pytest.raises(ValueError, match="unknown cohort keywords"):
        hand.outcomes("PHQ-9", colour="red")
    with pytest.raises(ValueError, match="no baseline_band \\['sever'\\]; use one of"):
        hand.outcomes("PHQ-9", baseline_band="sever")
    with pytest.raises(ValueError, match="no age_band"):
        hand.outcomes("PHQ-9", age_band="30-40")
    with pytest.raises(ValueError, match="baseline_band needs an instrument"):
        hand.side_effects(by="baseline_band")


def test_side_effects_by_site_equal_effect_rates(hand, sqlite_url):
    table = hand.side_effects(by="site")
    assert set(table["site"]) == {"North"}  # South's two doses had no side effect
    north = table.set_index("term")
    # P1 4 doses + P2 3 doses; dissociation on P1's doses 1 and 2, nausea on both dose 1s.
    assert north.loc["dissociation", ["sessions", "dosing_sessions"]].tolist() == [2, 7]
    assert north.loc["nausea", "patients"] == 2
    with make_engine(sqlite_url).connect() as conn:
        sessions = queries.sessions(conn)
        records = queries.side_effects(conn)
    whole = effect_rates(sessions, records).set_index("term")
    mine = hand.side_effects().set_index("term")
    assert mine["session_rate"].to_dict() == whole["session_rate"].to_dict()
    assert mine["session_ci_low"].to_dict() == whole["session_ci_low"].to_dict()


def test_time_to_response_by_route_by_hand(hand):
    table = hand.time_to_response("PHQ-9", by="route").set_index("route")
    # First dose day 7 at 09:00: P1 first responds on day 46 (8 ≤ 9), P2 on day 30 (4).
    assert table.loc["IV", ["courses", "responders", "median_days"]].tolist() == [1, 1, 39.0]
    assert table.loc["IM", "median_days"] == 23.0
    assert table.loc["Sublingual", "courses"] == 0
    assert math.isnan(table.loc["Sublingual", "median_days"])


@pytest.mark.parametrize("build", ["hand", "demo"])
def test_outcomes_equal_the_trajectories_pages_rates(build, db_url, monkeypatch):
    """The Trajectories page's own tiles (kapviz.ui.trajectories.rates: outcome_rates over
    data.outcomes), for every instrument, with and without a site filter."""
    import streamlit as st

    from kapviz.filters import Filters
    from kapviz.ui import trajectories

    engine = make_engine(db_url)
    if build == "hand":
        build_clinic(engine)
    else:
        generate_clinic(engine, patients=60, seed=19)
    monkeypatch.setenv("KAPVIZ_DATABASE_URL", db_url)
    st.cache_data.clear()
    st.cache_resource.clear()
    try:
        clinic = kapviz.connect(db_url)
        with engine.connect() as conn:
            site = sorted(queries.patients(conn)["site"])[0]
        for filters, cohort in ((Filters(), {}), (Filters(sites=(site,)), {"site": site})):
            page = trajectories.rates(filters).set_index("instrument")
            assert len(page) > 0
            for instrument, row in page.iterrows():
                _assert_same(clinic.outcomes(instrument, **cohort).iloc[0], row)
    finally:
        st.cache_data.clear()
        st.cache_resource.clear()


def test_side_effects_equal_the_safety_pages_rates(db_url, monkeypatch):
    """The Safety page's frequency table (kapviz.ui.safety.view(filters).rates, read from the
    narrow SQL frames) equals clinic.side_effects() on a demo clinic, whole and one site."""
    import streamlit as st

    from kapviz.filters import Filters
    from kapviz.ui import safety

    engine = make_engine(db_url)
    generate_clinic(engine, patients=60, seed=23)
    monkeypatch.setenv("KAPVIZ_DATABASE_URL", db_url)
    st.cache_data.clear()
    st.cache_resource.clear()
    keys = ["term", "sessions", "dosing_sessions", "session_rate", "session_ci_low"]
    keys += ["patients", "patients_dosed", "patient_rate"]
    try:
        clinic = kapviz.connect(db_url)
        with engine.connect() as conn:
            site = sorted(queries.patients(conn)["site"])[0]
        for filters, cohort in ((Filters(), {}), (Filters(sites=(site,)), {"site": site})):
            page = safety.view(filters).rates[keys].reset_index(drop=True)
            mine = clinic.side_effects(**cohort)[keys].reset_index(drop=True)
            assert len(page) > 0
            pd.testing.assert_frame_equal(mine, page, check_dtype=False)
    finally:
        st.cache_data.clear()
        st.cache_resource.clear()


def test_time_to_response_equals_the_summary(sqlite_url):
    """`summary --json`'s time_to_response (the Trajectories page's Kaplan–Meier) per
    instrument equals clinic.time_to_response(instrument) on a demo clinic."""
    from kapviz.summary import build_summary

    engine = make_engine(sqlite_url)
    generate_clinic(engine, patients=80, seed=29)
    clinic = kapviz.connect(sqlite_url)
    expected = build_summary(engine)["time_to_response"]
    assert expected
    for instrument, figures in expected.items():
        row = clinic.time_to_response(instrument).iloc[0]
        assert (row["courses"], row["responders"]) == (figures["courses"], figures["responders"])
        if figures["median_days"] is None:
            assert math.isnan(row["median_days"])
        else:
            assert row["median_days"] == figures["median_days"]
