"""The API's safety and completion measures and cohort keywords: by hand on the hand clinic
(tests/clinic.py), and equal to the Safety page's figures on a demo clinic."""

from __future__ import annotations

import math
from datetime import date

import pandas as pd
import pytest

import kapviz
from kapviz.db import queries
from kapviz.db.engine import make_engine
from kapviz.demo import generate_clinic
from kapviz.filters import Filters
from kapviz.metrics.stats import poisson_interval
from tests.clinic import build_clinic


@pytest.fixture
def hand(sqlite_url):
    build_clinic(make_engine(sqlite_url))
    return kapviz.connect(sqlite_url)


def _rows(table: pd.DataFrame, key: str) -> dict:
    return {row[key]: row for row in table.to_dict("records")}


# --- exact Poisson interval ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("events", "low", "high"),
    # Garwood's table (e.g. Ulm 1990): 0 → (0, 3.689), 1 → (0.0253, 5.572), 4 → (1.090, 10.242)
    [(0, 0.0, 3.6889), (1, 0.0253, 5.5716), (4, 1.0899, 10.2416), (10, 4.7954, 18.3904)],
)
def test_poisson_interval_by_table(events, low, high):
    got = poisson_interval(events)
    assert got == (pytest.approx(low, abs=1e-4), pytest.approx(high, abs=1e-4))


def test_poisson_interval_equals_chi_square_quantiles():
    chi2 = pytest.importorskip("scipy.stats").chi2
    for k in (0, 1, 2, 7, 33, 250, 4000, 60000):
        low, high = poisson_interval(k)
        assert low == pytest.approx(chi2.ppf(0.025, 2 * k) / 2 if k else 0.0, rel=1e-9)
        assert high == pytest.approx(chi2.ppf(0.975, 2 * k + 2) / 2, rel=1e-9)


# --- by hand --------------------------------------------------------------------------------


def test_adverse_events_by_site_by_hand(hand):
    table = _rows(hand.adverse_events(by="site"), "site")
    # North: P1's dose 1 (dissociation, nausea) and dose 2 (dissociation), P2's dose 1
    # (nausea) = 4 session × term events on 4 + 3 completed doses; the dizziness on P2's
    # cancelled session never counts. South: P4's two doses, no event.
    north, south = table["North"], table["South"]
    assert (north["dosing_sessions"], north["events"]) == (7, 4)
    assert north["events_per_100_doses"] == pytest.approx(400 / 7)
    assert north["ci_low"] == pytest.approx(100 * 1.08992 / 7, abs=1e-3)
    assert north["ci_high"] == pytest.approx(100 * 10.24160 / 7, abs=1e-3)
    assert (south["dosing_sessions"], south["events"], south["events_per_100_doses"]) == (2, 0, 0)
    assert south["ci_high"] == pytest.approx(100 * 3.68888 / 2, abs=1e-3)
    whole = hand.adverse_events().iloc[0]
    assert (whole["dosing_sessions"], whole["events"]) == (9, 4)


def test_an_empty_group_has_no_rate(hand):
    """P3's course has an intake only: its group (route "unknown") has no dose."""
    for table in (
        hand.adverse_events(by="route"),
        hand.bp_excursions(by="route"),
        hand.sedation(by="route"),
        hand.measurement_completion("PHQ-9", by="route"),
    ):
        empty = _rows(table, "route")["unknown"]
        assert empty["dosing_sessions"] == 0
        rate = empty.get("rate", empty.get("events_per_100_doses"))
        assert math.isnan(rate) and math.isnan(empty["ci_low"]) and math.isnan(empty["ci_high"])


def test_bp_excursions_by_route_by_hand(hand):
    table = _rows(hand.bp_excursions(by="route"), "route")
    # P1's dose 1 reached 182 systolic (≥ 180); P2's 170/109 stays under 180/110.
    assert (table["IV"]["sessions"], table["IV"]["dosing_sessions"], table["IV"]["rate"]) == (
        1,
        4,
        0.25,
    )
    assert (table["IM"]["sessions"], table["IM"]["dosing_sessions"]) == (0, 3)
    assert (table["Sublingual"]["sessions"], table["Sublingual"]["dosing_sessions"]) == (0, 2)
    assert table["IV"]["ci_low"] == pytest.approx(0.0456, abs=1e-4)  # Wilson 1/4
    assert table["IV"]["ci_high"] == pytest.approx(0.6994, abs=1e-4)


def test_sedation_by_route_by_hand(hand):
    table = _rows(hand.sedation(by="route"), "route")
    # MOAA/S 4 on P1's dose 1 (alert enough), 3 on P2's dose 1 (≤ 3: sedation).
    assert (table["IM"]["sessions"], table["IM"]["dosing_sessions"]) == (1, 3)
    assert table["IM"]["rate"] == pytest.approx(1 / 3)
    assert table["IV"]["sessions"] == 0


def test_measurement_completion_by_site_by_hand(hand):
    table = _rows(hand.measurement_completion("PHQ-9", by="site"), "site")
    # A PHQ-9 in the 7 days up to each dose's start. P1: day 0 and day 7 08:00 cover the
    # day-7 and day-10 doses, the day-14 score (09:00, at the start) the day-14 and day-17
    # doses: 4/4. P2: day 5 covers days 7 and 10, not 14: 2/3. P4: day 0 is 40 days before
    # the first dose, the day-44 score two hours after the second starts: 0/2.
    assert (table["North"]["measured"], table["North"]["dosing_sessions"]) == (6, 7)
    assert (table["South"]["measured"], table["South"]["dosing_sessions"]) == (0, 2)
    gad = hand.measurement_completion("GAD-7").iloc[0]
    assert (gad["measured"], gad["dosing_sessions"]) == (2, 9)  # P1's day-7 and day-10 doses


