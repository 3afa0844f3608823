"""Tiny literal frames for the safety metric tests (sessions, side effects, vitals, scores).

Hand-computable facts of `SESSIONS` + `EFFECTS`:
- completed dosing sessions: A-D1, A-D2 (patient A), B-D1 (patient B) → 3 sessions, 2 patients;
  A-X is a cancelled dosing session, A-I an integration session, C never dosed.
- nausea: A-D1 (mild + severe → severe), A-D2 mild, B-D1 moderate → 3/3 sessions, 2/2 patients.
- dizziness: A-D1 "moderate" with CTCAE 3 (→ severe), B-D1 "mild" with CTCAE 2 (→ moderate)
  → 2/3 sessions, 2/2 patients, 1 severe session.
- headache only on the cancelled and the integration session, fatigue on C's intake: never
  counted.
"""

from __future__ import annotations

import pandas as pd

SESSION_COLUMNS = [
    "session_id",
    "patient_id",
    "course_id",
    "site",
    "started_at",
    "phase",
    "status",
    "route",
    "drug",
    "dose_mg",
    "dose_mg_per_kg",
    "monitoring_min",
]


def sessions_frame(rows: list[tuple]) -> pd.DataFrame:
    """Sessions frame from tuples in SESSION_COLUMNS order."""
    frame = pd.DataFrame.from_records(rows, columns=SESSION_COLUMNS)
    frame["started_at"] = pd.to_datetime(frame["started_at"])
    for col in ("dose_mg", "dose_mg_per_kg", "monitoring_min"):
        frame[col] = frame[col].astype("float64")
    return frame


EFFECT_COLUMNS = ["session_id", "seq", "term", "severity", "ctcae_grade", "serious"]


def effects_frame(rows: list[tuple]) -> pd.DataFrame:
    """Side-effects frame from (session_id, seq, term, severity, ctcae_grade, serious)."""
    frame = pd.DataFrame.from_records(rows, columns=EFFECT_COLUMNS)
    frame["ctcae_grade"] = pd.to_numeric(frame["ctcae_grade"]).astype("Int64")
    frame["serious"] = frame["serious"].astype(bool)
    return frame


def vitals_frame(rows: list[tuple]) -> pd.DataFrame:
    """Vitals frame from (session_id, minutes_from_dose, systolic, diastolic)."""
    frame = pd.DataFrame.from_records(
        rows, columns=["session_id", "minutes_from_dose", "systolic", "diastolic"]
    )
    for col in ("minutes_from_dose", "systolic", "diastolic"):
        frame[col] = frame[col].astype("Int64")
    return frame


def scores_frame(rows: list[tuple]) -> pd.DataFrame:
    """Assessments frame from (id, patient_id, course_id, session_id, instrument, at, total,
    suicide_item)."""
    frame = pd.DataFrame.from_records(
        rows,
        columns=[
            "id",
            "patient_id",
            "course_id",
            "session_id",
            "instrument",
            "administered_at",
            "total",
            "suicide_item",
        ],
    )
    frame["administered_at"] = pd.to_datetime(frame["administered_at"])
    frame["total"] = frame["total"].astype("int64")
    frame["suicide_item"] = pd.to_numeric(frame["suicide_item"]).astype("Int64")
    frame["items"] = None
    return frame


N = None
SESSIONS = sessions_frame(
    [
        ("A-S1", "A", "A-C1", "North", "2026-03-01 09:00", "intake", "completed", N, N, N, N, N),
        ("A-D1", "A", "A-C1", "North", "2026-03-02 09:00", "dosing", "completed",
         "iv", "ketamine", 35.0, 0.5, 120),
        ("A-X", "A", "A-C1", "North", "2026-03-03 09:00", "dosing", "cancelled",
         "iv", "ketamine", 35.0, 0.5, 120),
        ("A-D2", "A", "A-C1", "North", "2026-03-05 09:00", "dosing", "completed",
         "iv", "ketamine", 35.0, 0.5, 120),
        ("A-I", "A", "A-C1", "North", "2026-03-06 09:00", "integration", "completed",
         N, N, N, N, N),
        ("B-D1", "B", "B-C1", "South", "2026-03-04 09:00", "dosing", "completed",
         "sublingual", "ketamine", 200.0, N, 120),
        ("C-S1", "C", "C-C1", "South", "2026-03-01 09:00", "intake", "completed",
         N, N, N, N, N),
    ]
)  # fmt: skip

EFFECTS = effects_frame(
    [
        ("A-D1", 1, "nausea", "mild", N, False),
        ("A-D1", 2, "nausea", "severe", N, False),
        ("A-D1", 3, "dizziness", "moderate", 3, False),
        ("A-D2", 1, "nausea", "mild", N, False),
        ("A-X", 1, "nausea", "severe", N, True),
        ("A-X", 2, "headache", "mild", N, False),
        ("A-I", 1, "headache", "mild", N, False),
        ("B-D1", 1, "dizziness", "mild", 2, False),
        ("B-D1", 2, "nausea", "moderate", N, False),
        ("C-S1", 1, "fatigue", "mild", N, False),
    ]
)
