"""Explore's breakdowns from per-course rows: each course's attributes, kept with the rollups.

Why: the Python API's measures (kapviz.api.Clinic, which the Explore page, the command line
and notebooks run) group courses by their site, clinician, route, dose band, sex, age band
and baseline band. Computed live, that reads every completed dose of the clinic (the route
and dose of the first, the clinician of most, the dose count) on each cold load. Kept per
course in RollupCourseAttribute (registered in kapviz.db.rollups.COURSE_ROLLUPS: an import
recomputes only the courses it touched), the attributes are one row per course; the
outcome measures are then counted in SQL from RollupCourseOutcome joined to them, grouped
by the breakdown dimensions and by the outcome values themselves, so that the reader gets a
number of rows bounded by the scales' ranges, whatever the clinic's size
(`outcome_groups`), and the API's own outcome rule runs on them.

Same rule as the live path (kapviz.metrics.breakdowns.attribute_table of the live reads);
a reader uses these rows only while the rollups are current and the filters are sites and
indications only (kapviz.db.rollups.serves). Tests compare both paths on SQLite and
PostgreSQL (tests/db/test_explore_rollups.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

import pandas as pd
from sqlalchemy import Connection, exists, func, select

from kapviz.db import queries
from kapviz.db.aggregates import cohort as cohort_sql
from kapviz.db.models import (
    Clinician,
    Course,
    Patient,
    RollupCourseAttribute,
    RollupCourseOutcome,
    Session,
)
from kapviz.filters import Filters
from kapviz.metrics import breakdowns

ATTRIBUTE_ROW_COLUMNS = [c.key for c in RollupCourseAttribute.__table__.c]

OUTCOME_VALUES = (
    "baseline",
    "endpoint",
    "change",
    "evaluable",
    "not_evaluable_reason",
    "is_response",
    "is_remission",
    "baseline_in_remission",
    "reliable_improvement",
    "reliable_deterioration",
)
"""The outcome row's columns the API's outcome measures read (kapviz.metrics.outcomes
`outcome_rates` and the means): grouped by, they are bounded by the scale's range."""


def completed_doses(
    conn: Connection, filters: Filters, *, courses: Sequence[str] | None = None
) -> pd.DataFrame:
    """Every completed dosing session of the courses in `filters` (of `courses`, when given),
    whatever the date range: a course's dose count and first dose are its own."""
    stmt = select(Session.session_id, Session.course_id, Session.started_at, Session.clinician)
    stmt = stmt.where(Session.phase == "dosing", Session.status == "completed")
    scope = queries.course_scope(filters)
    if scope is not None:
        stmt = stmt.where(Session.course_id.in_(scope))
    if courses is not None:
        stmt = stmt.where(Session.course_id.in_(list(courses)))
    frame = queries.read_frame(conn, stmt, ["session_id", "course_id", "started_at", "clinician"])
    frame["started_at"] = pd.to_datetime(frame["started_at"])
    return frame.assign(phase="dosing", status="completed")


def attribute_rows(conn: Connection, courses: Sequence[str] | None) -> dict[type, pd.DataFrame]:
    """RollupCourseAttribute's rows of these courses (every course when None): every course
    of the courses table, those without a session as the live table lists a course with
    scores only."""
    wanted = None if courses is None else list(courses)
    first = cohort_sql.course_first_doses(conn, Filters(), courses=wanted)
    done = completed_doses(conn, Filters(), courses=wanted)
    every = select(Course.course_id, Course.patient_id)
    people = select(
        Patient.patient_id, Patient.site, Patient.indication, Patient.sex, Patient.birth_year
    )
    if wanted is not None:
        every = every.where(Course.course_id.in_(wanted))
        people = people.where(
            Patient.patient_id.in_(select(Course.patient_id).where(Course.course_id.in_(wanted)))
        )
    all_courses = queries.read_frame(conn, every, ["course_id", "patient_id"])
    patients = queries.read_frame(
        conn, people, ["patient_id", "site", "indication", "sex", "birth_year"]
    )
    with_sessions = set(first["course_id"].astype(object))
    table = breakdowns.attribute_table(first, done, patients, outcomes=all_courses)
    table["has_sessions"] = table["course_id"].isin(with_sessions)
    table["first_dose"] = table["first_dose"].where(table["first_dose"].notna(), None)
    return {RollupCourseAttribute: table[ATTRIBUTE_ROW_COLUMNS]}


def _where(filters: Filters) -> list:
    t = RollupCourseAttribute
    conditions = []
    if filters.sites:
        conditions.append(t.site.in_(filters.sites))
    if filters.indications:
        conditions.append(t.indication.in_(filters.indications))
    return conditions


