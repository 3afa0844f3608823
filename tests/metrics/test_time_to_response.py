"""Time to first response (DOMAIN.md §3): Kaplan–Meier against a hand-computed clinic.

Doses of every course: 03-10 (day 0), 03-13, 03-17, 03-20 (dose 4), all at 09:00.
PHQ-9 (percent rule):
  A baseline 20, day 4 → 15, day 11 → 9 (responds: day 11, dose 4), day 18 → 12
  B baseline 16, day 11 → 8 (responds the same day as A)
  C baseline 18, day 4 → 14, day 21 → 12 (never: censored at day 21, dose 4)
  D baseline 0, day 11 → 0 (evaluable, but no percent response: not in the analysis)
  E baseline 12, day 8 → 6 (responds: day 8, after dose 3)
  F baseline 15, day 2 → 13 (censored at day 2, dose 1)
  N no baseline (not evaluable: not in the analysis)
PCL-5 (points rule, ≥10-point drop):
  G baseline 40, day 4 → 32, day 11 → 29 (responds: day 11, dose 4)
  H baseline 0, day 21 → 0 (evaluable and in the analysis: censored at day 21)

KM in days (PHQ-9): F censored 2; E event 8 (4 at risk → S 3/4); A, B events 11 (3 at
risk → S 1/4); C censored 21 (S stays 1/4). Median 11. Greenwood V(8) = 1/12,
V(11) = 1/12 + 2/3 = 3/4.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from kapviz.metrics.outcomes import course_outcomes
from kapviz.metrics.scores import completed_doses
from kapviz.metrics.stats import Z_95
from kapviz.metrics.time_to_response import (
    TimeToResponseUnknown,
    at_risk,
    by_group,
    describe_course,
    kaplan_meier,
    response_times,
    time_to_response,
    time_to_response_summary,
)

DOSE_DAYS = ("2026-03-10", "2026-03-13", "2026-03-17", "2026-03-20")
SCORES = {
    "A": ("PHQ-9", [(-1, 20), (4, 15), (11, 9), (18, 12)]),
    "B": ("PHQ-9", [(-1, 16), (11, 8)]),
    "C": ("PHQ-9", [(-1, 18), (4, 14), (21, 12)]),
    "D": ("PHQ-9", [(-1, 0), (11, 0)]),
    "E": ("PHQ-9", [(-1, 12), (8, 6)]),
    "F": ("PHQ-9", [(-1, 15), (2, 13)]),
    "N": ("PHQ-9", [(-60, 15), (11, 5)]),
    "G": ("PCL-5", [(-1, 40), (4, 32), (11, 29)]),
    "H": ("PCL-5", [(-1, 0), (21, 0)]),
}


def clinic() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sessions and assessments of the clinic in the module docstring."""
    sessions, scores = [], []
    first = pd.Timestamp("2026-03-10 09:00")
    for course, (instrument, rows) in SCORES.items():
        for k, day in enumerate(DOSE_DAYS, start=1):
            sessions.append(
                (f"{course}-D{k}", course, f"{course}-1", f"{day} 09:00", "dosing", "completed")
            )
        for day, total in rows:
            at = first + pd.Timedelta(days=day)
            scores.append((course, f"{course}-1", None, instrument, at, total))
    s = pd.DataFrame.from_records(
        sessions, columns=["session_id", "patient_id", "course_id", "started_at", "phase", "status"]
    )
    s["started_at"] = pd.to_datetime(s["started_at"])
    a = pd.DataFrame.from_records(
        scores,
        columns=["patient_id", "course_id", "session_id", "instrument", "administered_at", "total"],
    )
    a.insert(0, "id", range(1, len(a) + 1))
    a["total"] = a["total"].astype("int64")
    a["items"] = None
    a["suicide_item"] = pd.array([pd.NA] * len(a), dtype="Int64")
    return s, a


@pytest.fixture(scope="module")
def outcomes_and_doses():
    sessions, assessments = clinic()
    return course_outcomes(sessions, assessments), completed_doses(sessions)


