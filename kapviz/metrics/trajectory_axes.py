"""Every outcome score placed on the two time axes of docs/domain.md §3 (trajectory points).

- Session axis: intake → preparation → dose 1…n → integration → follow-up. A score tied
  to a session takes that session's phase; an untied one takes its phase from its date:
  on or before the first dose → preparation (the baseline rule treats a score at the dose
  time as pre-dose); through the calendar day of the last completed dosing session →
  dosing; later → integration, or follow-up after the calendar day of the course's last
  completed integration session. A dosing-phase score is placed at dose *k*, the number
  of completed dosing sessions started on or before it (its session's start when tied).
- Days axis: days since the first dose, binned — the baseline window (−30…0 d), weekly
  to week 8, then 4-weekly to week 52, then one open bin. Earlier scores are left out.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from kapviz.domain import PHASE_LABELS
from kapviz.metrics.scores import (
    DATETIME_DTYPE,
    categorical,
    completed_doses,
    course_anchors,
    course_scores,
    doses_up_to,
    objects,
    tied_sessions,
)

AXES = ("session", "days")
MAX_DOSES = 10
"""Dose points drawn one by one; later (maintenance) doses pool into "Dose 11+"."""

WEEKLY_UNTIL_DAYS = 56
FOUR_WEEKLY_UNTIL_DAYS = 364

POINT_COLUMNS = [
    "id",
    "patient_id",
    "course_id",
    "instrument",
    "administered_at",
    "total",
    "phase",
    "dose_number",
    "point",
    "point_order",
    "days",
    "day_bin",
    "day_order",
    "day_x",
]


def day_bins(*, baseline_window_days: int = 30) -> pd.DataFrame:
    """Bins of the days axis: label, order, lower (exclusive), upper (inclusive), x (mid)."""
    rows = [(f"Baseline (−{baseline_window_days}–0 d)", -baseline_window_days - 1e-9, 0.0)]
    for week in range(1, WEEKLY_UNTIL_DAYS // 7 + 1):
        rows.append((f"Week {week}", 7.0 * (week - 1), 7.0 * week))
    for start in range(WEEKLY_UNTIL_DAYS, FOUR_WEEKLY_UNTIL_DAYS, 28):
        rows.append((f"Weeks {start // 7 + 1}–{(start + 28) // 7}", float(start), start + 28.0))
    rows.append((f"After week {FOUR_WEEKLY_UNTIL_DAYS // 7}", FOUR_WEEKLY_UNTIL_DAYS, math.inf))
    bins = pd.DataFrame.from_records(rows, columns=["label", "lower", "upper"])
    bins.insert(1, "order", range(len(bins)))
    upper = bins["upper"].where(np.isfinite(bins["upper"]), bins["lower"] + 28)
    bins["x"] = (bins["lower"].clip(lower=-baseline_window_days) + upper) / 2
    return bins


def session_points(*, max_doses: int = MAX_DOSES) -> pd.DataFrame:
    """Points of the session axis in course order: label, order, phase."""
    rows = [("Intake", "intake"), ("Preparation", "preparation")]
    rows += [(f"Dose {k}", "dosing") for k in range(1, max_doses + 1)]
    rows += [(f"Dose {max_doses + 1}+", "dosing")]
    rows += [("Integration", "integration"), (PHASE_LABELS["follow_up"], "follow_up")]
    frame = pd.DataFrame.from_records(rows, columns=["label", "phase"])
    frame.insert(1, "order", range(len(frame)))
    return frame


def _day_end(ts: pd.Series) -> pd.Series:
    """Start of the calendar day after each timestamp (the end of that day)."""
    return pd.to_datetime(ts).dt.normalize() + pd.Timedelta(days=1)


def trajectory_points(
    sessions: pd.DataFrame,
    assessments: pd.DataFrame,
    *,
    baseline_window_days: int = 30,
    max_doses: int = MAX_DOSES,
    scores: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every outcome score with its phase, session-axis point and days-axis bin.

    `scores`, when given, is `course_scores(assessments, sessions)` computed once by the
    caller (shared with `course_outcomes`); it is not modified.
    """
    if scores is None:
        scores = course_scores(assessments, sessions)
    return points_from_scores(
        scores,
        course_anchors(sessions),
        completed_doses(sessions),
        sessions,
        baseline_window_days=baseline_window_days,
        max_doses=max_doses,
    )


