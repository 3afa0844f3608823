"""The per-course attribute rollup (RollupCourseAttribute) and the outcome measures counted
in SQL from it give the live API's figures: the same attribute table, and `Clinic.outcomes`
equal for every breakdown and cohort keyword, on the hand clinic (with its hand-computed
figures) and a demo clinic, on SQLite and PostgreSQL; also after an import refreshed only
the courses it touched.

Counts and rates are exactly equal; the means' intervals to the last bits (the standard
deviation is summed in another order)."""

from __future__ import annotations

import math
from contextlib import contextmanager

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from sqlalchemy import select

import kapviz
from kapviz.db import explore_rollups, rollups
from kapviz.db.engine import make_engine
from kapviz.db.models import RollupCourseAttribute
from kapviz.demo import generate_clinic
from kapviz.filters import Filters
from tests.clinic import build_clinic
from tests.db.test_page_rollups import _change_file, _import
from tests.db.test_rollups import _choices

DEMO_SEED = 11

CASES: list[dict] = [
    {},
    {"by": "site"},
    {"by": ["route", "baseline_band"]},
    {"by": "clinician"},
    {"by": ["sex", "age_band"]},
    {"by": "dose_band", "sex": "female"},
    {"by": "indication", "baseline_band": ["moderate", "severe", "unknown"]},
    {"by": ["baseline_band", "site"], "doses_min": 2, "doses_max": 6},
    {"by": "route", "first_dose_from": "2025-06-01", "first_dose_to": "2026-06-30"},
    {"by": "age_band", "age_band": ["45-54", "55-64"], "clinician": "CL-N1"},
    {"clinician": "nobody-has-this"},
    {"by": "site", "clinician": "nobody-has-this"},
]


@contextmanager
def live():
    """Every read of the API takes the live path (as with stale rollups)."""
    current = rollups.is_current
    rollups.is_current = lambda conn: False
    try:
        yield
    finally:
        rollups.is_current = current


def assert_outcomes_equal_live(
    clinic: kapviz.api.Clinic, instrument: str, **keywords
) -> pd.DataFrame:
    """The figures counted in SQL (that path taken) equal the live ones."""
    calls = []
    counted = explore_rollups.outcome_groups

    def spy(*args, **kwargs):
        calls.append(1)
        return counted(*args, **kwargs)

    explore_rollups.outcome_groups = spy
    try:
        got = clinic.outcomes(instrument, **keywords)
    finally:
        explore_rollups.outcome_groups = counted
    assert calls, "the rollup path was not taken"
    with live():
        want = clinic.outcomes(instrument, **keywords)
    exact = [c for c in got.columns if not c.endswith(("_ci_low", "_ci_high"))]
    assert_frame_equal(got[exact], want[exact], check_exact=True, obj=f"{keywords}")
    assert_frame_equal(got, want, check_exact=False, rtol=1e-12, atol=1e-12, obj=f"{keywords}")
    return got


SAFETY_CASES: list[dict] = [
    {},
    {"by": "site"},
    {"by": ["route", "baseline_band"], "instrument": "PHQ-9"},
    {"by": "clinician", "sex": "female"},
    {"by": ["sex", "age_band"], "doses_min": 2},
    {"by": "dose_band", "baseline_band": ["moderate", "unknown"], "instrument": "PHQ-9"},
    {"by": "indication", "first_dose_from": "2025-06-01", "first_dose_to": "2026-06-30"},
    {"by": "site", "clinician": "nobody-has-this"},
]


def assert_safety_equal_live(clinic: kapviz.api.Clinic, term: str, **keywords) -> None:
    """side_effects (with and without a term), adverse_events, bp_excursions, sedation and
    measurement_completion counted in SQL (that path taken) equal the live ones exactly."""
    calls = []
    counted = explore_rollups.dose_groups

    def spy(*args, **kwargs):
        calls.append(1)
        return counted(*args, **kwargs)

    results = []
    explore_rollups.dose_groups = spy
    try:
        for read in (
            lambda: clinic.side_effects(**keywords),
            lambda: clinic.side_effects(term=term, **keywords),
            lambda: clinic.adverse_events(**keywords),
            lambda: clinic.bp_excursions(**keywords),
            lambda: clinic.sedation(**keywords),
            lambda: clinic.measurement_completion(
                keywords.get("instrument", "GAD-7"),
                **{k: v for k, v in keywords.items() if k != "instrument"},
            ),
        ):
            got = read()
            with live():
                want = read()
            results.append((got, want))
    finally:
        explore_rollups.dose_groups = counted
    assert len(calls) == 6, "the rollup path was not taken"
    for got, want in results:
        assert_frame_equal(got, want, check_exact=True, obj=f"{keywords}")