def test_response_times_per_course(outcomes_and_doses):
    """Events at the first responding score; censored courses at their endpoint; baseline 0
    on a percent rule and the not-evaluable course left out; PCL-5 baseline 0 kept."""
    outcomes, doses = outcomes_and_doses
    times = response_times(outcomes, doses).set_index("course_id")
    assert sorted(times.index) == ["A-1", "B-1", "C-1", "E-1", "F-1", "G-1", "H-1"]
    expected = {
        "A-1": (True, 11.0, 4.0),  # responded at day 11 although the endpoint (12) does not
        "B-1": (True, 11.0, 4.0),
        "C-1": (False, 21.0, 4.0),
        "E-1": (True, 8.0, 3.0),
        "F-1": (False, 2.0, 1.0),
        "G-1": (True, 11.0, 4.0),
        "H-1": (False, 21.0, 4.0),
    }
    for course, (responded, days, dose) in expected.items():
        row = times.loc[course]
        assert (bool(row["responded"]), row["days"], row["doses"]) == (responded, days, dose)


def test_kaplan_meier_days_hand_computed(outcomes_and_doses):
    outcomes, doses = outcomes_and_doses
    times = response_times(outcomes[outcomes["instrument"] == "PHQ-9"], doses)
    result = time_to_response(times)
    table = result.days.table
    assert table["time"].tolist() == [2.0, 8.0, 11.0, 21.0]
    assert table["at_risk"].tolist() == [5, 4, 3, 1]
    assert table["events"].tolist() == [0, 1, 2, 0]
    assert table["censored"].tolist() == [1, 0, 0, 1]
    assert table["survival"].tolist() == pytest.approx([1.0, 0.75, 0.25, 0.25])
    # log–log Greenwood limits: S^exp(±z·√V / |log S|)
    spread8 = math.exp(Z_95 * math.sqrt(1 / 12) / -math.log(0.75))
    spread11 = math.exp(Z_95 * math.sqrt(0.75) / -math.log(0.25))
    assert table["ci_low"].iloc[1] == pytest.approx(0.75**spread8)
    assert table["ci_high"].iloc[1] == pytest.approx(0.75 ** (1 / spread8))
    assert table["ci_low"].iloc[2] == pytest.approx(0.25**spread11)
    assert table["ci_high"].iloc[2] == pytest.approx(0.25 ** (1 / spread11))
    assert 0.75**spread8 == pytest.approx(0.12799, abs=1e-4)
    assert 0.25 ** (1 / spread11) == pytest.approx(0.66531, abs=1e-4)
    assert (result.days.courses, result.days.responders) == (5, 3)
    assert result.days.median == 11.0
    # Lower limit: first time the lower band is ≤ 0.5 (day 8); the upper band never is.
    assert result.days.median_ci == (8.0, None)
    assert result.days.survival_at(10) == 0.75


def test_kaplan_meier_dose_numbers(outcomes_and_doses):
    """Doses: F censored at 1; E event at 3; A, B events and C censored at 4 (C still at
    risk at 4: events come before censorings on a tie)."""
    outcomes, doses = outcomes_and_doses
    times = response_times(outcomes[outcomes["instrument"] == "PHQ-9"], doses)
    curve = time_to_response(times).doses
    assert curve.table["time"].tolist() == [1.0, 3.0, 4.0]
    assert curve.table["at_risk"].tolist() == [5, 4, 3]
    assert curve.table["survival"].tolist() == pytest.approx([1.0, 0.75, 0.25])
    assert curve.median == 4.0
    assert curve.median_ci == (3.0, None)


def test_points_rule_median_at_exactly_half(outcomes_and_doses):
    """PCL-5: G responds at 11 with 2 at risk → S = 0.5, which is ≤ 0.5: median 11."""
    outcomes, doses = outcomes_and_doses
    curve = time_to_response(
        response_times(outcomes[outcomes["instrument"] == "PCL-5"], doses)
    ).days
    assert curve.survival_at(11) == 0.5
    assert curve.median == 11.0