def instrument_scores(scores: pd.DataFrame, instrument: str) -> pd.DataFrame:
    """The rows of one instrument of a `score_frame` (same order and dtypes).

    Each score is placed on the axes from its own course alone, so the points of these rows
    are exactly the rows of that instrument among the points of all scores: a page that
    shows one instrument places a third to a half of the scores.
    """
    categories = scores["instrument"].cat.categories
    if instrument not in categories:
        return scores.iloc[:0]
    codes = scores["instrument"].cat.codes.to_numpy()
    return scores.take(np.flatnonzero(codes == categories.get_loc(instrument)))


def points_from_scores(
    scores: pd.DataFrame,
    anchors: pd.DataFrame,
    doses: pd.DataFrame,
    sessions: pd.DataFrame,
    *,
    baseline_window_days: int = 30,
    max_doses: int = MAX_DOSES,
    compact: bool = False,
) -> pd.DataFrame:
    """`trajectory_points` from its inputs (kapviz.metrics.scores contracts), vectorised.

    `anchors` and `doses` come from `course_anchors` / `completed_doses` of the sessions or
    from the SQL reads of kapviz.db.aggregates.cohort; `sessions` needs only
    SESSION_TIME_COLUMNS (the phase and start of the sessions scores are tied to). Each
    step is a helper so that its temporaries (600k rows each at 20,000 patients) are freed
    before the next: the peak memory of a page is counted. `compact`: patient_id,
    course_id and instrument stay the scores' categoricals (sorted categories), and phase,
    point and day_bin are categoricals too, instead of object columns — less memory, no
    per-row objects, faster grouping; the same values.
    """
    courses = scores["course_id"].cat.categories
    course = scores["course_id"].cat.codes.to_numpy(dtype=np.int64)
    at = scores["administered_at"].to_numpy(dtype=DATETIME_DTYPE)
    known = anchors.reindex(courses.astype(object))
    first = known["first_dose_at"].to_numpy(dtype=DATETIME_DTYPE)[course]
    phase, ref = _phases(scores, known, sessions, course=course, at=at, first=first)
    labels = session_points(max_doses=max_doses)
    if doses.empty or not len(scores):
        dose_number = pd.array([pd.NA] * len(scores), dtype="Int64")
    else:
        dose_number = pd.array(doses_up_to(doses, courses, course, ref), dtype="Int64")
    del ref, course
    order, point = _session_axis(phase, dose_number, labels, max_doses=max_doses)
    days = (at - first) / np.timedelta64(1, "D")
    del first
    day_order, day_bin, day_x = _days_axis(days, baseline_window_days=baseline_window_days)
    if compact:
        ids = {col: scores[col].array for col in ("patient_id", "course_id", "instrument")}
        labelled = {"phase": phase, "point": point, "day_bin": day_bin}
    else:
        ids = {
            col: pd.Series(objects(scores[col]), dtype=object)
            for col in ("patient_id", "course_id", "instrument")
        }
        labelled = {
            "phase": pd.Series(objects(pd.Series(phase)), dtype=object),
            "point": pd.Series(np.asarray(point, dtype=object), dtype=object),
            "day_bin": pd.Series(np.asarray(day_bin, dtype=object), dtype=object),
        }
    return pd.DataFrame(
        {
            "id": scores["id"].to_numpy(),
            **ids,
            "administered_at": scores["administered_at"].to_numpy(),
            "total": scores["total"].to_numpy(),
            "phase": labelled["phase"],
            "dose_number": dose_number,
            "point": labelled["point"],
            "point_order": order,
            "days": days.astype("float64"),
            "day_bin": labelled["day_bin"],
            "day_order": day_order,
            "day_x": day_x,
        },
        columns=POINT_COLUMNS,
    )


