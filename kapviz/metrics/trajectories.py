"""Symptom trajectories on the two time axes of DOMAIN.md §3, with attrition.

- Session axis: intake → preparation → dose 1…n → integration → follow-up. A score tied
  to a session takes that session's phase; an untied one takes its phase from its date:
  on or before the first dose → preparation (the baseline rule treats a score at the dose
  time as pre-dose); through the calendar day of the last completed dosing session →
  dosing; later → integration, or follow-up after the calendar day of the course's last
  completed integration session. A dosing-phase score is placed at dose *k*, the number
  of completed dosing sessions started on or before it (its session's start when tied).
- Days axis: days since the first dose, binned — the baseline window (−30…0 d), weekly
  to week 8, then 4-weekly to week 52, then one open bin. Earlier scores are left out.

Each course contributes one value per point (the mean of its scores there), so repeated
scores do not narrow the intervals.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from kapviz.domain import PHASE_LABELS, ROUTE_LABELS, WEIGHT_BASED_ROUTES
from kapviz.instruments import OUTCOME_INSTRUMENTS
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
from kapviz.metrics.stats import mean_ci

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

TABLE_COLUMNS = [
    "instrument",
    "point",
    "order",
    "x",
    "phase",
    "courses",
    "mean",
    "ci_low",
    "ci_high",
    "median",
    "q1",
    "q3",
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
    course_id and instrument stay the scores' categoricals (sorted categories) instead of
    object columns — less memory, faster grouping; the same values.
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
    ids = {
        col: scores[col].array if compact else pd.Series(objects(scores[col]), dtype=object)
        for col in ("patient_id", "course_id", "instrument")
    }
    return pd.DataFrame(
        {
            "id": scores["id"].to_numpy(),
            **ids,
            "administered_at": scores["administered_at"].to_numpy(),
            "total": scores["total"].to_numpy(),
            "phase": pd.Series(objects(pd.Series(phase)), dtype=object),
            "dose_number": dose_number,
            "point": pd.Series(point, dtype=object),
            "point_order": order,
            "days": days.astype("float64"),
            "day_bin": pd.Series(day_bin, dtype=object),
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
) -> tuple[pd.arrays.IntegerArray, np.ndarray]:
    """Session-axis order and label of each score (dose k, pooled beyond `max_doses`)."""
    label_of_phase = {"intake": 0, "preparation": 1, "integration": len(labels) - 2}
    label_of_phase["follow_up"] = len(labels) - 1
    order_of = np.array([label_of_phase.get(name, np.nan) for name in phase.categories])
    order = pd.Series(order_of[phase.codes], dtype="Float64")
    # A dosing-phase score before any completed dose (a cancelled session) sits at dose 1.
    is_dosing = phase.codes == phase.categories.get_loc("dosing")
    dose_point = pd.Series(dose_number).clip(lower=1, upper=max_doses + 1)
    order = order.where(~is_dosing, 1 + dose_point).astype("Int64")
    return order.array, _take(labels["label"], order)


def _days_axis(
    days: np.ndarray, *, baseline_window_days: int
) -> tuple[pd.arrays.IntegerArray, np.ndarray, np.ndarray]:
    """Days-axis bin order, label and x (mid-point) of each score; missing before the window."""
    bins = day_bins(baseline_window_days=baseline_window_days)
    edges = [*bins["lower"], math.inf]
    day_order = pd.Series(
        pd.array(pd.cut(days, bins=edges, right=True, labels=False), dtype="Int64")
    )
    return (
        day_order.array,
        _take(bins["label"], day_order),
        _take(bins["x"], day_order).astype("float64"),
    )


def _take(values: pd.Series, positions: pd.Series) -> np.ndarray:
    """values[positions] as an array (object, or float for numbers), missing where NA."""
    table = values.to_numpy()
    missing = positions.isna().to_numpy()
    index = positions.fillna(0).to_numpy(dtype=np.int64)
    out = table[index] if len(table) else np.full(len(index), None, dtype=object)
    if out.dtype.kind == "f":
        return np.where(missing, np.nan, out)
    out = out.astype(object)
    out[missing] = np.nan
    return out


def _axis_columns(axis: str) -> tuple[str, str, str]:
    if axis == "session":
        return "point", "point_order", "point_order"
    if axis == "days":
        return "day_bin", "day_order", "day_x"
    raise ValueError(f"axis must be one of {AXES}, got {axis!r}")


def course_values(points: pd.DataFrame, *, axis: str = "session") -> pd.DataFrame:
    """One value per course × instrument × point: the mean of the course's scores there."""
    label, order, x = _axis_columns(axis)
    placed = points[points[order].notna()]
    keys = ["instrument", "patient_id", "course_id", order]
    grouped = placed.groupby(keys, sort=True, dropna=False)
    values = grouped.agg(
        point=(label, "first"), x=(x, "first"), phase=("phase", "first"), total=("total", "mean")
    )
    values = values.reset_index().rename(columns={order: "order"})
    for col in ("instrument", "patient_id", "course_id"):  # compact points: categoricals
        if isinstance(values[col].dtype, pd.CategoricalDtype):
            values[col] = values[col].astype("str")  # as grouping the object columns gives
    values["order"] = values["order"].astype("int64")
    values["x"] = values["x"].astype("float64")
    cols = ["instrument", "patient_id", "course_id", "point", "order", "x", "phase", "total"]
    return values[cols]


