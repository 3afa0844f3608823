"""Side-effect rates (DOMAIN.md §4) against hand-computed cases (tests/metrics/safety_data.py)."""

from __future__ import annotations

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from kapviz.db import queries
from kapviz.db.engine import make_engine
from kapviz.metrics.side_effects import (
    cumulative_doses,
    dose_band,
    effect_rates,
    effect_rates_by,
    long_term_vs_cumulative_dose,
    session_effects,
    session_numbers,
    side_effects_summary,
)
from kapviz.metrics.stats import wilson_interval
from kapviz.vocabulary import normalize_term
from tests.clinic import build_clinic
from tests.metrics.safety_data import EFFECTS, SESSIONS, N, effects_frame, sessions_frame


def test_session_effects_count_once_at_highest_severity():
    """A term recorded twice in a session is one row at its highest severity; CTCAE wins."""
    got = session_effects(SESSIONS, EFFECTS)[["session_id", "term", "severity", "records"]]
    expected = pd.DataFrame(
        {
            "session_id": ["A-D1", "A-D1", "A-D2", "B-D1", "B-D1"],
            "term": ["dizziness", "nausea", "nausea", "dizziness", "nausea"],
            "severity": ["severe", "severe", "mild", "moderate", "moderate"],
            "records": [1, 2, 1, 1, 1],
        }
    ).astype({"session_id": object, "term": object, "severity": object})
    assert_frame_equal(got.astype({"session_id": object}), expected)


@pytest.mark.parametrize(
    ("severity", "grade", "expected"),
    [
        ("mild", None, "mild"),
        ("moderate", None, "moderate"),
        ("severe", None, "severe"),
        ("mild", 1, "mild"),
        ("mild", 2, "moderate"),
        ("moderate", 3, "severe"),
        ("mild", 4, "severe"),
        ("mild", 5, "severe"),
        ("severe", 1, "severe"),
    ],
)
def test_ctcae_grade_sets_severity(severity, grade, expected):
    """CTCAE 1 mild, 2 moderate, 3–5 severe; the higher of word and grade counts."""
    effects = effects_frame([("A-D1", 1, "nausea", severity, grade, False)])
    assert session_effects(SESSIONS, effects)["severity"].tolist() == [expected]


def _wilson(k: int, n: int) -> tuple[float, float]:
    return wilson_interval(k, n)


def test_effect_rates_hand_computed():
    """Rates exclude cancelled/non-dosing sessions and never-dosed patients; mix by severity."""
    got = effect_rates(SESSIONS, EFFECTS)
    rows = [
        # term, sessions, n, patients, patients_dosed, severe, mild, moderate
        ("nausea", 3, 3, 2, 2, 1, 1, 1),
        ("dizziness", 2, 3, 2, 2, 1, 0, 1),
    ]
    expected = pd.DataFrame(
        {
            "term": [r[0] for r in rows],
            "sessions": [r[1] for r in rows],
            "dosing_sessions": [r[2] for r in rows],
            "session_rate": [r[1] / r[2] for r in rows],
            "session_ci_low": [_wilson(r[1], r[2])[0] for r in rows],
            "session_ci_high": [_wilson(r[1], r[2])[1] for r in rows],
            "patients": [r[3] for r in rows],
            "patients_dosed": [r[4] for r in rows],
            "patient_rate": [r[3] / r[4] for r in rows],
            "patient_ci_low": [_wilson(r[3], r[4])[0] for r in rows],
            "patient_ci_high": [_wilson(r[3], r[4])[1] for r in rows],
            "severe_sessions": [r[5] for r in rows],
            "mild": [r[6] for r in rows],
            "moderate": [r[7] for r in rows],
            "severe": [r[5] for r in rows],
        }
    ).astype({"term": object})
    assert_frame_equal(got, expected)
    # Wilson 2/3 by hand: centre 0.5731, half-width 0.3654.
    assert got.loc[1, "session_ci_low"] == pytest.approx(0.2077, abs=1e-4)
    assert got.loc[1, "session_ci_high"] == pytest.approx(0.9385, abs=1e-4)


def test_effect_rates_empty():
    """No records on dosing sessions: an empty table with the same columns."""
    got = effect_rates(SESSIONS, EFFECTS[EFFECTS["session_id"] == "A-X"])
    assert got.empty
    assert list(got.columns) == list(effect_rates(SESSIONS, EFFECTS).columns)


