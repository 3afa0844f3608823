"""The Safety page's sections aggregated in SQL per request equal the live path's (every
dose read and summarised in pandas), on the hand clinic and a demo clinic, on SQLite and
PostgreSQL, with the default and with other thresholds: the blood-pressure tiles and the
flagged-sessions table (`bp_flags`), the headline, sedation and monitoring counts
(`dose_totals`), the u-chart's monthly counts (`monthly_events`), the CADSS scores by dose
number (`cadss_scores`)."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from kapviz import config
from kapviz.db.aggregates import safety as safety_sql
from kapviz.filters import Filters
from kapviz.metrics.monitoring import cadss_table, u_chart_from_counts
from tests.db.test_rollups import _choices
from tests.db.test_safety_rollups import live

DEMO_SEED = 11
"""Seed of this module's 300-patient demo clinic (tests/db/conftest.py)."""

LOW = {
    "bp_excursion_systolic": 150,
    "bp_excursion_diastolic": 90,
    "bp_rise_systolic": 10,
    "bp_rise_diastolic": 5,
    "bp_review_systolic": 120,
    "bp_review_diastolic": 80,
}
"""Thresholds low enough to flag many doses of every kind."""


TABLES = {
    "u": lambda conn, f: u_chart_from_counts(safety_sql.monthly_events(conn, f)),
    "cadss": lambda conn, f: cadss_table(safety_sql.cadss_scores(conn, f)),
    "long_term": safety_sql.long_term_counts,
}
"""The tables aggregated in SQL, by the name of the live view's attribute they equal."""


def assert_table_equal_live(conn, filters: Filters, name: str) -> pd.DataFrame:
    got = TABLES[name](conn, filters)
    want = getattr(live(conn, filters), name)
    # No rows: nothing types the columns (object or numeric, as the live path's reads).
    assert_frame_equal(got, want, check_exact=True, check_dtype=not want.empty)
    return got


def ranged(conn) -> Filters:
    """A date range from 95 to 300 days after the first dose (cutting months and courses)."""
    first = live(conn, Filters()).doses["started_at"].min().date()
    return Filters(start=first + timedelta(days=95), end=first + timedelta(days=300))


def assert_flags_equal_live(conn, filters: Filters, cfg, limit: int = 500):
    got = safety_sql.bp_flags(conn, filters, settings=cfg, limit=limit)
    bp = live(conn, filters, cfg).session_vitals
    assert got.excursion_sessions == int(bp["is_excursion"].sum())
    assert got.rise_sessions == int(bp["is_rise"].sum())
    assert got.predose_review_sessions == int(bp["needs_predose_review"].sum())
    want = safety_sql.flagged_first(bp, limit).reset_index(drop=True)
    # No rows: nothing types the text columns (object or str, as the live path's reads).
    assert_frame_equal(got.flagged, want, check_exact=True, check_dtype=not want.empty)
    return got


def test_hand_clinic_flags_by_hand_and_equal_live(clinic):
    """Hand clinic: P1's dose at 182 systolic is the one excursion (≥ 180)."""
    cfg = config.load_settings(env={})
    got = assert_flags_equal_live(clinic, Filters(), cfg)
    assert got.excursion_sessions == 1
    assert got.flagged.iloc[0]["patient_id"] == "P1"
    assert got.flagged.iloc[0]["max_systolic"] == 182.0
    low = dataclasses.replace(cfg, **LOW)
    for filters in _choices(clinic):
        assert_flags_equal_live(clinic, filters, cfg)
        assert_flags_equal_live(clinic, filters, low)
    assert_flags_equal_live(clinic, Filters(), low, limit=1)


@pytest.mark.parametrize("thresholds", [{}, LOW], ids=["default", "low"])
def test_demo_flags_equal_live(demo, thresholds):
    """Every choice of sites and indications, a date range, and a limit below the count."""
    cfg = dataclasses.replace(config.load_settings(env={}), **thresholds)
    counts = [assert_flags_equal_live(demo, f, cfg) for f in _choices(demo)]
    assert counts[0].excursion_sessions + counts[0].rise_sessions > 0
    assert counts[-1].flagged.empty and counts[-1].excursion_sessions == 0
    assert assert_flags_equal_live(demo, ranged(demo), cfg).flagged.shape[0] > 0
    assert_flags_equal_live(demo, Filters(start=date(1990, 1, 1), end=date(1990, 2, 1)), cfg)
    few = assert_flags_equal_live(demo, Filters(), cfg, limit=7)
    assert len(few.flagged) == 7


def assert_totals_equal_live(conn, filters: Filters, cfg) -> safety_sql.DoseTotals:
    got = safety_sql.dose_totals(conn, filters, settings=cfg)
    want = live(conn, filters, cfg)
    assert got.dosing_sessions == want.dosing_sessions
    assert got.patients_dosed == want.patients_dosed
    assert got.events == (int(want.u["events"].sum()) if not want.u.empty else 0)
    assert got.serious_events == want.serious_events
    assert got.sedation == want.sedation
    mon = want.monitoring
    assert got.esketamine_sessions == len(mon)
    assert got.short_monitoring == int(mon["is_short"].sum())
    assert got.unrecorded_monitoring == int(mon["is_unrecorded"].sum())
    return got


