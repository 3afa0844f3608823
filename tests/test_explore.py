"""kapviz.explore: views to and from the URL, and run() giving the API's (and the pages')
numbers for every measure."""

from __future__ import annotations

import math
from datetime import date

import pandas as pd
import pytest

import kapviz
from kapviz import explore
from kapviz.db.engine import make_engine
from kapviz.demo import generate_clinic
from kapviz.explore import MEASURES, CohortSpec, ExploreView
from kapviz.filters import Filters
from tests.clinic import build_clinic

FULL = ExploreView(
    measure="remission",
    instrument="GAD-7",
    term=None,
    by=("route", "age_band"),
    cohort=CohortSpec(
        sites=("North", "South"),
        indications=("TRD",),
        routes=("iv", "im"),
        start=date(2025, 1, 1),
        end=date(2025, 12, 31),
        baseline_band=("moderate", "severe"),
        age_band=("45–54",),
        sex=("female",),
        clinician=("CL-N1",),
        dose_band=("0.5–<0.75 mg/kg",),
        doses_min=2,
        doses_max=6,
        first_dose_from=date(2025, 2, 1),
        first_dose_to=date(2025, 11, 30),
    ),
)


@pytest.fixture(scope="module")
def hand(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('explore')}/hand.db"
    build_clinic(make_engine(url))
    return kapviz.connect(url)


# --- the URL ------------------------------------------------------------------------------


def test_every_field_survives_the_url():
    params = FULL.to_params()
    # The global filters' names (kapviz.ui.filters.QUERY_KEYS) for the first five.
    assert params["site"] == ["North", "South"] and params["route"] == ["iv", "im"]
    assert (params["from"], params["to"]) == ("2025-01-01", "2025-12-31")
    assert params["by"] == ["route", "age_band"] and params["doses_min"] == "2"
    assert set(params) <= set(explore.URL_PARAMS)
    assert ExploreView.from_params(params) == (FULL, [])


def test_the_default_view_and_single_values():
    assert ExploreView.from_params({}) == (ExploreView(), [])
    assert ExploreView().to_params() == {"measure": "response", "instrument": "PHQ-9"}
    # st.query_params.to_dict() gives the last value of a repeated key as a string.
    view, errors = ExploreView.from_params(
        {"measure": "side_effect_rate", "term": "somnolence", "by": "site", "route": "IV"}
    )
    assert errors == []
    assert (view.term, view.by, view.cohort.routes) == ("sedation", ("site",), ("iv",))


def test_bad_values_are_dropped_with_a_readable_error():
    view, errors = ExploreView.from_params(
        {
            "measure": "happiness",
            "instrument": "XYZ-1",
            "term": "sneezing",
            "by": ["site", "colour", "site", "route", "sex"],
            "from": "2025-02-30",
            "to": "2025-03-01",
            "sex": ["female", "robot"],
            "age_band": "30-40",
            "baseline_band": "sever",
            "doses_min": "three",
            "first_dose_from": "2025-05-01",
            "first_dose_to": "2025-04-01",
        }
    )
    assert view == ExploreView(
        by=("site", "route"),
        cohort=CohortSpec(end=date(2025, 3, 1), sex=("female",)),
    )
    text = "\n".join(errors)
    for expected in (
        "measure 'happiness'",
        "instrument 'XYZ-1' is not known",
        "side effect 'sneezing' is not a preferred term",
        "breakdown 'colour'",
        "breakdown 'site' is repeated",
        "at most 2 breakdowns: 'sex' is dropped",
        "from '2025-02-30' is not a date",
        "sex 'robot'",
        "age_band '30-40'",
        "baseline_band 'sever'",
        "doses_min 'three' is not a whole number",
        "first_dose_from 2025-05-01 is after first_dose_to 2025-04-01",
    ):
        assert expected in text
    assert len(errors) == 12


def test_keywords_are_the_apis():
    assert CohortSpec().keywords() == {}
    keywords = FULL.cohort.keywords()
    assert keywords["site"] == ["North", "South"] and keywords["start"] == date(2025, 1, 1)
    assert keywords["doses_min"] == 2 and keywords["first_dose_to"] == date(2025, 11, 30)
    kapviz.api.Cohort.of(**keywords)  # every keyword is one the API takes


# --- run() ----------------------------------------------------------------------------------

API_OF = {
    "response": ("outcomes", "responders", "response_denominator", "response_rate"),
    "remission": ("outcomes", "remitters", "remission_denominator", "remission_rate"),
    "reliable_improvement": (
        "outcomes",
        "reliable_improvement_n",
        "reliable_improvement_denominator",
        "reliable_improvement_rate",
    ),
    "reliable_deterioration": (
        "outcomes",
        "reliable_deterioration_n",
        "reliable_deterioration_denominator",
        "reliable_deterioration_rate",
    ),
    "mean_change": ("outcomes", None, "evaluable", "mean_change"),
    "baseline_mean": ("outcomes", None, "evaluable", "baseline_mean"),
    "endpoint_mean": ("outcomes", None, "evaluable", "endpoint_mean"),
    "time_to_response": ("time_to_response", "responders", "courses", "median_days"),
    "side_effect_rate": ("side_effects", "sessions", "dosing_sessions", "session_rate"),
    "adverse_events_per_100": (
        "adverse_events",
        "events",
        "dosing_sessions",
        "events_per_100_doses",
    ),
    "bp_excursion_rate": ("bp_excursions", "sessions", "dosing_sessions", "rate"),
    "sedation_rate": ("sedation", "sessions", "dosing_sessions", "rate"),
    "measurement_completion": ("measurement_completion", "measured", "dosing_sessions", "rate"),
}


