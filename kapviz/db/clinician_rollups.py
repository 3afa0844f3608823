"""The clinician view's inputs kept per course and summed per clinician in SQL.

Why: `kapviz.db.aggregates.clinicians` finds each course's clinician and counts its doses,
adverse events and BP excursions from every completed dose and its side effects and
readings at each cold load, which grows with the clinic. Kept per course (registered in
kapviz.db.rollups.COURSE_ROLLUPS, so an import recomputes only the courses it touched), the
page sums one row per course in scope. Same SQL definition as the live path
(`clinicians.course_counts` groups what `clinicians.clinician_counts` counts by course);
the excursion thresholds are the settings' at build time, stored with each row: a reader
with other thresholds takes the live path (tests/db/test_clinician_rollups.py compares
both on SQLite and PostgreSQL, also after an incremental refresh).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from sqlalchemy import Connection, func, or_, select

from kapviz import config
from kapviz.db import queries
from kapviz.db.aggregates import clinicians as clinicians_sql
from kapviz.db.models import Course, Patient, RollupCourseClinician
from kapviz.filters import Filters
from kapviz.metrics.clinicians import COUNT_COLUMNS


def course_rows(conn: Connection, courses: Sequence[str] | None) -> dict[type, pd.DataFrame]:
    """RollupCourseClinician's rows for these courses (every course when None), at the
    configured excursion thresholds."""
    settings = config.load_settings()
    systolic, diastolic = settings.bp_excursion_systolic, settings.bp_excursion_diastolic
    counts = clinicians_sql.course_counts(conn, courses, systolic=systolic, diastolic=diastolic)
    stmt = select(Course.course_id, Patient.site, Patient.indication).join(
        Patient, Patient.patient_id == Course.patient_id
    )
    if courses is not None:
        stmt = stmt.where(Course.course_id.in_(list(courses)))
    groups = queries.read_frame(conn, stmt, ["course_id", "site", "indication"])
    groups["course_id"] = groups["course_id"].astype(object)
    rows = counts.merge(groups, on="course_id", how="left")
    return {RollupCourseClinician: rows.assign(systolic=systolic, diastolic=diastolic)}


def _where(filters: Filters) -> list:
    return queries.rollup_conditions(RollupCourseClinician, filters)


def inputs(
    conn: Connection, filters: Filters, *, systolic: float, diastolic: float
) -> tuple[pd.Series, pd.DataFrame] | None:
    """`clinicians.inputs` from the rollup, for filters of sites and indications only
    (kapviz.db.rollups.serves) while the rollups are current; None when the rows were
    computed at other excursion thresholds (then read live)."""
    t = RollupCourseClinician
    other = select(t.course_id).where(or_(t.systolic != systolic, t.diastolic != diastolic))
    if conn.execute(other.limit(1)).first() is not None:
        return None
    conditions = _where(filters)
    owners = queries.read_frame(
        conn, select(t.course_id, t.clinician).where(*conditions), ["course_id", "clinician"]
    )
    owners = owners.sort_values("course_id", kind="stable")
    clinician_of = pd.Series(
        owners["clinician"].astype(object).to_numpy(),
        index=pd.Index(owners["course_id"].astype(object), name="course_id"),
        name="clinician",
    )
    stmt = (
        select(
            t.clinician,
            func.sum(t.dosing_sessions),
            func.sum(t.adverse_events),
            func.sum(t.excursion_sessions),
        )
        .where(*conditions)
        .group_by(t.clinician)
    )
    counts = queries.read_frame(conn, stmt, COUNT_COLUMNS)
    for column in COUNT_COLUMNS[1:]:
        counts[column] = pd.to_numeric(counts[column]).astype("int64")
    counts["clinician"] = counts["clinician"].astype(object)
    counts = counts.sort_values("clinician", kind="stable").reset_index(drop=True)
    return clinician_of, counts
