"""Column-wise validation: exact problem texts and order, dates, scoring, true/false.

Validation works on whole columns (explicit ISO formats, hash lookups, item matrices);
these tests pin what a user sees so that speed-ups cannot change it.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from kapviz.io.tables import ImportBatch
from kapviz.io.template import read_template
from kapviz.io.validate import parse_datetime, parse_datetimes, validate

ERRORS = Path(__file__).parent / "fixtures" / "template_errors"
DATE_HINT = "an ISO 8601 date (2026-03-14) or datetime (2026-03-14T09:30)"


def test_problem_texts_and_order_are_exact():
    """The planted problems, word for word, sorted by file then row."""
    year = date.today().year
    assert [str(p) for p in validate(read_template(ERRORS)).problems] == [
        "patients.csv:2 sex 'f': expected one of female, male, other, unknown",
        "patients.csv:3 site: expected a value (required)",
        f"patients.csv:3 birth_year '1850': expected a whole number from 1900 to {year}",
        f"patients.csv:3 enrolled_on '02/01/2026': expected {DATE_HINT}",
        "patients.csv:4 patient_id 'B1': expected a unique patient_id (this one appears earlier)",
        "sessions.csv:3 patient_id 'B9': expected a patient_id that exists in patients",
        "sessions.csv:4 dose_mg '0': expected a number greater than 0",
        "sessions.csv:4 route: expected a value (required)",
        "sessions.csv:5 phase 'intergration': expected one of intake, preparation, dosing, "
        "integration, follow_up",
        f"sessions.csv:5 started_at 'yesterday': expected {DATE_HINT}",
        "sessions.csv:5 status 'done': expected one of completed, cancelled, no_show",
        "sessions.csv:6 phase 'preparation': expected dosing, because route/dose details are given",
        "assessments.csv:2 total '30': expected a PHQ-9 total from 0 to 27",
        "assessments.csv:3 total '10': expected 9, the total of the PHQ-9 items given",
        "assessments.csv:4 instrument 'HAMD': expected a known instrument (PHQ-9, GAD-7, "
        "PCL-5, MADRS, QIDS-SR16, BDI-II, CADSS, MOAA/S)",
        "assessments.csv:5 session_id 'T9': expected a session_id that exists in sessions",
        "side_effects.csv:2 effect 'nausia': expected a preferred term or synonym "
        "(docs/domain.md §4) — did you mean 'nausea'?",
        "side_effects.csv:3 severity 'grade 7': expected mild, moderate, severe, or CTCAE "
        "grade 1–5",
        "vitals.csv:2 systolic '80': expected a systolic above the diastolic (90)",
        "vitals.csv:3 systolic '310': expected a whole number from 50 to 300",
        "vitals.csv:3 heart_rate '300': expected a whole number from 20 to 250",
        "vitals.csv:3 spo2 '101': expected a whole number from 50 to 100",
    ]


SPELLINGS = [
    "2026-03-14", "2026-03-14T09:30", "2026-03-14T09:30:59", "2026-03-14 09:30",
    "2026-03-14T09:30:00.250", "2026-03-14T09:30Z", "2026-03-14T09:30+02:00", "2026-02-29",
    "2028-02-29T23:59", "2026-02-30", "2026-13-01", "2026-3-14", "2026-03-14T24:00",
    "2026-03-14T09:60", "2026-03-14T09:30:60", "20260314", "14/03/2026", "yesterday", "",
    "0001-01-01", "9999-12-31T23:59:59", "2026-03-14T0930",
]  # fmt: skip


def test_parse_datetimes_is_parse_datetime_per_value():
    """The whole-column parser agrees with the one-value parser on every spelling."""
    parsed = parse_datetimes(pd.Series(SPELLINGS, dtype="str"))
    assert str(parsed.dtype) == "datetime64[us]"
    for text, value in zip(SPELLINGS, parsed, strict=True):
        expected = parse_datetime(text) if text else None
        got = None if pd.isna(value) else value.to_pydatetime()
        assert got == expected, text
    assert parsed[1] == datetime(2026, 3, 14, 9, 30)


def batch_of(**tables: list[dict]) -> ImportBatch:
    batch = ImportBatch()
    for name, rows in tables.items():
        batch.add(name, pd.DataFrame(rows).fillna("").astype(str))
    return batch


PATIENT = [{"patient_id": "P1", "site": "North"}]
SESSION = [{"session_id": "S1", "patient_id": "P1", "started_at": "2026-01-05T09:00",
            "phase": "intake", "eligible": "YES"}]  # fmt: skip
QIDS = [1, 2, 0, 3, 2, 0, 1, 2, 0, 1, 1, 1, 1, 1, 2, 0]
"""QIDS-SR16 total: max(1,2,0,3)=3 + 2 + max(0,1,2,0)=2 + 1+1+1+1+1=5 + max(2,0)=2 → 14."""


def items(values: list[int]) -> dict[str, str]:
    return {f"item_{k}": str(v) for k, v in enumerate(values, start=1)}


def test_item_scores_give_totals_items_and_item_9():
    """Own scorer for QIDS-SR16, sums otherwise; items kept as JSON; PHQ-9 item 9 kept."""
    phq = [2, 2, 2, 2, 2, 2, 2, 2, 1]
    rows = [
        {"patient_id": "P1", "administered_at": "2026-01-05T09:10", "instrument": "qids-sr16",
         "total": "", **items(QIDS)},
        {"patient_id": "P1", "administered_at": "2026-01-05T09:20", "instrument": "QIDS_SR16",
         "total": "13", **items(QIDS)},
        {"patient_id": "P1", "administered_at": "2026-01-05T09:30", "instrument": "PHQ9",
         "total": "17", **items(phq)},
        {"patient_id": "P1", "administered_at": "2026-01-05T09:40", "instrument": "GAD-7",
         "total": "", **items([1, 1, 1, 4, 1, 1, 1])},
        {"patient_id": "P1", "administered_at": "2026-01-05T09:50", "instrument": "GAD-7",
         "total": "", **items([1, 1])},
    ]  # fmt: skip
    result = validate(batch_of(patients=PATIENT, sessions=SESSION, assessments=rows))
    assert [str(p) for p in result.problems] == [
        "assessments.csv:3 total '13': expected 14, the total of the QIDS-SR16 items given",
        "assessments.csv:5 item_4 '4': expected GAD-7 item score 0–3",
        "assessments.csv:6 item_3: expected all 7 GAD-7 items, or none",
    ]
    frame = result.frames["assessments"]
    assert frame["instrument"].tolist() == ["QIDS-SR16", "QIDS-SR16", "PHQ-9", "GAD-7", "GAD-7"]
    assert frame["total"].tolist()[:3] == [14, 14, 17]
    assert frame["items"].tolist()[:3] == [json.dumps(QIDS), json.dumps(QIDS), json.dumps(phq)]
    assert frame["suicide_item"].tolist()[:3] == [pd.NA, pd.NA, 1]


def test_true_false_spellings_and_severity_grades():
    """yes/y/1/t and no/n/0/f in any case; grades keep their CTCAE number."""
    sessions = SESSION + [
        {"session_id": f"S{k}", "patient_id": "P1", "started_at": f"2026-01-0{k}T09:00",
         "phase": "intake", "eligible": spelling}
        for k, spelling in enumerate(["f", "", "maybe", "True"], start=2)
    ]  # fmt: skip
    effects = [
        {"session_id": "S1", "effect": "Nausea", "severity": "G3", "serious": "y"},
        {"session_id": "S1", "effect": "somnolence", "severity": "Mild", "serious": ""},
        {"session_id": "S2", "effect": "nausea", "severity": "4", "serious": "0"},
        {"session_id": "S2", "effect": "nausea", "severity": "extreme", "serious": "no"},
    ]
    result = validate(batch_of(patients=PATIENT, sessions=sessions, side_effects=effects))
    assert [str(p) for p in result.problems] == [
        "sessions.csv:5 eligible 'maybe': expected true or false",
        "side_effects.csv:5 severity 'extreme': expected mild, moderate, severe, or CTCAE "
        "grade 1–5",
    ]
    assert result.frames["sessions"]["eligible"].tolist() == [True, False, None, None, True]
    frame = result.frames["side_effects"]
    assert frame["term"].tolist() == ["nausea", "sedation", "nausea", "nausea"]
    assert frame["severity"].fillna("-").tolist() == ["severe", "mild", "severe", "-"]
    assert frame["ctcae_grade"].tolist() == [3, pd.NA, 4, pd.NA]
    assert frame["serious"].tolist() == [True, False, False, False]
    assert frame["seq"].tolist() == [1, 2, 1, 2]
