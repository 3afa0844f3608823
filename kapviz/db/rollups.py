"""Page figures kept in the database, by site and indication or per course.

Why: the Overview's figures over the whole period — dosing sessions and adverse events by
month and route, the treatment funnel, reasons for ineligibility, each course's outcome per
instrument — and the Case explorer's and Data page's cohort-wide reads are otherwise
computed from every session and score on each cold load, so the pages grow with the clinic.
Kept grouped by the patient's site and indication (the filters of a director's view), they
are summed in SQL for any choice of sites and indications, whatever the clinic's size.
Per-course rollups (COURSE_ROLLUPS: outcome rows, the cohort band inputs, the missing
pre-dose check, the dosing months by course) keep one set of rows per course, so that an
import recomputes only the courses it touched (`refresh`).

They are derived data, written after the clinic data by whoever writes those (the demo
generator, imports, `python -m kapviz rollup`), stamped with the data version they were
computed from (kapviz.db.queries.clinic_version). A reader uses them only while that stamp is
the data's current version and the filters are sites and indications only; a route or date
filter, a clinician's scope, or data changed since (by another program writing the
database) take the live queries of kapviz.db.aggregates, which give the same numbers: both
paths run the same definitions (tests compare them on SQLite and PostgreSQL).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import pandas as pd
from sqlalchemy import Connection, Engine, delete, exists, func, insert, select

from kapviz import config
from kapviz.auth.scope import matches_nothing
from kapviz.db import (
    clinician_rollups,
    explore_rollups,
    first_dose_rollups,
    queries,
    safety_rollups,
)
from kapviz.db.aggregates import case as case_sql
from kapviz.db.aggregates import cohort as cohort_sql
from kapviz.db.aggregates import outcomes as outcome_sql
from kapviz.db.aggregates import program as program_sql
from kapviz.db.aggregates import quality as quality_sql
from kapviz.db.aggregates import trajectories as trajectory_sql
from kapviz.db.bulk import insert_frame
from kapviz.db.models import (
    Course,
    Patient,
    RollupCohortBaseline,
    RollupCohortValue,
    RollupCourseBaseline,
    RollupCourseDose,
    RollupCourseDosing,
    RollupCourseOutcome,
    RollupCoursePoint,
    RollupDosingMonth,
    RollupFunnel,
    RollupIneligibility,
    RollupMissingPredose,
    RollupState,
    RollupTrajectoryValue,
    Session,
)
from kapviz.db.rollup_counts import RollupCourseCount, course_count_rows
from kapviz.filters import Filters
from kapviz.metrics import outcomes, quality

log = logging.getLogger(__name__)

WHOLE_TABLES = (RollupDosingMonth, RollupFunnel, RollupIneligibility)
"""Rollups recomputed whole by every build and refresh (grouped counts)."""

CHUNK = 5000
"""Rows per executemany insert, and course ids per IN list."""

COHORT_WINDOW_DAYS = 30
"""The baseline window the per-course cohort rows are computed with (Settings'
baseline_window_days default); a clinic that sets another window reads its bands live."""

CourseRows = Callable[[Connection, Sequence[str] | None], dict[type, pd.DataFrame]]
"""Rows of per-course rollup tables for these courses (every course when None), each with
course_id, site and indication and the table's other columns."""


def cohort_rows(conn: Connection, courses: Sequence[str] | None) -> dict[type, pd.DataFrame]:
    """The Case explorer's cohort band inputs per course (kapviz.db.aggregates.case)."""
    values, baselines = case_sql.course_rows(conn, courses, window_days=COHORT_WINDOW_DAYS)
    groups = _course_groups(conn, courses)
    values = values.rename(columns={"order": "point_order"}).merge(groups, on="course_id")
    return {
        RollupCoursePoint: values,
        RollupCourseBaseline: baselines.merge(groups, on="course_id"),
    }


def missing_predose_rows(
    conn: Connection, courses: Sequence[str] | None
) -> dict[type, pd.DataFrame]:
    """The Data page's dosing sessions without a pre-dose PHQ-9, per course."""
    return {RollupMissingPredose: quality_sql.missing_predose_rows(conn, courses)}


