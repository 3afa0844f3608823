"""The outcome and trajectory inputs, read narrow: scores, per-course anchors and doses.

The docs/domain.md §3 metrics (kapviz.metrics.outcomes, kapviz.metrics.trajectory_axes) need three
things from the sessions table: per course its patient, first session, first and last
completed dose and last completed integration session; the completed doses themselves
(to count doses up to a moment); and, per score tied to a session, that session's phase and
start. Read here narrow (grouped in SQL where that pays), they replace the whole sessions
frame (356k rows with dosing details at 20,000 patients) by ~22k anchor rows, ~150k dose
times and, for the trajectory axes only, three narrow session columns. Each function
returns exactly what the pandas definitions of kapviz.metrics.scores derive from
`kapviz.db.queries` frames (tests/db/test_aggregates_cohort.py proves it on both backends).
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Collection, Sequence

import pandas as pd
import pyarrow as pa
from sqlalchemy import Connection, Select, String, and_, case, func, select, type_coerce

from kapviz.db import queries
from kapviz.db.models import Assessment, Course, Dosing, Patient, Session
from kapviz.filters import Filters
from kapviz.instruments import OUTCOME_INSTRUMENTS
from kapviz.metrics import course_attributes
from kapviz.metrics import scores as sm


def release_memory() -> None:
    """Hand memory freed after a large read back to the operating system.

    Reading 600k scores leaves ~60 MB in Arrow's allocator pool and ~100 MB of freed
    parsing temporaries in glibc's heap (20,000 patients); the process's peak memory is
    what the 600 MB budget counts, so the next step should start from what is really
    used. Both calls are cheap (milliseconds); malloc_trim exists on glibc only.
    """
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _text(column):  # SQL expression
    """A timestamp column fetched as stored (ISO text on SQLite), parsed by sm.as_datetime
    with Arrow rather than by the query layer's pandas parser (~15× slower at 600k rows)."""
    return type_coerce(column, String)


def _in_scope(
    stmt, column, filters: Filters, patient_id: str | None, within: Select | None = None,
    courses: Sequence[str] | None = None,
):  # fmt: skip
    """stmt kept to the filters' courses (one patient's, when given; of the courses `within`
    selects and of the ids `courses` lists, when given: the rollups' per-course rows)."""
    if courses is not None:
        stmt = stmt.where(column.in_(list(courses)))
    scope = queries.course_scope(filters, patient_id)
    stmt = stmt if scope is None else stmt.where(column.in_(scope))
    return stmt if within is None else stmt.where(column.in_(within))


def patients_of(courses: Select) -> Select:
    """SELECT of the patients of the course ids `courses` selects."""
    return select(Course.patient_id).where(Course.course_id.in_(courses))


def _completed(phase: str):  # SQL expression
    return and_(Session.phase == phase, Session.status == "completed")


