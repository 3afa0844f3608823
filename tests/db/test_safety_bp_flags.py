"""The Safety page's blood-pressure tiles and flagged-sessions table grouped in SQL equal the
live path's (every dose's readings summarised in pandas), on the hand clinic and a demo
clinic, on SQLite and PostgreSQL, with the default and with other thresholds."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import pytest
from pandas.testing import assert_frame_equal

from kapviz import config
from kapviz.db.aggregates import safety as safety_sql
from kapviz.filters import Filters
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
    first = live(demo, Filters(), cfg).doses["started_at"].min().date()
    ranged = Filters(start=first + timedelta(days=90), end=first + timedelta(days=300))
    assert assert_flags_equal_live(demo, ranged, cfg).flagged.shape[0] > 0
    assert_flags_equal_live(demo, Filters(start=date(1990, 1, 1), end=date(1990, 2, 1)), cfg)
    few = assert_flags_equal_live(demo, Filters(), cfg, limit=7)
    assert len(few.flagged) == 7