def dosing_rows(conn: Connection, courses: Sequence[str] | None) -> dict[type, pd.DataFrame]:
    """RollupDosingMonth's counts per course (the same SQL definition, by course too)."""
    volume, events, labels = program_sql.dosing_counts(
        Filters(), program_sql.month_of, Session.course_id, Patient.site, Patient.indication
    )
    frames = []
    for chunk in [None] if courses is None else (_chunks(list(courses)) or [[]]):
        if chunk is not None:
            volume_of = volume.where(Session.course_id.in_(chunk))
            events_of = events.where(Session.course_id.in_(chunk))
        else:
            volume_of, events_of = volume, events
        frames.append(program_sql.merged_counts(conn, volume_of, events_of, labels))
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return {RollupCourseDosing: frame.rename(columns={"period": "month"})}


def trajectory_rows(conn: Connection, courses: Sequence[str] | None) -> dict[type, pd.DataFrame]:
    """The Trajectories page's course values per course, both time axes
    (kapviz.db.aggregates.trajectories), with the cohort band's baseline window."""
    rows = trajectory_sql.course_rows(conn, courses, window_days=COHORT_WINDOW_DAYS)
    return {RollupTrajectoryValue: rows.merge(_course_groups(conn, courses), on="course_id")}


def outcome_rows(conn: Connection, courses: Sequence[str] | None) -> dict[type, pd.DataFrame]:
    """Every course's outcome row per outcome instrument (`course_outcome_rows`)."""
    return {RollupCourseOutcome: course_outcome_rows(conn, courses)}


def course_outcome_rows(
    conn: Connection,
    course_ids: Collection[str] | None = None,
    *,
    baseline_window_days: int | None = None,
) -> pd.DataFrame:
    """RollupCourseOutcome's rows (its columns) for these courses, or every course.

    The rows of kapviz.metrics.outcomes.outcomes_from_scores (one per course × outcome
    instrument with a score), with the patient's site and indication and the baseline
    window: the configured one unless given. A course's row depends only on its patient's
    scores and its own sessions, so a subset can be rebuilt alone."""
    if baseline_window_days is None:
        baseline_window_days = config.load_settings().baseline_window_days
    if course_ids is None:
        rows = outcome_sql.course_outcomes(
            conn, Filters(), baseline_window_days=baseline_window_days
        )
    else:
        rows = outcome_sql.outcomes_of_courses(
            conn, course_ids, baseline_window_days=baseline_window_days
        )
    patients = queries.read_frame(
        conn,
        select(Patient.patient_id, Patient.site, Patient.indication),
        ["patient_id", "site", "indication"],
    )
    rows = rows.merge(patients, on="patient_id", how="left")
    return rows.assign(baseline_window_days=baseline_window_days)[OUTCOME_ROW_COLUMNS]


OUTCOME_ROW_COLUMNS = [c.key for c in RollupCourseOutcome.__table__.c]


def _chunks(values: list) -> list[list]:
    return [values[start : start + CHUNK] for start in range(0, len(values), CHUNK)]


COURSE_ROLLUPS: tuple[tuple[tuple[type, ...], CourseRows], ...] = (
    ((RollupCourseDosing,), dosing_rows),
    ((RollupCoursePoint, RollupCourseBaseline), cohort_rows),
    ((RollupMissingPredose,), missing_predose_rows),
    ((RollupCourseOutcome,), outcome_rows),
    ((RollupTrajectoryValue,), trajectory_rows),
    ((RollupCourseCount,), course_count_rows),
    (safety_rollups.COURSE_TABLES, safety_rollups.course_rows),
    ((clinician_rollups.RollupCourseClinician,), clinician_rollups.course_rows),
    ((first_dose_rollups.RollupCourseFirstDose,), first_dose_rollups.course_rows),
    ((explore_rollups.RollupCourseAttribute,), explore_rollups.attribute_rows),
    ((explore_rollups.RollupDoseFlag,), explore_rollups.dose_flag_rows),
    ((explore_rollups.RollupCourseMeasured,), explore_rollups.measured_rows),
)
"""Every per-course rollup: its tables and the function computing their rows for a set of
courses. A full build computes them for every course; `refresh` replaces only the rows of
the courses an import touched. A new per-course rollup is one more entry here."""

