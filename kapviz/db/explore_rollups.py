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
from sqlalchemy import Connection, and_, case, distinct, exists, func, literal, or_, select

from kapviz import instruments
from kapviz.config import Settings
from kapviz.db import queries
from kapviz.db.aggregates import cohort as cohort_sql
from kapviz.db.aggregates import program as program_sql
from kapviz.db.models import (
    Assessment,
    Clinician,
    Course,
    Patient,
    RollupCourseAttribute,
    RollupCourseEffect,
    RollupCourseMeasured,
    RollupCourseOutcome,
    RollupDoseFlag,
    Session,
    VitalSign,
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


def _bounds(doses: tuple, first_dose: tuple) -> list:
    """The cohort's dose-count and first-dose bounds on the attribute rollup (None: open)."""
    a = RollupCourseAttribute
    (low, high), (since, until) = doses, first_dose
    bounds = [(a.doses, low, high), (a.first_dose, since, until)]
    conditions = [column >= value for column, value, _ in bounds if value is not None]
    return conditions + [column <= value for column, _, value in bounds if value is not None]


def _where(filters: Filters) -> list:
    return queries.rollup_conditions(RollupCourseAttribute, filters)


def _first_dose(values: pd.Series) -> pd.Series:
    """Stored first-dose dates as the live table has them: dates, NaN where none."""
    days = pd.Series(pd.to_datetime(values, errors="coerce"), index=values.index)
    dates = pd.Series(days.dt.date.to_numpy(dtype=object), index=values.index, dtype=object)
    return dates.where(days.notna(), float("nan"))


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
    conditions = [o.instrument == instrument, *queries.rollup_conditions(o, filters)]
    for name, values in attributes.items():
        if name != "baseline_band":
            conditions.append(getattr(a, name).in_(list(values)))
    conditions += _bounds(doses, first_dose)
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


# --- The safety measures' groups -------------------------------------------------------------


def _band(instrument: str | None):  # SQL expression
    """The severity band of the course's baseline of `instrument` (RollupCourseOutcome
    joined to the attributes), "unknown" without one: breakdowns.band_of_baseline in SQL,
    with the bands' limits and labels bound."""
    o = RollupCourseOutcome
    bands = instruments.get(instrument).bands if instrument else ()
    if not bands:
        return literal(breakdowns.UNKNOWN)
    whens = [(o.baseline.between(b.low, b.high), literal(b.label)) for b in bands]
    return case(*whens, else_=literal(breakdowns.UNKNOWN))


def _groups(dims: Sequence[str], instrument: str | None) -> list:
    a = RollupCourseAttribute
    return [(_band(instrument) if d == "baseline_band" else getattr(a, d)).label(d) for d in dims]


def _with_outcome(stmt, instrument: str | None):
    """stmt (selecting from the attributes) with each course's outcome row of `instrument`
    (when it has one): its baseline gives the band."""
    a, o = RollupCourseAttribute, RollupCourseOutcome
    return stmt.outerjoin(o, and_(o.course_id == a.course_id, o.instrument == instrument))


def _cohort(
    filters: Filters,
    attributes: Mapping[str, Sequence[str]],
    doses: tuple[int | None, int | None],
    first_dose: tuple[date | None, date | None],
    instrument: str | None,
) -> list:
    """The conditions on the attributes (and the band) of `kapviz.api.Cohort.keeps`."""
    a = RollupCourseAttribute
    conditions = _where(filters)
    for name, values in attributes.items():
        column = _band(instrument) if name == "baseline_band" else getattr(a, name)
        conditions.append(column.in_(list(values)))
    conditions += _bounds(doses, first_dose)
    return conditions


def _ints(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    for column in columns:
        frame[column] = pd.to_numeric(frame[column]).fillna(0).astype("int64")
    return frame


def dose_groups(
    conn: Connection,
    filters: Filters,
    *,
    dims: Sequence[str],
    attributes: Mapping[str, Sequence[str]],
    doses: tuple[int | None, int | None] = (None, None),
    first_dose: tuple[date | None, date | None] = (None, None),
    instrument: str | None = None,
) -> pd.DataFrame:
    """Every group of `dims` of the courses in the cohort (as the live attribute table lists
    them: courses with a session, and with a band also those with an outcome row of
    `instrument`), sorted by the groups, with its completed dosing sessions (the courses'
    stored dose counts) and distinct patients dosed: dims, dosing_sessions, patients_dosed."""
    a, o = RollupCourseAttribute, RollupCourseOutcome
    needs_band = "baseline_band" in dims or "baseline_band" in attributes
    listed = a.has_sessions
    if needs_band:
        listed = or_(a.has_sessions, o.course_id.is_not(None))
    conditions = [listed, *_cohort(filters, attributes, doses, first_dose, instrument)]
    groups = _groups(dims, instrument)
    dosed = case((a.doses > 0, a.patient_id), else_=None)
    stmt = select(
        *groups, func.coalesce(func.sum(a.doses), 0), func.count(distinct(dosed))
    ).select_from(a)
    stmt = _with_outcome(stmt, instrument) if needs_band else stmt
    stmt = stmt.where(*conditions)
    if groups:
        stmt = stmt.group_by(*groups)
    names = list(dims)
    frame = queries.read_frame(conn, stmt, [*names, "dosing_sessions", "patients_dosed"])
    frame = _ints(frame, ["dosing_sessions", "patients_dosed"])
    if not names:  # one group of all (an aggregate without GROUP BY: one row)
        return frame.reset_index(drop=True)
    frame = frame.astype({n: object for n in names})
    return frame.sort_values(names, kind="stable", ignore_index=True)


def effect_groups(
    conn: Connection,
    filters: Filters,
    *,
    dims: Sequence[str],
    attributes: Mapping[str, Sequence[str]],
    doses: tuple[int | None, int | None] = (None, None),
    first_dose: tuple[date | None, date | None] = (None, None),
    instrument: str | None = None,
    term: str | None = None,
) -> pd.DataFrame:
    """Per group of `dims` and side-effect term (of `term` only, when given), from
    RollupCourseEffect: dims, term, sessions (doses with the term), patients (distinct) and
    the doses by the term's highest severity (mild, moderate, severe)."""
    a, e = RollupCourseAttribute, RollupCourseEffect
    needs_band = "baseline_band" in dims or "baseline_band" in attributes
    groups = _groups(dims, instrument)
    stmt = select(
        *groups,
        e.term,
        func.sum(e.sessions),
        func.count(distinct(e.patient_id)),
        func.sum(e.mild),
        func.sum(e.moderate),
        func.sum(e.severe),
    ).select_from(a)
    stmt = stmt.join(e, e.course_id == a.course_id)
    if needs_band:
        stmt = _with_outcome(stmt, instrument)
    conditions = _cohort(filters, attributes, doses, first_dose, instrument)
    if term is not None:
        conditions.append(e.term == term)
    stmt = stmt.where(*conditions).group_by(*groups, e.term)
    counts = ["sessions", "patients", "mild", "moderate", "severe"]
    frame = queries.read_frame(conn, stmt, [*dims, "term", *counts])
    frame = frame.astype({n: object for n in [*dims, "term"]})
    return _ints(frame, counts)


def _summed_per_group(
    conn: Connection,
    per_course,  # a subquery: course_id, n
    filters: Filters,
    dims: Sequence[str],
    attributes: Mapping[str, Sequence[str]],
    doses: tuple[int | None, int | None],
    first_dose: tuple[date | None, date | None],
    instrument: str | None,
) -> pd.DataFrame:
    """dims, sessions: `per_course`'s n summed per group of the cohort's courses (the groups
    with a course in `per_course` only)."""
    a = RollupCourseAttribute
    groups = _groups(dims, instrument)
    stmt = select(*groups, func.sum(per_course.c.n)).select_from(a)
    stmt = stmt.join(per_course, per_course.c.course_id == a.course_id)
    if "baseline_band" in dims or "baseline_band" in attributes:
        stmt = _with_outcome(stmt, instrument)
    stmt = stmt.where(*_cohort(filters, attributes, doses, first_dose, instrument))
    if groups:
        stmt = stmt.group_by(*groups)
    frame = queries.read_frame(conn, stmt, [*dims, "sessions"])
    frame = frame.astype({n: object for n in dims})
    return _ints(frame, ["sessions"])


def event_groups(
    conn: Connection,
    filters: Filters,
    *,
    dims: Sequence[str],
    attributes: Mapping[str, Sequence[str]],
    doses: tuple[int | None, int | None] = (None, None),
    first_dose: tuple[date | None, date | None] = (None, None),
    instrument: str | None = None,
) -> pd.DataFrame:
    """Per group of `dims` with an adverse event, from RollupCourseEffect summed per course
    first: dims, sessions (doses × terms with an effect: the adverse events)."""
    e = RollupCourseEffect
    per_course = (
        select(e.course_id, func.sum(e.sessions).label("n")).group_by(e.course_id).subquery()
    )
    return _summed_per_group(
        conn, per_course, filters, dims, attributes, doses, first_dose, instrument
    )


# --- Each dose's BP and sedation ------------------------------------------------------------


def dose_flag_rows(conn: Connection, courses: Sequence[str] | None) -> dict[type, pd.DataFrame]:
    """RollupDoseFlag's rows of these courses' completed dosing sessions (every course's
    when None): the highest systolic and diastolic of the dose's readings (NULLs ignored, as
    kapviz.metrics.vitals.bp_stats' fmax) and its lowest MOAA/S score."""
    conditions = [Session.phase == "dosing", Session.status == "completed"]
    if courses is not None:
        conditions.append(Session.course_id.in_(list(courses)))
    doses = select(Session.session_id).where(*conditions)
    bp = (
        select(
            VitalSign.session_id,
            func.max(VitalSign.systolic).label("systolic"),
            func.max(VitalSign.diastolic).label("diastolic"),
        )
        .where(VitalSign.session_id.in_(doses))
        .group_by(VitalSign.session_id)
        .subquery()
    )
    moaas = (
        select(Assessment.session_id, func.min(Assessment.total).label("total"))
        .where(Assessment.instrument == instruments.MOAAS.id, Assessment.session_id.in_(doses))
        .group_by(Assessment.session_id)
        .subquery()
    )
    stmt = (
        select(Session.session_id, Session.course_id, bp.c.systolic, bp.c.diastolic, moaas.c.total)
        .outerjoin(bp, bp.c.session_id == Session.session_id)
        .outerjoin(moaas, moaas.c.session_id == Session.session_id)
        .where(*conditions)
    )
    columns = ["session_id", "course_id", "max_systolic", "max_diastolic", "min_moaas"]
    frame = queries.read_frame(conn, stmt, columns)
    for column in ("max_systolic", "max_diastolic"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    frame["min_moaas"] = pd.to_numeric(frame["min_moaas"], errors="coerce").astype("Int64")
    return {RollupDoseFlag: frame}


def is_excursion(settings: Settings):  # SQL expression
    """A dose's BP excursion (kapviz.metrics.vitals.flags_of): a reading at or above the
    systolic or the diastolic threshold."""
    f = RollupDoseFlag
    return or_(
        f.max_systolic >= settings.bp_excursion_systolic,
        f.max_diastolic >= settings.bp_excursion_diastolic,
    )


def is_sedated(settings: Settings):  # SQL expression
    """A dose with a MOAA/S score at or below the sedation threshold (docs/domain.md §4)."""
    return RollupDoseFlag.min_moaas <= settings.sedation_moaas_max


def flag_groups(
    conn: Connection,
    filters: Filters,
    *,
    flagged,  # SQL condition on RollupDoseFlag
    dims: Sequence[str],
    attributes: Mapping[str, Sequence[str]],
    doses: tuple[int | None, int | None] = (None, None),
    first_dose: tuple[date | None, date | None] = (None, None),
    instrument: str | None = None,
) -> pd.DataFrame:
    """dims, sessions: the cohort's doses meeting `flagged`, per group (counted per course
    first)."""
    f = RollupDoseFlag
    per_course = (
        select(f.course_id, func.count().label("n")).where(flagged).group_by(f.course_id).subquery()
    )
    return _summed_per_group(
        conn, per_course, filters, dims, attributes, doses, first_dose, instrument
    )


# --- Measurement completion -----------------------------------------------------------------


def measured_rows(conn: Connection, courses: Sequence[str] | None) -> dict[type, pd.DataFrame]:
    """RollupCourseMeasured's rows of these courses (every course when None): per outcome
    instrument, the doses measured (program_sql.measurement_by_course with its default
    window, every date), for the courses with any."""
    frames = []
    for instrument in instruments.OUTCOME_INSTRUMENTS:
        rows = program_sql.measurement_by_course(
            conn, Filters(), instrument=instrument, courses=courses
        )
        rows = rows.loc[rows["measured"] > 0, ["course_id", "measured"]]
        frames.append(rows.assign(instrument=instrument))
    frame = pd.concat(frames, ignore_index=True)
    return {RollupCourseMeasured: frame[["course_id", "instrument", "measured"]]}


def measured_groups(
    conn: Connection,
    filters: Filters,
    *,
    measured_instrument: str,
    dims: Sequence[str],
    attributes: Mapping[str, Sequence[str]],
    doses: tuple[int | None, int | None] = (None, None),
    first_dose: tuple[date | None, date | None] = (None, None),
    instrument: str | None = None,
) -> pd.DataFrame:
    """dims, sessions: the cohort's doses measured with `measured_instrument`, per group."""
    m = RollupCourseMeasured
    per_course = (
        select(m.course_id, m.measured.label("n"))
        .where(m.instrument == measured_instrument)
        .subquery()
    )
    return _summed_per_group(
        conn, per_course, filters, dims, attributes, doses, first_dose, instrument
    )
