"""One case against the cohort: similar-baseline band, outcome status in words, dose strip."""

from __future__ import annotations

import pandas as pd

from kapviz import instruments
from kapviz.metrics.outcomes import completed_doses
from kapviz.metrics.trajectories import trajectory_table
from kapviz.vocabulary import SEVERITY_RANK

SIMILAR_BASELINE_POINTS = 3
"""Courses whose baseline is within ± this many points form the comparison cohort."""


def similar_courses(
    outcomes: pd.DataFrame,
    *,
    instrument: str,
    baseline: float,
    tolerance: float = SIMILAR_BASELINE_POINTS,
    exclude_course: str | None = None,
) -> pd.Index:
    """Course ids with a baseline of `instrument` within ± `tolerance` of `baseline`."""
    rows = outcomes[(outcomes["instrument"] == instrument) & outcomes["baseline"].notna()]
    rows = rows[(rows["baseline"] - baseline).abs() <= tolerance]
    if exclude_course is not None:
        rows = rows[rows["course_id"] != exclude_course]
    return pd.Index(rows["course_id"].unique())


def cohort_band(
    points: pd.DataFrame,
    outcomes: pd.DataFrame,
    *,
    instrument: str,
    baseline: float,
    exclude_course: str | None = None,
    tolerance: float = SIMILAR_BASELINE_POINTS,
) -> tuple[pd.DataFrame, int]:
    """Median and IQR per session-axis point of courses with a similar baseline.

    Returns the trajectory table of those courses (point, order, median, q1, q3, courses)
    and how many courses it is made of.
    """
    ids = similar_courses(
        outcomes,
        instrument=instrument,
        baseline=baseline,
        tolerance=tolerance,
        exclude_course=exclude_course,
    )
    cohort = points[(points["instrument"] == instrument) & points["course_id"].isin(ids)]
    if cohort.empty:
        return trajectory_table(cohort), 0
    return trajectory_table(cohort, axis="session"), len(ids)


def _fmt(value: float) -> str:
    return f"{value:g}"


def status_lines(outcome: pd.Series, *, sd: float | None = None, r: float | None = None) -> list:
    """Response, remission and reliable change of one course, each with its rule in words.

    `outcome` is one row of `course_outcomes`. Returns (label, verdict, explanation) tuples;
    verdict is True, False or None (not evaluable / undefined).
    """
    inst = instruments.get(outcome["instrument"])
    if not bool(outcome["evaluable"]):
        reason = outcome["not_evaluable_reason"] or "not evaluable"
        return [("Outcome", None, f"Not evaluable: {reason}.")]
    base, end, change = outcome["baseline"], outcome["endpoint"], outcome["change"]
    lines = []
    if inst.response_kind == "percent":
        rule = f"a fall of at least {inst.response_threshold:.0%} from baseline"
        if pd.isna(outcome["pct_change"]):
            detail = "undefined: the baseline was 0"
        else:
            detail = f"{_fmt(base)} → {_fmt(end)} ({outcome['pct_change']:+.1%})"
    else:
        rule = f"a fall of at least {_fmt(inst.response_threshold)} points"
        detail = f"{_fmt(base)} → {_fmt(end)} ({_fmt(change):s} points)"
    verdict = None if pd.isna(outcome["is_response"]) else bool(outcome["is_response"])
    lines.append(("Response", verdict, f"Rule: {rule}. {detail}."))
    if bool(outcome["baseline_in_remission"]):
        remission_detail = "the baseline was already in remission range"
        remission = None
    else:
        remission_detail = f"endpoint {_fmt(end)}"
        remission = bool(outcome["is_remission"])
    lines.append(
        (
            "Remission",
            remission,
            f"Rule: endpoint ≤ {inst.remission_max}. {remission_detail.capitalize()}.",
        )
    )
    threshold = inst.reliable_change_threshold(sd=sd, r=r)
    if threshold is None:
        lines.append(("Reliable change", None, "No reliability figures for this instrument."))
    else:
        used_sd = sd if sd is not None else inst.reliable_sd
        used_r = r if r is not None else inst.reliable_r
        rule = f"|change| ≥ {threshold:.2f} (Jacobson–Truax, SD {_fmt(used_sd)}, r {_fmt(used_r)})"
        if bool(outcome["reliable_improvement"]):
            label, verdict = "Reliable improvement", True
        elif bool(outcome["reliable_deterioration"]):
            label, verdict = "Reliable deterioration", True
        else:
            label, verdict = "Reliable change", False
        lines.append((label, verdict, f"Rule: {rule}. Change {_fmt(change)}."))
    return lines


def dose_side_effects(sessions: pd.DataFrame, side_effects: pd.DataFrame) -> pd.DataFrame:
    """Per completed dosing session and effect: the highest severity, with the dose number."""
    doses = completed_doses(sessions)
    doses = doses.merge(
        sessions[["session_id", "course_id", "started_at"]], on=["course_id", "started_at"]
    )
    rows = side_effects.merge(doses[["session_id", "course_id", "dose_number"]], on="session_id")
    columns = ["course_id", "dose_number", "term", "severity"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    rows = rows.assign(rank=rows["severity"].map(SEVERITY_RANK))
    top = rows.sort_values("rank").groupby(["course_id", "dose_number", "term"]).tail(1)
    return top.sort_values(["course_id", "dose_number", "term"])[columns].reset_index(drop=True)


def phq9_item_rows(assessments: pd.DataFrame) -> pd.DataFrame:
    """Item-level PHQ-9 administrations as columns item_1 … item_9, oldest first."""
    rows = assessments[
        (assessments["instrument"] == "PHQ-9")
        & assessments["items"].map(lambda v: isinstance(v, list) and len(v) == 9)
    ]
    columns = ["administered_at", *[f"item_{i}" for i in range(1, 10)]]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    items = pd.DataFrame(rows["items"].tolist(), index=rows.index, columns=columns[1:])
    out = pd.concat([rows[["administered_at"]], items], axis=1)
    return out.sort_values("administered_at").reset_index(drop=True)