COURSE_TABLES = tuple(table for tables, _ in COURSE_ROLLUPS for table in tables)
SUMMED_TABLES = (RollupCohortValue, RollupCohortBaseline, *safety_rollups.SUMMED_TABLES)
"""Counted again from per-course rows in SQL by every build and refresh (`_sum`), as is
RollupDosingMonth."""
TABLES = WHOLE_TABLES + COURSE_TABLES + SUMMED_TABLES


def serves(filters: Filters) -> bool:
    """Whether the rollups can answer for these filters: sites and indications only (no
    route or date filter, no clinician's scope, not a scope that leaves nothing)."""
    return (
        not filters.routes
        and filters.start is None
        and filters.end is None
        and filters.clinician is None
        and not matches_nothing(filters)
    )


def stamp(version: tuple) -> str:
    """The text a data version is stored as."""
    return repr(tuple(version))


def is_current(conn: Connection) -> bool:
    """Whether rollups exist and were computed from the data as they are now."""
    return status(conn).current


@dataclass(frozen=True)
class Status:
    """Whether the rollups exist, when they were built, and whether the data are the same."""

    built_at: datetime | None
    current: bool


def status(conn: Connection) -> Status:
    row = conn.execute(select(RollupState.data_version, RollupState.built_at)).first()
    if row is None:
        return Status(built_at=None, current=False)
    return Status(
        built_at=row.built_at, current=row.data_version == stamp(queries.clinic_version(conn))
    )


# --- Building ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rollups:
    """The rollup tables' rows, computed from one data version."""

    version: tuple
    dosing_months: pd.DataFrame
    funnel: pd.DataFrame
    ineligibility: pd.DataFrame
    courses: dict[type, pd.DataFrame] = field(default_factory=dict)


def _course_groups(conn: Connection, courses: Sequence[str] | None) -> pd.DataFrame:
    """course_id, site, indication of these courses (every course when None)."""
    stmt = select(Course.course_id, Patient.site, Patient.indication).join(
        Patient, Patient.patient_id == Course.patient_id
    )
    if courses is not None:
        stmt = stmt.where(Course.course_id.in_(list(courses)))
    return queries.read_frame(conn, stmt, ["course_id", "site", "indication"])


def _course_rows(conn: Connection, courses: Sequence[str] | None) -> dict[type, pd.DataFrame]:
    rows: dict[type, pd.DataFrame] = {}
    for _, fn in COURSE_ROLLUPS:
        rows.update(fn(conn, courses))
    return rows


def compute(conn: Connection) -> Rollups | None:
    """Every rollup table's rows from the data now (`compute_whole` and every course's
    per-course rows), or None as `compute_whole`."""
    whole = compute_whole(conn, dosing=False)  # summed from the per-course counts
    if whole is None:
        return None
    per_course = _course_rows(conn, None)
    if queries.clinic_version(conn) != whole.version:
        log.info("rollups not built: the data changed while they were read")
        return None
    return replace(whole, courses=per_course)


def compute_whole(conn: Connection, *, dosing: bool = True) -> Rollups | None:
    """The whole-table rollups' rows from the data now, or None when they cannot stand in for
    the live queries: data written while they were read."""
    version = queries.clinic_version(conn)
    everything = Filters()
    groups = (Patient.site, Patient.indication)
    # Without `dosing`, an empty frame: the caller sums them from RollupCourseDosing.
    dosing = (
        program_sql.merged_counts(
            conn, *program_sql.dosing_counts(everything, program_sql.month_of, *groups)
        )
        if dosing
        else pd.DataFrame(columns=["site", "indication", "period", "route", "sessions", "events"])
    )
    funnel = queries.read_frame(
        conn,
        program_sql.funnel_select(everything, *groups),
        ["site", "indication", *program_sql.FUNNEL_COLUMNS],
    )
    ineligibility = queries.read_frame(
        conn,
        program_sql.ineligibility_select(everything, *groups),
        ["site", "indication", "reason", "patients"],
    )
    if queries.clinic_version(conn) != version:
        log.info("rollups not built: the data changed while they were read")
        return None
    return Rollups(
        version=version,
        dosing_months=dosing.rename(columns={"period": "month"}),
        funnel=funnel,
        ineligibility=ineligibility.rename(columns={"patients": "sessions"}),
    )


