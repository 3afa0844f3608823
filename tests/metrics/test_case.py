"""Case metrics on the literal safety frames (tests/metrics/safety_data.py), hand-computed."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from kapviz.config import Settings
from kapviz.metrics import case
from tests.metrics.safety_data import EFFECTS, SESSIONS, scores_frame, vitals_frame

N = None
VITALS = vitals_frame(
    [
        ("A-D1", -10, 140, 85),
        ("A-D1", -2, 150, 90),
        ("A-D1", 30, 185, 100),
        ("A-D1", 60, 160, 88),
        ("B-D1", 0, 120, 80),
        ("B-D1", 20, 130, 85),
        ("A-X", 10, 200, 120),  # cancelled session: never counted
    ]
)
SCORES = scores_frame(
    [
        (1, "A", "A-C1", "A-D1", "MOAA/S", "2026-03-02 10:00", 4, N),
        (2, "A", "A-C1", "A-D1", "MOAA/S", "2026-03-02 10:30", 2, N),
        (3, "A", "A-C1", "A-D1", "CADSS", "2026-03-02 10:00", 20, N),
        (4, "A", "A-C1", "A-D1", "CADSS", "2026-03-02 10:30", 30, N),
        (5, "A", "A-C1", "A-X", "CADSS", "2026-03-03 10:00", 50, N),
        (6, "B", "B-C1", "B-D1", "MOAA/S", "2026-03-04 10:00", 5, N),
    ]
)


def test_dose_vitals_pre_peak_last():
    """A dose 1: pre 150/90 (latest ≤ 0), peak 185/100, last 160/88; excursion and review."""
    out = case.dose_vitals(SESSIONS, VITALS, settings=Settings())
    got = out[["course_id", "session_id", "dose_number", "readings"]]
    expected = pd.DataFrame(
        {
            "course_id": ["A-C1", "A-C1", "B-C1"],
            "session_id": ["A-D1", "A-D2", "B-D1"],
            "dose_number": [1, 2, 1],
            "readings": [4, 0, 2],
        }
    )
    assert_frame_equal(got, expected, check_dtype=False)
    a1 = out.iloc[0]
    assert (a1["pre_systolic"], a1["pre_diastolic"]) == (150, 90)
    assert (a1["peak_systolic"], a1["peak_diastolic"]) == (185, 100)
    assert (a1["last_systolic"], a1["last_diastolic"]) == (160, 88)
    # 185 ≥ 180 excursion; rise 35/10 not above 40/25; pre-dose 150 ≥ 140 needs review.
    assert (a1["is_excursion"], a1["is_rise"], a1["needs_predose_review"]) == (True, False, True)
    assert np.isnan(out.iloc[1]["pre_systolic"]) and not out.iloc[1]["is_excursion"]
    assert list(out.columns) == case.DOSE_VITALS_COLUMNS


def test_dose_vitals_without_doses_is_empty():
    """A patient who never dosed gets an empty table with the columns (no error)."""
    intake_only = SESSIONS[SESSIONS["patient_id"] == "C"]
    out = case.dose_vitals(intake_only, VITALS, settings=Settings())
    assert out.empty and list(out.columns) == case.DOSE_VITALS_COLUMNS


def test_dose_sedation_lowest_moaas_highest_cadss():
    """A dose 1: lowest MOAA/S 2 (sedated, ≤ 3), highest CADSS 30; the cancelled one ignored."""
    out = case.dose_sedation(SESSIONS, SCORES, settings=Settings())
    expected = pd.DataFrame(
        {
            "course_id": ["A-C1", "A-C1", "B-C1"],
            "session_id": ["A-D1", "A-D2", "B-D1"],
            "dose_number": [1, 2, 1],
            "moaas": [2.0, np.nan, 5.0],
            "is_sedation": [True, False, False],
            "cadss": [30.0, np.nan, np.nan],
        }
    )
    got = out.drop(columns="started_at")
    assert_frame_equal(got, expected, check_dtype=False)


def test_case_alerts_only_this_patient():
    """A (as of 2026-03-10): BP excursion 185/100 on 03-02 and the severe nausea; B has none."""
    now = datetime(2026, 3, 10, 23, 59)
    out = case.case_alerts(
        SESSIONS, EFFECTS, VITALS, SCORES, patient_id="A", settings=Settings(), now=now
    )
    assert set(out["reason"]) == {"BP excursion", "Severe side effect"}
    assert set(out["course_id"]) == {"A-C1"}
    assert list(out.columns) == ["course_id", "reason", "detail", "date"]
    b = case.case_alerts(
        SESSIONS, EFFECTS, VITALS, SCORES, patient_id="B", settings=Settings(), now=now
    )
    assert b.empty


@pytest.mark.parametrize(
    ("course_id", "expected"),
    [
        (
            "A-C1",
            [
                ("Sessions", "4 completed, 1 cancelled or no-show (2026-03-01 to 2026-03-06)"),
                ("Dosing sessions", "2 completed, IV; 35 mg each; 0.5 mg/kg each"),
            ],
        ),
        (
            "B-C1",
            [
                ("Sessions", "1 completed (2026-03-04 to 2026-03-04)"),
                ("Dosing sessions", "1 completed, Sublingual; 200 mg each"),
            ],
        ),
        ("C-C1", [("Sessions", "1 completed (2026-03-01 to 2026-03-01)"),
                  ("Dosing sessions", "none completed")]),
    ],
)  # fmt: skip
def test_course_facts(course_id, expected):
    """Sessions and doses of a course in words; no site or clinician in them."""
    assert case.course_facts(SESSIONS, course_id=course_id) == expected


def _points(rows):
    return pd.DataFrame.from_records(
        rows,
        columns=["patient_id", "course_id", "instrument", "point_order", "point", "phase",
                 "administered_at", "total"],
    ).assign(administered_at=lambda f: pd.to_datetime(f["administered_at"]))  # fmt: skip


def test_compare_points_latest_course_in_given_order():
    """Each patient's latest PHQ-9 course, in the order chosen; at most four patients."""
    points = _points(
        [
            ("A", "A-C1", "PHQ-9", 1, "Preparation", "preparation", "2025-01-01", 20),
            ("A", "A-C2", "PHQ-9", 1, "Preparation", "preparation", "2026-01-01", 15),
            ("A", "A-C2", "PHQ-9", 2, "Dose 1", "dosing", "2026-01-05", 10),
            ("B", "B-C1", "PHQ-9", 1, "Preparation", "preparation", "2026-02-01", 12),
            ("B", "B-C1", "GAD-7", 1, "Preparation", "preparation", "2026-02-01", 9),
            *[(p, f"{p}-C1", "PHQ-9", 1, "Preparation", "preparation", "2026-02-01", 5)
              for p in "DEF"],
        ]
    )  # fmt: skip
    out = case.compare_points(points, patient_ids=["B", "A", "X", "D", "E", "F"])
    assert list(out["course_id"]) == ["B-C1", "A-C2", "A-C2", "D-C1"]
    assert list(out["total"]) == [12, 15, 10, 5]


