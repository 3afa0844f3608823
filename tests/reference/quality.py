"""Plain reference of the pre-dose measurement rule (docs/domain.md §1, the Data page's
check and measurement completion's numerator), row by row.

The app probes it in SQL (kapviz.db.aggregates.program.pre_dose_measured); this restates
it session by session so that the equality tests in tests/db check the SQL against
something a reader can verify line by line. Never imported by kapviz.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from kapviz.metrics.quality import PRE_DOSE_WINDOW_DAYS, newest_first


def dosing_without_predose(
    sessions: pd.DataFrame,
    assessments: pd.DataFrame,
    *,
    instrument: str = "PHQ-9",
    window_days: int = PRE_DOSE_WINDOW_DAYS,
) -> pd.DataFrame:
    """Completed dosing sessions whose patient has no `instrument` score in the
    `window_days` up to the session's start (start included), newest first."""
    times: dict[str, list] = {}
    for row in assessments.to_dict("records"):
        if row["instrument"] == instrument and not pd.isna(row["administered_at"]):
            times.setdefault(row["patient_id"], []).append(row["administered_at"])
    missing = []
    for position, row in enumerate(sessions.to_dict("records")):
        if row["phase"] != "dosing" or row["status"] != "completed":
            continue
        start = row["started_at"]
        earliest = start - timedelta(days=window_days)
        if not any(earliest <= at <= start for at in times.get(row["patient_id"], [])):
            missing.append(position)
    return newest_first(sessions.iloc[missing])