def _first_dose(values: pd.Series) -> pd.Series:
    """Stored first-dose dates as the live table has them: dates, NaN where none."""
    days = pd.to_datetime(values, errors="coerce")
    return pd.Series(
        [d.date() if pd.notna(d) else float("nan") for d in days], index=values.index, dtype=object
    )


def course_attributes(
    conn: Connection,
    filters: Filters,
    *,
    outcomes: pd.DataFrame | None = None,
    instrument: str | None = None,
) -> pd.DataFrame:
    """kapviz.api.Clinic.course_attributes from the rollup (the filters `serves`): the same
    rows in the same order (the courses with a session by id, then the courses of
    `outcomes` without one) with the same values."""
    t = RollupCourseAttribute
    columns = ["course_id", "patient_id", *breakdowns.STORED_DIMENSIONS, "doses", "first_dose"]
    stmt = select(*[getattr(t, c) for c in columns], t.has_sessions).where(*_where(filters))
    stored = queries.read_frame(conn, stmt, [*columns, "has_sessions"])
    stored = stored.astype({c: object for c in columns[: 2 + len(breakdowns.STORED_DIMENSIONS)]})
    has = stored["has_sessions"].astype(bool).to_numpy()
    table = stored[has].sort_values("course_id", kind="stable")
    if outcomes is not None:
        extra_ids = pd.unique(outcomes.loc[~outcomes["course_id"].isin(table["course_id"]),
                                           "course_id"].astype(object))  # fmt: skip
        extra = stored[~has].set_index("course_id").reindex(extra_ids).reset_index()
        table = pd.concat([table, extra], ignore_index=True)
    table = table.reset_index(drop=True)
    table["baseline_band"] = breakdowns.UNKNOWN
    if instrument is not None and outcomes is not None:
        bands = table["course_id"].map(breakdowns.baseline_bands(outcomes, instrument))
        table["baseline_band"] = bands.astype(object).where(bands.notna(), breakdowns.UNKNOWN)
    for dim in breakdowns.DIMENSIONS:
        table[dim] = table[dim].astype(object)
    table["doses"] = pd.to_numeric(table["doses"]).astype("int64")
    table["first_dose"] = _first_dose(table["first_dose"])
    return table[list(breakdowns.ATTRIBUTE_COLUMNS)]


def outcome_groups(
    conn: Connection,
    filters: Filters,
    *,
    instrument: str,
    dims: Sequence[str],
    attributes: Mapping[str, Sequence[str]],
    doses: tuple[int | None, int | None] = (None, None),
    first_dose: tuple[date | None, date | None] = (None, None),
) -> pd.DataFrame:
    """The outcome rows of `instrument` of the courses in `filters` whose attributes are
    among `attributes`' values (all but baseline_band: it is the baseline's) and whose dose
    count and first dose are within the bounds, counted in SQL per group of `dims` (but
    baseline_band) and OUTCOME_VALUES: those columns, then `courses`."""
    o, a = RollupCourseOutcome, RollupCourseAttribute
    keys = [getattr(a, d) for d in dims if d != "baseline_band"]
    keys += [getattr(o, c) for c in OUTCOME_VALUES]
    conditions = [o.instrument == instrument]
    if filters.sites:
        conditions.append(o.site.in_(filters.sites))
    if filters.indications:
        conditions.append(o.indication.in_(filters.indications))
    for name, values in attributes.items():
        if name != "baseline_band":
            conditions.append(getattr(a, name).in_(list(values)))
    low, high = doses
    if low is not None:
        conditions.append(a.doses >= low)
    if high is not None:
        conditions.append(a.doses <= high)
    since, until = first_dose
    if since is not None:
        conditions.append(a.first_dose >= since)
    if until is not None:
        conditions.append(a.first_dose <= until)
    stmt = (
        select(*keys, func.count())
        .select_from(o)
        .join(a, a.course_id == o.course_id)
        .where(*conditions)
        .group_by(*keys)
    )
    names = [*(d for d in dims if d != "baseline_band"), *OUTCOME_VALUES, "courses"]
    frame = queries.read_frame(conn, stmt, names)
    frame["courses"] = pd.to_numeric(frame["courses"]).astype("int64")
    return frame


def session_clinicians(conn: Connection, filters: Filters) -> list[str]:
    """The clinicians of any session of the courses in `filters`, sorted: the Explore
    page's clinician choices. One index probe per clinician (ix_sessions_clinician, migration
    0017) rather than every session read: the clinicians table is small, sessions are not."""
    has_session = select(Session.session_id).where(Session.clinician == Clinician.code)
    scope = queries.course_scope(filters)
    if scope is not None:
        has_session = has_session.where(Session.course_id.in_(scope))
    stmt = select(Clinician.code).where(exists(has_session))
    return sorted(str(code) for code in conn.execute(stmt).scalars())
