"""Every outcome score placed on the two time axes of docs/domain.md §3 (trajectory points).

This is the one implementation of the placement rule: the Trajectories page, the Case
explorer (kapviz.db.aggregates.case), the summary and the reports all place scores here.

- Session axis: intake → preparation → after dose 1…n → after the last dose: integration →
  follow-up. A score is placed by WHEN it was taken relative to its course's completed
  dosing sessions, not by its session's phase: on or before the first dose → intake (its
  session is an intake session) or preparation; through the calendar day of the last
  completed dose → "Dose k", k = completed dosing sessions started on or before it (an
  integration session after dose 2 sits at dose 2); later → follow-up once its session is a
  follow-up one or it is after the calendar day of the last completed integration session,
  else integration. `phase` is that segment; `session_phase` the score's own session's
  phase (NA when untied), shown in hovers and markers.
- Days axis: days since the first dose, binned — the baseline window (−30…0 d), weekly
  to week 8, then 4-weekly to week 52, then one open bin. Earlier scores are left out.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from kapviz.domain import PHASE_LABELS, PHASES
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
SEGMENTS = PHASES
"""The segments of a course a score can fall in, in course order (codes of `phase`)."""
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
    "session_phase",
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
    segment, own = _placement(scores, known, sessions, at=at, first=first, course=course)
    labels = session_points(max_doses=max_doses)
    if doses.empty or not len(scores):
        dose_number = pd.array([pd.NA] * len(scores), dtype="Int64")
    else:
        dose_number = pd.array(doses_up_to(doses, courses, course, at), dtype="Int64")
    del course
    order, point = _session_axis(segment, dose_number, labels, max_doses=max_doses)
    phase = pd.Categorical.from_codes(segment, categories=list(SEGMENTS))
    days = (at - first) / np.timedelta64(1, "D")
    del first
    day_order, day_bin, day_x = _days_axis(days, baseline_window_days=baseline_window_days)
    if compact:
        ids = {col: scores[col].array for col in ("patient_id", "course_id", "instrument")}
        labelled = {"phase": phase, "session_phase": own, "point": point, "day_bin": day_bin}
    else:
        ids = {
            col: pd.Series(objects(scores[col]), dtype=object)
            for col in ("patient_id", "course_id", "instrument")
        }
        labelled = {
            "phase": pd.Series(objects(pd.Series(phase)), dtype=object),
            "session_phase": pd.Series(objects(pd.Series(own)), dtype=object),
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
            "session_phase": labelled["session_phase"],
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


def _placement(
    scores: pd.DataFrame,
    known: pd.DataFrame,
    sessions: pd.DataFrame,
    *,
    at: np.ndarray,
    first: np.ndarray,
    course: np.ndarray,
) -> tuple[np.ndarray, pd.Categorical]:
    """Per score: its segment of the course (SEGMENTS code) and its own session's phase.

    The segment follows from WHEN the score was taken (DOMAIN.md §3): on or before the
    first dose → intake (an intake session's score) or preparation; up to the end of the
    calendar day of the last completed dose → dosing; later → follow-up when its session is
    a follow-up one or it is after the calendar day of the last completed integration
    session, else integration. The session's own phase (NA when untied) is only shown.
    """
    last_dose_end = _day_end(known["last_dose_at"]).to_numpy(dtype=DATETIME_DTYPE)[course]
    last_int_end = _day_end(known["last_integration_at"]).to_numpy(dtype=DATETIME_DTYPE)[course]
    session_phase = categorical(sessions["phase"])
    row = tied_sessions(scores, sessions)
    own_codes = np.append(session_phase.codes, -1)[row]
    own = pd.Categorical.from_codes(own_codes, dtype=session_phase.dtype)

    def own_is(name: str) -> np.ndarray:
        if name not in session_phase.categories:
            return np.zeros(len(own_codes), dtype=bool)
        return own_codes == session_phase.categories.get_loc(name)

    before = np.isnat(first) | (at <= first)
    during = ~before & (at < last_dose_end)
    after_integration = ~np.isnat(last_int_end) & (at >= last_int_end)
    segment = np.select(
        [before & own_is("intake"), before, during, own_is("follow_up") | after_integration],
        [SEGMENTS.index(name) for name in ("intake", "preparation", "dosing", "follow_up")],
        default=SEGMENTS.index("integration"),
    )
    return segment, own


def _session_axis(
    segment: np.ndarray,
    dose_number: pd.arrays.IntegerArray,
    labels: pd.DataFrame,
    *,
    max_doses: int,
) -> tuple[pd.arrays.IntegerArray, pd.Categorical]:
    """Session-axis order and label of each score (dose k, pooled beyond `max_doses`)."""
    order_of = np.array([0, 1, -1, len(labels) - 2, len(labels) - 1])  # SEGMENTS order
    dose = dose_number.to_numpy(dtype=np.int64, na_value=1)
    is_dosing = segment == SEGMENTS.index("dosing")
    order = np.where(is_dosing, 1 + np.clip(dose, 1, max_doses + 1), order_of[segment])
    return _labelled(order, np.zeros(len(order), dtype=bool), labels["label"])


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
