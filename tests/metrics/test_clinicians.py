"""Per-clinician outcomes, safety, case-mix and funnel limits (DOMAIN.md §4c)."""

from __future__ import annotations

import pandas as pd
import pytest

from kapviz.metrics.clinicians import (
    clinician_table,
    course_clinicians,
    pseudonymise,
    safety_counts,
)
from kapviz.metrics.stats import funnel_limits


def test_course_clinician_is_the_one_with_most_completed_doses():
    """C1: X gives 2 completed doses, Y 1 (and a cancelled one): X. C2: a 1–1 tie: the first
    code (A). Non-dosing sessions do not count."""
    sessions = pd.DataFrame(
        [
            ("C1", "dosing", "completed", "X"),
            ("C1", "dosing", "completed", "X"),
            ("C1", "dosing", "completed", "Y"),
            ("C1", "dosing", "cancelled", "Y"),
            ("C1", "integration", "completed", "Y"),
            ("C1", "integration", "completed", "Y"),
            ("C2", "dosing", "completed", "B"),
            ("C2", "dosing", "completed", "A"),
            ("C3", "intake", "completed", "Z"),
        ],
        columns=["course_id", "phase", "status", "clinician"],
    )
    assert course_clinicians(sessions).to_dict() == {"C1": "X", "C2": "A"}


def _outcomes(prefix: str, n: int, responders: int) -> pd.DataFrame:
    """n evaluable PHQ-9 courses 20 → 8 (responders) or 20 → 15."""
    rows = []
    for i in range(n):
        responds = i < responders
        end = 8 if responds else 15
        rows.append(
            {
                "patient_id": f"{prefix}{i}",
                "course_id": f"{prefix}{i}",
                "instrument": "PHQ-9",
                "baseline": 20,
                "endpoint": end,
                "change": end - 20,
                "evaluable": True,
                "not_evaluable_reason": None,
                "is_response": responds,
                "is_remission": False,
                "baseline_in_remission": False,
                "reliable_improvement": responds,
                "reliable_deterioration": False,
                "time_to_response_days": float("nan"),
                "time_to_response_doses": pd.NA,
            }
        )
    return pd.DataFrame(rows)


@pytest.fixture
def table():
    """Clinician A: 10 courses, 2 respond; B: 100 courses, 60 respond → programme 62/110.
    A's 10 courses had 20 dosing sessions, 5 adverse events, 1 excursion; B's none."""
    outcomes = pd.concat([_outcomes("a", 10, 2), _outcomes("b", 100, 60)], ignore_index=True)
    clinician_of = pd.Series(
        {**{f"a{i}": "A" for i in range(10)}, **{f"b{i}": "B" for i in range(100)}}
    )
    doses = pd.DataFrame(
        {"session_id": [f"s{i}" for i in range(20)], "course_id": [f"a{i % 10}" for i in range(20)]}
    )
    effects = pd.DataFrame({"session_id": ["s0", "s0", "s1", "s2", "s3"]})
    vitals = pd.DataFrame({"session_id": ["s0", "s1"], "is_excursion": [True, False]})
    routes = pd.Series(
        {**{f"a{i}": "iv" for i in range(10)}, **{f"b{i}": "sublingual" for i in range(100)}}
    )
    routes["b0"] = "iv"
    return clinician_table(
        outcomes,
        clinician_of,
        instrument="PHQ-9",
        doses=doses,
        effects=effects,
        session_vitals=vitals,
        first_routes=routes,
    )


def test_rates_with_denominators(table):
    rows, programme = table
    assert list(rows["clinician"]) == ["B", "A"]  # largest denominator first
    a = rows.set_index("clinician").loc["A"]
    assert (a["response_n"], a["response_denominator"], a["response_rate"]) == (2, 10, 0.2)
    assert a["mean_change"] == pytest.approx((2 * -12 + 8 * -5) / 10)
    assert (a["dosing_sessions"], a["adverse_events"], a["ae_per_100"]) == (20, 5, 25.0)
    assert a["excursion_sessions"] == 1
    assert programme["response_rate"] == pytest.approx(62 / 110)
    assert programme["ae_per_100"] == 25.0


