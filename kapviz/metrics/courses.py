"""Which course an assessment belongs to (docs/domain.md §3)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _lookup(keys: pd.Series, index: pd.Series, values: pd.Series) -> np.ndarray:
    """values[i] where index[i] == key, for each key (None when absent); index is unique."""
    where = pd.Index(index.astype(object)).get_indexer(keys.astype(object))
    found = np.append(values.astype(object).to_numpy(), None)
    return found[where]  # -1 (absent) picks the trailing None


def assign_courses(assessments: pd.DataFrame, sessions: pd.DataFrame) -> pd.Series:
    """Course of each assessment: its session's course; untied ones by date.

    An assessment not tied to a session belongs to the patient's latest course whose first
    session is on or before its date; one dated before all of the patient's courses
    belongs to the first course. `assessments` needs patient_id, session_id,
    administered_at; `sessions` needs session_id, patient_id, course_id, started_at.
    Returns a Series aligned with `assessments.index` (None where the patient has no course).
    Whole columns throughout: ids are matched through hash tables and grouped as integer
    codes, so a million assessments take well under a second.
    """
    tied = _lookup(assessments["session_id"], sessions["session_id"], sessions["course_id"])
    untied_mask = pd.isna(tied)
    result = pd.Series(tied, index=assessments.index, dtype=object)
    if not untied_mask.any():
        return result.where(result.notna(), None)

    patient_codes, patients = pd.factorize(sessions["patient_id"].astype(object))
    course_codes, courses = pd.factorize(sessions["course_id"].astype(object))
    known = (patient_codes >= 0) & (course_codes >= 0)  # a missing id is code -1
    firsts = (
        pd.DataFrame(
            {
                "p": patient_codes[known],
                "c": course_codes[known],
                "started_at": sessions["started_at"].to_numpy()[known],
            }
        )
        .groupby(["p", "c"], as_index=False)["started_at"]
        .min()
    )
    if firsts.empty:
        return result.where(result.notna(), None)
    starts = pd.DataFrame(
        {
            "patient_id": pd.Series(np.asarray(patients, dtype=object)[firsts["p"]], dtype=object),
            "course_id": pd.Series(np.asarray(courses, dtype=object)[firsts["c"]], dtype=object),
            "started_at": firsts["started_at"].to_numpy(),
        }
    ).sort_values(["patient_id", "started_at", "course_id"])
    untied = assessments.loc[untied_mask, ["patient_id", "administered_at"]].copy()
    untied["patient_id"] = untied["patient_id"].astype(object)
    untied["_row"] = np.flatnonzero(untied_mask)
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
    course = matched["course_id"].astype(object).to_numpy()
    fallback = _lookup(matched["patient_id"], first.index.to_series(), first)
    course = np.where(pd.isna(course), fallback, course)
    values = result.to_numpy(dtype=object, copy=True)
    values[matched["_row"].to_numpy()] = course
    out = pd.Series(values, index=assessments.index, dtype=object)
    return out.where(out.notna(), None)