def test_hand_clinic_totals_by_hand_and_equal_live(clinic):
    """Hand clinic: 9 doses of 3 patients, 4 events (one term on one dose each), one MOAA/S
    at or below 3 (sedation) and no esketamine dose."""
    cfg = config.load_settings(env={})
    got = assert_totals_equal_live(clinic, Filters(), cfg)
    assert (got.dosing_sessions, got.patients_dosed, got.events) == (9, 3, 4)
    assert got.sedation["sedation"] == 1 and got.esketamine_sessions == 0
    strict = dataclasses.replace(cfg, sedation_moaas_max=0, esketamine_min_monitoring_min=999)
    for filters in _choices(clinic):
        assert_totals_equal_live(clinic, filters, cfg)
        assert_totals_equal_live(clinic, filters, strict)


@pytest.mark.parametrize("thresholds", [{}, {"sedation_moaas_max": 1}], ids=["default", "other"])
def test_demo_totals_equal_live(demo, thresholds):
    """Every choice of sites and indications and a date range, with two sets of thresholds."""
    cfg = dataclasses.replace(config.load_settings(env={}), **thresholds)
    totals = [assert_totals_equal_live(demo, f, cfg) for f in _choices(demo)]
    assert totals[0].events > 0 and totals[0].esketamine_sessions > 0
    assert totals[0].short_monitoring + totals[0].unrecorded_monitoring > 0
    assert totals[0].sedation["scores"] > 0
    assert assert_totals_equal_live(demo, ranged(demo), cfg).dosing_sessions > 0


def test_hand_clinic_u_chart_by_hand_and_equal_live(clinic):
    """January: 4 events in 7 doses; February: none in 2."""
    got = assert_table_equal_live(clinic, Filters(), "u")
    assert got[["events", "dosing_sessions"]].values.tolist() == [[4, 7], [0, 2]]
    for filters in _choices(clinic):
        assert_table_equal_live(clinic, filters, "u")


def test_demo_u_chart_equal_live(demo):
    """Every choice of sites and indications, and a date range cutting months."""
    charts = [assert_table_equal_live(demo, f, "u") for f in _choices(demo)]
    assert len(charts[0]) > 6 and charts[-1].empty
    assert len(assert_table_equal_live(demo, ranged(demo), "u")) > 3


def test_hand_clinic_cadss_by_hand_and_equal_live(clinic):
    """One CADSS score, 20, on a first dose."""
    got = assert_table_equal_live(clinic, Filters(), "cadss")
    assert got[["session_number", "n", "mean"]].values.tolist() == [[1, 1, 20.0]]
    for filters in _choices(clinic):
        assert_table_equal_live(clinic, filters, "cadss")


def test_demo_cadss_equal_live(demo):
    """Every choice of sites and indications, and a date range (dose numbers restart in it,
    as the live path numbers the doses it reads)."""
    tables = [assert_table_equal_live(demo, f, "cadss") for f in _choices(demo)]
    assert len(tables[0]) > 3 and tables[0]["n"].sum() > 100 and tables[-1].empty
    assert len(assert_table_equal_live(demo, ranged(demo), "cadss")) > 0


def test_long_term_equal_live_hand_and_demo(clinic, demo):
    """The long-term chart's table, every choice of sites and indications, a date range.
    Hand clinic: P4's second 200 mg sublingual dose reaches 400 mg (250–<500 mg); P1's four
    35 mg, P2's three 60 mg and P4's first dose stay below 250 mg."""
    sizes = assert_table_equal_live(clinic, Filters(), "long_term").groupby("cumulative_band")
    assert sizes["dosing_sessions"].first().to_dict() == {"<250 mg": 8, "250–<500 mg": 1}
    for conn in (clinic, demo):
        tables = [assert_table_equal_live(conn, f, "long_term") for f in _choices(conn)]
        assert tables[-1]["dosing_sessions"].sum() == 0
    assert tables[0]["sessions"].sum() > 0 and tables[0]["cumulative_band"].nunique() > 2
    assert_table_equal_live(demo, ranged(demo), "long_term")


def test_sections_from_the_live_view_equal_sql(clinic, demo):
    """Where readings are not grouped in SQL (SQLite), the page answers its sections from
    the dose view it loads for the BP tiles anyway: the same values as the SQL sections."""
    from kapviz.ui import safety as safety_view

    cfg = config.load_settings(env={})
    for conn in (clinic, demo):
        for filters in (Filters(), ranged(conn)):
            v = live(conn, filters, cfg)
            section = safety_view.Section
            got = safety_view._section_of_view(v, section.TOTALS)
            assert got == safety_sql.dose_totals(conn, filters, settings=cfg)
            for name in ("u", "cadss", "long_term"):
                want = TABLES[name](conn, filters)
                table = safety_view._section_of_view(v, section(name))
                assert_frame_equal(table, want, check_exact=True, check_dtype=not want.empty)
