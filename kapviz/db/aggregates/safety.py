"""The Safety page's inputs, read narrow: doses, effects per dose × term, BP readings, scales.

The *doses* of the filters are the completed dosing sessions of the courses in scope,
started inside the date range: the denominator of every safety rate (docs/domain.md §4).
kapviz.metrics.safety.dose_safety turns these frames into every table of the page, equal
to the pandas metrics on the raw frames (tests/db/test_aggregates_safety.py):

- `doses`: one row per dose with its site and dosing details (146,000 at 20,000 patients);
- `dose_effects`: side-effect records grouped in SQL per session × term, at the highest
  severity (the SQL twin of the metrics' severity rank), with record counts;
- blood pressure, by backend (`groups_readings_in_sql`): on PostgreSQL the per-dose
  summaries (pre-dose, peak, last readings) and the curve's counts of integer readings per
  time bin are grouped in SQL (`bp_summaries`, `bp_value_counts`); on SQLite the four
  columns of every reading are read from a covering index (`readings`, migration 0004) and
  kapviz.metrics.vitals summarises and counts them with numpy in one pass;
- `scale_scores`: CADSS and MOAA/S scores (per-dose-number statistics, sedation counts);
- `alert_rows`: the recent window the alerts worklist reads, plus each patient's latest
  PHQ-9 with a known item 9 (for the Overview too: kapviz.metrics.safety.alerts on them).

Why narrow reads matched in pandas rather than one GROUP BY per chart: SQLite has no hash
join, so joining the doses to another table costs a B-tree search per row, and grouping a
million readings costs it a sort. Each table is read once; without filters not even the
doses are picked in SQL (probing the list of 146,000 doses per reading costs SQLite three
times as much as reading every row), and dose_safety keeps the doses' rows by an Arrow
hash lookup. With filters, `session_id IN (the doses)` keeps the reads small.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import (
    BigInteger,
    Connection,
    Select,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.sql.expression import ColumnElement

from kapviz.config import Settings
from kapviz.db import queries
from kapviz.db.aggregates.program import month_of
from kapviz.db.models import Assessment, Dosing, Patient, Session, SideEffect, VitalSign
from kapviz.filters import Filters
from kapviz.instruments import CADSS, LOSS_OF_CONSCIOUSNESS_MOAAS, MOAAS, PHQ9
from kapviz.metrics.monitoring import U_CHART_COLUMNS
from kapviz.metrics.side_effects import (
    CUMULATIVE_DOSE_EDGES_MG,
    LONG_TERM_TERMS,
    cumulative_dose_order,
    long_term_from_counts,
)
from kapviz.metrics.vitals import SESSION_VITALS_COLUMNS
from kapviz.vocabulary import CTCAE_SEVERITY, SEVERITY_RANK


def _in_scope(filters: Filters) -> list[ColumnElement]:
    scope = queries.course_scope(filters)
    return [] if scope is None else [Session.course_id.in_(scope)]


def dose_conditions(filters: Filters) -> list[ColumnElement]:
    """WHERE conditions on Session for the doses: completed dosing, in scope, in the range."""
    conditions = [Session.phase == "dosing", Session.status == "completed", *_in_scope(filters)]
    if filters.start_at is not None:
        conditions.append(Session.started_at >= filters.start_at)
    if filters.end_before is not None:
        conditions.append(Session.started_at < filters.end_before)
    return conditions


def dose_ids(filters: Filters) -> Select:
    """SELECT of the doses' session ids."""
    return select(Session.session_id).where(*dose_conditions(filters))


def _among_doses(column: ColumnElement, filters: Filters) -> list[ColumnElement]:
    """`column IN (the doses)` when the filters narrow the sessions, else nothing.

    Without filters the frames below hold the rows of every session and the metrics keep
    the doses' rows by a hash lookup: SQLite has no hash join, and probing the list of
    146,000 doses once per reading costs it three times as much as reading every row.
    """
    narrowed = (
        queries.course_scope(filters) is not None
        or filters.start_at is not None
        or filters.end_before is not None
    )
    return [column.in_(dose_ids(filters))] if narrowed else []


# --- One row per dose ------------------------------------------------------------------------

DOSE_COLUMNS = [
    "session_id",
    "patient_id",
    "course_id",
    "started_at",
    "site",
    "route",
    "drug",
    "dose_mg",
    "dose_mg_per_kg",
    "monitoring_min",
]


