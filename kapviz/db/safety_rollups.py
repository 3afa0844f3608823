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

import numpy as np
import pandas as pd
from sqlalchemy import Connection, case, delete, distinct, func, insert, literal, select

from kapviz.config import Settings
from kapviz.db import queries
from kapviz.db.aggregates import safety as safety_sql
from kapviz.db.models import (
    Assessment,
    Dosing,
    Patient,
    RollupBpCount,
    RollupCadssCount,
    RollupCourseBpCount,
    RollupCourseCadss,
    RollupCourseDose,
    RollupCourseEffect,
    RollupDoseCount,
    RollupDosedPatients,
    RollupDoseSafety,
    RollupEffectCount,
    RollupEffectPatients,
    Session,
    SideEffect,
    VitalSign,
)
from kapviz.domain import SEVERITIES
from kapviz.filters import Filters
from kapviz.instruments import CADSS, LOSS_OF_CONSCIOUSNESS_MOAAS, MOAAS
from kapviz.metrics import side_effects
from kapviz.metrics.monitoring import U_CHART_COLUMNS
from kapviz.metrics.vitals import bp_curve_from_counts
from kapviz.vocabulary import LONG_TERM_TERMS

BIN_MINUTES = 10
"""The BP curve's time bin (bp_value_counts' default)."""

COURSE_TABLES = (
    RollupCourseEffect,
    RollupCourseDose,
    RollupCourseBpCount,
    RollupDoseSafety,
    RollupCourseCadss,
)
SUMMED_TABLES = (
    RollupEffectCount,
    RollupEffectPatients,
    RollupDoseCount,
    RollupDosedPatients,
    RollupBpCount,
    RollupCadssCount,
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
        RollupDoseSafety: _dose_rows(conn, courses),
        RollupCourseCadss: _cadss_rows(conn, courses, doses),
    }


def _cadss_rows(conn: Connection, courses: Sequence[str] | None, doses: pd.DataFrame):
    """RollupCourseCadss's rows: the CADSS scores taken during the courses' doses (numbered
    as `_numbered_doses` numbers them) per dose number and score."""
    ids = select(Session.session_id).where(*_dose_conditions(courses))
    stmt = select(Assessment.session_id, Assessment.total).where(
        Assessment.instrument == CADSS.id, Assessment.session_id.in_(ids)
    )
    scores = queries.read_frame(conn, stmt, ["session_id", "value"])
    scores = (
        scores.astype({"session_id": object})
        .merge(
            doses[["session_id", "course_id", "site", "indication", "session_number"]],
            on="session_id",
        )
        .dropna(subset=["session_number"])
    )  # as cadss_table leaves out scores without one
    keys = ["course_id", "site", "indication", "session_number", "value"]
    rows = scores.groupby(keys, dropna=False, sort=False).size().rename("scores").reset_index()
    return rows.astype({"session_number": "int64", "value": "int64", "scores": "int64"})


MOAAS_VALUES = range(MOAAS.total_min, MOAAS.total_max + 1)
"""The MOAA/S totals RollupDoseSafety counts one column each (moaas_0 … moaas_5)."""

LONG_TERM_COLUMNS = {term: term.replace(" ", "_") for term in LONG_TERM_TERMS}
"""RollupDoseSafety's 0/1 column of each long-term term (urinary_symptoms,
cognitive_impairment): whether the dose has a record of it."""

BP_COLUMNS = [
    "readings",
    "max_systolic",
    "max_diastolic",
    "peak_systolic",
    "peak_diastolic",
    "pre_systolic",
    "pre_diastolic",
    "last_systolic",
    "last_diastolic",
]
"""safety_sql.bp_stats' columns after session_id, in its order (the flagged table's)."""


