"""Blood pressure per dosing session and the BP curve, against hand-computed readings."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from kapviz.config import Settings
from kapviz.metrics.vitals import (
    bp_counts,
    bp_curve,
    bp_curve_from_counts,
    bp_per_session,
    session_vitals,
    with_flags,
)
from tests.metrics.safety_data import SESSIONS, vitals_frame

DEFAULTS = Settings()


def _one(readings: list[tuple], settings: Settings = DEFAULTS) -> pd.Series:
    vitals = vitals_frame([("A-D1", *r) for r in readings])
    out = session_vitals(SESSIONS, vitals, settings=settings).set_index("session_id")
    return out.loc["A-D1"]


@pytest.mark.parametrize(
    ("pre", "post", "excursion", "rise", "review"),
    [
        ((120, 80), (180, 90), True, True, False),  # systolic exactly 180: excursion
        ((150, 80), (179, 90), False, False, True),  # 179: no excursion; rise 29
        ((120, 80), (130, 109), False, True, False),  # diastolic 109: none; rise 29 > 25
        ((120, 90), (130, 110), True, False, True),  # diastolic exactly 110: excursion
        ((130, 80), (170, 100), False, False, False),  # rise exactly 40 / 20: not flagged
        ((130, 80), (171, 100), False, True, False),  # rise 41: flagged
        ((130, 80), (150, 105), False, False, False),  # diastolic rise exactly 25: not
        ((130, 80), (150, 106), False, True, False),  # diastolic rise 26: flagged
        ((139, 89), (140, 89), False, False, False),  # pre 139/89: no review
        ((139, 90), (140, 90), False, False, True),  # pre diastolic 90: review
        ((140, 70), (140, 70), False, False, True),  # pre systolic 140: review
    ],
)
def test_flags(pre, post, excursion, rise, review):
    """Excursion ≥180/≥110 on any reading, rise >40/>25 over pre-dose, review ≥140/90."""
    row = _one([(-5, *pre), (40, *post)])
    assert (row["is_excursion"], row["is_rise"], row["needs_predose_review"]) == (
        excursion,
        rise,
        review,
    )
    assert row["rise_systolic"] == post[0] - pre[0]
    assert row["rise_diastolic"] == post[1] - pre[1]


def test_pre_peak_last_readings():
    """Pre = latest at ≤ 0 min (0 counts), peak = highest after the dose, last = latest."""
    row = _one([(-30, 170, 100), (0, 130, 80), (40, 176, 96), (90, 140, 85), (120, 135, 82)])
    got = row[["readings", "pre_systolic", "pre_diastolic", "peak_systolic", "peak_diastolic"]]
    assert got.tolist() == [5, 130, 80, 176, 96]
    assert row[["last_systolic", "last_diastolic", "max_systolic"]].tolist() == [135, 82, 176]
    assert (row["rise_systolic"], row["rise_diastolic"]) == (46, 16)
    assert row["is_rise"] and not row["is_excursion"]


def test_excursion_on_a_pre_dose_reading_counts():
    """Any reading in the session counts for an excursion; no post-dose reading: no rise."""
    row = _one([(-5, 185, 90)])
    assert row["is_excursion"]
    assert not row["is_rise"]
    assert math.isnan(row["rise_systolic"])


def test_thresholds_come_from_settings():
    """A clinic that sets its excursion threshold to 170 sees 170 flagged."""
    settings = Settings(bp_excursion_systolic=170, bp_rise_systolic=30)
    row = _one([(-5, 130, 80), (40, 170, 90)], settings)
    assert row["is_excursion"] and row["is_rise"]


def test_one_row_per_completed_dosing_session():
    """Cancelled and non-dosing sessions are left out; a session without readings has none."""
    vitals = vitals_frame([("A-D1", -5, 130, 80), ("A-X", 40, 200, 120), ("A-I", 0, 190, 100)])
    got = session_vitals(SESSIONS, vitals, settings=DEFAULTS)
    assert got["session_id"].tolist() == ["A-D1", "A-D2", "B-D1"]
    assert got["readings"].tolist() == [1, 0, 0]
    assert got["is_excursion"].tolist() == [False, False, False]
    assert got["needs_predose_review"].tolist() == [False, False, False]


def test_bp_curve_median_and_iqr():
    """Bins of 10 min (−5 → −10); 40/45 share a bin: median 170, IQR 165–175 (systolic)."""
    vitals = vitals_frame(
        [
            ("A-D1", -5, 130, 80),
            ("A-D1", 40, 180, 100),
            ("B-D1", 0, 120, 70),
            ("B-D1", 40, 160, 90),
            ("B-D1", 45, 170, 94),
            ("A-X", 40, 250, 150),
        ]
    )
    got = bp_curve(vitals, sessions=SESSIONS)
    expected = pd.DataFrame(
        {
            "minute": [-10, 0, 40, -10, 0, 40],
            "measure": ["systolic"] * 3 + ["diastolic"] * 3,
            "n": [1, 1, 3, 1, 1, 3],
            "median": [130.0, 120.0, 170.0, 80.0, 70.0, 94.0],
            "q1": [130.0, 120.0, 165.0, 80.0, 70.0, 92.0],
            "q3": [130.0, 120.0, 175.0, 80.0, 70.0, 97.0],
        }
    ).astype({"measure": object})
    assert_frame_equal(got, expected)
    unfiltered = bp_curve(vitals).set_index(["measure", "minute"])  # every reading counts
    assert unfiltered.loc[("systolic", 40), ["n", "median"]].tolist() == [4, 175.0]


def test_clinic_vitals_from_tests_clinic():
    """tests/clinic.py: P1 dose 1 182 → excursion and rise 52; P2 109 → no excursion, review."""
    from tests.clinic import clinic_rows

    rows = clinic_rows()
    sessions = pd.DataFrame(rows["sessions"]).merge(
        pd.DataFrame(rows["dosings"]), on="session_id", how="left"
    )
    sessions["site"] = "North"
    vitals = pd.DataFrame(rows["vitals"])
    got = session_vitals(sessions, vitals, settings=DEFAULTS).set_index("session_id")
    assert got["is_excursion"].sum() == 1
    assert got.loc["P1-D1", ["is_excursion", "is_rise", "rise_systolic"]].tolist() == [
        True,
        True,
        52,
    ]
    assert got.loc["P2-D1", ["is_excursion", "needs_predose_review"]].tolist() == [False, True]


# --- The same from counts and integer session codes (the Safety page's path) -------------------


def test_bp_curve_from_counts_hand_computed():
    """Four readings 120, 130, 140, 150 in one bin: median 135, quartiles 127.5 and 142.5."""
    counts = pd.DataFrame(
        {
            "minute": [30, 30, 30, 30, 30],
            "measure": ["systolic"] * 4 + ["diastolic"],
            "value": [150.0, 120.0, 130.0, 140.0, 90.0],
            "readings": [1, 1, 1, 1, 3],
        }
    )
    got = bp_curve_from_counts(counts).set_index("measure")
    assert got.loc["systolic", ["n", "median", "q1", "q3"]].tolist() == [4, 135.0, 127.5, 142.5]
    assert got.loc["diastolic", ["n", "median", "q1", "q3"]].tolist() == [3, 90.0, 90.0, 90.0]


def test_bp_counts_bins_and_missing_values():
    """−5 falls in the −10 bin; a missing diastolic is not counted, its systolic is."""
    vitals = vitals_frame([("A-D1", -5, 130, 80), ("A-D1", 40, 180, None), ("B-D1", 45, 180, 94)])
    got = bp_counts(vitals).set_index(["measure", "minute", "value"])["readings"]
    assert got.to_dict() == {
        ("systolic", -10, 130.0): 1,
        ("systolic", 40, 180.0): 2,
        ("diastolic", -10, 80.0): 1,
        ("diastolic", 40, 94.0): 1,
    }


def _random_vitals(seed: int, *, whole: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 80))
    frame = pd.DataFrame(
        {
            "session_id": [f"A-D{i}" for i in rng.integers(1, 9, n)],
            "minutes_from_dose": rng.integers(-45, 150, n),
        }
    ).drop_duplicates(["session_id", "minutes_from_dose"])
    k = len(frame)
    values = {}
    for measure, low, high in (("systolic", 90, 210), ("diastolic", 50, 125)):
        v = rng.integers(low, high, k).astype("float64")
        if not whole:
            v = v + rng.choice([0.0, 0.5, 0.25], k)
        v[rng.random(k) < 0.15] = np.nan
        values[measure] = v
    frame = frame.assign(**values, heart_rate=np.nan, spo2=np.nan)
    return frame.sample(frac=1, random_state=seed).reset_index(drop=True)


@pytest.mark.parametrize("seed", range(40))
def test_curve_from_counts_equals_pandas_quantiles(seed):
    """Exact (to the last bit) against pandas' groupby median/quantile, whole readings or not."""
    vitals = _random_vitals(seed, whole=seed % 4 != 0)
    for bin_minutes in (10, 15):
        assert_frame_equal(
            bp_curve_from_counts(bp_counts(vitals, bin_minutes=bin_minutes)),
            bp_curve(vitals, bin_minutes=bin_minutes),
            check_exact=True,
        )


