"""The Overview's SQL aggregates and recent windows give exactly the pandas metrics' numbers."""

from datetime import date, datetime, timedelta

import pytest
from pandas.testing import assert_frame_equal

from kapviz.config import load_settings
from kapviz.db import queries
from kapviz.db.aggregates import program as program_sql
from kapviz.filters import Filters
from kapviz.instruments import OUTCOME_INSTRUMENTS
from kapviz.metrics import program, safety
from kapviz.metrics.outcomes import course_outcomes
from kapviz.ui.overview import excursion_thresholds, recent_since, tiles_as_of, vitals_since
from tests.clinic import ANCHOR

DEMO_SEED = 11
"""Seed of this module's 300-patient demo clinic (tests/db/conftest.py)."""

FILTERS = [
    Filters(),
    Filters(sites=("North",)),
    Filters(routes=("im",)),
    Filters(start=date(2026, 2, 14), end=date(2026, 2, 20)),
    Filters(sites=("Nowhere",)),
]


def _check_charts(conn, filters):
    sessions = queries.sessions(conn, filters)
    patients = queries.patients(conn, filters)
    counts = program_sql.funnel_counts(conn, filters)
    assert_frame_equal(
        program.funnel_frame(counts), program.treatment_funnel(patients, sessions), check_exact=True
    )
    daily = program_sql.daily_dosing(conn, filters)
    assert_frame_equal(
        program.monthly_from_daily(daily),
        program.monthly_dosing_by_route(sessions),
        check_dtype=False,
    )
    expected_reasons = program.ineligibility_reasons(sessions)
    got_reasons = program_sql.ineligibility_reasons(conn, filters)
    assert dict(zip(got_reasons["reason"], got_reasons["patients"], strict=True)) == dict(
        zip(expected_reasons["reason"], expected_reasons["patients"], strict=True)
    )
    monthly = program.monthly_from_daily(daily.assign(route=""))
    events = program.monthly_from_daily(daily.assign(route=""), value="events")
    counts = monthly.merge(events, on=["month", "route"]).rename(
        columns={"sessions": "dosing_sessions"}
    )
    expected_u = safety.u_chart(sessions, queries.side_effects(conn, filters))
    got_u = safety.u_chart_from_counts(counts)
    if expected_u.empty:
        assert got_u.empty
    else:
        assert_frame_equal(got_u, expected_u, check_dtype=False)
    outcomes = course_outcomes(
        sessions, queries.assessments(conn, filters, instruments=OUTCOME_INSTRUMENTS)
    )
    got_sites, got_overall = program.site_response(
        outcomes, program_sql.course_sites(conn, filters)
    )
    expected_sites, expected_overall = program.site_response(outcomes, sessions)
    assert_frame_equal(got_sites, expected_sites)
    assert got_overall == pytest.approx(expected_overall, nan_ok=True)


@pytest.mark.parametrize("filters", FILTERS, ids=str)
def test_chart_aggregates_equal_pandas_on_clinic(clinic, filters):
    _check_charts(clinic, filters)


def test_clinic_funnel_hand_counts(clinic):
    """P1–P5 referred; P1, P2, P4 eligible at intake (P3 not); all three dosed; P1, P2
    have an integration session after their last dose (P4 has none) — tests/clinic.py."""
    table = program.funnel_frame(program_sql.funnel_counts(clinic, Filters()))
    assert table["patients"].tolist() == [5, 4, 3, 3, 2]
    reasons = program_sql.ineligibility_reasons(clinic, Filters())
    assert reasons.to_dict("records") == [{"reason": "uncontrolled hypertension", "patients": 1}]


@pytest.mark.parametrize(
    "filters", [Filters(), Filters(sites=("Demo Clinic North",)), Filters(routes=("iv",))], ids=str
)
def test_chart_aggregates_equal_pandas_on_demo(demo, filters):
    _check_charts(demo, filters)


def _kpis(sessions, side_effects, vitals, phq9, outcomes, now):
    settings = load_settings({})
    out = program.director_kpis(sessions, phq9, outcomes, now=now)
    return out | program.safety_kpis(
        sessions, side_effects, vitals, phq9, settings=settings, now=now
    )


def test_recent_window_gives_the_full_tables_kpis(demo):
    """Tiles from the recent window equal tiles from whole tables, at several moments."""
    filters = Filters()
    sessions = queries.sessions(demo, filters)
    scores = queries.assessments(demo, filters, instruments=OUTCOME_INSTRUMENTS)
    phq9 = scores[scores["instrument"] == "PHQ-9"].reset_index(drop=True)
    side_effects = queries.side_effects(demo, filters)
    vitals = queries.vitals(demo, filters)
    outcomes = course_outcomes(sessions, scores)
    last = sessions["started_at"].max().to_pydatetime()
    month_end = last.replace(day=1) - timedelta(minutes=1)  # last month's spans reach furthest
    moments = (last, last - timedelta(days=45, hours=3), last + timedelta(days=20), month_end)
    for now in moments:
        as_of = tiles_as_of(now)
        recent = program_sql.recent_activity(
            demo, filters, since=recent_since(as_of), vitals_since=vitals_since(as_of)
        )
        assert len(recent.sessions) < len(sessions)
        full = _kpis(sessions, side_effects, vitals, phq9, outcomes, as_of)
        windowed = _kpis(
            recent.sessions, recent.side_effects, recent.vitals, recent.phq9, outcomes, as_of
        )
        assert windowed == full, now
        # What the Overview reads: only the vitals of sessions reaching the excursion limits.
        flagged = program_sql.recent_activity(
            demo,
            filters,
            since=recent_since(as_of),
            vitals_since=vitals_since(as_of),
            vitals_reaching=excursion_thresholds(load_settings({})),
        )
        assert len(flagged.vitals) < len(recent.vitals)
        assert (
            _kpis(
                flagged.sessions,
                flagged.side_effects,
                flagged.vitals,
                flagged.phq9,
                outcomes,
                as_of,
            )
            == full
        ), now
        assert full["open_alerts"]["value"] > 0 or now > last


@pytest.mark.parametrize("day", [20, 31, 47, 100])
def test_recent_phq9_keeps_positive_latest_item9_before_the_window(clinic, day):
    """Before the window only each patient's latest PHQ-9 with a known item 9 remains, and
    only when that item is above 0: in tests/clinic.py P2's day-30 PHQ-9 (item 9 = 1) stays
    once the window starts after it; P1's day-46 one (item 9 = 0) never does."""
    since = datetime.combine(ANCHOR + timedelta(days=day), datetime.min.time())
    recent = program_sql.recent_phq9(clinic, Filters(), since=since)
    every = queries.assessments(clinic, instruments=["PHQ-9"])
    before = every[(every["administered_at"] < since) & every["suicide_item"].notna()]
    latest = before.sort_values("administered_at").drop_duplicates("patient_id", keep="last")
    positive = latest[latest["suicide_item"] > 0]
    kept_before = recent[recent["administered_at"] < since]
    assert sorted(kept_before["id"]) == sorted(positive["id"])
    assert sorted(kept_before["patient_id"]) == (["P2"] if day > 30 else [])
    after = every[every["administered_at"] >= since]
    assert sorted(recent.loc[recent["administered_at"] >= since, "id"]) == sorted(after["id"])
    assert list(recent.columns) == queries.ASSESSMENT_COLUMNS