# Similar-baseline band from the cohort summary (kapviz.db.aggregates.case): own course C1
# (PHQ-9 baseline 18); C2, C3 at 17 and C4 at 21 are within ±3, C5 at 12 is not, C6 has no
# baseline. C2 has two scores at dose 1 (10 and 15: its value there is 12.5).
BAND_POINTS = [
    ("C1", "PHQ-9", 1, 18), ("C1", "PHQ-9", 2, 10), ("C1", "GAD-7", 1, 18),
    ("C2", "PHQ-9", 1, 17), ("C2", "PHQ-9", 2, 10), ("C2", "PHQ-9", 2, 15),
    ("C3", "PHQ-9", 1, 17), ("C3", "PHQ-9", 14, 6),
    ("C4", "PHQ-9", 1, 21),
    ("C5", "PHQ-9", 1, 12),
    ("C6", "PHQ-9", 2, 9),
]  # fmt: skip
BASELINES = {("C1", "PHQ-9"): 18, ("C1", "GAD-7"): 18, ("C2", "PHQ-9"): 17,
             ("C3", "PHQ-9"): 17, ("C4", "PHQ-9"): 21, ("C5", "PHQ-9"): 12}  # fmt: skip
SUMMARY_VALUES = pd.DataFrame.from_records(
    [
        ("GAD-7", 18, 1, 18, 1, 1),
        ("PHQ-9", 12, 1, 12, 1, 1),
        ("PHQ-9", 17, 1, 17, 1, 2), ("PHQ-9", 17, 2, 25, 2, 1), ("PHQ-9", 17, 14, 6, 1, 1),
        ("PHQ-9", 18, 1, 18, 1, 1), ("PHQ-9", 18, 2, 10, 1, 1),
        ("PHQ-9", 21, 1, 21, 1, 1),
    ],
    columns=["instrument", "baseline", "order", "total_sum", "scores", "courses"],
)  # fmt: skip
SUMMARY_BASELINES = pd.DataFrame.from_records(
    [("GAD-7", 18, 1), ("PHQ-9", 12, 1), ("PHQ-9", 17, 2), ("PHQ-9", 18, 1), ("PHQ-9", 21, 1)],
    columns=["instrument", "baseline", "courses"],
)


