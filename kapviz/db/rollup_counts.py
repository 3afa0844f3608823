"""The Data page's row counts, kept per course with the rollups (kapviz.db.rollups).

Why: counting every table's rows (a million vital signs at 100,000 patients) on each cold
load grows with the clinic. Each course's rows per table are kept in RollupCourseCount,
computed at a rollup build and refreshed for the courses an import touched; the totals are
sums of one row per course, plus the two counts no course holds (patients, and assessments
without a course), read live from their indexes. Exact while the rollups are current (their
stamp is the data's version): the reader checks that first, else counts live.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from sqlalchemy import Connection, func, select

from kapviz.db import queries
from kapviz.db.models import (
    Assessment,
    Course,
    Dosing,
    Patient,
    RollupCourseCount,
    Session,
    SideEffect,
    VitalSign,
)

BY_SESSION = (("dosings", Dosing), ("side_effects", SideEffect), ("vitals", VitalSign))
"""Tables whose rows belong to a course through their session."""
COUNT_COLUMNS = ("sessions", "dosings", "assessments", "side_effects", "vitals")


def course_count_rows(conn: Connection, courses: Sequence[str] | None) -> dict[type, pd.DataFrame]:
    """One RollupCourseCount row per course of `courses` (every course when None), zeros
    included: its sessions, and the dosings, assessments, side effects and vitals of them."""
    wanted = None if courses is None else list(courses)

    def of(stmt, column):
        return stmt if wanted is None else stmt.where(column.in_(wanted))

    frame = queries.read_frame(conn, of(select(Course.course_id), Course.course_id), ["course_id"])
    grouped = {
        "sessions": select(Session.course_id, func.count()).group_by(Session.course_id),
        "assessments": select(Assessment.course_id, func.count())
        .where(Assessment.course_id.is_not(None))
        .group_by(Assessment.course_id),
    }
    for name, model in BY_SESSION:
        grouped[name] = (
            select(Session.course_id, func.count())
            .select_from(model)
            .join(Session, Session.session_id == model.session_id)
            .group_by(Session.course_id)
        )
    for name in COUNT_COLUMNS:
        column = Assessment.course_id if name == "assessments" else Session.course_id
        counts = queries.read_frame(conn, of(grouped[name], column), ["course_id", name])
        frame = frame.merge(counts, on="course_id", how="left")
    counted = frame[list(COUNT_COLUMNS)].fillna(0).astype("int64")
    return {RollupCourseCount: pd.concat([frame[["course_id"]], counted], axis=1)}


def table_counts(conn: Connection) -> dict[str, int]:
    """kapviz.db.queries.table_counts (same keys, same numbers) from the per-course counts;
    only while the rollups are current (kapviz.db.rollups.is_current)."""
    t = RollupCourseCount
    sums = [func.coalesce(func.sum(getattr(t, c)), 0) for c in COUNT_COLUMNS]
    courses, *summed = conn.execute(select(func.count(), *sums).select_from(t)).one()
    per_course = dict(zip(COUNT_COLUMNS, (int(n) for n in summed), strict=True))
    patients = conn.execute(select(func.count()).select_from(Patient)).scalar_one()
    without_course = conn.execute(
        select(func.count()).select_from(Assessment).where(Assessment.course_id.is_(None))
    ).scalar_one()
    return {
        "patients": int(patients),
        "courses": int(courses),
        "sessions": per_course["sessions"],
        "dosings": per_course["dosings"],
        "assessments": per_course["assessments"] + int(without_course),
        "side_effects": per_course["side_effects"],
        "vitals": per_course["vitals"],
    }