def test_dose_count_and_first_dose_keywords(hand):
    # Completed doses: P1 4, P2 3 (the cancelled one does not count), P4 2, P3 none.
    assert hand.adverse_events(doses_min=3)["dosing_sessions"].tolist() == [7]
    assert hand.adverse_events(doses_max=3)["dosing_sessions"].tolist() == [5]  # P2, P4
    assert hand.adverse_events(doses_min=3, doses_max=3)["dosing_sessions"].tolist() == [3]
    assert hand.outcomes("PHQ-9", doses_max=0)["courses"].tolist() == [0]  # P3: no score
    # First completed doses: P1 and P2 on 12 January 2026, P4 on 14 February.
    late = hand.adverse_events(first_dose_from="2026-02-01")
    assert late["dosing_sessions"].tolist() == [2]
    early = hand.outcomes("PHQ-9", first_dose_to=date(2026, 1, 12))
    assert (early.loc[0, "courses"], early.loc[0, "evaluable"]) == (2, 2)
    day = hand.bp_excursions(first_dose_from="2026-01-12", first_dose_to="2026-01-12")
    assert (day.loc[0, "sessions"], day.loc[0, "dosing_sessions"]) == (1, 7)
    with pytest.raises(ValueError, match="negative"):
        hand.adverse_events(doses_min=-1)


def test_scope_narrows_the_cohort(hand):
    """A viewer's scoped filters (kapviz.auth.scope) intersect the cohort's."""
    south = Filters(sites=("South",))
    assert hand.adverse_events(by="site", scope=south)["site"].tolist() == ["South"]
    assert hand.adverse_events(site="North", scope=south)["dosing_sessions"].tolist() == [0]
    own = Filters(clinician="CL-N1")  # P1 and P2's clinician
    assert hand.outcomes("PHQ-9", scope=own)["evaluable"].tolist() == [2]
    assert hand.sedation(scope=own)["dosing_sessions"].tolist() == [7]
    assert hand.measurement_completion(scope=Filters(clinician="nobody"))[
        "dosing_sessions"
    ].tolist() == [0]


def test_side_effect_term_gives_every_group_a_row(hand):
    table = _rows(hand.side_effects(by="site", term="nausea"), "site")
    assert (table["North"]["sessions"], table["North"]["dosing_sessions"]) == (2, 7)
    assert (table["South"]["sessions"], table["South"]["dosing_sessions"]) == (0, 2)
    assert table["South"]["session_rate"] == 0.0


def test_a_date_range_counts_the_doses_inside_it(hand):
    """As the Safety page: the courses with a session in the range, their doses in it."""
    table = hand.adverse_events(start="2026-01-15", end="2026-01-31")
    # Doses in range: P1 days 10 (15 Jan), 14 (19 Jan), 17 (22 Jan); P2 days 10, 14.
    assert table.loc[0, "dosing_sessions"] == 5
    assert table.loc[0, "events"] == 1  # P1's dose 2 (day 10): dissociation


# --- equal to the Safety page -------------------------------------------------------------


def test_safety_measures_equal_the_safety_page(db_url, monkeypatch):
    """The Safety page's tiles (kapviz.ui.safety.tiles and view) for the same filters: the
    adverse events per 100 dosing sessions, the BP excursions, the MOAA/S sedation flags."""
    import streamlit as st

    from kapviz.ui import safety

    engine = make_engine(db_url)
    generate_clinic(engine, patients=60, seed=31)
    monkeypatch.setenv("KAPVIZ_DATABASE_URL", db_url)
    st.cache_data.clear()
    st.cache_resource.clear()
    try:
        clinic = kapviz.connect(db_url)
        with engine.connect() as conn:
            site = sorted(queries.patients(conn)["site"])[0]
        cases = [
            (Filters(), {}),
            (Filters(sites=(site,)), {"site": site}),
            (Filters(start=date(2025, 6, 1)), {"start": "2025-06-01"}),
        ]
        for filters, cohort in cases:
            view = safety.view(filters)
            events = int(view.u["events"].sum()) if not view.u.empty else 0
            ae = clinic.adverse_events(**cohort).iloc[0]
            assert (ae["dosing_sessions"], ae["events"]) == (view.dosing_sessions, events)
            assert ae["events_per_100_doses"] == pytest.approx(100 * events / view.dosing_sessions)
            bp = clinic.bp_excursions(**cohort).iloc[0]
            excursions = int(view.session_vitals["is_excursion"].sum())
            assert (bp["sessions"], bp["dosing_sessions"]) == (excursions, view.dosing_sessions)
            sedation = clinic.sedation(**cohort).iloc[0]
            # The page counts MOAA/S scores ≤ 3; the demo scores each dose once at most.
            assert sedation["sessions"] == view.sedation["sedation"]
            by_site = clinic.adverse_events(by="site", **cohort)
            assert by_site["events"].sum() == events
            assert by_site["dosing_sessions"].sum() == view.dosing_sessions
    finally:
        st.cache_data.clear()
        st.cache_resource.clear()
