"""The Safety page's counts read from the rollups' row per dose (RollupDoseSafety) and the
Overview's monthly counts equal the live path's (every dose, effect, score and reading read
and summarised in pandas), on the hand clinic and a demo clinic, on SQLite and PostgreSQL,
with the default and with other thresholds, also after an import's incremental refresh:
the blood-pressure tiles and flagged table (`bp_flags`), the headline, sedation and
monitoring counts (`dose_totals`), the u-chart's monthly counts (`monthly_events`), the
CADSS table by dose number (`cadss_scores`), the long-term terms by cumulative dose
(`long_term_counts`)."""

from __future__ import annotations

import dataclasses

from pandas.testing import assert_frame_equal
from sqlalchemy import select

from kapviz import config
from kapviz.db import rollups, safety_rollups
from kapviz.db.aggregates import safety as safety_sql
from kapviz.db.engine import make_engine
from kapviz.db.models import Course, RollupDoseSafety
from kapviz.demo import generate_clinic
from kapviz.filters import Filters
from kapviz.metrics.monitoring import cadss_table, u_chart_from_counts
from tests.db.test_page_rollups import _change_file, _import
from tests.db.test_rollups import _choices
from tests.db.test_safety_rollups import live
from tests.db.test_safety_sql import LOW

DEMO_SEED = 11
"""Seed of this module's 300-patient demo clinic (tests/db/conftest.py)."""

OTHER = {**LOW, "sedation_moaas_max": 1, "esketamine_min_monitoring_min": 150}
"""Other thresholds: many doses flagged of every kind, other sedation and monitoring cuts."""


def assert_equal_live(conn, filters: Filters, cfg, limit: int = 500):
    """Every count the rollup rows serve equals the live one; returns (flags, totals, u,
    cadss, long_term)."""
    want = live(conn, filters, cfg)
    # BP tiles and the flagged table, against the pandas definition.
    flags = safety_rollups.bp_flags(conn, filters, settings=cfg, limit=limit)
    bp = want.session_vitals
    assert flags.excursion_sessions == int(bp["is_excursion"].sum())
    assert flags.rise_sessions == int(bp["is_rise"].sum())
    assert flags.predose_review_sessions == int(bp["needs_predose_review"].sum())
    expected = safety_sql.flagged_first(bp, limit).reset_index(drop=True)
    assert_frame_equal(flags.flagged, expected, check_exact=True, check_dtype=not expected.empty)
    # Headline, sedation and monitoring counts.
    totals = safety_rollups.dose_totals(conn, filters, settings=cfg)
    assert totals == safety_sql.dose_totals(conn, filters, settings=cfg)
    mon = want.monitoring
    assert totals.dosing_sessions == want.dosing_sessions
    assert totals.patients_dosed == want.patients_dosed
    assert totals.events == (int(want.u["events"].sum()) if not want.u.empty else 0)
    assert totals.serious_events == want.serious_events
    assert totals.sedation == want.sedation
    assert totals.esketamine_sessions == len(mon)
    assert totals.short_monitoring == int(mon["is_short"].sum())
    assert totals.unrecorded_monitoring == int(mon["is_unrecorded"].sum())
    # The u-chart.
    u = u_chart_from_counts(safety_rollups.monthly_events(conn, filters))
    assert_frame_equal(u, want.u, check_exact=True, check_dtype=not want.u.empty)
    # CADSS by dose number: the same bits from the counts as from the scores.
    cadss = cadss_table(safety_rollups.cadss_scores(conn, filters))
    assert_frame_equal(cadss, want.cadss, check_exact=True, check_dtype=not want.cadss.empty)
    # Long-term terms by cumulative dose band.
    long_term = safety_rollups.long_term_counts(conn, filters)
    assert_frame_equal(long_term, want.long_term, check_exact=True)
    return flags, totals, u, cadss, long_term


