"""Per-course outcomes and cohort rates, against hand-computed DOMAIN.md §3 cases."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from kapviz import instruments
from kapviz.metrics.outcomes import (
    OUTCOME_COLUMNS,
    REASON_NO_DOSE,
    REASON_NO_ENDPOINT,
    course_outcomes,
    outcome_rates,
    outcomes_summary,
    rates_by,
    reason_no_baseline,
)

T = pd.Timestamp
FIRST_DOSE = "2026-03-10 09:00"


def sessions_frame(rows: list[tuple]) -> pd.DataFrame:
    """Sessions frame from (session_id, patient_id, course_id, started_at, phase, status)."""
    frame = pd.DataFrame.from_records(
        rows, columns=["session_id", "patient_id", "course_id", "started_at", "phase", "status"]
    )
    frame["started_at"] = pd.to_datetime(frame["started_at"])
    return frame


def scores_frame(rows: list[tuple]) -> pd.DataFrame:
    """Assessments frame from (patient_id, course_id, session_id, instrument, at, total)."""
    frame = pd.DataFrame.from_records(
        rows,
        columns=["patient_id", "course_id", "session_id", "instrument", "administered_at", "total"],
    )
    frame.insert(0, "id", range(1, len(frame) + 1))
    frame["administered_at"] = pd.to_datetime(frame["administered_at"])
    frame["total"] = frame["total"].astype("int64")
    frame["items"] = None
    frame["suicide_item"] = pd.array([pd.NA] * len(frame), dtype="Int64")
    return frame


def standard_sessions(*, first_status: str = "completed") -> pd.DataFrame:
    """One course P1-C1: intake, preparation, dosing on 03-10 (status given), 03-13, 03-17."""
    return sessions_frame(
        [
            ("S1", "P1", "P1-C1", "2026-03-01 09:00", "intake", "completed"),
            ("S2", "P1", "P1-C1", "2026-03-05 09:00", "preparation", "completed"),
            ("D1", "P1", "P1-C1", FIRST_DOSE, "dosing", first_status),
            ("D2", "P1", "P1-C1", "2026-03-13 09:00", "dosing", "completed"),
            ("D3", "P1", "P1-C1", "2026-03-17 09:00", "dosing", "completed"),
            ("S3", "P1", "P1-C1", "2026-03-24 09:00", "integration", "completed"),
        ]
    )


def one_course(scores: list[tuple[str, str, int]], **kwargs) -> pd.Series:
    """The single outcome row of P1-C1 for (instrument, administered_at, total) scores."""
    frame = scores_frame([("P1", "P1-C1", None, i, at, total) for i, at, total in scores])
    out = course_outcomes(standard_sessions(), frame, **kwargs)
    assert len(out) == 1
    return out.iloc[0]


def na(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        pytest.param(
            [("PHQ-9", "2026-02-08 09:00", 20), ("PHQ-9", "2026-04-01 09:00", 10)],
            {"baseline": 20, "baseline_at": T("2026-02-08 09:00"), "evaluable": True},
            id="exactly-30-days-before-counts",
        ),
        pytest.param(
            [("PHQ-9", "2026-02-08 08:59", 20), ("PHQ-9", "2026-04-01 09:00", 10)],
            {
                "baseline": None,
                "evaluable": False,
                "not_evaluable_reason": reason_no_baseline(30),
            },
            id="30-days-and-1-minute-before-does-not",
        ),
        pytest.param(
            [
                ("PHQ-9", "2026-02-20 09:00", 22),
                ("PHQ-9", "2026-03-03 09:00", 18),
                ("PHQ-9", "2026-04-01 09:00", 9),
            ],
            {"baseline": 18, "change": -9, "pct_change": -0.5, "is_response": True},
            id="two-pre-dose-scores-latest-wins",
        ),
        pytest.param(
            [("PHQ-9", "2026-03-10 07:30", 16), ("PHQ-9", "2026-04-01 09:00", 12)],
            {"baseline": 16, "baseline_at": T("2026-03-10 07:30"), "endpoint": 12},
            id="same-day-score-before-dose-is-baseline",
        ),
        pytest.param(
            [("PHQ-9", FIRST_DOSE, 16), ("PHQ-9", "2026-03-10 11:00", 12)],
            {"baseline": 16, "endpoint": 12, "endpoint_at": T("2026-03-10 11:00")},
            id="score-at-dose-time-is-baseline-later-same-day-is-endpoint",
        ),
        pytest.param(
            [
                ("PHQ-9", "2026-03-09 09:00", 20),
                ("PHQ-9", "2026-03-20 09:00", 6),
                ("PHQ-9", "2026-04-20 09:00", 14),
            ],
            {
                "endpoint": 14,
                "change": -6,
                "is_response": False,
                "time_to_response_days": 10.0,
                "time_to_response_doses": 3,
            },
            id="endpoint-is-latest-after-dose-response-time-is-first",
        ),
        pytest.param(
            [("PHQ-9", "2026-03-09 09:00", 20)],
            {"endpoint": None, "evaluable": False, "not_evaluable_reason": REASON_NO_ENDPOINT},
            id="no-score-after-first-dose",
        ),
        pytest.param(
            [("PHQ-9", "2026-03-09 09:00", 0), ("PHQ-9", "2026-04-01 09:00", 0)],
            {
                "baseline": 0,
                "change": 0,
                "pct_change": None,
                "evaluable": True,
                "is_response": None,
                "is_remission": True,
                "baseline_in_remission": True,
                "reliable_improvement": False,
            },
            id="baseline-zero-no-percent-response",
        ),
        pytest.param(
            [("PHQ-9", "2026-03-09 09:00", 20), ("PHQ-9", "2026-04-01 09:00", 10)],
            {"pct_change": -0.5, "is_response": True, "time_to_response_days": 22.0},
            id="exactly-50-percent-is-response",
        ),
        pytest.param(
            [("MADRS", "2026-03-09 09:00", 51), ("MADRS", "2026-04-01 09:00", 26)],
            {"change": -25, "is_response": False, "reliable_improvement": None},
            id="49-percent-is-not-response-madrs-has-no-reliable-change",
        ),
        pytest.param(
            [("PCL-5", "2026-03-09 09:00", 50), ("PCL-5", "2026-04-01 09:00", 40)],
            {"change": -10, "is_response": True, "is_remission": False},
            id="pcl5-10-points-is-response",
        ),
        pytest.param(
            [("PCL-5", "2026-03-09 09:00", 50), ("PCL-5", "2026-04-01 09:00", 41)],
            {"change": -9, "is_response": False, "reliable_improvement": True},
            id="pcl5-9-points-not-response-but-reliable",
        ),
        pytest.param(
            [("PCL-5", "2026-03-09 09:00", 50), ("PCL-5", "2026-04-01 09:00", 42)],
            {"change": -8, "reliable_improvement": False},
            id="pcl5-8-points-not-reliable",
        ),
        pytest.param(
            [("PCL-5", "2026-03-09 09:00", 12), ("PCL-5", "2026-04-01 09:00", 2)],
            {"pct_change": -10 / 12, "is_response": True, "baseline_in_remission": True},
            id="pcl5-points-rule-at-low-baseline",
        ),
        pytest.param(
            [("PHQ-9", "2026-03-09 09:00", 15), ("PHQ-9", "2026-04-01 09:00", 10)],
            {"change": -5, "reliable_improvement": False, "reliable_deterioration": False},
            id="phq9-minus-5-not-reliable",
        ),
        pytest.param(
            [("PHQ-9", "2026-03-09 09:00", 15), ("PHQ-9", "2026-04-01 09:00", 9)],
            {"change": -6, "reliable_improvement": True, "reliable_deterioration": False},
            id="phq9-minus-6-reliable-improvement",
        ),
        pytest.param(
            [("PHQ-9", "2026-03-09 09:00", 9), ("PHQ-9", "2026-04-01 09:00", 15)],
            {"change": 6, "reliable_improvement": False, "reliable_deterioration": True},
            id="phq9-plus-6-reliable-deterioration",
        ),
        pytest.param(
            [("PHQ-9", "2026-03-09 09:00", 10), ("PHQ-9", "2026-04-01 09:00", 15)],
            {"change": 5, "reliable_deterioration": False},
            id="phq9-plus-5-not-deterioration",
        ),
        pytest.param(
            [("GAD-7", "2026-03-09 09:00", 12), ("GAD-7", "2026-04-01 09:00", 8)],
            {"change": -4, "reliable_improvement": True, "is_response": False},
            id="gad7-minus-4-reliable",
        ),
        pytest.param(
            [("GAD-7", "2026-03-09 09:00", 12), ("GAD-7", "2026-04-01 09:00", 9)],
            {"change": -3, "reliable_improvement": False},
            id="gad7-minus-3-not-reliable",
        ),
        pytest.param(
            [("PHQ-9", "2026-03-09 09:00", 12), ("PHQ-9", "2026-04-01 09:00", 4)],
            {"is_remission": True, "baseline_in_remission": False},
            id="phq9-endpoint-4-is-remission",
        ),
        pytest.param(
            [("PHQ-9", "2026-03-09 09:00", 12), ("PHQ-9", "2026-04-01 09:00", 5)],
            {"is_remission": False},
            id="phq9-endpoint-5-is-not-remission",
        ),
    ],
)
def test_course_outcome_rules(scores: list[tuple[str, str, int]], expected: dict) -> None:
    """Each DOMAIN.md §3 rule gives the hand-computed baseline, endpoint and verdicts."""
    row = one_course(scores)
    for column, value in expected.items():
        if value is None:
            assert na(row[column]), column
        elif isinstance(value, float):
            assert row[column] == pytest.approx(value), column
        else:
            assert row[column] == value, column


def test_window_is_configurable() -> None:
    """With a 7-day window a score 8 days before the first dose is no baseline."""
    scores = [("PHQ-9", "2026-03-02 09:00", 20), ("PHQ-9", "2026-04-01 09:00", 10)]
    assert one_course(scores)["baseline"] == 20
    row = one_course(scores, baseline_window_days=7)
    assert na(row["baseline"])
    assert row["not_evaluable_reason"] == "no baseline within 7 days before first dose"


def test_reliable_params_override_registry() -> None:
    """PHQ-9 with r = 0.95: threshold 1.96·5.5·√2·√0.05 = 3.41, so −4 is reliable."""
    scores = [("PHQ-9", "2026-03-09 09:00", 15), ("PHQ-9", "2026-04-01 09:00", 11)]
    assert not one_course(scores)["reliable_improvement"]
    row = one_course(scores, reliable_params={"PHQ-9": (5.5, 0.95)})
    assert row["reliable_improvement"]


def test_cancelled_first_dosing_session() -> None:
    """A cancelled first dosing session is skipped: first dose is the next completed one."""
    scores = scores_frame(
        [
            ("P1", "P1-C1", None, "PHQ-9", "2026-03-11 09:00", 18),
            ("P1", "P1-C1", None, "PHQ-9", "2026-03-30 09:00", 8),
        ]
    )
    out = course_outcomes(standard_sessions(first_status="cancelled"), scores)
    row = out.iloc[0]
    assert row["first_dose_at"] == T("2026-03-13 09:00")
    assert row["baseline"] == 18  # 03-11 is after the cancelled session, before the first dose
    assert row["time_to_response_doses"] == 2  # D2, D3 completed by 03-30
    assert row["time_to_response_days"] == pytest.approx(17.0)


def test_no_completed_dosing_session() -> None:
    """Scores in a course that never had a completed dose: not evaluable, and why."""
    sessions = sessions_frame(
        [
            ("S1", "P1", "P1-C1", "2026-03-01 09:00", "intake", "completed"),
            ("D1", "P1", "P1-C1", FIRST_DOSE, "dosing", "no_show"),
        ]
    )
    scores = scores_frame([("P1", "P1-C1", "S1", "PHQ-9", "2026-03-01 09:00", 20)])
    row = course_outcomes(sessions, scores).iloc[0]
    assert pd.isna(row["first_dose_at"])
    assert not row["evaluable"]
    assert row["not_evaluable_reason"] == REASON_NO_DOSE


def two_course_clinic() -> tuple[pd.DataFrame, pd.DataFrame]:
    """P1 with two courses (March and September), scores partly untied and without course."""
    sessions = sessions_frame(
        [
            ("A1", "P1", "P1-C1", "2026-03-01 09:00", "intake", "completed"),
            ("A2", "P1", "P1-C1", "2026-03-10 09:00", "dosing", "completed"),
            ("A3", "P1", "P1-C1", "2026-03-12 09:00", "dosing", "completed"),
            ("B1", "P1", "P1-C2", "2026-09-01 09:00", "preparation", "completed"),
            ("B2", "P1", "P1-C2", "2026-09-10 09:00", "dosing", "completed"),
        ]
    )
    scores = scores_frame(
        [
            ("P1", "P1-C1", "A1", "PHQ-9", "2026-03-01 09:00", 21),
            ("P1", None, None, "PHQ-9", "2026-04-01 09:00", 9),  # untied → course 1
            ("P1", None, None, "PHQ-9", "2026-08-20 09:00", 19),  # untied, before C2 → C1
            ("P1", None, None, "PHQ-9", "2026-09-05 09:00", 17),  # untied → course 2 baseline
            ("P1", "P1-C2", "B2", "PHQ-9", "2026-09-10 11:00", 12),
            ("P1", "P1-C1", "A2", "CADSS", "2026-03-10 10:00", 30),  # safety scale: ignored
        ]
    )
    return sessions, scores


def test_two_courses_of_one_patient_and_untied_scores() -> None:
    """Each course has its own first dose, baseline and endpoint; untied scores go by date."""
    sessions, scores = two_course_clinic()
    out = course_outcomes(sessions, scores)
    expected = pd.DataFrame(
        {
            "patient_id": ["P1", "P1"],
            "course_id": ["P1-C1", "P1-C2"],
            "instrument": ["PHQ-9", "PHQ-9"],
            "first_dose_at": pd.to_datetime(["2026-03-10 09:00", "2026-09-10 09:00"]),
            "baseline": pd.array([21, 17], dtype="Int64"),
            "baseline_at": pd.to_datetime(["2026-03-01 09:00", "2026-09-05 09:00"]),
            "endpoint": pd.array([19, 12], dtype="Int64"),
            "endpoint_at": pd.to_datetime(["2026-08-20 09:00", "2026-09-10 11:00"]),
            "change": pd.array([-2, -5], dtype="Int64"),
            "pct_change": [-2 / 21, -5 / 17],
            "evaluable": [True, True],
            "not_evaluable_reason": [None, None],
            "is_response": pd.array([False, False], dtype="boolean"),
            "is_remission": pd.array([False, False], dtype="boolean"),
            "baseline_in_remission": pd.array([False, False], dtype="boolean"),
            "reliable_improvement": pd.array([False, False], dtype="boolean"),
            "reliable_deterioration": pd.array([False, False], dtype="boolean"),
            # C1 responded on 04-01 (21 → 9, −57%): 22 days, 2 doses; lost by the endpoint.
            "time_to_response_days": [22.0, math.nan],
            "time_to_response_doses": pd.array([2, pd.NA], dtype="Int64"),
        }
    ).astype({"patient_id": object, "course_id": object, "instrument": object})
    assert list(out.columns) == OUTCOME_COLUMNS
    assert_frame_equal(out, expected, check_dtype=False)
    assert str(out["is_response"].dtype) == "boolean"
    assert str(out["baseline"].dtype) == "Int64"


def test_inputs_are_not_mutated() -> None:
    """course_outcomes leaves its input frames untouched."""
    sessions, scores = two_course_clinic()
    before_s, before_a = sessions.copy(), scores.copy()
    course_outcomes(sessions, scores)
    assert_frame_equal(sessions, before_s)
    assert_frame_equal(scores, before_a)


def test_empty_inputs_give_empty_frame() -> None:
    """No scores: an empty outcome frame with the contract's columns and empty rates."""
    out = course_outcomes(standard_sessions(), scores_frame([]))
    assert out.empty
    assert list(out.columns) == OUTCOME_COLUMNS
    assert outcome_rates(out).empty
    assert outcomes_summary(out) == {}


