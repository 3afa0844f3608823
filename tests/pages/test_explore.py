"""The Explore page on the hand clinic (tests/clinic.py): its numbers are kapviz.explore.run's
and the API's; every choice round-trips through the URL; bad parameters are warned about;
saved cohorts. Roles: tests/pages/auth/test_explore_roles.py.

Hand clinic, PHQ-9 (docs in tests/clinic.py): P1 North IV 18 → 8 responds (−56 %), P2
North IM 10 → 4 responds and remits, P4 South sublingual has no baseline (not evaluable):
response 2 of 2 overall, 1 of 1 for IV and for IM, 0 of 0 for sublingual.
"""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import kapviz
from kapviz import explore
from kapviz.db import saved_cohorts
from kapviz.db.engine import make_engine
from kapviz.filters import Filters
from kapviz.ui import explore as explore_ui
from kapviz.ui import explore_results
from kapviz.ui.explore_saved import DEMO_OWNER
from tests.clinic import ANCHOR

PAGE = "pages/explore.py"


@pytest.fixture
def clinic_anchor() -> date:
    return ANCHOR


def _table(at: AppTest) -> pd.DataFrame:
    (frame,) = [d.value for d in at.main.dataframe]
    return frame


def _figure(at: AppTest) -> dict:
    (chart,) = at.get("plotly_chart")
    return json.loads(chart.proto.spec)


def _page_params(at: AppTest) -> dict[str, list[str]]:
    """The page's parameters in the URL after the run, each as a list of values."""
    out = {}
    for key in explore_ui.PAGE_PARAMS:
        if key in at.query_params:
            value = at.query_params[key]
            out[key] = list(value) if isinstance(value, list | tuple) else [value]
    return out


def _warnings(at: AppTest) -> str:
    return "\n".join(w.value for w in at.main.warning)


def test_numbers_equal_run_and_api(run_page, clinic_url):
    """The table is kapviz.explore.run's (rates in whole percent) and the API's counts."""
    at = run_page(PAGE, measure="response", instrument="PHQ-9", by="route")
    shown = _table(at)
    clinic = kapviz.connect(clinic_url)
    view = explore.ExploreView(measure="response", instrument="PHQ-9", by=("route",))
    expected = explore.run(clinic, view, scope=Filters()).table
    api = clinic.outcomes("PHQ-9", by="route")
    assert shown["route"].tolist() == ["IM", "IV", "Sublingual"]
    assert shown["numerator"].tolist() == expected["numerator"].tolist() == [1, 1, 0]
    assert shown["denominator"].tolist() == api["response_denominator"].tolist() == [1, 1, 0]
    assert api["responders"].tolist() == [1, 1, 0]
    # 1 of 1: 100 %, Wilson 95 % CI 20.65 %–100 %.
    assert shown["value"].tolist() == ["100%", "100%", ""]
    assert shown["ci_low"].tolist() == ["21%", "21%", ""]
    assert shown["ci_high"].tolist() == ["100%", "100%", ""]
    assert (expected["ci_low"].round(2).tolist()[:2]) == [0.21, 0.21]
    text = "\n".join(m.value for m in at.main.markdown)
    assert "Response \\(PHQ-9\\)" in text and "by route" in text
    fig = _figure(at)
    drawn = {t["y"][0]: (t["x"][0], t["text"][0]) for t in fig["data"]}
    assert drawn["IV"] == (100.0, "100% (1 of 1)")
    assert drawn["IM"] == (100.0, "100% (1 of 1)")
    assert drawn["Sublingual"][0] is None


def test_whole_cohort_and_mean_change(run_page):
    """No breakdown: one row; mean change has n (evaluable courses) and no numerator."""
    at = run_page(PAGE)
    table = _table(at)
    assert table[["numerator", "denominator", "value"]].values.tolist() == [[2, 2, "100%"]]
    at = run_page(PAGE, measure="mean_change", instrument="PHQ-9")
    table = _table(at)
    assert "numerator" not in table.columns
    # P1 18 → 8 (−10), P2 10 → 4 (−6): mean −8.0.
    assert table[["denominator", "value"]].values.tolist() == [[2, "-8.0"]]


