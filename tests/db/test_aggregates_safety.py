"""The Safety page's narrow reads give exactly the pandas metrics' numbers, on both backends.

`reference` is what the page computed before (the metrics on the raw frames, sessions limited
to the date range); `fast` is what it computes now (kapviz.db.aggregates.safety read into
kapviz.metrics.safety.dose_safety). Every table must be equal to the last bit, on the hand
clinic (tests/clinic.py) and on a 300-patient demo clinic, with and without filters.
"""

from __future__ import annotations

import math
from dataclasses import fields
from datetime import date, datetime, timedelta

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from kapviz.auth.scope import ScopedFilters
from kapviz.config import Settings
from kapviz.db import queries
from kapviz.db.aggregates import safety as safety_sql
from kapviz.filters import Filters
from kapviz.metrics import alerts, monitoring, safety, side_effects, vitals
from tests.clinic import ANCHOR

DEMO_SEED = 23
"""Seed of this module's 300-patient demo clinic (tests/db/conftest.py)."""

SETTINGS = Settings()
SCALES = ["PHQ-9", "CADSS", "MOAA/S"]

CLINIC_FILTERS = [
    Filters(),
    Filters(sites=("North",)),
    Filters(routes=("im",)),
    Filters(start=ANCHOR + timedelta(days=8), end=ANCHOR + timedelta(days=12)),
    Filters(sites=("Nowhere",)),
]


def reference(conn, filters: Filters) -> dict:
    """The page's tables from the raw frames, as kapviz.ui.safety built them before."""
    sessions = queries.sessions(conn, filters)
    started = sessions["started_at"]
    keep = pd.Series(True, index=sessions.index)
    if filters.start_at is not None:
        keep &= started >= pd.Timestamp(filters.start_at)
    if filters.end_before is not None:
        keep &= started < pd.Timestamp(filters.end_before)
    sessions = sessions.loc[keep]
    effects = queries.side_effects(conn, filters)
    readings = queries.vitals(conn, filters)
    scales = queries.assessments(conn, filters, instruments=SCALES)
    doses = side_effects.dosing_sessions(sessions, columns=["session_id", "patient_id"])
    sedation = monitoring.sedation_flags(scales, settings=SETTINGS)
    sedation = sedation[side_effects.is_member(sedation["session_id"], doses["session_id"])]
    return {
        "effects": side_effects.session_effects(sessions, effects),
        "rates": side_effects.effect_rates(sessions, effects),
        "by_number": side_effects.effect_rates_by(sessions, effects, by="session_number"),
        **{  # (the page never splits an empty set of doses: it stops at its empty state)
            f"by_{by}": side_effects.effect_rates_by(sessions, effects, by=by)
            for by in ("route", "drug", "dose_band", "site")
            if len(doses)
        },
        "session_vitals": vitals.session_vitals(sessions, readings, settings=SETTINGS),
        "curve": vitals.bp_curve(readings, sessions=sessions),
        "u": monitoring.u_chart(sessions, effects),
        "long_term": side_effects.long_term_vs_cumulative_dose(sessions, effects)
        if len(doses)
        else None,
        "sedation": {
            "scores": len(sedation),
            "sedation": int(sedation["is_sedation"].sum()),
            "loss_of_consciousness": int(sedation["is_loss_of_consciousness"].sum()),
        },
        "cadss": monitoring.cadss_by_session_number(sessions, scales),
        "monitoring": monitoring.monitoring_flags(sessions, settings=SETTINGS),
        "serious_events": safety.serious_events(sessions, effects),
        "dosing_sessions": len(doses),
        "patients_dosed": int(doses["patient_id"].nunique()),
    }


def fast(conn, filters: Filters, *, bp_in_sql: bool = False) -> safety.DoseSafety:
    doses = safety_sql.doses(conn, filters)
    if bp_in_sql:  # the PostgreSQL way, checked on both backends
        stats = safety_sql.bp_summaries(conn, filters)
        counts = safety_sql.bp_value_counts(conn, filters)
        bp = safety.dose_bp_from(doses, stats, counts, settings=SETTINGS)
    else:
        bp = safety.dose_bp(doses, safety_sql.readings(conn, filters), settings=SETTINGS)
    return safety.dose_safety(
        doses,
        safety_sql.dose_effects(conn, filters),
        safety_sql.scale_scores(conn, filters),
        bp=bp,
        settings=SETTINGS,
    )


