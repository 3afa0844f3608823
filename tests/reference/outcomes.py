"""Plain reference of the per-course outcome rule (docs/domain.md §3), row by row.

The app computes outcomes with kapviz.metrics.outcomes.outcomes_from_scores (vectorised,
for 600k scores); this restates the rule as the domain text reads, one course and
instrument at a time, so that the equality tests in tests/db check the app (live and
rollups) against something a reader can verify line by line. Verdicts come from the
instrument registry, as the rule says. Never imported by kapviz.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from kapviz import instruments
from kapviz.metrics.courses import assign_courses
from kapviz.metrics.outcomes import OUTCOME_COLUMNS

COMPARED = [c for c in OUTCOME_COLUMNS if c not in ("pct_change", "not_evaluable_reason")]
"""The columns the reference gives (the rest are worded or derived from these)."""


def _known(value: object) -> bool:
    return value is not None and not pd.isna(value)


def course_outcomes(
    sessions: pd.DataFrame, assessments: pd.DataFrame, *, baseline_window_days: int = 30
) -> list[dict]:
    """One dict per course × outcome instrument with a score, keyed like COMPARED."""
    window = timedelta(days=baseline_window_days)
    scores = assessments[assessments["instrument"].isin(instruments.OUTCOME_INSTRUMENTS)]
    scores = scores.assign(course=assign_courses(scores, sessions))
    doses: dict[str, list] = {}
    patient_of: dict[str, str] = {}
    for row in sessions.to_dict("records"):
        patient_of.setdefault(row["course_id"], row["patient_id"])
        if row["phase"] == "dosing" and row["status"] == "completed":
            doses.setdefault(row["course_id"], []).append(row["started_at"])
    groups: dict[tuple, list[dict]] = {}
    for row in scores.to_dict("records"):
        if _known(row["course"]):
            groups.setdefault((row["course"], row["instrument"]), []).append(row)
    out = []
    for (course, name), rows in groups.items():
        inst = instruments.get(name)
        first_dose = min(doses[course]) if course in doses else None
        # Latest first; the later-recorded score (higher id) wins a tie on time.
        rows = sorted(rows, key=lambda r: (r["administered_at"], r["id"]), reverse=True)
        base = end = None
        if first_dose is not None:
            base = next(
                (r for r in rows if first_dose - window <= r["administered_at"] <= first_dose),
                None,
            )
            end = next((r for r in rows if r["administered_at"] > first_dose), None)
        record = {
            "patient_id": patient_of.get(course, rows[0]["patient_id"]),
            "course_id": course,
            "instrument": name,
            "first_dose_at": first_dose,
            "baseline": base["total"] if base else None,
            "baseline_at": base["administered_at"] if base else None,
            "endpoint": end["total"] if end else None,
            "endpoint_at": end["administered_at"] if end else None,
            "change": end["total"] - base["total"] if base and end else None,
            "evaluable": bool(base and end),
            "baseline_in_remission": inst.is_remission(base["total"]) if base else None,
            "is_response": None,
            "is_remission": None,
            "reliable_improvement": None,
            "reliable_deterioration": None,
            "time_to_response_days": None,
            "time_to_response_doses": None,
        }
        if base and end:
            b, e = base["total"], end["total"]
            record["is_response"] = inst.is_response(b, e)
            record["is_remission"] = inst.is_remission(e)
            record["reliable_improvement"] = inst.is_reliable_improvement(b, e)
            record["reliable_deterioration"] = inst.is_reliable_deterioration(b, e)
        if base:
            after = sorted(
                (r for r in rows if r["administered_at"] > first_dose),
                key=lambda r: (r["administered_at"], r["id"]),
            )
            first = next((r for r in after if inst.is_response(base["total"], r["total"])), None)
            if first is not None:
                at = first["administered_at"]
                record["time_to_response_days"] = (at - first_dose) / timedelta(days=1)
                record["time_to_response_doses"] = sum(d <= at for d in doses[course])
        out.append(record)
    return out


INTEGERS = ("baseline", "endpoint", "change", "time_to_response_doses")
FLAGS = (
    "evaluable",
    "is_response",
    "is_remission",
    "baseline_in_remission",
    "reliable_improvement",
    "reliable_deterioration",
)


def _plain(column: str, value: object) -> object:
    if not _known(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if column in INTEGERS:
        return int(value)
    if column in FLAGS:
        return bool(value)
    if column == "time_to_response_days":
        return round(float(value), 9)
    return value


def as_comparable(rows: list[dict] | pd.DataFrame) -> list[tuple]:
    """Rows as tuples of plain values (missing: None) in COMPARED order, sorted by
    instrument and course."""
    frame = pd.DataFrame(rows, columns=COMPARED) if isinstance(rows, list) else rows[COMPARED]
    records = [tuple(_plain(col, row[col]) for col in COMPARED) for row in frame.to_dict("records")]
    return sorted(records, key=lambda r: (r[2], r[1]))