def assert_attributes_equal_live(clinic: kapviz.api.Clinic, filters: Filters) -> int:
    rows = clinic.course_outcomes(filters, instrument="PHQ-9")
    for outcomes, instrument in ((None, None), (rows, "PHQ-9")):
        got = clinic.course_attributes(filters, outcomes=outcomes, instrument=instrument)
        with live():
            want = clinic.course_attributes(filters, outcomes=outcomes, instrument=instrument)
        assert_frame_equal(got, want, check_exact=True, obj=f"{filters}")
    return len(got)


@pytest.fixture
def hand(db_url):
    build_clinic(make_engine(db_url))
    clinic = kapviz.connect(db_url)
    assert rollups.rebuild(clinic.engine)
    return clinic


def test_hand_attributes_stored(hand):
    """P1's course: North, TRD, 4 completed IV doses at 0.5 mg/kg, all by CL-N1."""
    t = RollupCourseAttribute
    with hand.engine.connect() as conn:
        row = conn.execute(
            select(
                t.site, t.indication, t.route, t.dose_band, t.clinician, t.doses, t.has_sessions
            ).where(t.course_id == "P1-C1")
        ).one()
    assert tuple(row) == ("North", "TRD", "IV", "0.5–<0.75 mg/kg", "CL-N1", 4, True)


def test_hand_figures_from_the_rollups(hand):
    """The hand-computed figures of tests/test_api.py, now counted in SQL."""
    table = hand.outcomes("PHQ-9", by="site").set_index("site")
    north, south = table.loc["North"], table.loc["South"]
    # P1 18 → 8 (response, no remission), P2 10 → 4 (response and remission).
    assert (north["evaluable"], north["not_evaluable"], north["responders"]) == (2, 0, 2)
    assert (north["remitters"], north["remission_rate"]) == (1, 0.5)
    assert north["mean_change"] == -8.0
    assert (south["evaluable"], south["not_evaluable"], south["responders"]) == (0, 1, 0)
    assert math.isnan(south["response_rate"])
    by_two = hand.outcomes("PHQ-9", by=["route", "baseline_band"])
    rows = {(r.route, r.baseline_band): r for r in by_two.itertuples()}
    assert rows[("IV", "moderately severe")].mean_change == -10.0  # P1 18 → 8
    assert rows[("IM", "moderate")].remission_rate == 1.0  # P2 10 → 4
    assert rows[("Sublingual", "unknown")].evaluable == 0  # P4 without a baseline
    assert hand.outcomes("PHQ-9", clinician="CL-N1")["evaluable"].tolist() == [2]
    assert hand.outcomes("PHQ-9", age_band="45-54")["evaluable"].tolist() == [2]
    assert hand.outcomes("PHQ-9", dose_band="0.5-<0.75 mg/kg")["evaluable"].tolist() == [1]
    for instrument in ("PHQ-9", "GAD-7", "PCL-5"):
        for keywords in CASES:
            if instrument == "PCL-5" and "baseline_band" in keywords:
                continue  # PCL-5's bands have other names
            assert_outcomes_equal_live(hand, instrument, **keywords)
    with hand.engine.connect() as conn:
        for filters in _choices(conn):
            assert_attributes_equal_live(hand, filters)
    for keywords in SAFETY_CASES:
        assert_safety_equal_live(hand, "dissociation", **keywords)
    # P1's 4 IV doses: dissociation on D1 and D2 (D1's records are one event), nausea on D1.
    iv = hand.side_effects(by="route", term="dissociation").set_index("route").loc["IV"]
    assert (iv["sessions"], iv["dosing_sessions"], iv["patients"]) == (2, 4, 1)
    events = hand.adverse_events(by="route").set_index("route").loc["IV"]
    assert (events["events"], events["dosing_sessions"]) == (3, 4)
    assert events["events_per_100_doses"] == 75.0
    # P1-D1's readings peak at 182/95 (excursion at 180 systolic); MOAA/S 4 is not sedation.
    bp = hand.bp_excursions(by="route").set_index("route").loc["IV"]
    assert (bp["sessions"], bp["dosing_sessions"]) == (1, 4)
    sedation = hand.sedation(by="route").set_index("route")
    assert sedation.loc["IV", "sessions"] == 0
    assert sedation.loc["IM", "sessions"] == 1  # P2-D1: MOAA/S 3, at the threshold