def test_summary_hand_computed():
    """The summary object: counts and unrounded fractions per preferred term."""
    assert side_effects_summary(SESSIONS, EFFECTS) == {
        "dosing_sessions": 3,
        "patients_dosed": 2,
        "effects": {
            "nausea": {
                "sessions": 3,
                "session_rate": 1.0,
                "patients": 2,
                "patient_rate": 1.0,
                "severe_sessions": 1,
            },
            "dizziness": {
                "sessions": 2,
                "session_rate": 2 / 3,
                "patients": 2,
                "patient_rate": 1.0,
                "severe_sessions": 1,
            },
        },
    }


def test_summary_uses_preferred_terms_of_synonyms():
    """Synonyms normalised upstream ("BP increased", "somnolence") report as preferred terms."""
    verbatims = ["BP increased", "blood pressure increased", "somnolence"]
    effects = effects_frame(
        [("A-D1", i, normalize_term(v), "mild", N, False) for i, v in enumerate(verbatims, 1)]
    )
    got = side_effects_summary(SESSIONS, effects)["effects"]
    assert sorted(got) == ["hypertension", "sedation"]
    assert got["hypertension"]["sessions"] == 1
    assert got["hypertension"]["session_rate"] == 1 / 3


def test_session_numbers_skip_cancelled():
    """The n-th completed dosing session of each course; the cancelled one gets no number."""
    expected = pd.DataFrame(
        {
            "session_id": ["A-D1", "A-D2", "B-D1"],
            "course_id": ["A-C1", "A-C1", "B-C1"],
            "session_number": [1, 2, 1],
        }
    ).astype({"session_id": object, "course_id": object})
    got = session_numbers(SESSIONS).astype({"session_id": object})
    assert_frame_equal(got, expected)


@pytest.mark.parametrize(
    ("route", "mg_per_kg", "mg", "band"),
    [
        ("iv", 0.49, 34.3, "<0.5 mg/kg"),
        ("iv", 0.5, 35.0, "0.5–<0.75 mg/kg"),
        ("im", 0.75, 60.0, "0.75–<1 mg/kg"),
        ("im", 1.2, 96.0, "≥1 mg/kg"),
        ("iv", None, 35.0, "unknown"),
        ("oral", None, 25.0, "<50 mg"),
        ("intranasal", None, 56.0, "50–<75 mg"),
        ("intranasal", None, 84.0, "75–<100 mg"),
        ("sublingual", None, 200.0, "200–<300 mg"),
        ("sublingual", None, 300.0, "≥300 mg"),
        ("sublingual", None, None, "unknown"),
    ],
)
def test_dose_band(route, mg_per_kg, mg, band):
    """mg/kg bands for IV and IM, mg bands otherwise; missing dose is "unknown"."""
    row = ("X", "X", "X-C1", "North", "2026-03-01", "dosing", "completed",
           route, "ketamine", mg, mg_per_kg, 120)  # fmt: skip
    assert dose_band(sessions_frame([row])).tolist() == [band]


def test_rates_by_session_number():
    """Tolerance view: dose 1 has 2 sessions (both effects), dose 2 one (nausea only)."""
    got = effect_rates_by(SESSIONS, EFFECTS, by="session_number")
    expected = pd.DataFrame(
        {
            "session_number": [1, 1, 2, 2],
            "term": ["dizziness", "nausea", "dizziness", "nausea"],
            "sessions": [2, 2, 0, 1],
            "dosing_sessions": [2, 2, 1, 1],
            "rate": [1.0, 1.0, 0.0, 1.0],
            "ci_low": [_wilson(2, 2)[0], _wilson(2, 2)[0], _wilson(0, 1)[0], _wilson(1, 1)[0]],
            "ci_high": [1.0, 1.0, _wilson(0, 1)[1], 1.0],
        }
    ).astype({"term": object})
    assert_frame_equal(got, expected)


