"""The Safety page's side-effect and blood-pressure counts, kept per course and summed.

Why: the page's frequency, severity, dose-number and by-route rates and its BP curve are
otherwise computed from every dose, side-effect record and reading at each cold load.
Per course (registered in kapviz.db.rollups.COURSE_ROLLUPS, so an import recomputes only
the courses it touched): the doses with each side-effect term per dose number and route,
with their highest severity; the doses per dose number and route; the readings during the
doses per time bin and value. Summed per site and indication in SQL after every build and
refresh (`sum_rows`), with the distinct patients dosed and with each term (exact when
summed over groups: a patient has one site and one indication), so that a reader sums a
bounded number of rows whatever the clinic's size (`safety_counts`).

Same definitions as the live path (kapviz.metrics.safety.dose_safety on the reads of
kapviz.db.aggregates.safety): doses are completed dosing sessions, numbered within their
course by `number_doses`; a side effect counts once per dose and term at its highest
severity (`severity_rank_sql`); readings are binned by `bin_start`. Tests compare both paths
on SQLite and PostgreSQL (tests/db/test_safety_rollups.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Connection, delete, distinct, func, insert, select

from kapviz.db import queries
from kapviz.db.aggregates import safety as safety_sql
from kapviz.db.models import (
    Dosing,
    Patient,
    RollupBpCount,
    RollupCourseBpCount,
    RollupCourseDose,
    RollupCourseEffect,
    RollupDoseCount,
    RollupDosedPatients,
    RollupEffectCount,
    RollupEffectPatients,
    Session,
    SideEffect,
    VitalSign,
)
from kapviz.domain import SEVERITIES
from kapviz.filters import Filters
from kapviz.metrics import side_effects
from kapviz.metrics.vitals import bp_curve_from_counts

BIN_MINUTES = 10
"""The BP curve's time bin (bp_value_counts' default)."""

COURSE_TABLES = (RollupCourseEffect, RollupCourseDose, RollupCourseBpCount)
SUMMED_TABLES = (
    RollupEffectCount,
    RollupEffectPatients,
    RollupDoseCount,
    RollupDosedPatients,
    RollupBpCount,
)

_GROUPS = ["course_id", "patient_id", "site", "indication", "session_number", "route"]


# --- Per-course rows ----------------------------------------------------------------------


def _dose_conditions(courses: Sequence[str] | None) -> list:
    conditions = safety_sql.dose_conditions(Filters())
    if courses is not None:
        conditions.append(Session.course_id.in_(list(courses)))
    return conditions


def _numbered_doses(conn: Connection, courses: Sequence[str] | None) -> pd.DataFrame:
    """The courses' doses: session_id, patient_id, course_id, site, indication, route and
    session_number (number_doses: by start, then session id, within the course)."""
    columns = ["session_id", "patient_id", "course_id", "started_at", "site", "indication"]
    stmt = (
        select(
            Session.session_id,
            Session.patient_id,
            Session.course_id,
            Session.started_at,
            Patient.site,
            Patient.indication,
            Dosing.route,
        )
        .join(Patient, Patient.patient_id == Session.patient_id)
        .outerjoin(Dosing, Dosing.session_id == Session.session_id)
        .where(*_dose_conditions(courses))
    )
    doses = queries.read_frame(conn, stmt, [*columns, "route"])
    doses["started_at"] = pd.to_datetime(doses["started_at"])
    numbers = side_effects.number_doses(doses)[["session_id", "session_number"]]
    doses = doses.astype({"session_id": object}).merge(numbers, on="session_id")
    return doses.drop(columns="started_at")


def _dose_effects(conn: Connection, courses: Sequence[str] | None) -> pd.DataFrame:
    """session_id, term, severity_rank (highest) of the courses' doses' side effects."""
    doses = select(Session.session_id).where(*_dose_conditions(courses))
    stmt = (
        select(SideEffect.session_id, SideEffect.term, func.max(safety_sql.severity_rank_sql()))
        .where(SideEffect.session_id.in_(doses))
        .group_by(SideEffect.session_id, SideEffect.term)
    )
    frame = queries.read_frame(conn, stmt, ["session_id", "term", "severity_rank"])
    return frame.astype({"session_id": object, "severity_rank": "int64"})


def _bp_counts(conn: Connection, courses: Sequence[str] | None) -> pd.DataFrame:
    """The courses' doses' readings per course, time bin, measure and value."""
    start = safety_sql.bin_start(VitalSign.minutes_from_dose, BIN_MINUTES).label("minute")
    keys = [Session.course_id, Patient.site, Patient.indication]
    stmt = (
        select(*keys, start, VitalSign.systolic, VitalSign.diastolic, func.count())
        .join(Session, Session.session_id == VitalSign.session_id)
        .join(Patient, Patient.patient_id == Session.patient_id)
        .where(*_dose_conditions(courses))
        .group_by(*keys, start, VitalSign.systolic, VitalSign.diastolic)
    )
    names = ["course_id", "site", "indication"]
    frame = queries.read_frame(conn, stmt, [*names, "minute", "systolic", "diastolic", "readings"])
    counts = safety_sql.counts_by_measure(frame, names)
    return counts.astype({"value": "int64"})


def course_rows(conn: Connection, courses: Sequence[str] | None) -> dict[type, pd.DataFrame]:
    """Rows of the per-course Safety rollups for these courses (every course when None)."""
    doses = _numbered_doses(conn, courses)
    effects = _dose_effects(conn, courses).merge(doses, on="session_id")
    for rank, severity in enumerate(SEVERITIES, start=1):
        effects[severity] = (effects["severity_rank"] == rank).astype("int64")
    by_term = effects.groupby([*_GROUPS, "term"], dropna=False, sort=False)
    effect_rows = by_term.agg(
        sessions=("session_id", "size"), **{s: (s, "sum") for s in SEVERITIES}
    ).reset_index()
    dose_rows = (
        doses.groupby(_GROUPS, dropna=False, sort=False)
        .size()
        .rename("dosing_sessions")
        .reset_index()
    )
    return {
        RollupCourseEffect: effect_rows,
        RollupCourseDose: dose_rows,
        RollupCourseBpCount: _bp_counts(conn, courses),
    }


# --- Summed per site and indication -----------------------------------------------------------


def sum_rows(conn: Connection) -> None:
    """The summed tables counted again from the per-course rows, in SQL."""
    e, d, b = RollupCourseEffect, RollupCourseDose, RollupCourseBpCount
    groups = [e.site, e.indication]
    effect_keys = [*groups, e.session_number, e.route, e.term]
    dose_keys = [d.site, d.indication, d.session_number, d.route]
    bp_keys = [b.site, b.indication, b.minute, b.measure, b.value]
    summed = {
        RollupEffectCount: select(
            *effect_keys,
            *[func.sum(c).label(c.key) for c in (e.sessions, e.mild, e.moderate, e.severe)],
        ).group_by(*effect_keys),
        RollupEffectPatients: select(
            *groups, e.term, func.count(distinct(e.patient_id)).label("patients")
        ).group_by(*groups, e.term),
        RollupDoseCount: select(
            *dose_keys, func.sum(d.dosing_sessions).label("dosing_sessions")
        ).group_by(*dose_keys),
        RollupDosedPatients: select(
            d.site, d.indication, func.count(distinct(d.patient_id)).label("patients")
        ).group_by(d.site, d.indication),
        RollupBpCount: select(*bp_keys, func.sum(b.readings).label("readings")).group_by(*bp_keys),
    }
    for table, stmt in summed.items():
        conn.execute(delete(table))
        columns = [c.key for c in stmt.selected_columns]  # the SELECT's order
        conn.execute(insert(table).from_select(columns, stmt))


# --- Reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SafetyCounts:
    """The Safety page's tables the rollups serve, as kapviz.metrics.safety.DoseSafety holds
    them: `rates`, `by_number`, `rates_by("route")` as `by_route`, and the BP `curve`."""

    rates: pd.DataFrame
    by_number: pd.DataFrame
    by_route: pd.DataFrame
    curve: pd.DataFrame
    dosing_sessions: int
    patients_dosed: int


def _summed(conn: Connection, table, filters: Filters, keys: list, values: list) -> pd.DataFrame:
    """sum(values) per keys of a summed table's rows in these sites and indications."""
    # Imported here: kapviz.db.rollups registers this module's tables when it loads.
    from kapviz.db.rollups import _where

    cols = [getattr(table, k) for k in keys]
    sums = [func.sum(getattr(table, v)) for v in values]
    stmt = select(*cols, *sums).where(*_where(table, filters))
    if cols:
        stmt = stmt.group_by(*cols)
    frame = queries.read_frame(conn, stmt, [*keys, *values])
    for v in values:  # a sum of no rows is NULL; PostgreSQL's sum of integers a numeric
        frame[v] = pd.to_numeric(frame[v]).fillna(0).astype("int64")
    return frame