def _dose_rows(conn: Connection, courses: Sequence[str] | None) -> pd.DataFrame:
    """RollupDoseSafety's rows for the courses' doses: dosing details, events (terms on the
    dose, each once), serious records, MOAA/S scores by value, blood-pressure summary (the
    live path's SQL: safety_sql.bp_stats)."""
    ids = select(Session.session_id).where(*_dose_conditions(courses))
    doses = queries.read_frame(
        conn,
        select(
            Session.session_id,
            Session.patient_id,
            Session.course_id,
            Session.started_at,
            Patient.site,
            Patient.indication,
            Dosing.route,
            Dosing.drug,
            Dosing.monitoring_min,
            Dosing.dose_mg,
        )
        .join(Patient, Patient.patient_id == Session.patient_id)
        .outerjoin(Dosing, Dosing.session_id == Session.session_id)
        .where(*_dose_conditions(courses)),
        ["session_id", "patient_id", "course_id", "started_at", "site", "indication"]
        + ["route", "drug", "monitoring_min", "dose_mg"],
    )
    doses["dose_mg"] = pd.to_numeric(doses["dose_mg"]).astype("float64")
    doses["started_at"] = pd.to_datetime(doses["started_at"])
    doses["monitoring_min"] = pd.to_numeric(doses["monitoring_min"]).astype("Int64")
    serious = case((SideEffect.serious, 1), else_=0)
    terms = (
        select(SideEffect.session_id, SideEffect.term, func.sum(serious).label("serious"))
        .where(SideEffect.session_id.in_(ids))
        .group_by(SideEffect.session_id, SideEffect.term)
        .subquery()
    )
    flags = [func.max(case((terms.c.term == t, 1), else_=0)) for t in LONG_TERM_COLUMNS]
    effects = queries.read_frame(
        conn,
        select(terms.c.session_id, func.count(), func.sum(terms.c.serious), *flags).group_by(
            terms.c.session_id
        ),
        ["session_id", "events", "serious_events", *LONG_TERM_COLUMNS.values()],
    )
    moaas_columns = [f"moaas_{v}" for v in MOAAS_VALUES]
    total = Assessment.total
    moaas = queries.read_frame(
        conn,
        select(
            Assessment.session_id,
            func.count(),
            *[func.sum(case((total == v, 1), else_=0)) for v in MOAAS_VALUES],
        )
        .where(Assessment.instrument == MOAAS.id, Assessment.session_id.in_(ids))
        .group_by(Assessment.session_id),
        ["session_id", "moaas_scores", *moaas_columns],
    )
    stats = safety_sql.bp_stats(ids)
    bp = queries.read_frame(
        conn,
        select(stats.c.session_id, *[stats.c[c] for c in BP_COLUMNS]),
        ["session_id", *BP_COLUMNS],
    )
    rows = doses.astype({"session_id": object})
    for frame in (effects, moaas, bp):
        rows = rows.merge(frame.astype({"session_id": object}), on="session_id", how="left")
    counts = ["events", "serious_events", *LONG_TERM_COLUMNS.values(), "moaas_scores"]
    counts += [*moaas_columns, "readings"]
    for col in counts:
        rows[col] = pd.to_numeric(rows[col]).fillna(0).astype("int64")
    for col in BP_COLUMNS[1:]:
        rows[col] = pd.to_numeric(rows[col]).astype("Int64")
    return rows


# --- Summed per site and indication -----------------------------------------------------------


def sum_rows(conn: Connection) -> None:
    """The summed tables counted again from the per-course rows, in SQL."""
    e, d, b = RollupCourseEffect, RollupCourseDose, RollupCourseBpCount
    c = RollupCourseCadss
    cadss_keys = [c.site, c.indication, c.session_number, c.value]
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
        RollupCadssCount: select(*cadss_keys, func.sum(c.scores).label("scores")).group_by(
            *cadss_keys
        ),
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


# --- Read per dose: headline counts, blood-pressure flags, events by month --------------------


def bp_flags(
    conn: Connection, filters: Filters, *, settings: Settings, limit: int
) -> safety_sql.BpFlags:
    """safety_sql.bp_flags from RollupDoseSafety (one narrow row per dose, no reading read):
    the same flags, counts and order, by the same SQL (safety_sql.flagged_doses)."""
    from kapviz.db.rollups import _where

    t = RollupDoseSafety
    base = select(
        t.session_id, t.patient_id, t.course_id, t.started_at, t.route, t.drug
    ).add_columns(*[getattr(t, c) for c in BP_COLUMNS])
    base = base.where(t.readings > 0, *_where(t, filters))
    return safety_sql.flagged_doses(conn, t.__table__, base, settings=settings, limit=limit)