def _phases(
    scores: pd.DataFrame,
    known: pd.DataFrame,
    sessions: pd.DataFrame,
    *,
    course: np.ndarray,
    at: np.ndarray,
    first: np.ndarray,
) -> tuple[pd.Categorical, np.ndarray]:
    """Per score: its phase, and the moment its dose number counts to.

    Phase: the tied session's; else by date (preparation, dosing, follow-up, integration).
    Worked on codes into one sorted list of phase names (no per-row strings).
    """
    last_dose_end = _day_end(known["last_dose_at"]).to_numpy(dtype=DATETIME_DTYPE)[course]
    last_int_end = _day_end(known["last_integration_at"]).to_numpy(dtype=DATETIME_DTYPE)[course]
    by_date_names = ["preparation", "dosing", "follow_up", "integration"]
    by_date = np.select(
        [
            np.isnat(first) | (at <= first),
            at < last_dose_end,
            ~np.isnat(last_int_end) & (at >= last_int_end),
        ],
        [0, 1, 2],
        default=3,
    )
    del last_dose_end, last_int_end
    session_phase = categorical(sessions["phase"])
    names = pd.Index(sorted({*session_phase.categories, *by_date_names}))
    session_code = np.append(names.get_indexer(session_phase.categories), -1)
    row = tied_sessions(scores, sessions)
    tied_code = session_code[np.append(session_phase.codes, -1)[row]]
    tied = tied_code >= 0  # tied to a session (with a phase) among `sessions`
    code = np.where(tied, tied_code, names.get_indexer(by_date_names)[by_date])
    phase = pd.Categorical.from_codes(code, dtype=pd.CategoricalDtype(names))
    tied_start = np.append(
        sessions["started_at"].to_numpy(dtype=DATETIME_DTYPE), np.datetime64("NaT", "us")
    )[row]
    tied_dosing = tied & (code == names.get_loc("dosing"))
    return phase, np.where(tied_dosing, tied_start, at)


def _session_axis(
    phase: pd.Categorical,
    dose_number: pd.arrays.IntegerArray,
    labels: pd.DataFrame,
    *,
    max_doses: int,
) -> tuple[pd.arrays.IntegerArray, pd.Categorical]:
    """Session-axis order and label of each score (dose k, pooled beyond `max_doses`)."""
    label_of_phase = {"intake": 0, "preparation": 1, "integration": len(labels) - 2}
    label_of_phase["follow_up"] = len(labels) - 1
    order_of = np.array([label_of_phase.get(name, -1) for name in phase.categories] + [-1])
    order = order_of[phase.codes]
    # A dosing-phase score before any completed dose (a cancelled session) sits at dose 1.
    is_dosing = phase.codes == phase.categories.get_loc("dosing")
    dose = dose_number.to_numpy(dtype=np.int64, na_value=0)
    order = np.where(is_dosing, 1 + np.clip(dose, 1, max_doses + 1), order)
    missing = (order < 0) | (is_dosing & dose_number.isna())
    return _labelled(order, missing, labels["label"])


def _labelled(
    order: np.ndarray, missing: np.ndarray, names: pd.Series
) -> tuple[pd.arrays.IntegerArray, pd.Categorical]:
    """Positions on an axis (Int64, NA where `missing`) and their labels (categorical in
    axis order; no per-row strings)."""
    order = np.where(missing, 0, order).astype(np.int64)
    codes = np.where(missing, -1, order)
    label = pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(pd.Index(names)))
    return pd.arrays.IntegerArray(order, missing.copy()), label


def _days_axis(
    days: np.ndarray, *, baseline_window_days: int
) -> tuple[pd.arrays.IntegerArray, pd.Categorical, np.ndarray]:
    """Days-axis bin order, label and x (mid-point) of each score; missing before the window.

    Bins are right-closed, (lower, upper], found by binary search as pandas.cut finds them.
    """
    bins = day_bins(baseline_window_days=baseline_window_days)
    edges = np.array([*bins["lower"], math.inf])
    days = np.asarray(days, dtype="float64")
    position = np.searchsorted(edges, days, side="left") - 1
    missing = np.isnan(days) | (position < 0) | (position >= len(bins))
    order, label = _labelled(position, missing, bins["label"])
    x = bins["x"].to_numpy(dtype="float64")[np.where(missing, 0, position)]
    return order, label, np.where(missing, np.nan, x)