def doses(conn: Connection, filters: Filters) -> pd.DataFrame:
    """One row per dose with its site and dosing details (route … monitoring_min missing
    when no dosing record), in the session frames' order (patient, start, session id).

    Three narrow reads matched in pandas rather than one three-table join (see the module
    docstring): the doses from an index of sessions, their dosing records, the sites.
    """
    stmt = (
        select(Session.session_id, Session.patient_id, Session.course_id, Session.started_at)
        .where(*dose_conditions(filters))
        .order_by(Session.patient_id, Session.started_at, Session.session_id)
    )
    frame = queries.read_frame(conn, stmt, DOSE_COLUMNS[:4])
    frame["started_at"] = pd.to_datetime(frame["started_at"])
    dosing_columns = ["session_id", *DOSE_COLUMNS[5:]]
    stmt = select(*[getattr(Dosing, c) for c in dosing_columns]).where(
        *_among_doses(Dosing.session_id, filters)
    )
    dosing = queries.read_frame(conn, stmt, dosing_columns)
    for col in ("dose_mg", "dose_mg_per_kg", "monitoring_min"):
        dosing[col] = pd.to_numeric(dosing[col], errors="coerce").astype("float64")
    stmt = select(Patient.patient_id, Patient.site).where(*queries.patient_conditions(filters))
    sites = queries.read_frame(conn, stmt, ["patient_id", "site"])
    at = _positions(sites["patient_id"], frame["patient_id"])
    frame.insert(4, "site", _take(sites["site"], at, frame.index))
    at = _positions(dosing["session_id"], frame["session_id"])
    for col in DOSE_COLUMNS[5:]:
        frame[col] = _take(dosing[col], at, frame.index)
    return frame


def _positions(keys: pd.Series, wanted: pd.Series) -> pa.Array:
    """Where each of `wanted` is among the unique `keys` (null when absent): the lookup of a
    left join, by Arrow's hash table (pandas' merge converts Arrow strings to objects)."""
    known = pa.array(keys, from_pandas=True)
    if isinstance(known, pa.ChunkedArray):
        known = known.combine_chunks()
    if len(wanted) == 0 or len(known) == 0:  # an empty side has no type to match (null)
        return pa.nulls(len(wanted), type=pa.int32())
    return pc.index_in(pa.array(wanted, from_pandas=True), value_set=known)


def _take(values: pd.Series, at: pa.Array, index: pd.Index) -> pd.Series:
    """values at positions `at` (missing where null), with the dtype of `values`."""
    picked = pa.array(values, from_pandas=True).take(at).to_pandas()
    return pd.Series(picked, index=index, name=values.name).astype(values.dtype)


# --- Side effects per dose × term ---------------------------------------------------------------


def severity_rank_sql() -> ColumnElement:
    """Rank 1 mild, 2 moderate, 3 severe: the higher of the word and the CTCAE grade.

    The SQL twin of kapviz.metrics.side_effects.severity_rank (unknown words and grades 0).
    """
    word = case(*[(SideEffect.severity == s, r) for s, r in SEVERITY_RANK.items()], else_=0)
    grade = case(
        *[(SideEffect.ctcae_grade == g, SEVERITY_RANK[s]) for g, s in CTCAE_SEVERITY.items()],
        else_=0,
    )
    return case((word >= grade, word), else_=grade)


EFFECT_COLUMNS = ["session_id", "term", "severity_rank", "serious", "records", "serious_records"]


def dose_effects(conn: Connection, filters: Filters) -> pd.DataFrame:
    """One row per session × effect term: highest severity rank, any serious, record counts.

    serious_records counts the records marked serious (each is a serious event). Holds the
    doses' sessions and, without filters, other sessions too (see `_among_doses`).
    """
    serious = case((SideEffect.serious, 1), else_=0)
    stmt = (
        select(
            SideEffect.session_id,
            SideEffect.term,
            func.max(severity_rank_sql()),
            func.max(serious),
            func.count(),
            func.sum(serious),
        )
        .where(*_among_doses(SideEffect.session_id, filters))
        .group_by(SideEffect.session_id, SideEffect.term)
    )
    frame = queries.read_frame(conn, stmt, EFFECT_COLUMNS)
    for col in ("severity_rank", "records", "serious_records"):
        frame[col] = frame[col].astype("int64")
    frame["serious"] = frame["serious"].astype(bool)
    return frame


# --- Vital signs ----------------------------------------------------------------------------


def readings(conn: Connection, filters: Filters) -> pd.DataFrame:
    """Blood-pressure readings: session_id, minutes_from_dose, systolic, diastolic (NaN when
    missing). Holds the doses' sessions and, without filters, other sessions too.

    Read from a covering index (migration 0004), then summarised per session and counted
    per time bin by kapviz.metrics.vitals (bp_per_session, bp_counts): one read of the
    readings serves both, where grouping them in SQL costs SQLite a sort of every row.
    """
    columns = ["session_id", "minutes_from_dose", "systolic", "diastolic"]
    stmt = select(*[getattr(VitalSign, c) for c in columns]).where(
        *_among_doses(VitalSign.session_id, filters)
    )
    frame = queries.read_frame(conn, stmt, columns)
    for col in columns[1:]:
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    return frame


def groups_readings_in_sql(conn: Connection) -> bool:
    """True where grouping the readings in SQL beats reading them: PostgreSQL groups a
    million readings in parallel, in a fraction of the time it takes to send them, while
    SQLite sorts every row to group it (`bp_summaries` and `bp_value_counts` are for
    PostgreSQL, `readings` for SQLite; both give the same tables, tests run both on both)."""
    return conn.dialect.name == "postgresql"


