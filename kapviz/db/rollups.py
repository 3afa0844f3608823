"""The Overview's whole-period counts kept in the database, by site and indication.

Why: the Overview's figures over the whole period — dosing sessions and adverse events by
month and route, the treatment funnel, reasons for ineligibility, each course's outcome per
instrument — are otherwise computed from every session and score on each cold
load, so the page grows with the clinic. Kept grouped by the patient's site and indication
(the filters of a director's view), they are summed in SQL for any choice of sites and
indications in milliseconds, whatever the clinic's size (issue 8).

They are derived data, written after the clinic data by whoever writes those (the demo
generator, imports, `python -m kapviz rollup`), stamped with the data version they were
computed from (kapviz.db.queries.clinic_version). A reader uses them only while that stamp is
the data's current version and the filters are sites and indications only; a route or date
filter, a clinician's scope, or data changed since (by another program writing the
database) take the live queries of kapviz.db.aggregates, which give the same numbers: both
paths run the same SQL definitions, and the course outcomes the one pandas rule
(kapviz.metrics.outcomes.outcomes_from_scores); tests compare them on SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import Connection, Engine, delete, exists, func, insert, select

from kapviz import config
from kapviz.auth.scope import matches_nothing
from kapviz.db import queries
from kapviz.db.aggregates import outcomes as outcome_sql
from kapviz.db.aggregates import program as program_sql
from kapviz.db.models import (
    Patient,
    RollupCourseOutcome,
    RollupDosingMonth,
    RollupFunnel,
    RollupIneligibility,
    RollupState,
)
from kapviz.filters import Filters
from kapviz.metrics import outcomes

log = logging.getLogger(__name__)

TABLES = (RollupDosingMonth, RollupFunnel, RollupIneligibility, RollupCourseOutcome)


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
    course_outcomes: pd.DataFrame


def compute(conn: Connection) -> Rollups | None:
    """Every rollup table's rows from the data now, or None when they cannot stand in for
    the live queries: data written while they were read."""
    version = queries.clinic_version(conn)
    everything = Filters()
    groups = (Patient.site, Patient.indication)
    dosing = program_sql.merged_counts(
        conn, *program_sql.dosing_counts(everything, program_sql.month_of, *groups)
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
    course_outcomes = course_outcome_rows(conn)
    if queries.clinic_version(conn) != version:
        log.info("rollups not built: the data changed while they were read")
        return None
    return Rollups(
        version=version,
        dosing_months=dosing.rename(columns={"period": "month"}),
        funnel=funnel,
        ineligibility=ineligibility.rename(columns={"patients": "sessions"}),
        course_outcomes=course_outcomes,
    )


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


def _records(frame: pd.DataFrame, columns: list[str]) -> list[dict]:
    """Plain Python values for an executemany insert (None for missing values)."""
    out = frame[columns].astype(object).where(frame[columns].notna(), None)
    return out.to_dict("records")


def rebuild(engine: Engine) -> bool:
    """Replace the rollups with ones computed from the data now, in one transaction.

    Returns False (the stored ones untouched) when `compute` declines; readers then keep
    taking the live path until the next rebuild.
    """
    with engine.connect() as conn:
        rollups = compute(conn)
    if rollups is None:
        return False
    rows = {
        RollupDosingMonth: _records(
            rollups.dosing_months,
            ["site", "indication", "month", "route", "sessions", "events"],
        ),
        RollupFunnel: _records(rollups.funnel, ["site", "indication", *program_sql.FUNNEL_COLUMNS]),
        RollupIneligibility: _records(
            rollups.ineligibility, ["site", "indication", "reason", "sessions"]
        ),
        RollupCourseOutcome: _records(rollups.course_outcomes, OUTCOME_ROW_COLUMNS),
    }
    with engine.begin() as conn:
        conn.execute(delete(RollupState))
        for table in TABLES:
            conn.execute(delete(table))
            if rows[table]:
                conn.execute(insert(table), rows[table])
        conn.execute(
            insert(RollupState),
            [{"id": 1, "data_version": stamp(rollups.version), "built_at": datetime.now()}],
        )
    return True


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
    conditions = []
    if filters.sites:
        conditions.append(table.site.in_(filters.sites))
    if filters.indications:
        conditions.append(table.indication.in_(filters.indications))
    return conditions


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
    t = RollupCourseOutcome
    conditions = _where(t, filters)
    if instrument is not None:
        conditions.append(t.instrument == instrument)
    # One build, one window: rows of these filters tell it (none: no course has a score, in
    # any window).
    columns = [*outcomes.OUTCOME_COLUMNS, "baseline_window_days"]
    stmt = select(*[getattr(t, c) for c in columns]).where(*conditions)
    stored = queries.read_frame(conn, stmt, columns)
    if (stored["baseline_window_days"] != baseline_window_days).any():
        return None
    return outcomes.outcome_frame(stored)
