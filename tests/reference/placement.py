"""The trajectory placement rule of docs/domain.md §3, written as plainly as it reads.

Row by row, no vectorising: the reference that tests/metrics/test_placement_reference.py
compares kapviz.metrics.trajectory_axes (the product's one implementation) with.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from kapviz.domain import PHASE_LABELS


def place_score(
    at: datetime,
    own_phase: str | None,
    course_sessions: list[dict],
    *,
    max_doses: int = 10,
) -> tuple[str, str, int | None]:
    """(segment, point label, dose number) of one score taken at `at`.

    `own_phase` is the phase of the score's session (None when untied); `course_sessions`
    the course's sessions as dicts with phase, status and started_at.
    """
    doses = sorted(
        s["started_at"]
        for s in course_sessions
        if s["phase"] == "dosing" and s["status"] == "completed"
    )
    integrations = sorted(
        s["started_at"]
        for s in course_sessions
        if s["phase"] == "integration" and s["status"] == "completed"
    )
    dose_number = sum(1 for started in doses if started <= at) if doses else None
    # Before the first dose (a score at the dose's start is its baseline: pre-dose).
    if not doses or at <= doses[0]:
        if own_phase == "intake":
            return "intake", "Intake", dose_number
        return "preparation", "Preparation", dose_number
    # From the first dose through the calendar day of the last completed dose.
    if at.date() <= doses[-1].date():
        k = dose_number
        label = f"Dose {k}" if k <= max_doses else f"Dose {max_doses + 1}+"
        return "dosing", label, dose_number
    # After the last dose.
    after_last_integration = bool(integrations) and at.date() > integrations[-1].date()
    if own_phase == "follow_up" or after_last_integration:
        return "follow_up", PHASE_LABELS["follow_up"], dose_number
    return "integration", "Integration", dose_number


def place_all(scores: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    """Every score of `scores` (id, course_id, session_id, administered_at) placed:
    id, phase (the segment), session_phase, point, dose_number."""
    by_course: dict[str, list[dict]] = {}
    for s in sessions.to_dict("records"):
        by_course.setdefault(s["course_id"], []).append(s)
    phase_of = dict(zip(sessions["session_id"], sessions["phase"], strict=True))
    rows = []
    for score in scores.to_dict("records"):
        session_id = score["session_id"]
        own = phase_of.get(session_id) if isinstance(session_id, str) else None
        at = pd.Timestamp(score["administered_at"]).to_pydatetime()
        segment, label, dose = place_score(at, own, by_course.get(score["course_id"], []))
        rows.append(
            {
                "id": int(score["id"]),
                "phase": segment,
                "session_phase": own,
                "point": label,
                "dose_number": dose,
            }
        )
    return pd.DataFrame.from_records(
        rows, columns=["id", "phase", "session_phase", "point", "dose_number"]
    )
