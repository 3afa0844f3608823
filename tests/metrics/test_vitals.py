"""Blood pressure per dosing session and the BP curve, against hand-computed readings."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from kapviz.config import Settings
from kapviz.metrics.vitals import bp_curve, session_vitals
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