def cohort() -> pd.DataFrame:
    """Five PHQ-9 courses (one patient each) with hand-picked baseline → endpoint pairs."""
    rows = []
    sess = []
    pairs = {
        "A": (20, 8),  # response (−60%), no remission, reliable improvement
        "B": (3, 2),  # baseline already in remission: out of the remission denominator
        "C": (0, 7),  # baseline 0: no percent response; reliable deterioration (+7)
        "D": (14, 4),  # response, remission, reliable improvement
        "E": (12, None),  # no endpoint: not evaluable
    }
    for pid, (base, end) in pairs.items():
        course = f"{pid}-C1"
        sess.append((f"{pid}-D1", pid, course, FIRST_DOSE, "dosing", "completed"))
        rows.append((pid, course, None, "PHQ-9", "2026-03-09 09:00", base))
        if end is not None:
            rows.append((pid, course, None, "PHQ-9", "2026-04-01 09:00", end))
    rows.append(("F", "F-C1", None, "PHQ-9", "2026-03-01 09:00", 11))  # course never dosed
    sess.append(("F-S1", "F", "F-C1", "2026-03-01 09:00", "intake", "completed"))
    return course_outcomes(sessions_frame(sess), scores_frame(rows))


def test_outcome_rates_denominators() -> None:
    """Each rate has its DOMAIN.md §3 denominator and a Wilson interval."""
    rates = outcome_rates(cohort())
    assert list(rates["instrument"]) == ["PHQ-9"]
    r = rates.iloc[0]
    expected = {
        "courses": 6,
        "evaluable": 4,
        "not_evaluable": 2,
        "not_evaluable_no_dose": 1,
        "not_evaluable_no_baseline": 0,
        "not_evaluable_no_endpoint": 1,
        "baseline_mean": (20 + 3 + 0 + 14) / 4,
        "endpoint_mean": (8 + 2 + 7 + 4) / 4,
        "mean_change": (-12 - 1 + 7 - 10) / 4,
        "response_undefined": 1,
        "remission_excluded": 2,  # B (3) and C (0) started in remission
        "responded_ever": 2,  # A and D, at the 04-01 score: 22 days, 1 dose
        "median_days_to_response": 22.0,
        "median_doses_to_response": 1.0,
        "response_n": 2,  # A, D of A, B, D (C undefined)
        "response_denominator": 3,
        "remission_n": 1,  # D of A, D
        "remission_denominator": 2,
        "reliable_improvement_n": 2,
        "reliable_improvement_denominator": 4,
        "reliable_deterioration_n": 1,
        "reliable_deterioration_denominator": 4,
    }
    for column, value in expected.items():
        assert r[column] == pytest.approx(value), column
    assert r["response_rate"] == pytest.approx(2 / 3)
    # Wilson 95% for 2/3, z = 1.96: centre (2/3 + z²/6)/(1 + z²/3), hand-computed.
    assert r["response_ci_low"] == pytest.approx(0.2077, abs=1e-4)
    assert r["response_ci_high"] == pytest.approx(0.9385, abs=1e-4)


