"""The inputs of outcomes and trajectories (kapviz.metrics.scores): anchors, dose counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kapviz.metrics import scores as sm
from tests.metrics.test_outcomes import sessions_frame

T = pd.Timestamp


def doses() -> pd.DataFrame:
    """C1: doses at 03-10 09:00 and twice at 03-13 09:00 (same time); C3: one dose."""
    return sm.number_doses(
        pd.DataFrame(
            {
                "course_id": ["C1", "C1", "C1", "C3", "C9"],
                "started_at": pd.to_datetime(
                    [
                        "2026-03-10 09:00",
                        "2026-03-13 09:00",
                        "2026-03-13 09:00",
                        "2026-04-01 09:00",
                        "2026-04-01 09:00",
                    ]
                ),
            }
        )
    )


@pytest.mark.parametrize(
    ("course", "at", "expected"),
    [
        ("C1", "2026-03-10 08:59", 0),  # before any dose
        ("C1", "2026-03-10 09:00", 1),  # at the dose: on or before counts
        ("C1", "2026-03-12 23:00", 1),
        ("C1", "2026-03-13 09:00", 3),  # two doses at the same time both count
        ("C1", "2030-01-01 00:00", 3),
        ("C2", "2026-05-01 09:00", 0),  # a course without doses
        ("C3", "2026-04-01 09:00", 1),  # other courses' doses never count (C9 at that time)
        ("C3", None, 0),  # no time: no dose on or before it
    ],
)
def test_doses_up_to(course: str, at: str | None, expected: int) -> None:
    """Completed doses of the course started on or before the moment (hand-counted)."""
    courses = pd.Index(["C1", "C2", "C3"])
    moment = np.array([np.datetime64(at) if at else np.datetime64("NaT")], dtype="M8[us]")
    code = np.array([courses.get_loc(course)])
    assert sm.doses_up_to(doses(), courses, code, moment).tolist() == [expected]


def test_doses_up_to_both_methods_agree() -> None:
    """The binary-search keys and the joint sort (used when keys would overflow) agree."""
    rng = np.random.default_rng(0)
    courses = pd.Index([f"C{i:03d}" for i in range(200)])
    start = np.datetime64("2026-01-01T00:00", "us")
    minutes = np.timedelta64(60_000_000, "us")
    frame = pd.DataFrame(
        {
            "course_id": courses[rng.integers(0, 200, 3000)],
            "started_at": start + rng.integers(0, 40_000, 3000) * minutes,
        }
    )
    numbered = sm.number_doses(frame)
    codes = rng.integers(0, 200, 5000)
    at = start + rng.integers(-100, 40_100, 5000) * minutes
    at[::97] = np.datetime64("NaT")
    fast = sm.doses_up_to(numbered, courses, codes, at)
    dose_codes = courses.get_indexer(numbered["course_id"]).astype(np.int64)
    times = at.view("i8")
    slow = sm._doses_up_to_sorted(
        dose_codes, numbered["started_at"].to_numpy().view("i8"), codes, times, np.isnat(at)
    )
    assert (fast == slow).all()
    brute = [
        int(((numbered["course_id"] == courses[c]) & (numbered["started_at"] <= t)).sum())
        if not np.isnat(t)
        else 0
        for c, t in zip(codes[:300], at[:300], strict=True)
    ]
    assert fast[:300].tolist() == brute


def test_course_anchors_hand_computed() -> None:
    """Patient, first session, first/last completed dose, last completed integration."""
    sessions = sessions_frame(
        [
            ("S1", "P1", "C1", "2026-03-01 09:00", "intake", "completed"),
            ("D0", "P1", "C1", "2026-03-09 09:00", "dosing", "cancelled"),
            ("D1", "P1", "C1", "2026-03-10 09:00", "dosing", "completed"),
            ("D2", "P1", "C1", "2026-03-13 09:00", "dosing", "completed"),
            ("I1", "P1", "C1", "2026-03-20 09:00", "integration", "completed"),
            ("I2", "P1", "C1", "2026-03-27 09:00", "integration", "no_show"),
            ("S2", "P2", "C2", "2026-03-02 09:00", "intake", "completed"),
        ]
    )
    anchors = sm.course_anchors(sessions)
    assert list(anchors.columns) == sm.ANCHOR_COLUMNS
    c1 = anchors.loc["C1"]
    assert c1["patient_id"] == "P1"
    assert (c1["first_session_at"], c1["first_dose_at"], c1["last_dose_at"]) == (
        T("2026-03-01 09:00"),
        T("2026-03-10 09:00"),
        T("2026-03-13 09:00"),
    )
    assert c1["last_integration_at"] == T("2026-03-20 09:00")
    c2 = anchors.loc["C2"]
    assert pd.isna(c2["first_dose_at"]) and pd.isna(c2["last_integration_at"])


def test_score_frame_sorts_by_course_instrument_time_id() -> None:
    """Categorical ids with sorted categories; rows by course, instrument, time, then id."""
    frame = pd.DataFrame(
        {
            "id": [4, 3, 2, 1],
            "patient_id": ["P2", "P1", "P1", "P1"],
            "course_id": ["C2", "C1", "C1", "C1"],
            "session_id": [None, "S1", None, None],
            "instrument": ["PHQ-9", "PHQ-9", "GAD-7", "PHQ-9"],
            "administered_at": pd.to_datetime(["2026-03-01"] * 4),
            "total": [1, 2, 3, 4],
        }
    )
    out = sm.score_frame(frame)
    assert out["id"].tolist() == [2, 1, 3, 4]
    assert list(out["course_id"].cat.categories) == ["C1", "C2"]
    assert [None if pd.isna(v) else v for v in out["session_id"]] == [None, None, "S1", None]


def test_tied_sessions_looked_up_per_score() -> None:
    """Each tied score finds its session's row; untied or unknown ones −1."""
    scores = sm.score_frame(
        pd.DataFrame(
            {
                "id": [1, 2, 3, 4],
                "patient_id": ["P1"] * 4,
                "course_id": ["C1"] * 4,
                "session_id": ["D1", None, "S9", "D1"],
                "instrument": ["PHQ-9"] * 4,
                "administered_at": pd.to_datetime(
                    ["2026-03-10 10:00", "2026-03-11 09:00", "2026-03-12 09:00", "2026-03-13 09:00"]
                ),
                "total": [10, 9, 8, 7],
            }
        )
    )
    sessions = sessions_frame(
        [
            ("S1", "P1", "C1", "2026-03-01 09:00", "intake", "completed"),
            ("D1", "P1", "C1", "2026-03-10 09:00", "dosing", "completed"),
        ]
    )
    assert sm.tied_sessions(scores, sessions).tolist() == [1, -1, -1, 1]
    assert sm.tied_sessions(scores, sessions.iloc[:0]).tolist() == [-1, -1, -1, -1]