def _same(a: pd.Series, b: pd.Series) -> None:
    for x, y in zip(a.tolist(), b.tolist(), strict=True):
        assert (math.isnan(x) and math.isnan(y)) or x == pytest.approx(y, abs=1e-12)


@pytest.mark.parametrize("key", list(MEASURES))
def test_run_equals_the_api_by_two_dimensions(hand, key):
    assert set(API_OF) == set(MEASURES)
    view = ExploreView(measure=key, term="nausea", by=("site", "route"))
    result = explore.run(hand, view)
    method, numerator, denominator, value = API_OF[key]
    keywords = {"by": ["site", "route"]}
    if key == "side_effect_rate":
        keywords["term"] = "nausea"
    args = ("PHQ-9",) if MEASURES[key].needs_instrument else ()
    api = getattr(hand, method)(*args, **keywords).reset_index(drop=True)
    table = result.table
    assert list(table.columns[:2]) == ["site", "route"]
    assert table[["site", "route"]].values.tolist() == api[["site", "route"]].values.tolist()
    assert table["denominator"].tolist() == api[denominator].tolist()
    if numerator is None:
        assert table["n"].tolist() == api["evaluable"].tolist()
        assert table["numerator"].isna().all()
    else:
        assert table["numerator"].tolist() == api[numerator].tolist()
    _same(table["value"], api[value])
    assert {"ci_low", "ci_high"} <= set(table.columns)
    assert MEASURES[key].label in result.sentence and MEASURES[key].rule in result.sentence


def test_run_by_hand_with_an_empty_group(hand):
    result = explore.run(hand, ExploreView(measure="bp_excursion_rate", by=("route",)))
    rows = result.table.set_index("route")
    assert rows.loc["IV", ["numerator", "denominator"]].tolist() == [1, 4]
    assert rows.loc["IV", "value"] == 0.25
    assert rows.loc["unknown", "denominator"] == 0  # P3's course: an intake only
    assert math.isnan(rows.loc["unknown", "value"])
    assert result.sentence.endswith("n = 9 in the denominator in 4 groups.")
    per_100 = explore.run(hand, ExploreView(measure="adverse_events_per_100")).table
    assert per_100.loc[0, ["numerator", "denominator"]].tolist() == [4, 9]
    assert per_100.loc[0, "value"] == pytest.approx(400 / 9)


def test_run_within_a_scope_and_a_cohort(hand):
    view = ExploreView(measure="response", cohort=CohortSpec(doses_min=3))
    assert explore.run(hand, view).table["denominator"].tolist() == [2]  # P1, P2
    scoped = explore.run(hand, view, scope=Filters(sites=("South",)))
    assert scoped.table["denominator"].tolist() == [0]
    sentence = explore.run(hand, ExploreView(cohort=CohortSpec(sites=("North",)))).sentence
    assert sentence.startswith("Response (PHQ-9) for site North:")


def test_run_refuses_a_missing_term(hand):
    with pytest.raises(ValueError, match="needs a side effect"):
        explore.run(hand, ExploreView(measure="side_effect_rate"))


def test_run_equals_the_trajectories_and_safety_pages(sqlite_url, monkeypatch):
    """On a demo clinic: response as the Trajectories page's tiles, adverse events per 100
    dosing sessions and BP excursions as the Safety page's, for the same filters."""
    import streamlit as st

    from kapviz.ui import safety, trajectories

    generate_clinic(make_engine(sqlite_url), patients=60, seed=37)
    monkeypatch.setenv("KAPVIZ_DATABASE_URL", sqlite_url)
    st.cache_data.clear()
    st.cache_resource.clear()
    try:
        clinic = kapviz.connect(sqlite_url)
        filters = Filters(routes=("iv",))
        cohort = CohortSpec.from_filters(filters)
        response = explore.run(clinic, ExploreView(cohort=cohort)).table.iloc[0]
        page = trajectories.rates(filters).set_index("instrument").loc["PHQ-9"]
        assert response["numerator"] == page["response_n"]
        assert response["denominator"] == page["response_denominator"]
        assert response["value"] == pytest.approx(page["response_rate"], abs=1e-12)
        tiles = safety.tiles(filters)
        ae = explore.run(clinic, ExploreView("adverse_events_per_100", cohort=cohort)).table
        assert ae.loc[0, "value"] == pytest.approx(100 * tiles.events / tiles.dosing_sessions)
        bp = explore.run(clinic, ExploreView("bp_excursion_rate", cohort=cohort)).table
        assert bp.loc[0, ["numerator", "denominator"]].tolist() == [
            tiles.excursion_sessions,
            tiles.dosing_sessions,
        ]
    finally:
        st.cache_data.clear()
        st.cache_resource.clear()
