"""Trajectory tables from placed scores: one value per course and point, the cohort table
(courses, mean with 95% CI, median, IQR), attrition, course lines and per-group tables.

Each course contributes one value per point (the mean of its scores there), so repeated
scores do not narrow the intervals. Grouped on integer codes (the compact points'
categoricals) with sorts rather than pandas groupbys; tests prove them equal to the
groupby definitions.
"""

from __future__ import annotations

from enum import Enum

import numpy as np
import pandas as pd
import pyarrow as pa

from kapviz.instruments import OUTCOME_INSTRUMENTS
from kapviz.metrics.scores import categorical
from kapviz.metrics.stats import mean_ci
from kapviz.metrics.trajectory_axes import AXES, day_bins, session_points

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


def course_values(
    points: pd.DataFrame, *, axis: str = "session", sums: bool = False
) -> pd.DataFrame:
    """One value per course × instrument × point: the mean of the course's scores there.

    Sorted by instrument, patient, course and point order (as a sorted groupby gives
    them); point, x and phase are those of the course's first score at the point. Grouped
    on integer codes with one stable sort (no per-row objects). `sums`: with the sum and
    count of the scores behind each mean too (total_sum, scores: what the rollups keep,
    kapviz.db.aggregates.trajectories).
    """
    with_sums = sums
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
    frame = pd.DataFrame(
        {
            **ids,
            "point": _first(points[label], first),
            "order": at[starts],
            "x": points[x].take(first).to_numpy(dtype="float64"),
            "phase": _first(points["phase"], first),
            "total": totals_of(sums, counts),
        },
        columns=VALUE_COLUMNS,
    )
    if with_sums:
        frame["total_sum"] = sums.astype(np.int64)
        frame["scores"] = counts.astype(np.int64)
    return frame