def test_funnel_limits_small_and_large_clinician(table):
    """Limits around p = 62/110 at n = 10 and n = 100. By hand for n = 10: F(2) = 0.0221 <
    2.5% ≤ F(3) = 0.0861, P(3) = 0.0641 → lower (3 − 0.954)/10 ≈ 0.205, so A (20%) lies
    just below it; B (60%) lies inside its ≈ 46%–66%."""
    rows, _ = table
    by = rows.set_index("clinician")
    p = 62 / 110
    for code, n in (("A", 10), ("B", 100)):
        assert (by.loc[code, "funnel95_low"], by.loc[code, "funnel95_high"]) == funnel_limits(p, n)
        assert (by.loc[code, "funnel998_low"], by.loc[code, "funnel998_high"]) == funnel_limits(
            p, n, coverage=0.998
        )
    assert by.loc["A", "funnel95_low"] == pytest.approx(0.205, abs=0.002)
    assert by.loc["B", "funnel95_low"] == pytest.approx(0.46, abs=0.02)
    assert by.loc["B", "funnel95_high"] == pytest.approx(0.66, abs=0.02)
    assert bool(by.loc["A", "outside"]) and not bool(by.loc["B", "outside"])
    # The small clinician's limits are wider.
    assert by.loc["A", "funnel95_high"] - by.loc["A", "funnel95_low"] > (
        by.loc["B", "funnel95_high"] - by.loc["B", "funnel95_low"]
    )


def test_case_mix(table):
    rows, _ = table
    by = rows.set_index("clinician")
    assert by.loc["A", "route_mix"] == "IV 100%"
    assert by.loc["B", "route_mix"] == "Sublingual 99% · IV 1%"
    assert by.loc["A", "baseline_top_band_share"] == 1.0  # PHQ-9 20 is "severe"
    assert by.loc["A", "baseline_mean"] == 20.0


def test_pseudonymise(table):
    rows, _ = table
    assert list(pseudonymise(rows)["clinician"]) == ["Clinician 1", "Clinician 2"]


def test_safety_counts_per_clinician():
    """X's course C1 has doses S1, S2 (S1: 2 effect terms, S2: an excursion); Y's C2 has S3
    (1 term); S4 is on a course without a clinician and counts for nobody."""
    clinician_of = pd.Series({"C1": "X", "C2": "Y"})
    doses = pd.DataFrame(
        {"session_id": ["S1", "S2", "S3", "S4"], "course_id": ["C1", "C1", "C2", "C9"]}
    )
    effects = pd.DataFrame({"session_id": ["S1", "S1", "S3", "S4"]})
    vitals = pd.DataFrame(
        {"session_id": ["S1", "S2", "S3", "S4"], "is_excursion": [False, True, False, True]}
    )
    counts = safety_counts(clinician_of, doses=doses, effects=effects, session_vitals=vitals)
    assert counts.to_dict("list") == {
        "clinician": ["X", "Y"],
        "dosing_sessions": [2, 1],
        "adverse_events": [2, 1],
        "excursion_sessions": [1, 0],
    }


def test_case_mix_ties_missing_routes_and_clinicians_without_courses():
    """C's 5 courses: IM, IV, IV, IM and one without a first dose: IM and IV tie at 2 of 4
    (the route seen first leads); c0 and c1 have baselines 20 (severe) and 10 (moderate), c2
    is not evaluable, so 1 of 2 evaluable baselines lies in the top band. D has doses but no
    outcome rows: no courses, no shares."""
    outcomes = _outcomes("c", 5, 1)
    outcomes.loc[1, "baseline"] = 10
    outcomes.loc[2, ["evaluable", "not_evaluable_reason"]] = [False, "no endpoint"]
    outcomes.loc[[3, 4], "evaluable"] = False
    outcomes.loc[[3, 4], "not_evaluable_reason"] = "no endpoint"
    clinician_of = pd.Series({f"c{i}": "C" for i in range(5)} | {"d0": "D"})
    routes = pd.Series({"c0": "im", "c1": "iv", "c2": "iv", "c3": "im"})
    doses = pd.DataFrame({"session_id": ["s0", "s1"], "course_id": ["c0", "d0"]})
    rows, _ = clinician_table(
        outcomes,
        clinician_of,
        instrument="PHQ-9",
        doses=doses,
        effects=pd.DataFrame({"session_id": []}),
        session_vitals=pd.DataFrame({"session_id": [], "is_excursion": []}),
        first_routes=routes,
    )
    by = rows.set_index("clinician")
    assert (by.loc["C", "courses"], by.loc["C", "evaluable"]) == (5, 2)
    assert by.loc["C", "route_mix"] == "IM 50% · IV 50%"
    assert by.loc["C", "baseline_top_band_share"] == 0.5
    assert (by.loc["D", "courses"], by.loc["D", "evaluable"]) == (0, 0)
    assert by.loc["D", "route_mix"] == "—"
    assert pd.isna(by.loc["D", "baseline_top_band_share"])
    assert by.loc["D", "dosing_sessions"] == 1