def test_never_half_has_no_median():
    curve = kaplan_meier([5, 10, 20], [True, False, False])
    assert curve.survival_at(5) == pytest.approx(2 / 3)
    assert curve.median is None
    assert curve.median_ci[1] is None


def test_everyone_responds_reaches_zero():
    curve = kaplan_meier([3, 3], [True, True])
    assert curve.table["survival"].tolist() == [0.0]
    assert (curve.table["ci_low"].iloc[0], curve.table["ci_high"].iloc[0]) == (0.0, 0.0)
    assert curve.median == 3.0


def test_empty_curve():
    curve = kaplan_meier([], [])
    assert (curve.courses, curve.responders, curve.median) == (0, 0, None)
    assert curve.table.empty


def test_counts_per_time_are_the_definitions_on_many_ties():
    """Events, censorings and the number at risk at each distinct time equal their
    definitions counted course by course (ties of events and censorings at one time; the
    counts come from one pass, not a scan per time)."""
    times = [3.0, 1.0, 3.0, 2.0, 3.0, 1.0, 5.0, 2.0, 3.0, 5.0]
    responded = [True, False, False, True, True, True, False, False, True, True]
    table = kaplan_meier(times, responded).table
    assert table["time"].tolist() == [1.0, 2.0, 3.0, 5.0]
    assert table["events"].tolist() == [1, 1, 3, 1]
    assert table["censored"].tolist() == [1, 1, 1, 1]
    assert table["at_risk"].tolist() == [10, 8, 6, 2]
    assert table["survival"].iloc[1] == pytest.approx((1 - 1 / 10) * (1 - 1 / 8))


def test_at_risk_ticks():
    assert at_risk([2, 8, 11, 11, 21], [0, 7, 14, 21, 28]) == [5, 4, 1, 1, 0]


def test_summary_json_shape(outcomes_and_doses):
    outcomes, doses = outcomes_and_doses
    assert time_to_response_summary(outcomes, doses) == {
        "PHQ-9": {"courses": 5, "responders": 3, "median_days": 11.0},
        "PCL-5": {"courses": 2, "responders": 1, "median_days": 11.0},
    }


def test_by_group_largest_first(outcomes_and_doses):
    outcomes, doses = outcomes_and_doses
    times = response_times(outcomes, doses)
    groups = pd.Series({"A-1": "IV", "B-1": "IV", "C-1": "IV", "E-1": "Sublingual"})
    result = by_group(times, groups)
    assert [(g.group, g.days.courses) for g in result] == [("IV", 3), ("Sublingual", 1)]
    assert by_group(times, groups, min_courses=2)[0].group == "IV"
    assert len(by_group(times, groups, min_courses=2)) == 1


def test_endpoint_only_outcomes_are_refused(outcomes_and_doses):
    """Outcomes read from endpoints only have no time to response: never all-censored."""
    outcomes, doses = outcomes_and_doses
    blind = outcomes.assign(time_to_response_days=math.nan)
    with pytest.raises(TimeToResponseUnknown):
        response_times(blind, doses)


@pytest.mark.parametrize(
    ("course", "doses_at_endpoint", "expected"),
    [
        ("A-1", None, "responded at day 11, after dose 4"),
        ("E-1", None, "responded at day 8, after dose 3"),
        ("C-1", 4, "no response yet (last score day 21, after dose 4)"),
        ("C-1", None, "no response yet (last score day 21)"),
        ("D-1", None, "no percent response at baseline 0"),
        ("N-1", None, "not evaluable (no baseline within 30 days before first dose)"),
    ],
)
def test_describe_course(outcomes_and_doses, course, doses_at_endpoint, expected):
    outcomes, _ = outcomes_and_doses
    row = outcomes[outcomes["course_id"] == course].iloc[0]
    assert describe_course(row, doses_at_endpoint=doses_at_endpoint) == expected
