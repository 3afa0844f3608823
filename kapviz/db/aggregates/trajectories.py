"""The Trajectories page's course values read live, per course: every outcome score of the
courses placed on both time axes (kapviz.metrics.trajectory_axes) and summed per course and
point (kapviz.metrics.trajectory_tables.course_values).

These are the rows kapviz.db.rollups keeps per course (RollupTrajectoryValue); the page
reads them back with `values_from_rows`, which gives exactly `course_values` of the live
points (tests/db/test_trajectory_rollups.py compares both on SQLite and PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from kapviz.db.aggregates import cohort
from kapviz.filters import Filters
from kapviz.metrics import trajectory_tables
from kapviz.metrics.trajectory_axes import AXES, day_bins, points_from_scores, session_points

ROW_COLUMNS = [
    "course_id",
    "patient_id",
    "instrument",
    "axis",
    "point_order",
    "phase",
    "total_sum",
    "scores",
]


def course_rows(
    conn: Connection, courses: Sequence[str] | None = None, *, window_days: int = 30
) -> pd.DataFrame:
    """ROW_COLUMNS per course × instrument × axis × point of these courses (every course
    when None), unfiltered.

    Only scores stored with one of `courses` are read for a subset (as the cohort band's
    rows, kapviz.db.aggregates.case.course_rows): a reader checks that no score waits for its
    course to be derived (case.has_unresolved_scores) before it uses them."""
    points = placed_points(conn, courses, window_days=window_days)
    frames = []
    for axis in AXES:
        values = trajectory_tables.course_values(points, axis=axis, sums=True)
        frames.append(
            pd.DataFrame(
                {
                    "course_id": values["course_id"].astype(object),
                    "patient_id": values["patient_id"].astype(object),
                    "instrument": values["instrument"].astype(object),
                    "axis": axis,
                    "point_order": values["order"].astype(np.int64),
                    "phase": values["phase"].astype(object),
                    "total_sum": values["total_sum"],
                    "scores": values["scores"],
                },
                columns=ROW_COLUMNS,
            )
        )
    return pd.concat(frames, ignore_index=True)


def placed_points(
    conn: Connection,
    courses: Sequence[str] | None,
    *,
    window_days: int = 30,
    filters: Filters = Filters(),
) -> pd.DataFrame:
    """The compact placed points (kapviz.metrics.trajectory_axes) of the scores stored with
    these courses (every course's when None): the rollups' rows, and the mixed model's
    sampled courses (read within the viewer's filters too, like every page query)."""
    scope = {"courses": courses}
    scores = cohort.outcome_scores(conn, filters, **scope)
    anchors = cohort.course_anchors(conn, filters, **scope)
    doses = cohort.completed_doses(conn, filters, **scope)
    sessions = cohort.session_times(conn, filters, **scope)
    return points_from_scores(
        scores, anchors, doses, sessions, baseline_window_days=window_days, compact=True
    )


def values_from_rows(rows: pd.DataFrame, *, axis: str, window_days: int = 30) -> pd.DataFrame:
    """`course_values(points, axis=axis)` from stored rows of that axis (instrument,
    patient_id, course_id, point_order, phase, total_sum, scores): the same rows in the same
    order, the point's label and x from the axis, the value the mean of the course's scores
    there."""
    if axis == "session":
        labels = session_points()["label"].to_numpy(dtype=object)
        xs = np.arange(len(labels), dtype="float64")
    elif axis == "days":
        bins = day_bins(baseline_window_days=window_days)
        labels = bins["label"].to_numpy(dtype=object)
        xs = bins["x"].to_numpy(dtype="float64")
    else:
        raise ValueError(f"axis must be one of {AXES}, got {axis!r}")
    ids = ["instrument", "patient_id", "course_id"]
    rows = rows.astype({col: "str" for col in ids}).sort_values(
        [*ids, "point_order"], kind="stable", ignore_index=True
    )
    order = rows["point_order"].to_numpy(dtype=np.int64)
    return pd.DataFrame(
        {
            **{col: rows[col] for col in ids},
            "point": pd.Series(labels[order], dtype=object),
            "order": order,
            "x": xs[order],
            "phase": rows["phase"].astype(object),
            "total": totals_of_rows(rows),
        },
        columns=trajectory_tables.VALUE_COLUMNS,
    )


def totals_of_rows(rows: pd.DataFrame) -> np.ndarray:
    """The value of stored rows (total_sum, scores): the mean of the course's scores there."""
    return trajectory_tables.totals_of(
        pd.to_numeric(rows["total_sum"]).to_numpy(dtype=np.int64),
        pd.to_numeric(rows["scores"]).to_numpy(dtype=np.int64),
    )