def _band_points() -> pd.DataFrame:
    from kapviz.metrics.trajectory_axes import session_points

    labels = session_points()
    frame = pd.DataFrame.from_records(
        BAND_POINTS, columns=["course_id", "instrument", "point_order", "total"]
    )
    frame["patient_id"] = frame["course_id"].str.replace("C", "P")
    frame["point"] = frame["point_order"].map(labels["label"])
    frame["phase"] = frame["point_order"].map(labels["phase"])
    frame["point_order"] = frame["point_order"].astype("Int64")
    keys = list(zip(frame["course_id"], frame["instrument"], strict=True))
    frame["baseline"] = [float(BASELINES.get(k, np.nan)) for k in keys]
    return frame


def test_course_point_values_sums_and_counts():
    """C2's PHQ-9: 17 at preparation; 10 + 15 = 25 over 2 scores at dose 1."""
    points = _band_points()
    out = case.course_point_values(points[points["course_id"] == "C2"])
    assert out.to_dict("records") == [
        {"instrument": "PHQ-9", "baseline": 17.0, "order": 1, "total_sum": 17, "scores": 1},
        {"instrument": "PHQ-9", "baseline": 17.0, "order": 2, "total_sum": 25, "scores": 2},
    ]


def test_band_from_summary_hand_computed():
    """C1's PHQ-9 band: C2, C3, C4 (3 courses); preparation 17, 17, 21 → median 17, IQR
    17–19; dose 1 only C2 (12.5); follow-up only C3 (6). C1 itself and C5 are left out."""
    points = _band_points()
    own = case.course_point_values(points[points["course_id"] == "C1"])
    band, n = case.band_from_summary(
        SUMMARY_VALUES, SUMMARY_BASELINES, own, instrument="PHQ-9", baseline=18
    )
    assert n == 3
    assert list(band["order"]) == [1, 2, 14]
    assert list(band["point"]) == ["Preparation", "Dose 1", "Follow-up"]
    assert list(band["courses"]) == [3, 1, 1]
    assert list(band["median"]) == [17.0, 12.5, 6.0]
    assert list(band["q1"]) == [17.0, 12.5, 6.0] and list(band["q3"]) == [19.0, 12.5, 6.0]
    assert band["mean"].iloc[0] == pytest.approx(55 / 3)


def test_band_from_summary_equals_cohort_band():
    """The summary path gives cohort_band's table of the same points, column for column."""
    points = _band_points()
    outcomes = pd.DataFrame(
        [{"course_id": c, "instrument": i, "baseline": b} for (c, i), b in BASELINES.items()]
    )
    own = case.course_point_values(points[points["course_id"] == "C1"])
    for instrument, baseline in (("PHQ-9", 18), ("PHQ-9", 13), ("GAD-7", 18), ("PHQ-9", 40)):
        got, got_n = case.band_from_summary(
            SUMMARY_VALUES, SUMMARY_BASELINES, own, instrument=instrument, baseline=baseline
        )
        want, want_n = case.cohort_band(
            points, outcomes, instrument=instrument, baseline=baseline, exclude_course="C1"
        )
        assert got_n == want_n
        assert_frame_equal(got, want.reset_index(drop=True), check_dtype=False)