def trajectory_table(
    points: pd.DataFrame, *, axis: str = "session", values: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Per instrument and point: courses, mean with 95% CI, median and IQR of the totals.

    `values`, when given, is `course_values(points, axis=axis)` computed once by the caller.
    """
    values = course_values(points, axis=axis) if values is None else values
    return table_from_values(values, axis=axis)


def table_from_values(values: pd.DataFrame, *, axis: str = "session") -> pd.DataFrame:
    """`trajectory_table` from `course_values` (of any subset of courses)."""
    records = []
    for (instrument, order), part in values.groupby(["instrument", "order"], sort=False):
        totals = part["total"]
        mean, low, high = mean_ci(totals)
        records.append(
            {
                "instrument": instrument,
                "point": part["point"].iloc[0],
                "order": int(order),
                "x": float(part["x"].iloc[0]),
                "phase": part["phase"].iloc[0] if axis == "session" else None,
                "courses": int(totals.size),
                "mean": mean,
                "ci_low": low,
                "ci_high": high,
                "median": float(totals.median()),
                "q1": float(totals.quantile(0.25)),
                "q3": float(totals.quantile(0.75)),
            }
        )
    table = pd.DataFrame.from_records(records, columns=TABLE_COLUMNS)
    return _sorted_by_instrument(table).reset_index(drop=True)


MAX_GROUPS = 12
"""Small multiples show at most this many panels: the largest groups by courses, the rest
pooled into one (50 sites would be 17 rows of panels, unreadable and slow to draw)."""


def _courses(n: int) -> str:
    return f"{n:,} course" if n == 1 else f"{n:,} courses"


def grouped_table(
    values: pd.DataFrame,
    group_of_course: pd.Series,
    *,
    axis: str = "session",
    max_groups: int = MAX_GROUPS,
    others: str = "others",
) -> pd.DataFrame:
    """Trajectory table per group of courses, with a `group` label "name (n courses)".

    `values` is `course_values` of one instrument; `group_of_course` maps course_id to its
    group (missing: "unknown"). Beyond `max_groups`, the `max_groups − 1` largest groups are
    kept (ties by name) and the others pooled into one group, "k <others>", drawn last.
    """
    group = values["course_id"].map(group_of_course).astype(object).fillna("unknown")
    sizes = values.groupby(group.to_numpy())["course_id"].nunique()
    names = sorted(sizes.index)
    pooled = None
    if len(names) > max_groups:
        largest = sorted(names, key=lambda name: (-sizes[name], name))[: max_groups - 1]
        pooled = f"{len(names) - len(largest)} {others}"
        group = group.where(group.isin(set(largest)), pooled)
        names = [*sorted(largest), pooled]
    frames = []
    for name in names:
        part = values[(group == name).to_numpy()]
        label = f"{name} ({_courses(part['course_id'].nunique())})"
        frames.append(table_from_values(part, axis=axis).assign(group=label))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _sorted_by_instrument(frame: pd.DataFrame) -> pd.DataFrame:
    rank = {name: i for i, name in enumerate(OUTCOME_INSTRUMENTS)}
    return (
        frame.assign(_rank=frame["instrument"].astype(object).map(rank))
        .sort_values(["_rank", "order"], kind="stable")
        .drop(columns="_rank")
    )


def attrition(
    points: pd.DataFrame, *, axis: str = "session", values: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Courses contributing at each point, and their share of all courses with a score.

    `values`, when given, is `course_values(points, axis=axis)` computed once by the caller.
    """
    values = course_values(points, axis=axis) if values is None else values
    total = values.groupby("instrument")["course_id"].nunique()
    counts = values.groupby(["instrument", "order"], as_index=False).agg(
        point=("point", "first"), courses=("course_id", "nunique")
    )
    counts["share"] = counts["courses"] / counts["instrument"].map(total).astype("float64")
    counts = counts[["instrument", "point", "order", "courses", "share"]]
    return _sorted_by_instrument(counts).reset_index(drop=True)


def course_lines(
    points: pd.DataFrame,
    *,
    axis: str = "session",
    instrument: str,
    max_courses: int = 500,
    seed: int = 0,
    values: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, int]:
    """Per-course values of one instrument for a spaghetti layer, and the course count.

    More than `max_courses` courses are thinned to a seeded random sample of that size
    (readability and browser performance); the second value is how many there were.
    `values`, when given, is `course_values(points, axis=axis)` computed once by the caller.
    """
    if values is None:
        values = course_values(points[points["instrument"] == instrument], axis=axis)
    else:
        values = values[values["instrument"] == instrument]
    courses = values["course_id"].drop_duplicates()
    total = int(courses.size)
    if total > max_courses:
        keep = courses.sample(n=max_courses, random_state=seed)
        values = values[values["course_id"].isin(set(keep))]
    return values.sort_values(["course_id", "order"], kind="stable").reset_index(drop=True), total


DOSE_BANDS_MG_PER_KG = (0.5, 0.75)
"""IV/IM display bands: < 0.5, 0.5–<0.75, ≥ 0.75 mg/kg (0.5 mg/kg is the usual IV dose)."""
DOSE_BANDS_MG = (56.0, 84.0, 200.0)
"""Fixed-dose display bands (mg): esketamine 56/84 mg, lozenges up to ~300 mg."""


def _band(value: float, edges: tuple[float, ...], unit: str) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if value < edges[0]:
        return f"< {edges[0]:g} {unit}"
    for low, high in zip(edges, edges[1:], strict=False):
        if value < high:
            return f"{low:g}–<{high:g} {unit}"
    return f"≥ {edges[-1]:g} {unit}"


FIRST_DOSE_COLUMNS = [
    "course_id",
    "patient_id",
    "site",
    "indication",
    "route",
    "dose_mg",
    "dose_mg_per_kg",
]
"""Per course: its patient's site and indication, route and dose of its first completed
dose (kapviz.db.aggregates.cohort.course_first_doses reads the same in SQL)."""


def course_first_doses(sessions: pd.DataFrame) -> pd.DataFrame:
    """FIRST_DOSE_COLUMNS per course of `sessions` (route and dose NaN without a dose)."""
    done = sessions[(sessions["phase"] == "dosing") & (sessions["status"] == "completed")]
    first = done.sort_values("started_at", kind="stable").drop_duplicates("course_id")
    base = sessions.drop_duplicates("course_id")[["course_id", "patient_id", "site", "indication"]]
    return base.merge(
        first[["course_id", "route", "dose_mg", "dose_mg_per_kg"]], on="course_id", how="left"
    )


def course_attributes(sessions: pd.DataFrame) -> pd.DataFrame:
    """Per course: site, indication, route and dose band of its first completed dose."""
    return attributes_from_first_doses(course_first_doses(sessions))


def attributes_from_first_doses(first_doses: pd.DataFrame) -> pd.DataFrame:
    """Course attributes (site, indication, route label, dose band) from FIRST_DOSE_COLUMNS,
    sorted by course."""
    out = first_doses.sort_values("course_id", kind="stable").reset_index(drop=True)
    bands = []
    for route, mg, mgkg in out[["route", "dose_mg", "dose_mg_per_kg"]].itertuples(index=False):
        if route in WEIGHT_BASED_ROUTES and pd.notna(mgkg):
            bands.append(_band(float(mgkg), DOSE_BANDS_MG_PER_KG, "mg/kg"))
        elif pd.notna(mg):
            bands.append(_band(float(mg), DOSE_BANDS_MG, "mg"))
        else:
            bands.append(None)
    out["dose_band"] = pd.Series(bands, index=out.index, dtype=object)
    out["route"] = out["route"].map(lambda r: ROUTE_LABELS.get(r, r) if isinstance(r, str) else r)
    cols = ["course_id", "patient_id", "site", "indication", "route", "dose_band"]
    return out[cols].astype(object).reset_index(drop=True)
