"""The Case explorer's inputs: one patient's placed scores and the cohort's band summary.

Both place scores with the one implementation of the docs/domain.md §3 placement rule,
kapviz.metrics.trajectory_axes, on the narrow reads of kapviz.db.aggregates.cohort (the
same inputs as the Trajectories page), so a case's chart and the cohort's trajectory put a
score at the same point. A score stored without a course takes its session's course, else
the patient's latest course begun on or before its date (kapviz.metrics.courses).

The cohort summary is what the similar-baseline band of every case is drawn from: per
instrument, course baseline (kapviz.metrics.outcomes' rule), session-axis point and course
value (the sum and count of the course's scores there; their quotient is the mean the
pandas metric takes), how many courses have exactly that value. A few thousand rows
instead of every placed score; the band of one case is then a sum of counts over the
baselines within tolerance, less the case's own course.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Connection, DateTime, Integer, literal, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from kapviz.db import queries
from kapviz.db.aggregates import cohort
from kapviz.db.models import Assessment
from kapviz.filters import Filters
from kapviz.instruments import OUTCOME_INSTRUMENTS
from kapviz.metrics.outcomes import outcomes_from_scores
from kapviz.metrics.scores import SCORE_COLUMNS
from kapviz.metrics.trajectory_axes import MAX_DOSES, points_from_scores, session_points


class days_before(FunctionElement):  # reads like the SQL expression it renders
    """`timestamp − n days`, exact to the microsecond, on SQLite and PostgreSQL.

    SQLite stores SQLAlchemy datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff' text: the shifted
    date and time are rebuilt in that same format (whole days leave the fraction alone), so
    text comparison stays chronological comparison. `days` is a bound parameter: rendered
    into the SQL it would also be left out of SQLAlchemy's statement cache key, and a cached
    statement of another window would be run.
    """

    type = DateTime()
    inherit_cache = True

    def __init__(self, expr, days: int) -> None:
        super().__init__(expr, literal(int(days), Integer()))


@compiles(days_before, "sqlite")
def _days_before_sqlite(element, compiler, **kw):
    expr, days = (compiler.process(c, **kw) for c in element.clauses.clauses)
    shifted = f"strftime('%Y-%m-%d %H:%M:%S', {expr}, '-' || {days} || ' days')"
    return f"({shifted} || substr({expr}, 20))"


@compiles(days_before)
def _days_before_default(element, compiler, **kw):
    expr, days = (compiler.process(c, **kw) for c in element.clauses.clauses)
    return f"({expr} - {days} * interval '1 day')"


_AXIS = session_points(max_doses=MAX_DOSES)


def has_unresolved_scores(conn: Connection, filters: Filters) -> bool:
    """True when the view sees outcome scores stored without a course (rare: the writer
    resolves the course on import; only an unscoped view sees such rows, as in queries)."""
    if queries.course_scope(filters) is not None:
        return False
    stmt = (
        select(Assessment.id)
        .where(Assessment.course_id.is_(None), Assessment.instrument.in_(OUTCOME_INSTRUMENTS))
        .limit(1)
    )
    return conn.execute(stmt).first() is not None


def _placed(
    conn: Connection,
    filters: Filters,
    *,
    patient_id: str | None,
    window_days: int,
    courses: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(placed points, outcomes) of the scores in view (one patient's, or these courses',
    when given)."""
    scope = {"patient_id": patient_id, "courses": courses}
    scores = cohort.outcome_scores(conn, filters, **scope)
    anchors = cohort.course_anchors(conn, filters, **scope)
    doses = cohort.completed_doses(conn, filters, **scope)
    sessions = cohort.session_times(conn, filters, **scope)
    points = points_from_scores(scores, anchors, doses, sessions, baseline_window_days=window_days)
    points["session_id"] = scores["session_id"].to_numpy(dtype=object)  # same row order
    outcomes = outcomes_from_scores(scores, anchors, doses, baseline_window_days=window_days)
    return points, outcomes


POINT_COLUMNS = [*SCORE_COLUMNS, "phase", "point_order", "baseline"]