def _group_rates(
    doses: pd.DataFrame, effects: pd.DataFrame, by: str, dtype: str | type
) -> pd.DataFrame:
    """`rates_by_labels` by `by` (doses without one are left out, as the live path does)."""
    doses, effects = doses.dropna(subset=[by]), effects.dropna(subset=[by])
    doses = doses.astype({by: dtype})
    effects = effects.astype({by: dtype})
    sizes = doses.groupby(by)["dosing_sessions"].sum().rename("dosing_sessions")
    hits = effects.groupby([by, "term"])["sessions"].sum().rename("sessions")
    return side_effects.rates_from_group_counts(sizes, hits, by=by)


def safety_counts(conn: Connection, filters: Filters) -> SafetyCounts:
    """The tables of `SafetyCounts` for these sites and indications (kapviz.db.rollups.serves
    filters, current rollups: the caller checks)."""
    doses = _summed(
        conn, RollupDoseCount, filters, ["session_number", "route"], ["dosing_sessions"]
    )
    effects = _summed(
        conn,
        RollupEffectCount,
        filters,
        ["session_number", "route", "term"],
        ["sessions", *SEVERITIES],
    )
    patients = _summed(conn, RollupEffectPatients, filters, ["term"], ["patients"])
    dosed = _summed(conn, RollupDosedPatients, filters, [], ["patients"])
    dosing_sessions = int(doses["dosing_sessions"].sum())
    patients_dosed = int(dosed["patients"].sum())
    effects["term"] = effects["term"].astype(object)
    patients["term"] = patients["term"].astype(object)
    by_term = effects.groupby("term")[["sessions", *SEVERITIES]].sum()
    counts = by_term.join(patients.set_index("term")["patients"]).reset_index()
    rates = side_effects.rates_from_counts(
        counts, dosing_sessions=dosing_sessions, patients_dosed=patients_dosed
    )
    bp = _summed(conn, RollupBpCount, filters, ["minute", "measure", "value"], ["readings"])
    bp = bp.astype({"minute": "int64", "value": "float64"})
    bp["measure"] = bp["measure"].astype(object)
    return SafetyCounts(
        rates=rates,
        # Without doses the live numbers are float64 (number_doses' empty reindex).
        by_number=_group_rates(
            doses, effects, "session_number", "int64" if len(doses) else "float64"
        ),
        by_route=_group_rates(doses, effects, "route", object),
        curve=bp_curve_from_counts(bp),
        dosing_sessions=dosing_sessions,
        patients_dosed=patients_dosed,
    )