def test_url_round_trip(run_page):
    """Every choice of a link comes back in the widgets and in the URL the page writes."""
    query = {
        "measure": "remission",
        "instrument": "GAD-7",
        "by": ["site", "sex"],
        "age_band": ["25–34", "35–44"],
        "doses_min": "2",
        "first_dose_from": "2026-01-01",
    }
    at = run_page(PAGE, **query)
    assert not _warnings(at)
    assert at.selectbox(key="explore_measure").value == "remission"
    assert at.selectbox(key="explore_instrument").value == "GAD-7"
    assert at.multiselect(key="explore_by").value == ["site", "sex"]
    assert at.multiselect(key="explore_age_band").value == ["25–34", "35–44"]
    assert at.number_input(key="explore_doses_min").value == 2
    assert at.date_input(key="explore_first_dose_from").value == date(2026, 1, 1)
    expected = {k: v if isinstance(v, list) else [v] for k, v in query.items()}
    assert _page_params(at) == expected
    view, errors = explore.ExploreView.from_params(_page_params(at))
    assert errors == [] and view.by == ("site", "sex") and view.cohort.doses_min == 2


def test_widget_change_goes_to_the_url(run_page):
    """Changing a widget rewrites the page's parameters; a removed choice leaves the URL."""
    at = run_page(PAGE, by="route")
    at.selectbox(key="explore_measure").set_value("time_to_response").run()
    at.multiselect(key="explore_by").set_value(["site", "route"]).run()
    assert not at.exception
    assert _page_params(at) == {
        "measure": ["time_to_response"],
        "instrument": ["PHQ-9"],
        "by": ["site", "route"],
    }
    at.multiselect(key="explore_by").set_value([]).run()
    assert "by" not in _page_params(at)
    assert len(_table(at)) == 1


def test_bad_params_are_warned_not_dropped_silently(run_page):
    """Unknown measure, dimension and a malformed count: a warning names each; the view
    falls back to what is in force and the URL is cleaned."""
    at = run_page(PAGE, measure="zzz", by=["nope", "route"], doses_min="two")
    warned = _warnings(at)
    for bad in ("zzz", "nope", "two"):
        assert bad in warned
    assert at.selectbox(key="explore_measure").value == "response"
    assert _page_params(at) == {"measure": ["response"], "instrument": ["PHQ-9"], "by": ["route"]}
    at.selectbox(key="explore_measure").set_value("remission").run()
    assert not _warnings(at)  # the viewer moved on: the link's problems are history


def test_side_effect_rate_needs_a_term(run_page):
    """The side-effect rate asks for a term first; with one it is sessions over sessions."""
    at = run_page(PAGE, measure="side_effect_rate")
    assert "Choose a side effect" in at.main.info[0].value
    assert not at.main.dataframe
    at = run_page(PAGE, measure="side_effect_rate", term="nausea")
    # Completed dosing sessions: P1 4, P2 3, P4 2 = 9; nausea on P1 dose 1 and P2 dose 1.
    assert _table(at)[["numerator", "denominator"]].values.tolist() == [[2, 9]]
    assert _page_params(at)["term"] == ["nausea"]