def course_anchors(
    conn: Connection,
    filters: Filters,
    *,
    patient_id: str | None = None,
    within: Select | None = None,
    courses: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Per course with sessions in scope (sm.ANCHOR_COLUMNS, indexed by course_id).

    patient_id is the course's patient (courses table), first_session_at its first session
    of any status, first/last_dose_at its first and last completed dosing session,
    last_integration_at its last completed integration session (NaT where none). Grouped
    over (course, phase, status, start) alone, which the course-timeline index covers
    (migration 0005); the patient is joined to the ~22k grouped rows afterwards.
    """

    def when(phase: str):  # SQL expression
        return case((_completed(phase), Session.started_at), else_=None)

    grouped = select(
        Session.course_id.label("course_id"),
        func.min(Session.started_at).label("first_session_at"),
        func.min(when("dosing")).label("first_dose_at"),
        func.max(when("dosing")).label("last_dose_at"),
        func.max(when("integration")).label("last_integration_at"),
    ).group_by(Session.course_id)
    grouped = _in_scope(grouped, Session.course_id, filters, patient_id, within, courses).subquery()
    stmt = select(
        grouped.c.course_id,
        Course.patient_id,
        *[_text(grouped.c[col]) for col in sm.ANCHOR_COLUMNS[1:]],
    ).join(Course, Course.course_id == grouped.c.course_id)
    frame = queries.read_frame(conn, stmt, ["course_id", *sm.ANCHOR_COLUMNS])
    return sm.anchor_frame(frame)


def completed_doses(
    conn: Connection,
    filters: Filters,
    *,
    patient_id: str | None = None,
    within: Select | None = None,
    courses: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Completed dosing sessions in scope: course_id, started_at, dose_number (1…n).

    The same frame as `sm.completed_doses(queries.sessions(...))`.
    """
    stmt = select(Session.course_id, _text(Session.started_at)).where(_completed("dosing"))
    stmt = _in_scope(stmt, Session.course_id, filters, patient_id, within, courses)
    frame = queries.read_frame(conn, stmt, ["course_id", "started_at"])
    return sm.number_doses(frame)


def outcome_scores(
    conn: Connection,
    filters: Filters,
    *,
    patient_id: str | None = None,
    instruments: Collection[str] = OUTCOME_INSTRUMENTS,
    within: Select | None = None,
    courses: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Outcome-instrument scores in scope, as `sm.course_scores` returns them.

    Read from the covering score index alone. The course is the stored one; a score stored
    without one (rare: imports resolve it) gets its session's, else one by date, from a
    read of the sessions (`sm.course_scores`, the definition). `within` (a SELECT of course
    ids) keeps every score of those courses' patients, whose course may need deriving.
    """
    stmt = select(
        Assessment.id,
        Assessment.patient_id,
        Assessment.course_id,
        Assessment.session_id,
        Assessment.instrument,
        _text(Assessment.administered_at),
        Assessment.total,
    ).where(Assessment.instrument.in_(list(instruments)))
    if within is not None:
        stmt = stmt.where(Assessment.patient_id.in_(patients_of(within)))
    if patient_id is not None and courses is None and queries.course_scope(filters) is None:
        # An unscoped view of one patient: by patient, so that the patient's scores stored
        # without a course are read too (their course is derived below).
        stmt = stmt.where(Assessment.patient_id == patient_id)
    else:
        stmt = _in_scope(stmt, Assessment.course_id, filters, patient_id, courses=courses)
    frame = queries.read_frame(conn, stmt, sm.SCORE_COLUMNS)
    if not frame["course_id"].isna().any():
        scores = sm.score_frame(frame)
        del frame
        release_memory()
        return scores
    lookup = select(Session.session_id, Session.patient_id, Session.course_id, Session.started_at)
    lookup = _in_scope(lookup, Session.course_id, filters, patient_id, courses=courses)
    if within is not None:
        lookup = lookup.where(Session.patient_id.in_(patients_of(within)))
    sessions = queries.read_frame(
        conn, lookup, ["session_id", "patient_id", "course_id", "started_at"]
    )
    return sm.course_scores(
        frame.assign(administered_at=sm.as_datetime(frame["administered_at"])), sessions
    )


def session_times(
    conn: Connection,
    filters: Filters,
    *,
    patient_id: str | None = None,
    courses: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Sessions in scope: session_id, phase, started_at (sm.SESSION_TIME_COLUMNS).

    What the trajectory axes need of the sessions that scores are tied to. Looked up in
    pandas rather than joined per score in SQL: SQLite probes the sessions table once per
    score in index order, which at 20,000 patients took 12 s instead of 0.3 s for this read.
    """
    stmt = select(Session.session_id, Session.phase, _text(Session.started_at))
    stmt = _in_scope(stmt, Session.course_id, filters, patient_id, courses=courses)
    frame = queries.read_frame(conn, stmt, sm.SESSION_TIME_COLUMNS)
    frame["started_at"] = sm.as_datetime(frame["started_at"])
    return frame


def course_first_doses(
    conn: Connection,
    filters: Filters,
    *,
    patient_id: str | None = None,
    courses: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Per course in scope: its patient's site and indication, route and dose of its first
    completed dose (`course_attributes.FIRST_DOSE_COLUMNS`, as
    `course_attributes.course_first_doses` of the sessions).

    For the small multiples by site, route, indication or dose band: ~22k rows instead of
    the sessions frame. Equal start times go to the lower session id, as in the frame; the
    patient is the course's (courses table).
    """
    # Index-friendly steps rather than a window over every dose: each course's first
    # completed dose time, the lowest session id at that time, then its dosing details.
    done = _completed("dosing")
    first_at = select(Session.course_id, func.min(Session.started_at).label("at")).where(done)
    first_at = _in_scope(first_at, Session.course_id, filters, patient_id, courses=courses)
    first_at = first_at.group_by(Session.course_id).subquery()
    first = (
        select(Session.course_id, func.min(Session.session_id).label("session_id"))
        .join(
            first_at,
            and_(first_at.c.course_id == Session.course_id, first_at.c.at == Session.started_at),
        )
        .where(done)
        .group_by(Session.course_id)
        .subquery()
    )
    scoped = _in_scope(
        select(Session.course_id), Session.course_id, filters, patient_id, courses=courses
    )
    courses = scoped.group_by(Session.course_id).subquery()
    stmt = (
        select(
            courses.c.course_id,
            Course.patient_id,
            Patient.site,
            Patient.indication,
            Dosing.route,
            Dosing.dose_mg,
            Dosing.dose_mg_per_kg,
        )
        .join(Course, Course.course_id == courses.c.course_id)
        .join(Patient, Patient.patient_id == Course.patient_id)
        .outerjoin(first, first.c.course_id == courses.c.course_id)
        .outerjoin(Dosing, Dosing.session_id == first.c.session_id)
        .order_by(courses.c.course_id)
    )
    frame = queries.read_frame(conn, stmt, course_attributes.FIRST_DOSE_COLUMNS)
    for col in ("dose_mg", "dose_mg_per_kg"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    return frame