def case_points(
    conn: Connection, filters: Filters, *, patient_id: str, window_days: int = 30
) -> pd.DataFrame:
    """One patient's outcome scores placed on the session axis, with their course baseline.

    Columns: id, patient_id, course_id, session_id, instrument, administered_at, total,
    phase, point_order, point (the axis label) and baseline (the course's baseline of that
    instrument, NaN without one), ordered by course, instrument, time and id like
    kapviz.metrics.scores.course_scores.
    """
    points, outcomes = _placed(conn, filters, patient_id=patient_id, window_days=window_days)
    baselines = outcomes[["course_id", "instrument", "baseline"]].astype(
        {"course_id": object, "instrument": object}
    )
    frame = points.merge(baselines, on=["course_id", "instrument"], how="left", sort=False)
    frame["baseline"] = pd.to_numeric(frame["baseline"]).astype("float64")
    frame["point_order"] = frame["point_order"].astype("Int64")
    frame["point"] = frame["point_order"].map(_AXIS["label"]).astype(object)
    for col in ("patient_id", "course_id", "session_id", "instrument", "phase", "session_phase"):
        frame[col] = frame[col].astype(object)
    return frame[[*POINT_COLUMNS, "session_phase", "point"]].reset_index(drop=True)


@dataclass(frozen=True)
class CohortSummary:
    """Every case's similar-baseline band in two small tables (read-only frames).

    `values`: instrument, baseline, order, total_sum, scores, courses — how many courses
    with that baseline of the instrument have the value total_sum / scores (the mean of
    their scores there) at that session-axis point.
    `baselines`: instrument, baseline, courses — how many courses have that baseline.
    """

    values: pd.DataFrame
    baselines: pd.DataFrame


def cohort_summary(conn: Connection, filters: Filters, *, window_days: int = 30) -> CohortSummary:
    """Course values counted per instrument × baseline × point (see CohortSummary).

    Every score in view is placed (kapviz.metrics.trajectory_axes) and each course's
    baseline is its outcome's (kapviz.metrics.outcomes): the same rules as the Trajectories
    page and the outcome tiles.
    """
    points, outcomes = _placed(conn, filters, patient_id=None, window_days=window_days)
    return summarise(points, outcomes)


def course_rows(
    conn: Connection, courses: Sequence[str] | None = None, *, window_days: int = 30
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`course_values` of these courses (every course when None), unfiltered: the rows the
    rollups keep per course (kapviz.db.rollups), counted by `summarise_values`."""
    points, outcomes = _placed(
        conn, Filters(), patient_id=None, window_days=window_days, courses=courses
    )
    return course_values(points, outcomes)


def course_values(points: pd.DataFrame, outcomes: pd.DataFrame) -> tuple[pd.DataFrame, ...]:
    """(values, baselines) per course before they are counted: values has instrument,
    course_id, order, total_sum, scores and baseline per course with a baseline and a score
    at that point; baselines has instrument, course_id, baseline per course with one."""
    keys = ["instrument", "course_id"]
    base = outcomes.loc[outcomes["baseline"].notna(), [*keys, "baseline"]].astype(
        {"instrument": object, "course_id": object}
    )
    placed = points.loc[points["point_order"].notna(), [*keys, "point_order", "total"]]
    placed = placed.astype({"instrument": object, "course_id": object})
    per_course = placed.groupby([*keys, "point_order"], sort=False)["total"].agg(
        total_sum="sum", scores="size"
    )
    per_course = per_course.reset_index().rename(columns={"point_order": "order"})
    per_course = per_course.merge(base, on=keys, how="inner")
    return per_course, base.reset_index(drop=True)


def summarise(points: pd.DataFrame, outcomes: pd.DataFrame) -> CohortSummary:
    """CohortSummary of placed scores (instrument, course_id, total, point_order) and the
    courses' outcomes (course_id, instrument, baseline)."""
    return summarise_values(*course_values(points, outcomes))


def summarise_values(per_course: pd.DataFrame, base: pd.DataFrame) -> CohortSummary:
    """CohortSummary of `course_values`' per-course rows: how many courses have each."""
    value_keys = ["instrument", "baseline", "order", "total_sum", "scores"]
    values = per_course.groupby(value_keys, sort=True).size().rename("courses").reset_index()
    baselines = (
        base.groupby(["instrument", "baseline"], sort=True).size().rename("courses").reset_index()
    )
    if values.empty:
        values = pd.DataFrame(columns=[*value_keys, "courses"])
    if baselines.empty:
        baselines = pd.DataFrame(columns=["instrument", "baseline", "courses"])
    for frame in (values, baselines):
        for col in frame.columns[1:]:
            frame[col] = pd.to_numeric(frame[col]).astype("int64")
        frame["instrument"] = frame["instrument"].astype(object)
    return CohortSummary(values=values, baselines=baselines)