def assert_same(conn, filters: Filters) -> safety.DoseSafety:
    """Every table of `fast` equals `reference` exactly (values, dtypes, order), whether the
    blood-pressure readings are summarised in SQL or in numpy."""
    expected = reference(conn, filters)
    in_sql = fast(conn, filters, bp_in_sql=True)
    for name in ("session_vitals", "curve"):
        assert_frame_equal(getattr(in_sql, name), expected[name], check_exact=True, obj=name)
    got = fast(conn, filters)
    for name in [f.name for f in fields(got) if f.name not in ("doses", "row_dose")]:
        value = getattr(got, name)
        if expected[name] is None:
            continue
        if isinstance(value, pd.DataFrame):
            assert_frame_equal(value, expected[name], check_exact=True, obj=name)
        else:
            assert value == expected[name], name
    for by in ("route", "drug", "dose_band", "site") if got.dosing_sessions else ():
        assert_frame_equal(got.rates_by(by), expected[f"by_{by}"], check_exact=True, obj=by)
    return got


@pytest.mark.parametrize("filters", CLINIC_FILTERS, ids=lambda f: f.describe())
def test_clinic_tables_equal_the_metrics(clinic, filters):
    """Hand clinic: every Safety table from the narrow reads equals the pandas metrics."""
    assert_same(clinic, filters)


def test_clinic_hand_counted(clinic):
    """9 doses of 3 patients; 4 events; P1 dose 1 is the one excursion (182 mmHg)."""
    got = assert_same(clinic, Filters())
    assert (got.dosing_sessions, got.patients_dosed, int(got.u["events"].sum())) == (9, 3, 4)
    flagged = got.session_vitals.set_index("session_id")["is_excursion"]
    assert flagged[flagged].index.tolist() == ["P1-D1"]
    assert got.sedation == {"scores": 2, "sedation": 1, "loss_of_consciousness": 0}


def test_clinic_scoped_to_a_clinician(clinic):
    """A clinician's scope (own patients) applies to every read, like the raw frames."""
    clinician = queries.sessions(clinic)["clinician"].dropna().iloc[0]
    got = assert_same(clinic, ScopedFilters(clinician=clinician))
    assert 0 < got.dosing_sessions <= 9


def test_effects_per_dose_and_term_in_sql(clinic):
    """P1 dose 1: dissociation twice (moderate, severe) is one row at severe, 2 records."""
    rows = safety_sql.dose_effects(clinic, Filters()).set_index(["session_id", "term"])
    assert rows.loc[("P1-D1", "dissociation"), ["severity_rank", "records"]].tolist() == [3, 2]
    assert rows.loc[("P1-D1", "nausea"), "severity_rank"] == 1
    assert not rows["serious"].any()
    # Without filters every session's records are grouped; dose_safety keeps the doses'.
    assert ("P2-D0", "dizziness") in rows.index
    doses = safety_sql.doses(clinic, Filters())
    kept = side_effects.effects_on_doses(doses, rows.reset_index())
    assert "P2-D0" not in set(kept["session_id"])
    assert len(kept) == 4  # P1-D1 dissociation + nausea, P1-D2 dissociation, P2-D1 nausea
    # With a filter the doses are picked in SQL already.
    north = safety_sql.dose_effects(clinic, Filters(sites=("North",)))
    assert "P2-D0" not in set(north["session_id"])


def test_bp_grouped_in_sql(clinic):
    """Pre/last from packed readings: P1 dose 1 pre 130/80 (−5 min), last 140/85 (90 min)."""
    stats = safety_sql.bp_summaries(clinic, Filters()).set_index("session_id")
    got = stats.loc["P1-D1", ["readings", "pre_systolic", "pre_diastolic", "last_systolic"]]
    assert got.tolist() == [3, 130.0, 80.0, 140.0]
    assert stats.loc["P1-D1", ["max_systolic", "peak_systolic"]].tolist() == [182.0, 182.0]
    counts = safety_sql.bp_value_counts(clinic, Filters()).set_index(["measure", "minute", "value"])
    assert counts.loc[("systolic", -10, 130.0), "readings"] == 1
    with pytest.raises(ValueError, match="positive"):
        safety_sql.bp_value_counts(clinic, Filters(), bin_minutes=0)


def test_bp_grouped_in_sql_with_missing_values(clinic):
    """Missing values and readings before the dose decode as the numpy summary has them."""
    from sqlalchemy import insert

    from kapviz.db.models import VitalSign

    rows = [(-30, None, 85), (-10, 150, None), (20, 160, 90), (45, None, None), (-2000, 300, 200)]
    with clinic.engine.begin() as conn:
        conn.execute(
            insert(VitalSign),
            [
                {"session_id": sid, "minutes_from_dose": m, "systolic": s, "diastolic": d}
                for sid, shift in (("P4-D1", 0), ("P4-D2", 1))
                for m, s, d in rows[shift:]
            ],
        )
    got = safety_sql.bp_summaries(clinic, Filters()).sort_values("session_id")
    expected = vitals.bp_per_session(queries.vitals(clinic)).sort_values("session_id")
    assert_frame_equal(
        got.reset_index(drop=True),
        expected.reset_index(drop=True).astype({"session_id": got["session_id"].dtype}),
        check_exact=True,
    )
    p4 = got.set_index("session_id").loc["P4-D1"]
    assert p4[["pre_systolic", "last_systolic", "last_diastolic"]].isna().tolist() == [
        False,
        True,
        True,
    ]
    assert math.isnan(p4["pre_diastolic"]) and p4["pre_systolic"] == 150