def dose_totals(conn: Connection, filters: Filters, *, settings: Settings) -> safety_sql.DoseTotals:
    """safety_sql.dose_totals from RollupDoseSafety and RollupDosedPatients: one sum over a
    row per dose, the settings' thresholds bound (sedation: the MOAA/S value columns at or
    below the threshold)."""
    from kapviz.db.rollups import _where

    t = RollupDoseSafety
    minutes = t.monitoring_min
    esketamine = t.drug == "esketamine"

    def count_where(condition) -> object:  # a SQL expression
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    def total(column) -> object:  # a SQL expression
        return func.coalesce(func.sum(column), 0)

    sedated = [getattr(t, f"moaas_{v}") for v in MOAAS_VALUES if v <= settings.sedation_moaas_max]
    row = conn.execute(
        select(
            func.count(),
            total(t.events),
            total(t.serious_events),
            total(t.moaas_scores),
            total(sum(sedated, literal(0))),
            total(getattr(t, f"moaas_{LOSS_OF_CONSCIOUSNESS_MOAAS}")),
            count_where(esketamine),
            count_where(esketamine & (minutes < settings.esketamine_min_monitoring_min)),
            count_where(esketamine & minutes.is_(None)),
        ).where(*_where(t, filters))
    ).one()
    dosed = _summed(conn, RollupDosedPatients, filters, [], ["patients"])
    n = [int(v) for v in row]
    return safety_sql.DoseTotals(
        dosing_sessions=n[0],
        patients_dosed=int(dosed["patients"].sum()),
        events=n[1],
        serious_events=n[2],
        sedation={"scores": n[3], "sedation": n[4], "loss_of_consciousness": n[5]},
        esketamine_sessions=n[6],
        short_monitoring=n[7],
        unrecorded_monitoring=n[8],
    )


def monthly_events(conn: Connection, filters: Filters) -> pd.DataFrame:
    """safety_sql.monthly_events (month, events, dosing_sessions) from the Overview's
    RollupDosingMonth, summed over routes: the same doses and events by the same month."""
    from kapviz.db.rollups import dosing_months

    frame = dosing_months(conn, filters)
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in U_CHART_COLUMNS[:3]})
    by_month = frame.groupby("day", sort=True)[["events", "sessions"]].sum()
    return pd.DataFrame(
        {
            "month": by_month.index.to_numpy(),
            "events": by_month["events"].astype("int64").to_numpy(),
            "dosing_sessions": by_month["sessions"].astype("int64").to_numpy(),
        }
    )


def cadss_scores(conn: Connection, filters: Filters) -> pd.DataFrame:
    """safety_sql.cadss_scores' frame (total, session_number) rebuilt from the summed CADSS
    counts: each score repeated as often as it was given, by dose number then score
    (kapviz.metrics.monitoring.cadss_table takes each dose number's scores in sorted
    order, so the statistics are the same bits whatever order the scores came in)."""
    counts = _summed(conn, RollupCadssCount, filters, ["session_number", "value"], ["scores"])
    counts = counts.sort_values(["session_number", "value"], ignore_index=True)
    repeat = counts["scores"].to_numpy()
    return pd.DataFrame(
        {
            "total": np.repeat(counts["value"].to_numpy("int64"), repeat),
            "session_number": np.repeat(counts["session_number"].to_numpy("float64"), repeat),
        }
    )


def long_term_counts(conn: Connection, filters: Filters) -> pd.DataFrame:
    """safety_sql.long_term_counts from RollupDoseSafety: each dose's cumulative dose (mg, a
    missing dose as 0) summed over the patient's doses by start, then session id in
    code-point order, over one narrow row per dose (no join of the dosing records)."""
    from kapviz.db.rollups import _where

    t = RollupDoseSafety
    session = t.session_id
    if conn.dialect.name == "postgresql":
        session = session.collate("C")
    cumulative = func.sum(func.coalesce(t.dose_mg, 0.0)).over(
        partition_by=t.patient_id, order_by=(t.started_at, session)
    )
    terms = [getattr(t, c) for c in LONG_TERM_COLUMNS.values()]
    per_dose = select(cumulative.label("mg"), *terms).where(*_where(t, filters)).subquery()
    band = safety_sql.cumulative_band(per_dose.c.mg).label("band")
    sums = [func.sum(per_dose.c[c]) for c in LONG_TERM_COLUMNS.values()]
    stmt = select(band, func.count(), *sums).group_by(band)
    frame = queries.read_frame(conn, stmt, ["band", "dosing_sessions", *LONG_TERM_TERMS])
    hits = frame.melt(
        id_vars="band", value_vars=list(LONG_TERM_TERMS), var_name="term", value_name="sessions"
    )
    hits["sessions"] = pd.to_numeric(hits["sessions"]).astype("int64")
    hits = hits[hits["sessions"] > 0]
    return safety_sql.long_term_of_bands(frame[["band", "dosing_sessions"]], hits)