def test_saved_cohorts_without_sign_in(run_page, clinic_url):
    """Save the view by name, overwrite only after confirming, open it, delete it; stored
    under the no-sign-in owner."""
    at = run_page(PAGE, by="route", measure="remission")
    at.text_input(key="explore_saved_name").input("IM vs IV").run()
    at.button(key="explore_saved_save").click().run()
    with make_engine(clinic_url).connect() as conn:
        (saved,) = saved_cohorts.list_for(conn, DEMO_OWNER)
    assert saved.name == "IM vs IV"
    assert saved.params == {"measure": "remission", "instrument": "PHQ-9", "by": ["route"]}
    assert at.selectbox(key="explore_saved_pick").options == ["IM vs IV"]

    at.multiselect(key="explore_by").set_value(["site"]).run()
    at.button(key="explore_saved_save").click().run()
    assert "already have a saved cohort" in _warnings(at)
    at.button(key="explore_saved_replace").click().run()
    with make_engine(clinic_url).connect() as conn:
        (saved,) = saved_cohorts.list_for(conn, DEMO_OWNER)
    assert saved.params["by"] == ["site"]

    at.selectbox(key="explore_measure").set_value("response").run()
    at.multiselect(key="explore_by").set_value([]).run()
    at.button(key="explore_saved_open").click().run()
    assert at.multiselect(key="explore_by").value == ["site"]
    assert at.selectbox(key="explore_measure").value == "remission"
    assert _page_params(at)["by"] == ["site"]
    assert _table(at)["site"].tolist() == ["North", "South"]

    at.button(key="explore_saved_delete").click().run()
    with make_engine(clinic_url).connect() as conn:
        assert saved_cohorts.list_for(conn, DEMO_OWNER) == []


def test_saved_cohort_restores_sidebar_filters(run_page, clinic_url):
    """A saved cohort holds the global filters too: opening it sets the sidebar."""
    with make_engine(clinic_url).begin() as conn:
        saved_cohorts.save(
            conn, DEMO_OWNER, "South", {"measure": "response", "site": ["South"], "by": ["site"]}
        )
    at = run_page(PAGE)
    at.button(key="explore_saved_open").click().run()
    assert at.sidebar.multiselect(key="site").value == ["South"]
    assert _table(at)["site"].tolist() == ["South"]


def test_notebook_never_holds_the_password():
    """The notebook gets the URL with its password hidden and reads the real one from the
    environment; it is a valid notebook that runs this view."""
    url = explore_results.notebook_url("postgresql+psycopg://kap:s3cret@db.example:5432/clinic")
    assert "s3cret" not in url and "***" in url
    view = explore.ExploreView(measure="remission", by=("site", "route"))
    notebook = json.loads(explore_results._notebook_bytes(view, url))
    text = json.dumps(notebook)
    assert "s3cret" not in text
    assert 'os.environ[\\"KAPVIZ_DATABASE_URL\\"]' in text
    assert notebook["nbformat"] == 4
    assert "by=('site', 'route')" in text and "measure='remission'" in text


def test_numbers_on_postgresql(run_page_on_postgresql, pg_url):
    """The same view on PostgreSQL: the API's numbers, the clinicians from the scope."""
    at = run_page_on_postgresql(PAGE, measure="remission", by=["site", "route"])
    shown = _table(at)
    api = kapviz.connect(pg_url).outcomes("PHQ-9", by=["site", "route"])
    # North IM (P2 remits), North IV (P1 does not), South sublingual (not evaluable).
    assert shown["numerator"].tolist() == api["remitters"].tolist() == [1, 0, 0]
    assert shown["denominator"].tolist() == api["remission_denominator"].tolist() == [1, 1, 0]
    assert at.multiselect(key="explore_clinician").options == ["CL-N1", "CL-S1"]


def test_groups_in_natural_order():
    """Dose bands low to high (mg/kg, then mg), severity bands as the registry lists them,
    "unknown" last, whatever order the API gave."""
    table = pd.DataFrame(
        {
            "dose_band": ["≥ 0.75 mg/kg", "unknown", "< 0.5 mg/kg", "56–<84 mg", "< 0.5 mg/kg"],
            "baseline_band": ["severe", "mild", "severe", "mild", "minimal"],
            "value": [1.0, 2.0, 3.0, 4.0, 5.0],
        }
    )
    view = explore.ExploreView(by=("dose_band", "baseline_band"))
    res = explore.ExploreResult(
        view=view, measure=explore.MEASURES["response"], table=table, sentence=""
    )
    ordered = explore_results.in_natural_order(res).table
    assert ordered["value"].tolist() == [5.0, 3.0, 1.0, 4.0, 2.0]
