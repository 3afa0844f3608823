"""Data quality a clinic should fix: missing pre-dose scores, terms worth a second look."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

PRE_DOSE_WINDOW_DAYS = 7
"""A PHQ-9 counts as pre-dose when taken in the 7 days up to the start of the session."""


def dosing_without_predose(
    sessions: pd.DataFrame,
    assessments: pd.DataFrame,
    *,
    instrument: str = "PHQ-9",
    window_days: int = PRE_DOSE_WINDOW_DAYS,
) -> pd.DataFrame:
    """Completed dosing sessions with no `instrument` score in the window before them."""
    done = sessions[(sessions["phase"] == "dosing") & (sessions["status"] == "completed")]
    done = done[["session_id", "patient_id", "course_id", "site", "started_at"]]
    scores = assessments.loc[
        assessments["instrument"] == instrument, ["patient_id", "administered_at"]
    ]
    pairs = done.merge(scores, on="patient_id", how="inner")
    inside = (pairs["administered_at"] >= pairs["started_at"] - timedelta(days=window_days)) & (
        pairs["administered_at"] <= pairs["started_at"]
    )
    measured = set(pairs.loc[inside, "session_id"])
    missing = done[~done["session_id"].isin(measured)]
    return missing.sort_values("started_at", ascending=False).reset_index(drop=True)


def term_mapping(side_effects: pd.DataFrame) -> pd.DataFrame:
    """How recorded wordings were mapped to preferred terms, for review (most frequent first).

    Only wordings that differ from their preferred term are listed: these are the
    synonym mappings a clinician may want to confirm.
    """
    rows = side_effects[side_effects["verbatim"].notna()]
    rows = rows[rows["verbatim"].str.strip().str.lower() != rows["term"]]
    counts = (
        rows.groupby(["verbatim", "term"], as_index=False)
        .size()
        .rename(columns={"size": "records"})
        .sort_values(["records", "verbatim"], ascending=[False, True])
    )
    return counts.reset_index(drop=True)
