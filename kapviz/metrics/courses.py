"""Which course an assessment belongs to (DOMAIN.md §3)."""

from __future__ import annotations

import pandas as pd


def assign_courses(assessments: pd.DataFrame, sessions: pd.DataFrame) -> pd.Series:
    """Course of each assessment: its session's course; untied ones by date.

    An assessment not tied to a session belongs to the patient's latest course whose first
    session is on or before its date; one dated before all of the patient's courses
    belongs to the first course. `assessments` needs patient_id, session_id,
    administered_at; `sessions` needs session_id, patient_id, course_id, started_at.
    Returns a Series aligned with `assessments.index` (None where the patient has no course).
    """
    by_session = sessions.set_index("session_id")["course_id"]
    tied = assessments["session_id"].map(by_session)

    starts = (
        sessions.groupby(["patient_id", "course_id"], as_index=False)["started_at"]
        .min()
        .sort_values(["patient_id", "started_at", "course_id"])
    )
    untied_mask = tied.isna()
    result = tied.astype(object).where(~untied_mask, None)
    if not untied_mask.any() or starts.empty:
        return result
    untied = assessments.loc[untied_mask, ["patient_id", "administered_at"]].copy()
    untied["_row"] = untied.index
    untied = untied.sort_values("administered_at")
    starts_sorted = starts.sort_values("started_at")
    matched = pd.merge_asof(
        untied,
        starts_sorted.rename(columns={"started_at": "administered_at"}),
        on="administered_at",
        by="patient_id",
        direction="backward",
    )
    first = starts.drop_duplicates("patient_id").set_index("patient_id")["course_id"]
    matched["course_id"] = matched["course_id"].fillna(matched["patient_id"].map(first))
    result.loc[matched["_row"].to_numpy()] = matched["course_id"].to_numpy()
    return result.astype(object).where(result.notna(), None)
