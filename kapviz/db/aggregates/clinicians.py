"""The clinician view's inputs grouped in SQL (docs/domain.md §4c), equal to
kapviz.metrics.clinicians on the sessions frame and the Safety view's tables
(tests/db/test_aggregates_clinicians.py):

- `course_clinicians`: course_id → the clinician of most of its completed dosing sessions
  (a tie goes to the first code in byte order), one row per course rather than every session;
- `clinician_counts`: per clinician, the doses of the filters (completed dosing sessions
  of the courses in scope started inside the date range) of their courses, the adverse
  events on them (session × term) and the doses with a BP excursion, counted by GROUP BY
  rather than read dose by dose. The excursion thresholds are the settings', bound as
  parameters.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from sqlalchemy import Connection, Select, case, exists, func, or_, select
from sqlalchemy.sql.expression import ColumnElement, Subquery

from kapviz.db import queries
from kapviz.db.aggregates import safety as safety_sql
from kapviz.db.models import Session, SideEffect, VitalSign
from kapviz.filters import Filters
from kapviz.metrics.clinicians import COUNT_COLUMNS


def _byte_order(column: ColumnElement, conn: Connection) -> ColumnElement:
    """`column` compared by code point, as Python sorts strings: PostgreSQL's default
    collation may not (SQLite's BINARY does)."""
    return column.collate("C") if conn.dialect.name == "postgresql" else column


def _owners(
    conn: Connection, filters: Filters, *, courses: Sequence[str] | None = None
) -> Subquery:
    """(course_id, clinician) of every course in scope (of `courses` only, when given) with
    a completed dose by a clinician."""
    conditions = [
        Session.phase == "dosing",
        Session.status == "completed",
        Session.clinician.is_not(None),
        Session.course_id.is_not(None),
    ]
    scope = queries.course_scope(filters)
    if scope is not None:
        conditions.append(Session.course_id.in_(scope))
    if courses is not None:
        conditions.append(Session.course_id.in_(list(courses)))
    n = func.count().label("n")
    counts = (
        select(Session.course_id, Session.clinician, n)
        .where(*conditions)
        .group_by(Session.course_id, Session.clinician)
        .subquery()
    )
    rank = (
        func.row_number()
        .over(
            partition_by=counts.c.course_id,
            order_by=(counts.c.n.desc(), _byte_order(counts.c.clinician, conn)),
        )
        .label("rank")
    )
    ranked = select(counts.c.course_id, counts.c.clinician, rank).subquery()
    return (
        select(ranked.c.course_id, ranked.c.clinician).where(ranked.c.rank == 1).subquery("owners")
    )


def course_clinicians(conn: Connection, filters: Filters) -> pd.Series:
    """course_id → clinician (kapviz.metrics.clinicians.course_clinicians of the sessions
    in scope), sorted by course id."""
    owners = _owners(conn, filters)
    frame = queries.read_frame(
        conn, select(owners.c.course_id, owners.c.clinician), ["course_id", "clinician"]
    )
    frame = frame.sort_values("course_id", kind="stable")
    return pd.Series(
        frame["clinician"].astype(object).to_numpy(),
        index=pd.Index(frame["course_id"].astype(object), name="course_id"),
        name="clinician",
    )


def _counted(
    owners: Subquery, filters: Filters, *, systolic: float, diastolic: float, by: list
) -> Select:
    """The doses of the filters on the owners' courses, their adverse events (session ×
    term) and the doses with a BP excursion, grouped by `by` (columns of `owners`): the one
    definition of the clinician view's safety counts, per clinician or per course."""
    events = (
        select(func.count(SideEffect.term.distinct()))
        .where(SideEffect.session_id == Session.session_id)
        .scalar_subquery()
    )
    excursion = exists(
        select(VitalSign.session_id).where(
            VitalSign.session_id == Session.session_id,
            or_(VitalSign.systolic >= systolic, VitalSign.diastolic >= diastolic),
        )
    )
    return (
        select(
            *by,
            func.count(),
            func.coalesce(func.sum(events), 0),
            func.coalesce(func.sum(case((excursion, 1), else_=0)), 0),
        )
        .select_from(Session)
        .join(owners, owners.c.course_id == Session.course_id)
        .where(*safety_sql.dose_conditions(filters))
        .group_by(*by)
    )


def clinician_counts(
    conn: Connection, filters: Filters, *, systolic: float, diastolic: float
) -> pd.DataFrame:
    """COUNT_COLUMNS per clinician with at least one dose of the filters on their courses
    (kapviz.metrics.clinicians.safety_counts of the Safety view's tables), sorted by code.

    systolic/diastolic: the BP excursion thresholds (a dose with any reading at or above
    either is an excursion).
    """
    owners = _owners(conn, filters)
    stmt = _counted(
        owners, filters, systolic=systolic, diastolic=diastolic, by=[owners.c.clinician]
    )
    frame = queries.read_frame(conn, stmt, COUNT_COLUMNS)
    return _typed(frame).sort_values("clinician", kind="stable").reset_index(drop=True)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    for column in COUNT_COLUMNS[1:]:
        frame[column] = frame[column].astype("int64")
    frame["clinician"] = frame["clinician"].astype(object)
    return frame


COURSE_COUNT_COLUMNS = ["course_id", *COUNT_COLUMNS]


def course_counts(
    conn: Connection, courses: Sequence[str] | None, *, systolic: float, diastolic: float
) -> pd.DataFrame:
    """COURSE_COUNT_COLUMNS of these courses (every course when None) with a clinician:
    `clinician_counts` per course, whose sums per clinician over the courses in scope are
    `clinician_counts` for filters of sites and indications (kapviz.db.clinician_rollups)."""
    owners = _owners(conn, Filters(), courses=courses)
    stmt = _counted(
        owners,
        Filters(),
        systolic=systolic,
        diastolic=diastolic,
        by=[owners.c.course_id, owners.c.clinician],
    )
    frame = queries.read_frame(conn, stmt, COURSE_COUNT_COLUMNS)
    frame["course_id"] = frame["course_id"].astype(object)
    return _typed(frame)


def inputs(
    conn: Connection, filters: Filters, *, systolic: float, diastolic: float
) -> tuple[pd.Series, pd.DataFrame]:
    """(`course_clinicians`, `clinician_counts`): the clinician view's inputs in one cached
    aggregate (kapviz.ui.data.aggregate)."""
    return (
        course_clinicians(conn, filters),
        clinician_counts(conn, filters, systolic=systolic, diastolic=diastolic),
    )