def test_doses_frame(clinic):
    """One row per completed dosing session, with site and dosing details, patient order."""
    doses = safety_sql.doses(clinic, Filters())
    assert list(doses.columns) == safety_sql.DOSE_COLUMNS
    assert len(doses) == 9
    d1 = doses.set_index("session_id").loc["P1-D1"]
    assert (d1["site"], d1["route"], d1["dose_mg"], d1["dose_mg_per_kg"]) == (
        "North",
        "iv",
        35.0,
        0.5,
    )
    assert doses["patient_id"].tolist() == sorted(doses["patient_id"])


# --- Alerts ------------------------------------------------------------------------------------


def reference_alerts(conn, filters: Filters, now: datetime) -> pd.DataFrame:
    return alerts.alerts(
        queries.sessions(conn, filters),
        queries.side_effects(conn, filters),
        queries.vitals(conn, filters),
        queries.assessments(conn, filters, instruments=SCALES),
        settings=SETTINGS,
        now=now,
    )


def fast_alerts(conn, filters: Filters, now: datetime) -> pd.DataFrame:
    since = now - timedelta(days=SETTINGS.alert_lookback_days)
    rows = safety_sql.alert_rows(conn, filters, since=since)
    return alerts.alerts(
        rows.sessions, rows.side_effects, rows.vitals, rows.phq9, settings=SETTINGS, now=now
    )


@pytest.mark.parametrize("filters", CLINIC_FILTERS, ids=lambda f: f.describe())
@pytest.mark.parametrize("day", [10, 20, 60])
def test_clinic_alerts_from_the_recent_window(clinic, filters, day):
    """The worklist from the recent window equals the worklist from whole tables."""
    now = datetime.combine(ANCHOR + timedelta(days=day), datetime.max.time())
    assert_frame_equal(
        fast_alerts(clinic, filters, now), reference_alerts(clinic, filters, now), check_exact=True
    )


def test_latest_phq9_with_a_known_item9(clinic):
    """One row per patient with an item 9 above 0 on some PHQ-9 (the only ones whose latest
    can alert): P2's item 9 = 1; P1, whose item 9 answers are all 0, is not read."""
    latest = safety_sql.latest_phq9(clinic, Filters())
    assert list(latest.columns) == queries.ASSESSMENT_COLUMNS
    assert latest["patient_id"].is_unique
    item9 = latest.set_index("patient_id")["suicide_item"]
    assert item9["P2"] == 1 and "P1" not in item9.index


@pytest.mark.parametrize("day", [10, 20, 60])
def test_alert_rows_last_contact_of_the_listed_patients(clinic, day):
    """The window's last contacts (from its own sessions, and by index for the PHQ-9
    patients without one) equal each patient's latest completed session of all."""
    now = datetime.combine(ANCHOR + timedelta(days=day), datetime.max.time())
    rows = safety_sql.alert_rows(clinic, Filters(), since=now - timedelta(days=14))
    listed = set(rows.sessions["patient_id"]) | set(rows.phq9["patient_id"])
    assert set(rows.last_contact.index) == listed and "P2" in listed
    whole = safety_sql.last_contact(clinic, Filters())
    assert (rows.last_contact == whole.reindex(rows.last_contact.index)).all()


# --- Demo clinic ---------------------------------------------------------------------------------

DEMO_TODAY = date(2026, 3, 1)


def _demo_filters(conn) -> list[Filters]:
    sites = sorted(queries.filter_options(conn)["sites"])
    clinician = queries.sessions(conn)["clinician"].dropna().iloc[0]
    return [
        Filters(),
        Filters(sites=tuple(sites[:2])),
        Filters(routes=("iv",)),
        Filters(indications=("TRD",)),
        Filters(start=DEMO_TODAY - timedelta(days=200), end=DEMO_TODAY - timedelta(days=30)),
        ScopedFilters(clinician=clinician),
    ]


def test_demo_tables_equal_the_metrics(demo):
    """300-patient demo clinic: every table equal, without and with each kind of filter."""
    for filters in _demo_filters(demo):
        got = assert_same(demo, filters)
        assert got.dosing_sessions > 0, filters


def test_demo_alerts_from_the_recent_window(demo):
    """Demo clinic: the recent-window worklist equals the whole-table one, on several days."""
    for filters in _demo_filters(demo)[:3]:
        for back in (0, 9, 45):
            now = datetime.combine(DEMO_TODAY - timedelta(days=back), datetime.max.time())
            expected = reference_alerts(demo, filters, now)
            assert_frame_equal(fast_alerts(demo, filters, now), expected, check_exact=True)
    assert not reference_alerts(
        demo, Filters(), datetime.combine(DEMO_TODAY, datetime.max.time())
    ).empty