def _records(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The columns a rollup table is written from, in its order (missing values as they are:
    the bulk writer spells them NULL)."""
    return frame[columns]


def _whole_rows(rollups: Rollups) -> dict[type, pd.DataFrame]:
    return {
        RollupDosingMonth: _records(
            rollups.dosing_months,
            ["site", "indication", "month", "route", "sessions", "events"],
        ),
        RollupFunnel: _records(rollups.funnel, ["site", "indication", *program_sql.FUNNEL_COLUMNS]),
        RollupIneligibility: _records(
            rollups.ineligibility, ["site", "indication", "reason", "sessions"]
        ),
    }


def _course_records(table: type, frame: pd.DataFrame) -> pd.DataFrame:
    columns = [c.key for c in table.__table__.c if not (c.primary_key and c.autoincrement is True)]
    return _records(frame, columns)


def _insert(conn: Connection, table: type, rows: pd.DataFrame) -> None:
    """Write a rollup table's rows with the clinic data's bulk writer (COPY on PostgreSQL,
    one executemany on SQLite), not an executemany of dicts through SQLAlchemy."""
    insert_frame(conn, table.__table__, rows)


def _restamp(conn: Connection, version: tuple) -> None:
    conn.execute(delete(RollupState))
    conn.execute(
        insert(RollupState),
        [{"id": 1, "data_version": stamp(version), "built_at": datetime.now()}],
    )


def _hand_over_sqlite(engine: Engine) -> None:
    """On SQLite, checkpoint the WAL and close this engine's idle connections before the
    build's Arrow reads: ADBC's own copy of SQLite re-initialises the WAL index that open
    sqlite3 connections have mapped, and after a large write (a demo clinic, a first import)
    that killed the build with SIGBUS (kapviz.db.engine.sqlite_file_lock)."""
    database = engine.url.database or ""
    if engine.dialect.name != "sqlite" or database in ("", ":memory:") or "mode=memory" in database:
        return  # no Arrow reads of an in-memory database, and disposing would drop it
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()


def rebuild(engine: Engine) -> bool:
    """Replace the rollups with ones computed from the data now, in one transaction.

    Returns False (the stored ones untouched) when `compute` declines; readers then keep
    taking the live path until the next rebuild.
    """
    _hand_over_sqlite(engine)
    with engine.connect() as conn:
        rollups = compute(conn)
    if rollups is None:
        return False
    rows = _whole_rows(rollups)
    for table in COURSE_TABLES:
        rows[table] = _course_records(table, rollups.courses[table])
    with engine.begin() as conn:
        for table in WHOLE_TABLES + COURSE_TABLES:
            conn.execute(delete(table))
            _insert(conn, table, rows[table])
        _sum(conn)
        _restamp(conn, rollups.version)
    return True


def refresh(target: Engine | Connection, courses: Iterable[str], *, was: str | None) -> bool:
    """After an import: recompute the per-course rollups of `courses` only (the courses the
    import touched), sum the dosing months again from the per-course counts, recompute the
    other whole-table ones, then restamp, in one transaction.

    `was` is the rollup stamp the data had before the import (`stamp(clinic_version)` read
    before writing): when the stored rollups were not current then, or there is no stamp,
    the other courses' rows cannot be trusted and this is a full `rebuild`. Returns False
    when nothing was written (as `rebuild`); readers then take the live path.
    """
    engine = target if isinstance(target, Engine) else target.engine
    wanted = sorted(set(courses))
    with engine.connect() as conn:
        stored = conn.execute(select(RollupState.data_version)).scalar()
        held = conn.execute(select(func.count()).select_from(Course)).scalar_one()
    if was is None or stored != was or len(wanted) * 2 > held:
        # Not current before, or most courses touched (a first load): build them all.
        return rebuild(engine)
    with engine.connect() as conn:
        rollups = compute_whole(conn, dosing=False)
        if rollups is None:
            return False
        fresh: dict[type, list[pd.DataFrame]] = {t: [] for t in COURSE_TABLES}
        for chunk in _chunks(wanted):
            for table, frame in _course_rows(conn, chunk).items():
                fresh[table].append(frame)
        if queries.clinic_version(conn) != rollups.version:
            log.info("rollups not refreshed: the data changed while they were read")
            return False
    rows = _whole_rows(rollups)
    with engine.begin() as conn:
        for table in WHOLE_TABLES:
            conn.execute(delete(table))
            _insert(conn, table, rows[table])
        for table in COURSE_TABLES:
            for chunk in _chunks(wanted):
                conn.execute(delete(table).where(table.course_id.in_(chunk)))
            for frame in fresh[table]:
                _insert(conn, table, _course_records(table, frame))
        _sum(conn)
        _restamp(conn, rollups.version)
    return True


def _sum(conn: Connection) -> None:
    """The tables counted from per-course rows, again, in SQL: RollupDosingMonth from the
    per-course dosing counts, the whole clinic's cohort band inputs from the per-course
    ones."""
    d, p, b = RollupCourseDosing, RollupCoursePoint, RollupCourseBaseline
    dosing_keys = [d.site, d.indication, d.month, d.route]
    point_keys = [p.instrument, p.baseline, p.point_order, p.total_sum, p.scores]
    summed = {
        RollupDosingMonth: select(
            *dosing_keys,
            func.sum(d.sessions).label("sessions"),
            func.sum(d.events).label("events"),
        ).group_by(*dosing_keys),
        RollupCohortValue: select(*point_keys, func.count().label("courses")).group_by(*point_keys),
        RollupCohortBaseline: select(
            b.instrument, b.baseline, func.count().label("courses")
        ).group_by(b.instrument, b.baseline),
    }
    for table, stmt in summed.items():
        conn.execute(delete(table))
        columns = [c.key for c in stmt.selected_columns]  # the SELECT's order
        conn.execute(insert(table).from_select(columns, stmt))
    safety_rollups.sum_rows(conn)


def rebuild_if_stale(engine: Engine) -> bool:
    """At start-up: rebuild rollups that do not match the data (True when rebuilt).

    Why: an import commits the clinic data, then rebuilds the rollups; a process killed in
    between left them stale while import_runs said the import was done. Readers already
    ignore stale rollups (they read live, same numbers, slower); this brings them back."""
    with engine.connect() as conn:
        state = status(conn)
        has_data = conn.execute(select(exists(select(Patient.patient_id)))).scalar()
    if state.current or not has_data:
        return False
    log.warning("rollups do not match the data (built %s): rebuilding", state.built_at)
    return rebuild(engine)


# --- Reading ----------------------------------------------------------------------------------


def _where(table, filters: Filters) -> list:  # a rollup model
    return queries.rollup_conditions(table, filters)


def dosing_months(conn: Connection, filters: Filters) -> pd.DataFrame:
    """`program.daily_dosing`'s frame by month: day (the month's first day), route,
    sessions, events; `metrics.program.monthly_from_daily` sums both to the same months."""
    t = RollupDosingMonth
    stmt = (
        select(t.month, t.route, func.sum(t.sessions), func.sum(t.events))
        .where(*_where(t, filters))
        .group_by(t.month, t.route)
        .order_by(t.month, t.route)
    )
    frame = queries.read_frame(conn, stmt, ["day", "route", "sessions", "events"])
    frame["day"] = pd.to_datetime(frame["day"], format="%Y-%m")
    return frame.astype({"sessions": "int64", "events": "int64"})


def funnel_counts(conn: Connection, filters: Filters) -> list[int]:
    """`program.funnel_counts` from the rollups."""
    t = RollupFunnel
    sums = [func.coalesce(func.sum(getattr(t, c)), 0) for c in program_sql.FUNNEL_COLUMNS]
    return [int(n) for n in conn.execute(select(*sums).where(*_where(t, filters))).one()]


def ineligibility_reasons(conn: Connection, filters: Filters) -> pd.DataFrame:
    """`aggregates.program.ineligibility_reasons` from the rollups (most common first)."""
    t = RollupIneligibility
    total = func.sum(t.sessions)
    stmt = (
        select(t.reason, total)
        .where(*_where(t, filters))
        .group_by(t.reason)
        .order_by(total.desc(), t.reason)
    )
    frame = queries.read_frame(conn, stmt, ["reason", "patients"])
    frame["patients"] = frame["patients"].astype("int64")
    return frame


def course_outcomes(
    conn: Connection,
    filters: Filters,
    *,
    instrument: str | None = None,
    baseline_window_days: int,
) -> pd.DataFrame | None:
    """`aggregates.outcomes.course_outcomes` from the rollups (same rows, same order), or
    None when they were built with another baseline window (then read live)."""
    return _stored_outcomes(
        conn, _where(RollupCourseOutcome, filters), instrument, baseline_window_days
    )


def _stored_outcomes(
    conn: Connection, conditions: list, instrument: str | None, baseline_window_days: int
) -> pd.DataFrame | None:
    """The stored outcome rows meeting `conditions`, or None when they were built with
    another baseline window (one build, one window: the rows read tell it; none read, no
    course has a score in any window)."""
    t = RollupCourseOutcome
    if instrument is not None:
        conditions = [*conditions, t.instrument == instrument]
    columns = [*outcomes.OUTCOME_COLUMNS, "baseline_window_days"]
    stmt = select(*[getattr(t, c) for c in columns]).where(*conditions)
    stored = queries.read_frame(conn, stmt, columns)
    if (stored["baseline_window_days"] != baseline_window_days).any():
        return None
    return outcomes.outcome_frame(stored)


def cohort_summary(conn: Connection, filters: Filters) -> case_sql.CohortSummary:
    """`case.cohort_summary(window_days=COHORT_WINDOW_DAYS)` from the rollups: for the whole
    clinic the rows counted at build time (their number bounded by the scales' ranges, not
    the clinic's size); for sites or indications the per-course rows counted in SQL."""
    if not (filters.sites or filters.indications):  # the whole clinic: counted already
        t, b = RollupCohortValue, RollupCohortBaseline
        keys = [t.instrument, t.baseline, t.point_order, t.total_sum, t.scores]
        stmt = select(*keys, t.courses)
        baselines_stmt = select(b.instrument, b.baseline, b.courses)
    else:
        t, b = RollupCoursePoint, RollupCourseBaseline
        keys = [t.instrument, t.baseline, t.point_order, t.total_sum, t.scores]
        stmt = select(*keys, func.count()).where(*_where(t, filters)).group_by(*keys)
        baselines_stmt = (
            select(b.instrument, b.baseline, func.count())
            .where(*_where(b, filters))
            .group_by(b.instrument, b.baseline)
        )
    values = queries.read_frame(
        conn, stmt, ["instrument", "baseline", "order", "total_sum", "scores", "courses"]
    )
    stmt = baselines_stmt
    baselines = queries.read_frame(conn, stmt, ["instrument", "baseline", "courses"])
    # Ordered in pandas, as the live summary is (text collation differs by database).
    values = values.sort_values(list(values.columns[:-1]), ignore_index=True)
    baselines = baselines.sort_values(["instrument", "baseline"], ignore_index=True)
    for frame in (values, baselines):
        for col in frame.columns[1:]:
            frame[col] = pd.to_numeric(frame[col]).astype("int64")
        frame["instrument"] = frame["instrument"].astype(object)
    return case_sql.CohortSummary(values=values, baselines=baselines)


def dosing_without_predose(
    conn: Connection, filters: Filters, *, limit: int = 200
) -> quality_sql.MissingPreDose:
    """`quality.dosing_without_predose(filters, limit=limit)` with its defaults (PHQ-9, 7
    days), for the whole clinic only (empty filters: the Data page's check)."""
    if not filters.is_empty:
        raise ValueError("the missing pre-dose rollup serves the whole clinic only")
    t = RollupMissingPredose
    count = int(conn.execute(select(func.count()).select_from(t)).scalar_one())
    # The limit-th newest start: every session from it on (ties included), as the live read.
    cut = conn.execute(
        select(t.started_at).order_by(t.started_at.desc()).offset(max(limit - 1, 0)).limit(1)
    ).scalar()
    columns = quality.MISSING_COLUMNS
    stmt = select(*[getattr(t, c) for c in columns])
    if cut is not None:
        stmt = stmt.where(t.started_at >= cut)
    rows = queries.read_frame(conn, stmt, columns)
    rows["started_at"] = pd.to_datetime(rows["started_at"])
    newest = quality.newest_first(rows).head(limit)
    return quality_sql.MissingPreDose(count=count, newest=newest)


def _trajectory_of(instrument: str, axis: str, filters: Filters) -> list:
    t = RollupTrajectoryValue
    return [t.instrument == instrument, t.axis == axis, *_where(t, filters)]


def _paired(stmt, *, baseline: bool = False):
    """stmt joined to each course's outcome row of the instrument with a baseline: the
    courses of the paired change view (trajectory_tables.paired_change_values)."""
    t, o = RollupTrajectoryValue, RollupCourseOutcome
    on = (o.course_id == t.course_id) & (o.instrument == t.instrument)
    joined = stmt.join(o, on).where(o.baseline.is_not(None))
    return joined.add_columns(o.baseline) if baseline else joined


def trajectory_values(
    conn: Connection,
    filters: Filters,
    *,
    instrument: str,
    axis: str,
    courses: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """`trajectory_tables.course_values` of one instrument on one axis from the rollups
    (computed with COHORT_WINDOW_DAYS, as the cohort band's rows): the same rows, in the
    same order, as the live values of the courses in these filters (of `courses` only,
    when given: the sampled course lines)."""
    t = RollupTrajectoryValue
    columns = ["instrument", "patient_id", "course_id", "point_order", "phase"]
    columns += ["total_sum", "scores"]
    stmt = select(*[getattr(t, c) for c in columns]).where(
        *_trajectory_of(instrument, axis, filters)
    )
    frames = []
    for chunk in [None] if courses is None else (_chunks(list(courses)) or [[]]):
        part = stmt if chunk is None else stmt.where(t.course_id.in_(chunk))
        frames.append(queries.read_frame(conn, part, columns))
    rows = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return trajectory_sql.values_from_rows(rows, axis=axis, window_days=COHORT_WINDOW_DAYS)


def outcome_window_is(conn: Connection, window_days: int) -> bool:
    """Whether every stored outcome row was computed with this baseline window."""
    t = RollupCourseOutcome
    other = select(t.course_id).where(t.baseline_window_days != window_days).limit(1)
    return conn.execute(other).first() is None


def trajectory_counts(
    conn: Connection, filters: Filters, *, instrument: str, axis: str, paired: bool
) -> pd.DataFrame:
    """`trajectory_tables.value_counts` of one instrument on one axis, counted in SQL from
    the rollups: of each course's value, or of its change from its baseline when `paired`
    (courses with a baseline only, as `paired_change_values`)."""
    t = RollupTrajectoryValue
    keys = [t.point_order, t.total_sum, t.scores]
    stmt = select(*keys).where(*_trajectory_of(instrument, axis, filters))
    if paired:
        stmt = _paired(stmt, baseline=True)
        keys.append(RollupCourseOutcome.baseline)
    stmt = stmt.add_columns(func.count()).group_by(*keys)
    names = ["order", "total_sum", "scores", *(["baseline"] if paired else []), "courses"]
    rows = queries.read_frame(conn, stmt, names)
    total = trajectory_sql.totals_of_rows(rows)
    if paired:
        total = total - pd.to_numeric(rows["baseline"]).to_numpy(dtype="float64")
    values = pd.DataFrame(
        {
            "instrument": pd.Series([instrument] * len(rows), dtype="str"),
            "order": pd.to_numeric(rows["order"]).to_numpy(dtype="int64"),
            "total": total,
            "courses": pd.to_numeric(rows["courses"]).to_numpy(dtype="int64"),
        }
    )
    summed = values.groupby(["instrument", "order", "total"], sort=True)["courses"].sum()
    return summed.reset_index().astype(
        {"instrument": "str", "order": "int64", "total": "float64", "courses": "int64"}
    )


def trajectory_courses(
    conn: Connection, filters: Filters, *, instrument: str, axis: str, paired: bool
) -> pd.DataFrame:
    """patient_id, course_id of the courses with a value of one instrument on one axis
    (with a baseline too, when `paired`), in the order of `course_values` (by patient,
    then course, as the strings sort): what the course lines are sampled from."""
    t, o = RollupTrajectoryValue, RollupCourseOutcome
    stmt = select(t.patient_id, t.course_id).where(*_trajectory_of(instrument, axis, filters))
    stmt = stmt.distinct()  # from ix_rollup_trajectory_values_courses alone
    if paired:
        # Each distinct course probed once for its baseline (a join probed every point).
        courses = stmt.subquery()
        with_baseline = select(o.course_id).where(
            o.course_id == courses.c.course_id,
            o.instrument == instrument,
            o.baseline.is_not(None),
        )
        stmt = select(courses.c.patient_id, courses.c.course_id).where(with_baseline.exists())
    frame = queries.read_frame(conn, stmt, ["patient_id", "course_id"])
    frame = frame.astype({"patient_id": "str", "course_id": "str"})
    return frame.sort_values(["patient_id", "course_id"], ignore_index=True)


def course_outcomes_in_scope(
    conn: Connection,
    filters: Filters,
    *,
    instrument: str | None = None,
    baseline_window_days: int,
) -> pd.DataFrame | None:
    """`aggregates.outcomes.course_outcomes` for the filters `serves` declines (routes, a
    date range, a clinician's scope) from RollupCourseOutcome: the rows of the courses
    `queries.course_scope` keeps, as a course's row depends on its own scores and sessions
    alone. None (read live) for another baseline window, or while any outcome score is
    stored without a course: the rollup placed it in a course, a scoped live read leaves it
    out."""
    if case_sql.has_unresolved_scores(conn, Filters()):
        return None
    scope = queries.course_scope(filters)
    conditions = [] if scope is None else [RollupCourseOutcome.course_id.in_(scope)]
    return _stored_outcomes(conn, conditions, instrument, baseline_window_days)


def first_dose_routes(
    conn: Connection,
    filters: Filters,
    *,
    instrument: str,
    baseline_window_days: int,
) -> frozenset[str] | None:
    """The routes of the first completed doses of the evaluable courses of `instrument` in
    these filters (`serves`), as kapviz.evidence.clinic.clinic_figure finds them from
    `aggregates.cohort.course_first_doses`: each stored outcome row joined to its course's
    dose number 1 in the Safety rollup's doses per number and route (numbered by start,
    then session id: the same first dose). None for another baseline window (read live)."""
    if not outcome_window_is(conn, baseline_window_days):
        return None
    o, d = RollupCourseOutcome, RollupCourseDose
    stmt = (
        select(d.route)
        .join(o, o.course_id == d.course_id)
        .where(
            d.session_number == 1,
            d.route.is_not(None),
            o.instrument == instrument,
            o.evaluable.is_(True),
            *_where(o, filters),
        )
        .distinct()
    )
    return frozenset(str(route) for route in conn.execute(stmt).scalars())


def censored_doses(
    conn: Connection, filters: Filters, *, instrument: str, baseline_window_days: int
) -> pd.DataFrame | None:
    """`cohort.completed_doses` of only the courses whose time to response to `instrument`
    is censored (in the analysis, no response time: `ttr.response_times` counts their doses
    up to the endpoint; a responder's count is its stored one), chosen by their stored
    outcome rows; None when those were built with another baseline window (read live).
    A course's doses are its own, so they are the same rows as in the whole read."""
    if not outcome_window_is(conn, baseline_window_days):
        return None
    o = RollupCourseOutcome
    censored = select(o.course_id).where(
        *_where(o, filters),
        o.instrument == instrument,
        o.evaluable.is_(True),
        o.is_response.is_not(None),
        o.time_to_response_days.is_(None),
    )
    return cohort_sql.completed_doses(conn, filters, within=censored)