_MINUTE_SHIFT = 1 << 20
_VALUE_SHIFT = 1 << 10
"""A reading packed into one integer: minute · 2²⁰ + (systolic + 1) · 2¹⁰ + (diastolic + 1),
a missing value as 0. The schema keeps both values between 20 and 300, so the largest key
of a session is its latest reading, values included."""


def _packed(minute: ColumnElement) -> ColumnElement:
    def value(column: ColumnElement) -> ColumnElement:
        return func.coalesce(column + 1, 0)

    return (
        cast(minute, BigInteger) * _MINUTE_SHIFT
        + value(VitalSign.systolic) * _VALUE_SHIFT
        + value(VitalSign.diastolic)
    )


def bp_summaries(conn: Connection, filters: Filters) -> pd.DataFrame:
    """Per session with readings: readings, max, peak, pre and last systolic/diastolic
    (kapviz.metrics.vitals.bp_per_session's columns), grouped in SQL. Pre and last are the
    readings at the session's latest minute ≤ 0 and latest minute: the maximum of the
    packed readings (`_packed`) is that reading. Holds the doses' sessions and, without
    filters, other sessions too."""
    minutes = VitalSign.minutes_from_dose
    after = minutes > 0
    stmt = (
        select(
            VitalSign.session_id,
            func.count(),
            func.max(VitalSign.systolic),
            func.max(VitalSign.diastolic),
            func.max(case((after, VitalSign.systolic))),
            func.max(case((after, VitalSign.diastolic))),
            func.max(case((minutes <= 0, _packed(minutes)))),
            func.max(_packed(minutes)),
        )
        .where(*_among_doses(VitalSign.session_id, filters))
        .group_by(VitalSign.session_id)
    )
    columns = ["session_id", "readings", "max_systolic", "max_diastolic"]
    columns += ["peak_systolic", "peak_diastolic", "pre", "last"]
    frame = queries.read_frame(conn, stmt, columns)
    out = {"session_id": frame["session_id"], "readings": frame["readings"].astype("int64")}
    for col in columns[2:6]:
        out[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    for name in ("pre", "last"):
        key = pd.to_numeric(frame[name], errors="coerce")
        known = key.notna().to_numpy()
        low = key.fillna(0).astype("int64").to_numpy() & (_MINUTE_SHIFT - 1)
        for measure, encoded in (
            ("systolic", low // _VALUE_SHIFT),
            ("diastolic", low % _VALUE_SHIFT),
        ):
            out[f"{name}_{measure}"] = np.where(known & (encoded > 0), encoded - 1, np.nan)
    columns = ["session_id", "readings", "max_systolic", "max_diastolic", "last_systolic"]
    columns += ["last_diastolic", "pre_systolic", "pre_diastolic", "peak_systolic"]
    return pd.DataFrame(out)[[*columns, "peak_diastolic"]]


def bp_stats(doses: Select):
    """Per dose of `doses` (a SELECT of session ids) with readings, grouped in SQL: readings,
    max, peak, pre and last systolic and diastolic (`bp_summaries`' columns, pre and last
    decoded from the packed readings), as a subquery."""
    minutes = VitalSign.minutes_from_dose
    after = minutes > 0
    packed = (
        select(
            VitalSign.session_id.label("session_id"),
            func.count().label("readings"),
            func.max(VitalSign.systolic).label("max_systolic"),
            func.max(VitalSign.diastolic).label("max_diastolic"),
            func.max(case((after, VitalSign.systolic))).label("peak_systolic"),
            func.max(case((after, VitalSign.diastolic))).label("peak_diastolic"),
            func.max(case((minutes <= 0, _packed(minutes)))).label("pre"),
            func.max(_packed(minutes)).label("last"),
        )
        .where(VitalSign.session_id.in_(doses))
        .group_by(VitalSign.session_id)
        .subquery()
    )

    def decoded(key: ColumnElement, measure: str) -> ColumnElement:
        # Bitwise AND keeps the value bits of negative minutes too (no truncating division).
        low = cast(cast(key, BigInteger).bitwise_and(_MINUTE_SHIFT - 1), BigInteger)
        high = cast(low // _VALUE_SHIFT, BigInteger)
        encoded = high if measure == "systolic" else low - high * _VALUE_SHIFT
        return case((encoded > 0, encoded - 1))

    c = packed.c
    return select(
        c.session_id,
        c.readings,
        c.max_systolic,
        c.max_diastolic,
        c.peak_systolic,
        c.peak_diastolic,
        decoded(c.pre, "systolic").label("pre_systolic"),
        decoded(c.pre, "diastolic").label("pre_diastolic"),
        decoded(c["last"], "systolic").label("last_systolic"),
        decoded(c["last"], "diastolic").label("last_diastolic"),
    ).subquery()


def bp_flag_columns(stats, settings: Settings) -> dict[str, ColumnElement]:
    """kapviz.metrics.vitals.flags_of's flags in SQL over `stats` (a subquery or table with
    `bp_stats`' columns), 1 or 0, the thresholds in force as bound parameters (a missing
    value compares false, as NaN does there)."""
    s = stats.c
    rules = {
        "is_excursion": (s.max_systolic >= settings.bp_excursion_systolic)
        | (s.max_diastolic >= settings.bp_excursion_diastolic),
        "is_rise": (s.peak_systolic - s.pre_systolic > settings.bp_rise_systolic)
        | (s.peak_diastolic - s.pre_diastolic > settings.bp_rise_diastolic),
        "needs_predose_review": (s.pre_systolic >= settings.bp_review_systolic)
        | (s.pre_diastolic >= settings.bp_review_diastolic),
    }
    return {name: case((rule, 1), else_=0) for name, rule in rules.items()}


def flagged_first(session_vitals: pd.DataFrame, limit: int) -> pd.DataFrame:
    """The pandas definition `bp_flags` follows: the flagged doses of `session_vitals` (in the
    doses' order), excursions first, then rises, newest first, at most `limit`."""
    bp = session_vitals
    flagged = bp[bp["is_excursion"] | bp["is_rise"] | bp["needs_predose_review"]]
    return flagged.sort_values(
        ["is_excursion", "is_rise", "started_at"], ascending=False, kind="stable"
    ).head(limit)


@dataclass(frozen=True)
class BpFlags:
    """The Safety page's blood-pressure tiles and flagged-sessions table, grouped in SQL."""

    excursion_sessions: int
    rise_sessions: int
    predose_review_sessions: int
    flagged: pd.DataFrame
    """The newest flagged doses first by the page's order (excursions, then rises), at most
    `limit` rows, in kapviz.metrics.vitals.SESSION_VITALS_COLUMNS."""


def bp_flags(conn: Connection, filters: Filters, *, settings: Settings, limit: int) -> BpFlags:
    """The doses flagged by the blood-pressure rules (excursion, large rise, pre-dose review)
    under the current settings: their counts, and the first `limit` of them in the order
    of the page's table (excursion, rise, newest; ties in the doses' order), so that only
    those rows are sent. Equal to `session_vitals` of the live path (tests)."""
    stats = bp_stats(dose_ids(filters))
    s = stats.c
    base = (
        select(Session.session_id, Session.patient_id, Session.course_id, Session.started_at)
        .add_columns(Dosing.route, Dosing.drug, *[c for c in s if c.name != "session_id"])
        .join(stats, stats.c.session_id == Session.session_id)
        .outerjoin(Dosing, Dosing.session_id == Session.session_id)
        .where(*dose_conditions(filters))
    )
    return flagged_doses(conn, stats, base, settings=settings, limit=limit)


def flagged_doses(conn: Connection, stats, base: Select, *, settings: Settings, limit: int):
    """`BpFlags` of the doses `base` selects (SESSION_VITALS_COLUMNS up to the blood-pressure
    flags, in that order) with `stats` (`bp_stats`' columns) in its FROM: the counts of each
    flag, and the first `limit` flagged doses by the page's order. The live query
    (`bp_flags`) and the rollup (kapviz.db.safety_rollups) share it."""
    flags = bp_flag_columns(stats, settings)
    sums = [func.coalesce(func.sum(f), 0) for f in flags.values()]
    totals = conn.execute(base.with_only_columns(*sums, maintain_column_froms=True)).one()
    stmt = (
        base.add_columns(*[f.label(name) for name, f in flags.items()])
        .where(or_(*[f == 1 for f in flags.values()]))
        .order_by(
            flags["is_excursion"].desc(),
            flags["is_rise"].desc(),
            base.selected_columns.started_at.desc(),
            base.selected_columns.patient_id,
            base.selected_columns.session_id,
        )
        .limit(limit)
    )
    columns = [c.name for c in base.selected_columns] + list(flags)
    frame = queries.read_frame(conn, stmt, columns)
    frame["started_at"] = pd.to_datetime(frame["started_at"])
    frame["readings"] = frame["readings"].astype("int64")
    for col in columns[7:-3]:
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    for measure in ("systolic", "diastolic"):
        frame[f"rise_{measure}"] = frame[f"peak_{measure}"] - frame[f"pre_{measure}"]
    for name in flags:
        frame[name] = frame[name].astype(bool)
    return BpFlags(
        excursion_sessions=int(totals[0]),
        rise_sessions=int(totals[1]),
        predose_review_sessions=int(totals[2]),
        flagged=frame[SESSION_VITALS_COLUMNS],
    )


def bin_start(minute: ColumnElement, step: int) -> ColumnElement:
    """`minute` rounded down to a multiple of `step`, below zero too (−5 → −10).

    Integer division truncates toward zero on both backends (SQLAlchemy's `//` on integers
    is SQL's `/`); no `%`, which the psycopg dialect escapes as `%%` in literal SQL.
    """
    return case(
        (minute >= 0, (minute // step) * step),
        else_=((minute + 1) // step - 1) * step,
    )


def bp_value_counts(conn: Connection, filters: Filters, *, bin_minutes: int = 10) -> pd.DataFrame:
    """Readings of the doses per time bin × measure × value, grouped in SQL, in the contract
    of kapviz.metrics.vitals.bp_counts (minute = bin start; −5 falls in the bin at −10)."""
    if bin_minutes <= 0:
        raise ValueError(f"bin_minutes must be positive, not {bin_minutes}")
    start = bin_start(VitalSign.minutes_from_dose, bin_minutes).label("minute")
    stmt = (
        select(start, VitalSign.systolic, VitalSign.diastolic, func.count())
        .where(VitalSign.session_id.in_(dose_ids(filters)))
        .group_by(start, VitalSign.systolic, VitalSign.diastolic)
    )
    frame = queries.read_frame(conn, stmt, ["minute", "systolic", "diastolic", "readings"])
    return counts_by_measure(frame)


def counts_by_measure(frame: pd.DataFrame, keys: Sequence[str] = ()) -> pd.DataFrame:
    """Counts of (systolic, diastolic) pairs per `keys` and minute as counts per keys,
    minute, measure and value (bp_counts' contract, after the keys): a missing value is not
    counted."""
    parts = []
    for measure in ("systolic", "diastolic"):
        part = frame[[*keys, "minute", measure, "readings"]].dropna(subset=[measure])
        part = part.groupby([*keys, "minute", measure], as_index=False, dropna=False)[
            "readings"
        ].sum()
        parts.append(part.rename(columns={measure: "value"}).assign(measure=measure))
    out = pd.concat(parts, ignore_index=True)
    out = out.astype({"minute": "int64", "value": "float64", "readings": "int64"})
    out["measure"] = out["measure"].astype(object)
    return out[[*keys, "minute", "measure", "value", "readings"]]


# --- Scales taken during doses ------------------------------------------------------------------

SCALE_COLUMNS = ["session_id", "instrument", "total"]


def scale_scores(conn: Connection, filters: Filters) -> pd.DataFrame:
    """CADSS and MOAA/S scores of the courses in scope with a session (session_id,
    instrument, total), each instrument in the assessment frames' order (patient, time), so
    that statistics per dose number add up in the same order as the metrics'. Holds the
    doses' sessions and, without filters, other sessions too."""
    scope = queries.course_scope(filters)
    stmt = select(Assessment.session_id, Assessment.instrument, Assessment.total).where(
        Assessment.instrument.in_([CADSS.id, MOAAS.id]),
        Assessment.session_id.is_not(None),
        *_among_doses(Assessment.session_id, filters),
    )
    if scope is not None:
        stmt = stmt.where(Assessment.course_id.in_(scope))
    # (patient, instrument, time) is unique, so the frames' last tie-break (id) never acts;
    # the covering score index (instrument, patient, time, …) is read in this very order.
    stmt = stmt.order_by(Assessment.instrument, Assessment.patient_id, Assessment.administered_at)
    frame = queries.read_frame(conn, stmt, SCALE_COLUMNS)
    frame["total"] = frame["total"].astype("int64")
    frame["instrument"] = frame["instrument"].astype(object)
    return frame


# --- Headline counts, sedation and monitoring, in SQL --------------------------------------------


@dataclass(frozen=True)
class DoseTotals:
    """Counts of the page that need no dose sent: `DoseSafety`'s dosing_sessions,
    patients_dosed, serious_events, sedation, the events of its u-chart, and the sums of
    its monitoring table (esketamine doses, short, not recorded)."""

    dosing_sessions: int
    patients_dosed: int
    events: int
    serious_events: int
    sedation: dict[str, int]
    esketamine_sessions: int
    short_monitoring: int
    unrecorded_monitoring: int


def _count_where(condition: ColumnElement) -> ColumnElement:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def dose_totals(conn: Connection, filters: Filters, *, settings: Settings) -> DoseTotals:
    """`DoseTotals` of the doses, each a GROUP BY-free aggregate in SQL with the settings'
    thresholds as bound parameters (equal to the live view's: tests)."""
    doses = dose_ids(filters)
    minutes = Dosing.monitoring_min
    esketamine = Dosing.drug == "esketamine"
    dose_row = conn.execute(
        select(
            func.count(),
            func.count(func.distinct(Session.patient_id)),
            _count_where(esketamine),
            _count_where(esketamine & (minutes < settings.esketamine_min_monitoring_min)),
            _count_where(esketamine & minutes.is_(None)),
        )
        .select_from(Session)
        .outerjoin(Dosing, Dosing.session_id == Session.session_id)
        .where(*dose_conditions(filters))
    ).one()
    # An event is one term on one dose (dose_effects' groups), counted once.
    terms = (
        select(SideEffect.session_id)
        .where(SideEffect.session_id.in_(doses))
        .group_by(SideEffect.session_id, SideEffect.term)
        .subquery()
    )
    events = conn.execute(select(func.count()).select_from(terms)).scalar_one()
    serious = conn.execute(
        select(func.count()).where(SideEffect.session_id.in_(doses), SideEffect.serious)
    ).scalar_one()
    scope = queries.course_scope(filters)
    moaas = [Assessment.instrument == MOAAS.id, Assessment.session_id.in_(doses)]
    if scope is not None:
        moaas.append(Assessment.course_id.in_(scope))
    score = Assessment.total
    scores = conn.execute(
        select(
            func.count(),
            _count_where(score <= settings.sedation_moaas_max),
            _count_where(score == LOSS_OF_CONSCIOUSNESS_MOAAS),
        ).where(*moaas)
    ).one()
    return DoseTotals(
        dosing_sessions=int(dose_row[0]),
        patients_dosed=int(dose_row[1]),
        events=int(events),
        serious_events=int(serious),
        sedation={
            "scores": int(scores[0]),
            "sedation": int(scores[1]),
            "loss_of_consciousness": int(scores[2]),
        },
        esketamine_sessions=int(dose_row[2]),
        short_monitoring=int(dose_row[3]),
        unrecorded_monitoring=int(dose_row[4]),
    )


def monthly_events(conn: Connection, filters: Filters) -> pd.DataFrame:
    """kapviz.metrics.monitoring.monthly_events of the doses, grouped in SQL: per calendar
    month of the dose (month, events, dosing_sessions), an event one term on one dose."""
    month = month_of(Session.started_at)
    volume = select(month, func.count()).where(*dose_conditions(filters)).group_by(month)
    pairs = (
        select(SideEffect.session_id, SideEffect.term)
        .where(SideEffect.session_id.in_(dose_ids(filters)))
        .distinct()
        .subquery()
    )
    events = (
        select(month, func.count())
        .select_from(pairs)
        .join(Session, Session.session_id == pairs.c.session_id)
        .group_by(month)
    )
    sizes = queries.read_frame(conn, volume, ["month", "dosing_sessions"])
    if sizes.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in U_CHART_COLUMNS[:3]})
    counted = queries.read_frame(conn, events, ["month", "events"])
    frame = sizes.merge(counted, on="month", how="left").sort_values("month", ignore_index=True)
    return pd.DataFrame(
        {
            "month": pd.to_datetime(frame["month"], format="%Y-%m"),
            "events": frame["events"].fillna(0).astype("int64"),
            "dosing_sessions": frame["dosing_sessions"].astype("int64"),
        }
    )


def cadss_scores(conn: Connection, filters: Filters) -> pd.DataFrame:
    """CADSS scores taken during the doses with their dose number (total, session_number:
    the dose's place in its course among the doses, by start then session id; missing
    without a course), in the assessment frames' order: the input of
    kapviz.metrics.monitoring.cadss_table, without sending the doses."""
    # Session ids in code-point order, as the live path ranks them (PostgreSQL's default
    # collation may sort them otherwise; SQLite compares bytes).
    session = Session.session_id
    if conn.dialect.name == "postgresql":
        session = session.collate("C")
    number = func.row_number().over(
        partition_by=Session.course_id, order_by=(Session.started_at, session)
    )
    numbered = (
        select(
            Session.session_id.label("session_id"),
            case((Session.course_id.is_not(None), number)).label("session_number"),
        )
        .where(*dose_conditions(filters))
        .subquery()
    )
    scope = queries.course_scope(filters)
    stmt = (
        select(Assessment.total, numbered.c.session_number)
        .join(numbered, numbered.c.session_id == Assessment.session_id)
        .where(Assessment.instrument == CADSS.id)
        .order_by(Assessment.patient_id, Assessment.administered_at)
    )
    if scope is not None:
        stmt = stmt.where(Assessment.course_id.in_(scope))
    frame = queries.read_frame(conn, stmt, ["total", "session_number"])
    return frame.astype({"total": "int64", "session_number": "float64"})


def long_term_counts(conn: Connection, filters: Filters) -> pd.DataFrame:
    """kapviz.metrics.side_effects.long_term_by_band of the doses from counts grouped in
    SQL: each dose's cumulative dose (mg, a missing dose as 0) summed over the patient's
    doses by start, then session id in code-point order; its band by the band edges."""
    session = Session.session_id
    if conn.dialect.name == "postgresql":
        session = session.collate("C")
    cumulative = func.sum(func.coalesce(Dosing.dose_mg, 0.0)).over(
        partition_by=Session.patient_id, order_by=(Session.started_at, session)
    )
    per_dose = (
        select(Session.session_id.label("session_id"), cumulative.label("mg"))
        .outerjoin(Dosing, Dosing.session_id == Session.session_id)
        .where(*dose_conditions(filters))
        .subquery()
    )
    band = cumulative_band(per_dose.c.mg).label("band")
    sizes = select(band, func.count()).group_by(band)
    pairs = (
        select(SideEffect.session_id, SideEffect.term)
        .where(SideEffect.term.in_(LONG_TERM_TERMS), SideEffect.session_id.in_(dose_ids(filters)))
        .distinct()
        .subquery()
    )
    hits = (
        select(band, pairs.c.term, func.count())
        .select_from(pairs)
        .join(per_dose, per_dose.c.session_id == pairs.c.session_id)
        .group_by(band, pairs.c.term)
    )
    size_frame = queries.read_frame(conn, sizes, ["band", "dosing_sessions"])
    hit_frame = queries.read_frame(conn, hits, ["band", "term", "sessions"])
    return long_term_of_bands(size_frame, hit_frame)


def cumulative_band(mg: ColumnElement) -> ColumnElement:
    """The cumulative-dose band's position of `mg`: the band edges at or below it
    (searchsorted, side "right"), in SQL."""
    return sum(
        (case((mg >= edge, 1), else_=0) for edge in CUMULATIVE_DOSE_EDGES_MG),
        literal(0),
    )


def long_term_of_bands(size_frame: pd.DataFrame, hit_frame: pd.DataFrame) -> pd.DataFrame:
    """long_term_from_counts of counts by band position: `size_frame` (band,
    dosing_sessions), `hit_frame` (band, term, sessions)."""
    labels = cumulative_dose_order()
    size_series = pd.Series(
        size_frame["dosing_sessions"].astype("int64").to_numpy(),
        index=pd.Index([labels[int(b)] for b in size_frame["band"]], name="cumulative_band"),
        name="dosing_sessions",
    )
    hit_series = pd.Series(
        hit_frame["sessions"].astype("int64").to_numpy(),
        index=pd.MultiIndex.from_arrays(
            [[labels[int(b)] for b in hit_frame["band"]], hit_frame["term"].astype(object)],
            names=["cumulative_band", "term"],
        ),
        name="sessions",
    )
    return long_term_from_counts(size_series, hit_series)


# --- Alerts: the recent window --------------------------------------------------------------------


@dataclass(frozen=True)
class AlertRows:
    """Rows the alerts worklist needs, in the query layer's frame contracts (read-only).

    sessions: completed sessions (any phase) started at or after `since`, with their side
    effects and vital signs; phq9: each patient's latest PHQ-9 with a known item 9, and their
    latest PHQ-9 of all when that one is later (a total only: the worklist says so).
    """

    since: datetime
    sessions: pd.DataFrame
    side_effects: pd.DataFrame
    vitals: pd.DataFrame
    phq9: pd.DataFrame
    last_contact: pd.Series
    """patient_id → start of the patient's latest completed session (inactive patients), for
    the patients of `sessions` and `phq9` (those the worklist can list)."""


def alert_rows(conn: Connection, filters: Filters, *, since: datetime) -> AlertRows:
    """What kapviz.metrics.safety.alerts reads for any `now` whose lookback starts at or
    after `since` (the date filter does not apply: the worklist is about today)."""
    recent = [Session.status == "completed", Session.started_at >= since, *_in_scope(filters)]
    sessions = select(
        Session.session_id,
        Session.patient_id,
        Session.course_id,
        Session.started_at,
        Session.phase,
        Session.status,
        Dosing.route,
        Dosing.drug,
    ).outerjoin(Dosing, Dosing.session_id == Session.session_id)
    sessions = sessions.where(*recent).order_by(
        Session.patient_id, Session.started_at, Session.session_id
    )
    columns = ["session_id", "patient_id", "course_id", "started_at", "phase", "status"]
    session_frame = queries.read_frame(conn, sessions, [*columns, "route", "drug"])
    session_frame["started_at"] = pd.to_datetime(session_frame["started_at"])
    recent_ids = select(Session.session_id).where(*recent)
    effects = (
        select(
            SideEffect.session_id,
            SideEffect.seq,
            SideEffect.term,
            SideEffect.severity,
            SideEffect.ctcae_grade,
            SideEffect.serious,
        )
        .where(SideEffect.session_id.in_(recent_ids))
        .order_by(SideEffect.session_id, SideEffect.seq)
    )
    effect_frame = queries.read_frame(
        conn, effects, ["session_id", "seq", "term", "severity", "ctcae_grade", "serious"]
    )
    effect_frame["serious"] = effect_frame["serious"].astype(bool)
    effect_frame["ctcae_grade"] = pd.to_numeric(effect_frame["ctcae_grade"]).astype("Int64")
    vitals = (
        select(
            VitalSign.session_id,
            VitalSign.minutes_from_dose,
            VitalSign.systolic,
            VitalSign.diastolic,
        )
        .where(VitalSign.session_id.in_(recent_ids))
        .order_by(VitalSign.session_id, VitalSign.minutes_from_dose)
    )
    vital_columns = ["session_id", "minutes_from_dose", "systolic", "diastolic"]
    vital_frame = queries.read_frame(conn, vitals, vital_columns)
    for col in vital_columns[1:]:
        vital_frame[col] = pd.to_numeric(vital_frame[col]).astype("Int64")
    phq9 = latest_phq9(conn, filters)
    # The patients the worklist can list: those of the window's sessions, whose latest
    # completed session is among them (it started at or after `since`), and those of the
    # PHQ-9s, the others of whom are looked up by the index of sessions per patient.
    started = session_frame["started_at"]
    recent_contact = started.groupby(session_frame["patient_id"].to_numpy()).max()
    older = sorted(set(phq9["patient_id"]) - set(recent_contact.index))
    return AlertRows(
        since=since,
        sessions=session_frame,
        side_effects=effect_frame,
        vitals=vital_frame,
        phq9=phq9,
        last_contact=pd.concat([recent_contact, last_contact(conn, filters, patients=older)]),
    )


def last_contact(
    conn: Connection,
    filters: Filters,
    *,
    before: datetime | None = None,
    patients: Sequence[str] | None = None,
) -> pd.Series:
    """Start of each patient's latest completed session (patient_id → datetime), in scope,
    at or before `before` when given (as things stood then): the worklist lists patients
    with no session in the last 90 days (setting) apart. `patients`: of these only (the
    ones with an alert, by the index of sessions per patient), not one row per patient."""
    where = [Session.status == "completed", *_in_scope(filters)]
    if before is not None:
        where.append(Session.started_at <= before)
    stmt = select(Session.patient_id, func.max(Session.started_at)).where(*where)
    stmt = stmt.group_by(Session.patient_id)
    columns = ["patient_id", "last_contact"]
    if patients is None:
        frame = queries.read_frame(conn, stmt, columns)
    else:
        wanted = sorted(set(patients))
        step = 5000  # bound parameters per IN list
        parts = [
            queries.read_frame(
                conn, stmt.where(Session.patient_id.in_(wanted[i : i + step])), columns
            )
            for i in range(0, len(wanted), step)
        ]
        frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    return pd.Series(
        pd.to_datetime(frame["last_contact"]).to_numpy(), index=frame["patient_id"].to_numpy()
    )


def latest_phq9(conn: Connection, filters: Filters) -> pd.DataFrame:
    """Each patient's latest PHQ-9 with a known item 9 (any date), in the assessment frame
    contract (items not read: item 9 is the indexed suicide_item column), of the patients
    with an item 9 above 0 on some PHQ-9 (the only ones whose latest can be)."""
    scope = queries.course_scope(filters)
    # Only patients with an item 9 above 0 on some PHQ-9 can have one on their latest: the
    # few found by a partial index (migration 0016), instead of every patient's PHQ-9s.
    positive = [Assessment.instrument == PHQ9.id, Assessment.suicide_item > 0]
    if scope is not None:
        positive.append(Assessment.course_id.in_(scope))
    candidates = select(Assessment.patient_id).where(*positive)
    known = [
        Assessment.instrument == PHQ9.id,
        Assessment.suicide_item.is_not(None),
        Assessment.patient_id.in_(candidates),
    ]
    if scope is not None:
        known.append(Assessment.course_id.in_(scope))
    latest = (
        select(Assessment.patient_id, func.max(Assessment.administered_at))
        .where(*known)
        .group_by(Assessment.patient_id)
    )
    stmt = (
        select(*queries.assessment_columns(literal(None).label("items")))
        .where(*known, tuple_(Assessment.patient_id, Assessment.administered_at).in_(latest))
        .order_by(Assessment.patient_id, Assessment.administered_at, Assessment.id)
    )
    # And each patient's latest PHQ-9 of all: when it is later and has a total only, the
    # worklist says so beside the item-9 alert it does not clear.
    every = [Assessment.instrument == PHQ9.id, Assessment.patient_id.in_(candidates)]
    if scope is not None:
        every.append(Assessment.course_id.in_(scope))
    newest = (
        select(Assessment.patient_id, func.max(Assessment.administered_at))
        .where(*every)
        .group_by(Assessment.patient_id)
    )
    later = select(*stmt.selected_columns).where(
        *every,
        Assessment.suicide_item.is_(None),
        tuple_(Assessment.patient_id, Assessment.administered_at).in_(newest),
    )
    stmt = union_all(stmt.order_by(None), later)
    frame = queries.read_frame(conn, stmt, queries.ASSESSMENT_COLUMNS)
    frame["administered_at"] = pd.to_datetime(frame["administered_at"])
    frame["total"] = frame["total"].astype("int64")
    frame["suicide_item"] = pd.to_numeric(frame["suicide_item"]).astype("Int64")
    frame["items"] = frame["items"].astype(object)
    frame = frame.sort_values(["patient_id", "administered_at", "id"], ignore_index=True)
    return frame


def course_owners(conn: Connection, course_ids: list[str]) -> pd.DataFrame:
    """Site and clinician of each course (course_id, site, clinician): the clinician of most
    of its completed dosing sessions, else of most of its completed sessions (DOMAIN §4c;
    ties: the first code in order); for grouping the alerts worklist."""
    columns = ["course_id", "site", "clinician"]
    if not course_ids:
        return pd.DataFrame(columns=columns)
    stmt = (
        select(
            Session.course_id,
            Patient.site,
            Session.clinician,
            func.sum(case((Session.phase == "dosing", 1), else_=0)),
            func.count(),
        )
        .join(Patient, Patient.patient_id == Session.patient_id)
        .where(Session.status == "completed", Session.course_id.in_(sorted(set(course_ids))))
        .group_by(Session.course_id, Patient.site, Session.clinician)
    )
    frame = queries.read_frame(conn, stmt, [*columns, "doses", "sessions"])
    frame = frame.astype({"doses": "int64", "sessions": "int64"})
    frame["clinician"] = frame["clinician"].fillna("not recorded")
    frame = frame.sort_values(
        ["course_id", "doses", "sessions", "clinician"],
        ascending=[True, False, False, True],
        kind="stable",
    )
    return frame.drop_duplicates("course_id")[columns].reset_index(drop=True)