def test_hand_clinic_by_hand_and_equal_live(clinic):
    """Hand clinic: 9 doses of 3 patients; P1's dose at 182 systolic is the one excursion
    (≥ 180); 4 events; one MOAA/S at or below 3; January 4 events in 7 doses, February none
    in 2; one CADSS score, 20, on a first dose; P4's second 200 mg sublingual dose reaches
    400 mg (250–<500 mg), the other 8 doses stay below 250 mg."""
    cfg = config.load_settings(env={})
    assert rollups.rebuild(clinic.engine)
    flags, totals, u, cadss, long_term = assert_equal_live(clinic, Filters(), cfg)
    sizes = long_term.groupby("cumulative_band")["dosing_sessions"].first().to_dict()
    assert sizes == {"<250 mg": 8, "250–<500 mg": 1}
    assert cadss[["session_number", "n", "mean"]].values.tolist() == [[1, 1, 20.0]]
    assert flags.excursion_sessions == 1
    assert flags.flagged.iloc[0]["patient_id"] == "P1"
    assert flags.flagged.iloc[0]["max_systolic"] == 182.0
    assert (totals.dosing_sessions, totals.patients_dosed, totals.events) == (9, 3, 4)
    assert totals.sedation["sedation"] == 1 and totals.esketamine_sessions == 0
    assert u[["events", "dosing_sessions"]].values.tolist() == [[4, 7], [0, 2]]
    other = dataclasses.replace(cfg, **OTHER)
    strict = dataclasses.replace(cfg, sedation_moaas_max=0, esketamine_min_monitoring_min=999)
    for filters in _choices(clinic):
        for thresholds in (cfg, other, strict):
            assert_equal_live(clinic, filters, thresholds)
    assert len(assert_equal_live(clinic, Filters(), other, limit=1)[0].flagged) == 1


def test_demo_equal_live(demo):
    """The demo generator builds the rows; every choice of sites and indications agrees,
    with two sets of thresholds and a limit below the count."""
    assert rollups.is_current(demo)
    cfg = config.load_settings(env={})
    for thresholds in (cfg, dataclasses.replace(cfg, **OTHER)):
        got = [assert_equal_live(demo, f, thresholds) for f in _choices(demo)]
        flags, totals, u, cadss, long_term = got[0]
        assert long_term["sessions"].sum() > 0 and long_term["cumulative_band"].nunique() > 2
        assert len(cadss) > 3 and cadss["n"].sum() > 100 and got[-1][3].empty
        assert flags.excursion_sessions + flags.rise_sessions > 0 and len(u) > 6
        assert totals.events > 0 and totals.esketamine_sessions > 0
        assert totals.short_monitoring + totals.unrecorded_monitoring > 0
        assert totals.sedation["scores"] > 0
        assert got[-1][1].dosing_sessions == 0 and got[-1][0].flagged.empty and got[-1][2].empty
    assert len(assert_equal_live(demo, Filters(), cfg, limit=7)[0].flagged) == 7


def test_import_refresh_keeps_dose_rows_equal_live(db_url, tmp_path):
    """After an import (a site change, changed scores, a new patient with doses) the
    refreshed rows per dose give the live counts, and equal a full rebuild's."""
    engine = make_engine(db_url)
    generate_clinic(engine, patients=120, seed=DEMO_SEED)
    folder = tmp_path / "change"
    _change_file(engine, folder)
    _import(engine, folder)
    cfg = config.load_settings(env={})
    columns = [c for c in RollupDoseSafety.__table__.c if c.name != "id"]

    def rows(conn):
        return sorted(tuple(r) for r in conn.execute(select(*columns)).all())

    with engine.connect() as conn:
        assert rollups.is_current(conn)
        new = conn.execute(
            select(RollupDoseSafety.session_id)
            .join(Course, Course.course_id == RollupDoseSafety.course_id)
            .where(Course.patient_id == "NEW-00001")
        ).all()
        assert new  # the new patient's doses have rows
        for filters in _choices(conn):
            assert_equal_live(conn, filters, cfg)
        refreshed = rows(conn)
    assert rollups.rebuild(engine)
    with engine.connect() as conn:
        assert rows(conn) == refreshed