@pytest.mark.parametrize("seed", range(40))
def test_per_session_summary_equals_session_vitals(seed):
    """bp_per_session + with_flags give session_vitals' frame exactly (missing values too)."""
    vitals = _random_vitals(seed)
    ids = sorted(set(vitals["session_id"])) + ["NO-READINGS"]
    sessions = pd.DataFrame(
        {
            "session_id": ids,
            "patient_id": "P",
            "course_id": "C",
            "started_at": pd.Timestamp("2026-01-05 09:00"),
            "route": "iv",
            "drug": "ketamine",
            "phase": "dosing",
            "status": "completed",
        }
    )
    cols = ["session_id", "patient_id", "course_id", "started_at", "route", "drug"]
    got = with_flags(sessions[cols], bp_per_session(vitals), settings=DEFAULTS)
    assert_frame_equal(got, session_vitals(sessions, vitals, settings=DEFAULTS), check_exact=True)


def test_empty_counts_and_bad_bins():
    """No readings → an empty curve with the contract's columns; bins must be positive."""
    empty = bp_curve_from_counts(bp_counts(vitals_frame([])))
    assert list(empty.columns) == ["minute", "measure", "n", "median", "q1", "q3"]
    assert empty.empty
    with pytest.raises(ValueError, match="positive"):
        bp_counts(vitals_frame([]), bin_minutes=0)