def test_demo_outcomes_and_attributes_equal_live(demo):
    """Every breakdown and cohort keyword, every choice of sites and indications."""
    url = demo.engine.url.render_as_string(hide_password=False)
    clinic = kapviz.connect(url)
    assert rollups.is_current(demo)
    sizes = [assert_attributes_equal_live(clinic, f) for f in _choices(demo)]
    assert sizes[0] > 300 and sizes[-1] == 0
    sites = sorted(demo.execute(select(rollups.Patient.site).distinct()).scalars())
    for keywords in SAFETY_CASES:
        assert_safety_equal_live(clinic, "dissociation", **keywords)
        assert_safety_equal_live(clinic, "nausea", site=sites[-1], **keywords)
    for keywords in CASES:
        got = assert_outcomes_equal_live(clinic, "PHQ-9", **keywords)
        assert_outcomes_equal_live(clinic, "GAD-7", **keywords)
        assert_outcomes_equal_live(clinic, "PHQ-9", site=sites[0], **keywords)
        if keywords == {"by": "site"}:
            whole = clinic.outcomes("PHQ-9").iloc[0]
            assert got["courses"].sum() == whole["courses"] > 200


def test_import_refresh_keeps_attributes_equal_live(db_url, tmp_path):
    """After an import that moves a patient, changes scores and adds a patient, the
    refreshed attribute rows equal a full rebuild's, and the figures the live ones."""
    engine = make_engine(db_url)
    generate_clinic(engine, patients=80, seed=DEMO_SEED)
    folder = tmp_path / "change"
    _change_file(engine, folder)
    _import(engine, folder)

    def stored(conn) -> list[tuple]:
        columns = list(RollupCourseAttribute.__table__.c)
        return sorted(tuple(r) for r in conn.execute(select(*columns)))

    clinic = kapviz.connect(db_url)
    with engine.connect() as conn:
        assert rollups.is_current(conn)
        refreshed = stored(conn)
        assert any(r[0].startswith("NEW-") for r in refreshed)
        for filters in _choices(conn):
            assert_attributes_equal_live(clinic, filters)
    for keywords in CASES[:5]:
        assert_outcomes_equal_live(clinic, "PHQ-9", **keywords)
    for keywords in SAFETY_CASES[:4]:
        assert_safety_equal_live(clinic, "dissociation", **keywords)
    assert rollups.rebuild(engine)
    with engine.connect() as conn:
        assert stored(conn) == refreshed


def test_rows_for_some_courses_are_those_of_all(demo):
    """A course's row depends on its own sessions and patient alone."""
    every = explore_rollups.attribute_rows(demo, None)[RollupCourseAttribute]
    some = sorted(every["course_id"])[::7]
    part = explore_rollups.attribute_rows(demo, some)[RollupCourseAttribute]
    want = every[every["course_id"].isin(some)]
    key = ["course_id"]
    assert_frame_equal(
        part.sort_values(key, ignore_index=True).astype(object),
        want.sort_values(key, ignore_index=True).astype(object),
    )


def test_session_clinicians_are_those_of_the_sessions(clinic, demo):
    """The page's clinician choices: those of the sessions in scope, as read from them."""
    from kapviz.db import queries

    for conn in (clinic, demo):
        for filters in _choices(conn):
            sessions = queries.sessions(conn, filters)
            want = sorted(str(c) for c in sessions["clinician"].dropna().unique())
            assert explore_rollups.session_clinicians(conn, filters) == want
    assert explore_rollups.session_clinicians(clinic, Filters()) == ["CL-N1", "CL-S1"]


def test_response_days_are_those_of_response_times(demo):
    """The API's time to response reads no dose: its days and censoring are
    `response_times`' own, row for row."""
    from kapviz.db.aggregates import cohort
    from kapviz.metrics.time_to_response import response_days, response_times

    url = demo.engine.url.render_as_string(hide_password=False)
    rows = kapviz.connect(url).course_outcomes(Filters())
    doses = cohort.completed_doses(demo, Filters())
    for instrument in ("PHQ-9", "GAD-7"):
        mine = rows[rows["instrument"] == instrument]
        want = response_times(mine, doses)[["course_id", "responded", "days"]]
        got = response_days(mine)
        assert len(got) > 100 and got["responded"].any() and not got["responded"].all()
        assert_frame_equal(got, want, check_exact=True)