def test_rates_by_group_equal_rates_of_each_group() -> None:
    """`rates_by` counts every group in one pass: each group's figures are `outcome_rates`
    of that group's rows alone (hand groups: A, B, C | D, E, F), and rows without a group
    are left out; the hand figures of the first group are counted here too."""
    rows = cohort()
    groups = rows["course_id"].map(
        lambda c: "first" if c[0] in "ABC" else ("second" if c[0] in "DE" else None)
    )
    by = rates_by(rows, groups)
    assert set(by) == {"first", "second"}
    for name in by:
        alone = outcome_rates(rows[groups == name]).iloc[0].drop("instrument").to_dict()
        assert by[name].keys() == alone.keys()
        for key, value in alone.items():
            same = by[name][key] == value or (math.isnan(by[name][key]) and math.isnan(value))
            assert same, (name, key, by[name][key], value)
    first = by["first"]
    assert (first["courses"], first["evaluable"], first["remission_excluded"]) == (3, 3, 2)
    assert first["baseline_mean"] == (20 + 3 + 0) / 3
    assert (first["response_n"], first["response_denominator"]) == (1, 2)  # A of A, B


def test_outcomes_summary_shape_and_nulls() -> None:
    """summary --json shape: fractions unrounded, null where the denominator is 0."""
    summary = outcomes_summary(cohort())
    assert summary == {
        "PHQ-9": {
            "evaluable": 4,
            "not_evaluable": 2,
            "baseline_mean": 9.25,
            "endpoint_mean": 5.25,
            "mean_change": -4.0,
            "response_rate": 2 / 3,
            "remission_rate": 0.5,
            "reliable_improvement_rate": 0.5,
            "reliable_deterioration_rate": 0.25,
        }
    }