@pytest.mark.parametrize(
    ("by", "groups"),
    [
        ("route", {"iv": (2, 2, 1), "sublingual": (1, 1, 1)}),
        ("site", {"North": (2, 2, 1), "South": (1, 1, 1)}),
        ("drug", {"ketamine": (3, 3, 2)}),
        ("dose_band", {"0.5–<0.75 mg/kg": (2, 2, 1), "200–<300 mg": (1, 1, 1)}),
    ],
)
def test_rates_by_group(by, groups):
    """Per group: (dosing sessions, nausea sessions, dizziness sessions), hand-counted."""
    got = effect_rates_by(SESSIONS, EFFECTS, by=by)
    for group, (n, nausea, dizziness) in groups.items():
        part = got[got[by] == group].set_index("term")
        assert part["dosing_sessions"].tolist() == [n, n]
        assert part.loc["nausea", "sessions"] == nausea
        assert part.loc["dizziness", "sessions"] == dizziness
    assert set(got[by]) == set(groups)


def test_rates_by_rejects_unknown_grouping():
    """An unknown grouping is a clear error, not an empty table."""
    with pytest.raises(ValueError, match="clinician"):
        effect_rates_by(SESSIONS, EFFECTS, by="clinician")


LONG = sessions_frame(
    [
        (f"L-D{i}", "L", "L-C1", "North", f"2026-03-0{i} 09:00", "dosing", "completed",
         "sublingual", "ketamine", 200.0, None, 120)
        for i in range(1, 5)
    ]
    + [("L-X", "L", "L-C1", "North", "2026-03-09 09:00", "dosing", "cancelled",
        "sublingual", "ketamine", 200.0, None, 120)]
)  # fmt: skip


def test_cumulative_dose_per_patient():
    """Cumulative mg includes the session itself; cancelled doses add nothing."""
    assert cumulative_doses(LONG)["cumulative_mg"].tolist() == [200.0, 400.0, 600.0, 800.0]


def test_long_term_vs_cumulative_dose():
    """Urinary 2/2 and cognitive 1/2 in the 500–1000 mg band, none below."""
    effects = effects_frame(
        [
            ("L-D3", 1, "urinary symptoms", "mild", N, False),
            ("L-D4", 1, "urinary symptoms", "moderate", N, False),
            ("L-D4", 2, "cognitive impairment", "mild", N, False),
            ("L-D4", 3, "nausea", "mild", N, False),
            ("L-X", 1, "cognitive impairment", "mild", N, False),
        ]
    )
    got = long_term_vs_cumulative_dose(LONG, effects)
    bands = ["<250 mg", "<250 mg", "250–<500 mg", "250–<500 mg", "500–<1000 mg", "500–<1000 mg"]
    terms = ["urinary symptoms", "cognitive impairment"] * 3
    assert got["cumulative_band"].tolist() == bands
    assert got["term"].tolist() == terms
    assert got["sessions"].tolist() == [0, 0, 0, 0, 2, 1]
    assert got["dosing_sessions"].tolist() == [1, 1, 1, 1, 2, 2]
    assert got["rate"].tolist() == [0.0, 0.0, 0.0, 0.0, 1.0, 0.5]


def test_clinic_summary_from_database(db_url):
    """On tests/clinic.py: 9 dosing sessions, 3 patients; dizziness (cancelled) absent."""
    engine = make_engine(db_url)
    build_clinic(engine)
    with engine.connect() as conn:
        got = side_effects_summary(queries.sessions(conn), queries.side_effects(conn))
    assert got["dosing_sessions"] == 9
    assert got["patients_dosed"] == 3
    assert sorted(got["effects"]) == ["dissociation", "nausea"]
    assert got["effects"]["dissociation"] == {
        "sessions": 2,
        "session_rate": 2 / 9,
        "patients": 1,
        "patient_rate": 1 / 3,
        "severe_sessions": 1,
    }
    assert got["effects"]["nausea"]["patients"] == 2
    assert got["effects"]["nausea"]["severe_sessions"] == 0


@pytest.mark.parametrize(
    ("values", "keys", "expected"),
    [
        (pd.Series(["a", "b", "c"], dtype="str"), pd.Series(["c", "a"], dtype="str"),
         [True, False, True]),
        (pd.Series(["a", "b"], dtype=object), pd.Series(["b"], dtype="str"), [False, True]),
        (pd.Series(["a", None], dtype="str"), pd.Series(["a"], dtype="str"), [True, False]),
        (pd.Series([], dtype="str"), pd.Series(["a"], dtype="str"), []),
        (pd.Series(["a"], dtype="str"), pd.Series([], dtype=object), [False]),
    ],
)  # fmt: skip
def test_is_member(values, keys, expected):
    """Session membership for Arrow, object, missing and empty columns."""
    from kapviz.metrics.side_effects import is_member

    assert is_member(values, keys).tolist() == expected