def totals_of(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """A course's value at a point: the mean of its scores there (one rule for the live
    values and the rollups' sums and counts)."""
    return np.asarray(sums, dtype="float64") / np.asarray(counts, dtype="int64")


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
        totals_here = pd.Series(part)
        mean, low, high = mean_ci(totals_here)
        # Series.median as the definition (np.nanmedian; np.percentile's 50th interpolates
        # differently in the last bit); quartiles are np.percentile, as Series.quantile.
        median = totals_here.median()
        q1, q3 = np.percentile(part, [25.0, 75.0])
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


COUNT_COLUMNS = ["instrument", "order", "total", "courses"]


def value_counts(values: pd.DataFrame) -> pd.DataFrame:
    """Courses per instrument, point and value of `course_values` (COUNT_COLUMNS, sorted):
    all a cohort table needs, in rows bounded by the scales' ranges, not the clinic's size
    (the rollups count them in SQL, kapviz.db.rollups.trajectory_counts)."""
    if values.empty:
        return pd.DataFrame(
            {
                "instrument": pd.Series(dtype="str"),
                "order": pd.Series(dtype="int64"),
                "total": pd.Series(dtype="float64"),
                "courses": pd.Series(dtype="int64"),
            }
        )
    counts = values.groupby(["instrument", "order", "total"], sort=True).size()
    frame = counts.reset_index(name="courses")
    return frame.astype(
        {"instrument": "str", "order": "int64", "total": "float64", "courses": "int64"}
    )


def table_from_counts(
    counts: pd.DataFrame, *, axis: str = "session", baseline_window_days: int = 30
) -> pd.DataFrame:
    """`table_from_values` of the values `counts` counts (`value_counts`): per instrument
    and point, courses, mean with 95% CI, median and IQR. The values are taken in
    ascending order, so the live and the rollup path give the same bits."""
    if axis == "session":
        axis_points = session_points()
        labels, phases = axis_points["label"], axis_points["phase"]
        xs = axis_points["order"].astype("float64")
    else:
        _axis_columns(axis)  # raises for an unknown axis
        bins = day_bins(baseline_window_days=baseline_window_days)
        labels, phases, xs = bins["label"], None, bins["x"]
    records = []
    ordered = counts.sort_values(["instrument", "order", "total"], kind="stable")
    for (instrument, order), part in ordered.groupby(["instrument", "order"], sort=True):
        totals = np.repeat(
            part["total"].to_numpy(dtype="float64"), part["courses"].to_numpy(dtype=np.int64)
        )
        totals_here = pd.Series(totals)
        mean, low, high = mean_ci(totals_here)
        q1, q3 = np.percentile(totals, [25.0, 75.0])
        records.append(
            {
                "instrument": instrument,
                "point": labels.iloc[int(order)],
                "order": int(order),
                "x": float(xs.iloc[int(order)]),
                "phase": phases.iloc[int(order)] if phases is not None else None,
                "courses": int(totals.size),
                "mean": mean,
                "ci_low": low,
                "ci_high": high,
                "median": float(totals_here.median()),
                "q1": float(q1),
                "q3": float(q3),
            }
        )
    table = pd.DataFrame.from_records(records, columns=TABLE_COLUMNS)
    return _sorted_by_instrument(table).reset_index(drop=True)


def attrition_from_counts(counts: pd.DataFrame, with_score: int) -> pd.DataFrame:
    """`attrition` of one instrument from its `value_counts` and the number of its courses
    with a value on the axis (courses, share per point)."""
    per_point = counts.groupby("order", sort=True)["courses"].sum()
    return pd.DataFrame(
        {
            "order": per_point.index.to_numpy(dtype=np.int64),
            "courses": per_point.to_numpy(dtype=np.int64),
            "share": per_point.to_numpy(dtype="float64") / float(with_score)
            if with_score
            else np.zeros(len(per_point)),
        }
    )


class CohortMeasure(Enum):
    """What a cohort trajectory line is the mean of (docs/domain.md §3 composition)."""

    CHANGE = "change"
    """Paired: each course's change from its own baseline, among courses with both."""
    SCORES = "scores"
    """Every available score: the courses behind the line change from point to point."""


MIN_COURSES = 10
"""A point of a cohort line with fewer courses than this is drawn as "too few" (greyed,
its n shown), never as a value with an interval that reads like a fact (docs/domain.md §3)."""


def paired_change_values(values: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """`course_values` as change from each course's baseline (docs/domain.md §3 composition).

    `outcomes` gives course_id, instrument and baseline (kapviz.metrics.outcomes); only
    courses with a baseline are kept, and `total` becomes the course's value at the point
    minus its baseline (negative: better on a higher-is-worse scale). A table of these
    values is the paired mean change: at every point, the same courses' own change, so
    courses joining or leaving the axis do not move the line.
    """
    base = outcomes.loc[outcomes["baseline"].notna(), ["course_id", "instrument", "baseline"]]
    base = base.astype({"course_id": str, "instrument": str})
    keyed = values.astype({"course_id": str, "instrument": str}).merge(
        base, on=["course_id", "instrument"], how="inner", sort=False
    )
    keyed["total"] = keyed["total"] - keyed["baseline"].astype("float64")
    return keyed[VALUE_COLUMNS].reset_index(drop=True)


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
    keep = sample_positions(total, max_courses, seed=seed)
    if keep is not None:
        values = values[np.isin(codes, keep)]
    return values.sort_values(["course_id", "order"], kind="stable").reset_index(drop=True), total


def sample_positions(total: int, max_courses: int, *, seed: int = 0) -> np.ndarray | None:
    """Positions of a seeded random sample of `max_courses` of `total` courses (in their
    order of first appearance), or None when there are not more than that: the one rule of
    the course lines' and the mixed model's samples (`Series.sample`'s positions)."""
    if total <= max_courses:
        return None
    positions = pd.Series(np.arange(total)).sample(n=max_courses, random_state=seed)
    return positions.to_numpy()
