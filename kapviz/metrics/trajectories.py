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
import pyarrow as pa

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


def _axis_columns(axis: str) -> tuple[str, str, str]:
    if axis == "session":
        return "point", "point_order", "point_order"
    if axis == "days":
        return "day_bin", "day_order", "day_x"
    raise ValueError(f"axis must be one of {AXES}, got {axis!r}")


VALUE_COLUMNS = ["instrument", "patient_id", "course_id", "point", "order", "x", "phase", "total"]


def _codes(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Codes and categories of an id column, categories sorted like the strings (the
    compact points' categoricals as they are; object columns dictionary-encoded)."""
    if (
        isinstance(values.dtype, pd.CategoricalDtype)
        and values.cat.categories.is_monotonic_increasing
    ):
        return values.cat.codes.to_numpy(dtype=np.int64), values.cat.categories
    encoded = categorical(values.astype("str"))
    return encoded.codes.astype(np.int64), encoded.categories


def _first(column: pd.Series, rows: np.ndarray) -> pd.Series:
    """column[rows] as an object column (the labels of categorical columns)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        names = np.append(np.asarray(column.cat.categories, dtype=object), np.nan)
        return pd.Series(names[column.cat.codes.to_numpy()[rows]], dtype=object)
    return pd.Series(column.to_numpy(dtype=object)[rows], dtype=object)


def _strings_of(codes: np.ndarray, categories: pd.Index) -> pd.Series:
    """categories[codes] as a str column, taken in Arrow (no per-row Python objects)."""
    taken = pa.array(categories, type=pa.large_string()).take(pa.array(codes))
    return pd.Series(pd.array(taken, dtype="str"))


def course_values(points: pd.DataFrame, *, axis: str = "session") -> pd.DataFrame:
    """One value per course × instrument × point: the mean of the course's scores there.

    Sorted by instrument, patient, course and point order (as a sorted groupby gives
    them); point, x and phase are those of the course's first score at the point. Grouped
    on integer codes with one stable sort (no per-row objects): 300k points in ~30 ms.
    """
    label, order, x = _axis_columns(axis)
    position = points[order]
    rows = np.flatnonzero(position.notna().to_numpy())
    keys = [_codes(points[col]) for col in ("instrument", "patient_id", "course_id")]
    at = position.take(rows).to_numpy(dtype=np.int64)
    codes = [k[0][rows] for k in keys]
    sort = np.lexsort((at, *reversed(codes)))
    at = at[sort]
    codes = [c[sort] for c in codes]
    rows = rows[sort]
    change = np.zeros(len(rows), dtype=bool)
    if len(rows):
        change[0] = True
        for key in (*codes, at):
            change[1:] |= key[1:] != key[:-1]
    starts = np.flatnonzero(change)
    first = rows[starts]
    totals = points["total"].to_numpy(dtype="float64")[rows]
    sums = np.add.reduceat(totals, starts) if len(starts) else np.zeros(0)
    counts = np.diff(np.append(starts, len(rows)))
    ids = {
        col: _strings_of(code[starts], categories)
        for col, code, (_, categories) in zip(
            ("instrument", "patient_id", "course_id"), codes, keys, strict=True
        )
    }
    return pd.DataFrame(
        {
            **ids,
            "point": _first(points[label], first),
            "order": at[starts],
            "x": points[x].take(first).to_numpy(dtype="float64"),
            "phase": _first(points["phase"], first),
            "total": sums / counts,
        },
        columns=VALUE_COLUMNS,
    )


def trajectory_table(
    points: pd.DataFrame, *, axis: str = "session", values: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Per instrument and point: courses, mean with 95% CI, median and IQR of the totals.

    `values`, when given, is `course_values(points, axis=axis)` computed once by the caller.
    """
    values = course_values(points, axis=axis) if values is None else values
    return table_from_values(values, axis=axis)


def _point_groups(values: pd.DataFrame) -> list[tuple[str, int, np.ndarray]]:
    """(instrument, order, row positions) per point of `values`, sorted by instrument name
    and order; rows in their order in `values`. One stable sort on integer keys instead of
    a pandas groupby (whose per-group frames cost more than the statistics)."""
    if values.empty:
        return []
    codes, names = _codes(values["instrument"])
    order = values["order"].to_numpy(dtype=np.int64)
    low = int(order.min())
    key = codes * (int(order.max()) - low + 1) + (order - low)
    rows = np.argsort(key, kind="stable")
    key = key[rows]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.append(starts[1:], len(rows))
    return [
        (names[codes[rows[a]]], int(order[rows[a]]), rows[a:b])
        for a, b in zip(starts, ends, strict=True)
    ]


def table_from_values(values: pd.DataFrame, *, axis: str = "session") -> pd.DataFrame:
    """`trajectory_table` from `course_values` (of any subset of courses)."""
    totals = values["total"].to_numpy(dtype="float64")
    points, xs, phases = values["point"].to_numpy(), values["x"].to_numpy(), values["phase"]
    records = []
    # Groups in order of first appearance, as groupby(sort=False) gave them before the
    # final sort (which only reorders instruments outside the registry).
    groups = sorted(_point_groups(values), key=lambda group: group[2][0])
    for instrument, order, rows in groups:
        part = totals[rows]
        mean, low, high = mean_ci(pd.Series(part))
        median, q1, q3 = np.percentile(part, [50.0, 25.0, 75.0])
        first = rows[0]
        records.append(
            {
                "instrument": instrument,
                "point": points[first],
                "order": order,
                "x": float(xs[first]),
                "phase": phases.iloc[first] if axis == "session" else None,
                "courses": int(part.size),
                "mean": mean,
                "ci_low": low,
                "ci_high": high,
                "median": float(median),
                "q1": float(q1),
                "q3": float(q3),
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


def _distinct(keys: np.ndarray) -> np.ndarray:
    """Sorted distinct values of integer keys (one sort; numpy 2's hashing `unique` took
    ten times longer on 170k keys)."""
    keys = np.sort(keys)
    return keys[np.r_[True, keys[1:] != keys[:-1]]] if len(keys) else keys


def attrition(
    points: pd.DataFrame, *, axis: str = "session", values: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Courses contributing at each point, and their share of all courses with a score.

    `values`, when given, is `course_values(points, axis=axis)` computed once by the caller.
    """
    values = course_values(points, axis=axis) if values is None else values
    if values.empty:
        return _sorted_by_instrument(
            pd.DataFrame(columns=["instrument", "point", "order", "courses", "share"])
        ).reset_index(drop=True)
    # Distinct (point, course) and (instrument, course) pairs as integer keys, counted by
    # one sort each; points in (instrument, order) order, as a sorted groupby gives them.
    instrument, names = _codes(values["instrument"])
    order = values["order"].to_numpy(dtype=np.int64)
    course = pd.factorize(values["course_id"])[0].astype(np.int64)
    n = int(course.max()) + 1
    low = int(order.min())
    point = instrument * (int(order.max()) - low + 1) + (order - low)
    keys, first = np.unique(point, return_index=True)
    courses = np.unique(_distinct(point * n + course) // n, return_counts=True)[1]
    found, with_score = np.unique(_distinct(instrument * n + course) // n, return_counts=True)
    of_point = instrument[first]
    counts = pd.DataFrame(
        {
            "instrument": pd.Series(names[of_point], dtype="str"),
            "point": pd.Series(values["point"].to_numpy(dtype=object)[first], dtype=object),
            "order": order[first],
            "courses": courses.astype(np.int64),
            "share": courses / with_score[np.searchsorted(found, of_point)].astype("float64"),
        }
    )
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
    # Courses numbered by first appearance; the sample takes Series.sample's positions.
    codes, courses = pd.factorize(values["course_id"])
    total = len(courses)
    if total > max_courses:
        keep = pd.Series(np.arange(total)).sample(n=max_courses, random_state=seed)
        values = values[np.isin(codes, keep.to_numpy())]
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