def test_null_rates_when_denominator_is_zero() -> None:
    """MADRS has no reliable-change SD; a cohort all in remission at baseline has no rate."""
    rows = [
        ("P1", "P1-C1", None, "MADRS", "2026-03-09 09:00", 8),
        ("P1", "P1-C1", None, "MADRS", "2026-04-01 09:00", 4),
    ]
    out = course_outcomes(standard_sessions(), scores_frame(rows))
    summary = outcomes_summary(out)["MADRS"]
    assert summary["remission_rate"] is None  # baseline 8 ≤ 10 already in remission
    assert summary["reliable_improvement_rate"] is None
    assert summary["reliable_deterioration_rate"] is None
    assert summary["response_rate"] == 1.0  # 8 → 4 is exactly −50%


def test_summary_for_not_evaluable_only() -> None:
    """An instrument with scores but no evaluable course: counts, and null means and rates."""
    rows = [("P1", "P1-C1", None, "GAD-7", "2026-03-09 09:00", 8)]
    summary = outcomes_summary(course_outcomes(standard_sessions(), scores_frame(rows)))
    assert summary["GAD-7"]["evaluable"] == 0
    assert summary["GAD-7"]["not_evaluable"] == 1
    assert summary["GAD-7"]["baseline_mean"] is None
    assert summary["GAD-7"]["response_rate"] is None


@pytest.mark.parametrize("instrument_id", ["PHQ-9", "GAD-7", "PCL-5", "MADRS", "BDI-II"])
def test_verdicts_agree_with_registry(instrument_id: str) -> None:
    """Every baseline → endpoint pair gets exactly the registry's verdicts."""
    inst = instruments.get(instrument_id)
    step = max(1, inst.total_max // 9)
    values = list(range(inst.total_min, inst.total_max + 1, step))
    rows, sess = [], []
    for b in values:
        for e in values:
            pid = f"P{b}-{e}"
            sess.append((f"{pid}-D", pid, f"{pid}-C", FIRST_DOSE, "dosing", "completed"))
            rows.append((pid, f"{pid}-C", None, instrument_id, "2026-03-09 09:00", b))
            rows.append((pid, f"{pid}-C", None, instrument_id, "2026-04-01 09:00", e))
    out = course_outcomes(sessions_frame(sess), scores_frame(rows))
    for row in out.itertuples():
        b, e = int(row.baseline), int(row.endpoint)
        response = inst.is_response(b, e)
        assert (None if row.is_response is pd.NA else bool(row.is_response)) == response
        assert bool(row.is_remission) == inst.is_remission(e)
        improvement = inst.is_reliable_improvement(b, e)
        got = None if row.reliable_improvement is pd.NA else bool(row.reliable_improvement)
        assert got == improvement


@pytest.mark.parametrize(
    ("session_unit", "score_unit"), [("ns", "us"), ("us", "ns"), ("s", "ms"), ("us", "us")]
)
def test_mixed_datetime_resolutions(session_unit: str, score_unit: str) -> None:
    """Frames from different sources (µs from the database, ns from pandas) still line up."""
    sessions = standard_sessions()
    sessions["started_at"] = sessions["started_at"].astype(f"datetime64[{session_unit}]")
    scores = scores_frame(
        [
            ("P1", "P1-C1", None, "PHQ-9", "2026-03-09 09:00", 20),
            ("P1", "P1-C1", None, "PHQ-9", "2026-03-20 09:00", 8),
        ]
    )
    scores["administered_at"] = scores["administered_at"].astype(f"datetime64[{score_unit}]")
    row = course_outcomes(sessions, scores).iloc[0]
    assert row["baseline"] == 20
    assert row["time_to_response_days"] == pytest.approx(10.0)
    assert row["time_to_response_doses"] == 3


score_days = st.lists(
    st.tuples(st.integers(min_value=-60 * 24, max_value=90 * 24), st.integers(0, 27)),
    min_size=1,
    max_size=8,
)


@settings(max_examples=60, deadline=None)
@given(scores=score_days, cancelled_first=st.booleans(), window=st.sampled_from([7, 30]))
def test_outcome_invariants(
    scores: list[tuple[int, int]], cancelled_first: bool, window: int
) -> None:
    """For any PHQ-9 scores (hours from the first planned dose) the §3 rules hold."""
    sessions = standard_sessions(first_status="cancelled" if cancelled_first else "completed")
    base = T(FIRST_DOSE)
    rows = [
        ("P1", "P1-C1", None, "PHQ-9", str(base + pd.Timedelta(hours=h)), total)
        for h, total in scores
    ]
    row = course_outcomes(sessions, scores_frame(rows), baseline_window_days=window).iloc[0]
    first = row["first_dose_at"]
    assert first == (T("2026-03-13 09:00") if cancelled_first else base)
    times = [base + pd.Timedelta(hours=h) for h, _ in scores]
    in_window = [t for t in times if first - pd.Timedelta(days=window) <= t <= first]
    after = [t for t in times if t > first]
    assert row["evaluable"] == bool(in_window and after)
    if in_window:
        assert row["baseline_at"] == max(in_window)
    if after:
        assert row["endpoint_at"] == max(after)
    if row["evaluable"]:
        assert row["change"] == row["endpoint"] - row["baseline"]
        if not pd.isna(row["time_to_response_days"]):
            assert 0 < row["time_to_response_days"] <= (max(after) - first).days + 1
    else:
        assert row["not_evaluable_reason"] in (reason_no_baseline(window), REASON_NO_ENDPOINT)
    rates = outcome_rates(course_outcomes(sessions, scores_frame(rows))).iloc[0]
    for measure in ("response", "remission", "reliable_improvement"):
        assert 0 <= rates[f"{measure}_n"] <= rates[f"{measure}_denominator"] <= 1
