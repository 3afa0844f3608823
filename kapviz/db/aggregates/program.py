"""The Overview's inputs, read narrow: recent windows for live tiles and grouped counts.

The tiles only look back a few weeks (30 and 90-day windows, 14-day alert lookback), so
they are computed by the very same metric functions on the rows of a recent window
instead of on whole tables. The trend charts need the whole period but only counts, so
they read per-day counts grouped in SQL and sum them into months in pandas.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import (
    Connection,
    String,
    and_,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.expression import FunctionElement

from kapviz.db import queries
from kapviz.db.aggregates.case import days_before
from kapviz.db.models import Assessment, Course, Dosing, Patient, Session, SideEffect
from kapviz.filters import Filters
from kapviz.instruments import PHQ9
from kapviz.metrics import program
from kapviz.metrics.quality import PRE_DOSE_WINDOW_DAYS

TILE_SESSION_COLUMNS = (
    "session_id",
    "patient_id",
    "course_id",
    "started_at",
    "phase",
    "status",
    "route",
    "drug",
)
"""What the tiles' metrics read of a session (no clinician or intake details, no doses; no
site either: the alerts do not read it, and it would join every patient)."""


@dataclass(frozen=True)
class RecentActivity:
    """Rows of the recent window, in the query layer's frame contracts (read-only)."""

    since: datetime
    sessions: pd.DataFrame
    side_effects: pd.DataFrame
    vitals: pd.DataFrame
    phq9: pd.DataFrame


def recent_activity(
    conn: Connection,
    filters: Filters,
    *,
    since: datetime,
    vitals_reaching: tuple[int, int] | None = None,
    alerts_only: bool = False,
) -> RecentActivity:
    """Sessions (TILE_SESSION_COLUMNS, with their effects and vitals) started at or after
    `since`, and PHQ-9s.

    Vital signs, the largest table, are read with `vitals_reaching=(systolic, diastolic)`
    only for sessions with a reading at or above either: the alerts' excursion look-back
    needs nothing else.

    The PHQ-9 frame holds every PHQ-9 administered at or after `since` plus, per patient,
    the latest PHQ-9 before it and the latest before it with a known item 9: whatever moment
    after `since` a metric asks about, each patient's latest PHQ-9 as of then is included.

    `alerts_only` (with `vitals_reaching`): only what decides who is on the alerts worklist
    (kapviz.metrics.alerts) at a moment after `since`: the sessions with a side effect or
    such a reading (the alerts read a session for nothing else; most have neither), and
    the PHQ-9s with a known item 9 of the patients who may have an item-9 alert then
    (`recent_phq9`). Who is on the worklist is the same; an alert's wording may not be.
    """
    if alerts_only and vitals_reaching is not None:
        # Two semi-joins (sessions with a side effect; with a high reading), not IN lists of
        # the ids read above: binding tens of thousands of ids costs more than the reads.
        # The five reads do not depend on each other: side by side on PostgreSQL.
        def sessions_of(ids):
            return lambda c: queries.sessions(
                c, filters, since=since, columns=TILE_SESSION_COLUMNS, session_ids=ids
            )

        side_effects, vitals, *parts, phq9 = side_by_side(
            conn,
            lambda c: queries.side_effects(c, filters, since=since),
            lambda c: queries.vitals(c, filters, since=since, reaching=vitals_reaching),
            sessions_of(select(SideEffect.session_id)),
            sessions_of(queries.high_reading_sessions(*vitals_reaching)),
            lambda c: recent_phq9(c, filters, since=since, alerts_only=True),
        )
        sessions = (
            pd.concat(parts, ignore_index=True)
            .drop_duplicates("session_id")
            .sort_values(["patient_id", "started_at", "session_id"], ignore_index=True)
        )
    else:
        side_effects = queries.side_effects(conn, filters, since=since)
        vitals = queries.vitals(conn, filters, since=since, reaching=vitals_reaching)
        sessions = queries.sessions(conn, filters, since=since, columns=TILE_SESSION_COLUMNS)
        phq9 = recent_phq9(conn, filters, since=since, alerts_only=alerts_only)
    return RecentActivity(
        since=since, sessions=sessions, side_effects=side_effects, vitals=vitals, phq9=phq9
    )


def side_by_side(conn: Connection, *reads: Callable[[Connection], object]) -> list:
    """The reads' results in order: on PostgreSQL each on a connection of its own at once
    (the server works on them in parallel), elsewhere one after the other on `conn`."""
    if conn.dialect.name != "postgresql" or len(reads) < 2:
        return [read(conn) for read in reads]

    def on_own_connection(read: Callable[[Connection], object]) -> object:
        with conn.engine.connect() as own:
            return read(own)

    with ThreadPoolExecutor(len(reads), thread_name_prefix="kapviz-reads") as pool:
        return list(pool.map(on_own_connection, reads))


def recent_phq9(
    conn: Connection, filters: Filters, *, since: datetime, alerts_only: bool = False
) -> pd.DataFrame:
    """PHQ-9s from `since` on, plus each patient's latest PHQ-9 with a known item 9 before
    `since` when that item is above 0.

    Before the window only the alerts look back ("item 9 > 0 on the latest PHQ-9 with a known
    item 9", at any date): a patient's older rows matter only through that latest one, and
    only if it raises the alert. Measurement completion looks 7 days before doses of the
    last 60 days, inside the window.

    `alerts_only`: of the window's PHQ-9s only those with a known item 9, of the patients
    with an item 9 above 0 in the window or such a latest one before it. Any other
    patient's latest known item 9 at any moment from `since` on is 0 or none (no alert),
    and a PHQ-9 without item 9 neither raises nor clears one.
    """
    scope = queries.course_scope(filters)

    def in_scope(stmt, table=Assessment):
        stmt = stmt.where(table.instrument == PHQ9.id)
        return stmt if scope is None else stmt.where(table.course_id.in_(scope))

    columns = queries.assessment_columns(literal(None, String).label("items"))
    # A positive one before the window with no later known item 9 before the window: a few
    # thousand candidates, each checked by one seek in the (instrument, patient, time) index.
    later = aliased(Assessment)
    superseded = in_scope(
        select(later.id).where(
            later.patient_id == Assessment.patient_id,
            later.suicide_item.is_not(None),
            later.administered_at > Assessment.administered_at,
            later.administered_at < since,
        ),
        later,
    )
    positive_before = [
        Assessment.administered_at < since,
        Assessment.suicide_item > 0,
        ~exists(superseded),
    ]
    in_window = [Assessment.administered_at >= since]
    if alerts_only:
        candidates = union_all(
            in_scope(select(Assessment.patient_id)).where(*positive_before),
            in_scope(select(Assessment.patient_id)).where(*in_window, Assessment.suicide_item > 0),
        )
        in_window += [
            Assessment.suicide_item.is_not(None),
            Assessment.patient_id.in_(candidates),
        ]
    stmt = union_all(
        in_scope(select(*columns)).where(*in_window),
        in_scope(select(*columns)).where(*positive_before),
    )
    frame = queries.read_frame(conn, stmt, queries.ASSESSMENT_COLUMNS)
    frame["administered_at"] = pd.to_datetime(frame["administered_at"])
    frame["total"] = frame["total"].astype("int64")
    frame["suicide_item"] = pd.to_numeric(frame["suicide_item"]).astype("Int64")
    frame["items"] = frame["items"].astype(object)
    order = ["patient_id", "administered_at", "id"]
    return frame.sort_values(order, kind="stable", ignore_index=True)


def pre_dose_measured(
    filters: Filters, *, instrument: str = PHQ9.id, window_days: int = PRE_DOSE_WINDOW_DAYS
):  # SQL expression
    """Whether the session (a Session row of the enclosing query) is measured: its patient has
    an `instrument` score, of a course in scope, in the `window_days` up to its start (start
    included). The one definition of measurement completion's numerator; an indexed probe
    of the (patient, instrument, time) key of assessments."""
    at = Session.started_at
    scores = select(Assessment.id).where(
        Assessment.patient_id == Session.patient_id,
        Assessment.instrument == instrument,
        Assessment.administered_at <= at,
        Assessment.administered_at >= days_before(at, window_days),
    )
    scope = queries.course_scope(filters)
    if scope is not None:
        scores = scores.where(Assessment.course_id.in_(scope))
    return exists(scores)


MEASUREMENT_COLUMNS = ["course_id", "patient_id", "site", "indication", "expected", "measured"]


def measurement_by_course(
    conn: Connection,
    filters: Filters,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    instrument: str = PHQ9.id,
    window_days: int = PRE_DOSE_WINDOW_DAYS,
    courses: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Measurement completion per course in scope (of `courses` only, when given: the
    rollups' per-course rows) (MEASUREMENT_COLUMNS, by course id):
    expected = its completed dosing sessions started in [start, end) (either bound open
    when None), measured = those of them `pre_dose_measured`. Courses without such a
    session have no row. Sum the two over any grouping of the rows (site, indication, a
    set of courses) for that group's completion: `program.measurement_completion`."""
    at = Session.started_at
    window = [Session.phase == "dosing"]
    if start is not None:
        window.append(at >= start)
    if end is not None:
        window.append(at < end)
    if courses is not None:
        window.append(Session.course_id.in_(list(courses)))
    measured = pre_dose_measured(filters, instrument=instrument, window_days=window_days)
    keys = (Session.course_id, Session.patient_id, Patient.site, Patient.indication)
    stmt = (
        select(*keys, func.count(), func.sum(case((measured, 1), else_=0)))
        .join(Patient, Patient.patient_id == Session.patient_id)
        .where(*_completed_in_scope(filters, *window))
        .group_by(*keys)
        .order_by(Session.course_id)
    )
    frame = queries.read_frame(conn, stmt, MEASUREMENT_COLUMNS)
    return frame.astype({"expected": "int64", "measured": "int64"})


def tile_counts(
    conn: Connection,
    filters: Filters,
    *,
    now: datetime,
    pre_dose_days: int = PRE_DOSE_WINDOW_DAYS,
) -> tuple[program.TileCounts, program.AdverseCounts]:
    """The tiles' counts as of `now`, counted in SQL (two queries) instead of from frames:
    the same numbers as the plain reference of tests/reference/program.py (tested at
    several moments on both backends).

    Active patients are distinct patients with a completed session in (start, end]; the
    dosing counts completed dosing sessions started in [start, end); a dose is measured when
    the same patient has a PHQ-9 (of a course in scope) in the `pre_dose_days` up to its
    start; an adverse event is one side-effect term on one completed dose.
    """
    w = program.tile_windows(now)
    at = Session.started_at
    dosing = Session.phase == "dosing"

    def between(start: datetime, end: datetime):  # SQL expression
        return and_(dosing, at >= start, at < end)

    def count_if(condition):  # SQL expression
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    def patients_within(start: datetime, end: datetime):  # SQL expression
        return func.count(func.distinct(case((and_(at > start, at <= end), Session.patient_id))))

    measured = pre_dose_measured(filters, window_days=pre_dose_days)
    month_ago = now - timedelta(days=30)
    earliest = min(w.prev30, w.month_before[0], w.week_before[0], month_ago - timedelta(days=30))
    stmt = select(
        patients_within(month_ago, now),
        patients_within(month_ago - timedelta(days=30), month_ago),
        count_if(between(*w.week)),
        count_if(between(*w.week_before)),
        count_if(between(*w.month)),
        count_if(between(*w.month_before)),
        count_if(and_(between(w.cur30, now), measured)),
        count_if(between(w.cur30, now)),
        count_if(and_(between(w.prev30, w.cur30), measured)),
        count_if(between(w.prev30, w.cur30)),
    ).where(*_completed_in_scope(filters, at >= earliest, at <= now))
    counts = program.TileCounts(*(int(n) for n in conn.execute(stmt).one()))
    # One row per session × term (docs/domain.md: an event counts once per session), by period.
    recent = case((at >= w.cur30, 1), else_=0).label("recent")
    pairs = (
        select(recent, SideEffect.session_id, SideEffect.term)
        .join(Session, Session.session_id == SideEffect.session_id)
        .where(*_completed_in_scope(filters, between(w.prev30, now)))
        .distinct()
        .subquery()
    )
    events = dict(conn.execute(select(pairs.c.recent, func.count()).group_by(pairs.c.recent)).all())
    adverse = program.AdverseCounts(
        events=int(events.get(1, 0)),
        doses=counts.measured_n,
        events_before=int(events.get(0, 0)),
        doses_before=counts.measured_before_n,
    )
    return counts, adverse


# --- Whole-period counts --------------------------------------------------------------------


class day_of(FunctionElement):  # reads like the SQL function it renders
    """The calendar day of a timestamp as text YYYY-MM-DD, on SQLite and PostgreSQL."""

    type = String()
    inherit_cache = True
    formats = ("%Y-%m-%d", "YYYY-MM-DD")  # SQLite strftime, PostgreSQL to_char


class month_of(day_of):  # reads like the SQL function it renders
    """The calendar month of a timestamp as text YYYY-MM, on SQLite and PostgreSQL."""

    inherit_cache = True
    formats = ("%Y-%m", "YYYY-MM")


def _calendar_sqlite(element, compiler, **kw):
    return f"strftime('{element.formats[0]}', {compiler.process(element.clauses, **kw)})"


def _calendar_default(element, compiler, **kw):
    return f"to_char({compiler.process(element.clauses, **kw)}, '{element.formats[1]}')"


for _calendar in (day_of, month_of):
    compiles(_calendar, "sqlite")(_calendar_sqlite)
    compiles(_calendar)(_calendar_default)


def _completed_in_scope(filters: Filters, *conditions):
    """Conditions for completed sessions of the courses in scope (the frames' contract)."""
    scope = queries.course_scope(filters)
    out = [Session.status == "completed", *conditions]
    if scope is not None:
        out.append(Session.course_id.in_(scope))
    return out


def dosing_counts(filters: Filters, period, *groups):  # SQL
    """(volume, events): SELECTs of completed dosing sessions, and of their adverse events
    (distinct session × term pairs), per `period` (an expression of the start: day_of,
    month_of) × route, and per `groups` (columns of Patient) when given: one definition for
    the Overview's live counts and its rollups (kapviz.db.rollups)."""
    dosing = _completed_in_scope(filters, Session.phase == "dosing")
    at = period(Session.started_at)
    route = func.coalesce(Dosing.route, "unknown")
    keys = [*groups, at, route]
    labels = [*(g.key for g in groups), "period", "route"]

    def grouped(stmt, value: str):
        if groups:
            stmt = stmt.join(Patient, Patient.patient_id == Session.patient_id)
        stmt = stmt.outerjoin(Dosing, Dosing.session_id == Session.session_id).where(*dosing)
        columns = [k.label(n) for k, n in zip(keys, labels, strict=True)]
        return stmt.with_only_columns(*columns, func.count().label(value)).group_by(*keys)

    volume = grouped(select(literal(1)).select_from(Session), "sessions")
    pairs = select(SideEffect.session_id, SideEffect.term).distinct().subquery()
    events = grouped(
        select(literal(1))
        .select_from(pairs)
        .join(Session, Session.session_id == pairs.c.session_id),
        "events",
    )
    return volume, events, labels


def merged_counts(conn: Connection, volume, events, labels: list[str]) -> pd.DataFrame:
    """The rows of `dosing_counts`' two SELECTs side by side (events 0 where none)."""
    frame = queries.read_frame(conn, volume, [*labels, "sessions"])
    counted = queries.read_frame(conn, events, [*labels, "events"])
    frame = frame.merge(counted, on=labels, how="left")
    frame["sessions"] = frame["sessions"].astype("int64")
    frame["events"] = frame["events"].fillna(0).astype("int64")
    return frame


def daily_dosing(conn: Connection, filters: Filters) -> pd.DataFrame:
    """Completed dosing sessions and their adverse events per day and route.

    Columns day (datetime), route ("unknown" when no dosing record), sessions, events; an
    event is one side-effect term on one session (counted once, as the Safety metrics do).
    Two grouped queries (sessions; distinct session × term pairs), merged here.
    """
    frame = merged_counts(conn, *dosing_counts(filters, day_of))
    frame = frame.rename(columns={"period": "day"})
    frame["day"] = pd.to_datetime(frame["day"], format="%Y-%m-%d")
    return frame.sort_values(["day", "route"], ignore_index=True)


def funnel_counts(conn: Connection, filters: Filters) -> list[int]:
    """Patients at each step of the treatment funnel (metrics.program.FUNNEL_STEPS), counted
    in one query: each step keeps only the patients of the step before.

    referred: patients matching the site/indication filters; intake: with a completed intake
    session; eligible: found eligible at one; dosed: with a completed dosing session;
    finished: with a course that has a completed integration or follow-up session after its
    last completed dosing session (docs/domain.md §1).
    """
    return [int(n) for n in conn.execute(funnel_select(filters)).one()]


FUNNEL_COLUMNS = ["patients", "intake", "eligible", "dosed", "finished"]


def funnel_select(filters: Filters, *groups):  # SQL
    """`funnel_counts`' query (columns FUNNEL_COLUMNS), per `groups` (columns of Patient)
    when given: the live count and the rollups (kapviz.db.rollups) share it.

    With a date range, the funnel follows the patients referred in it (`referred_in_range`)
    to wherever they have got since: their steps are counted at any date.
    """
    progress = replace(filters, start=None, end=None)
    flags = (
        select(
            Session.patient_id.label("patient_id"),
            func.max(case((Session.phase == "intake", 1), else_=0)).label("intake"),
            func.max(case((and_(Session.phase == "intake", Session.eligible), 1), else_=0)).label(
                "eligible"
            ),
            func.max(case((Session.phase == "dosing", 1), else_=0)).label("dosed"),
        )
        .where(*_completed_in_scope(progress))
        .group_by(Session.patient_id)
        .subquery()
    )
    last_dose = (
        select(Session.course_id, func.max(Session.started_at).label("last_dose"))
        .where(*_completed_in_scope(progress, Session.phase == "dosing"))
        .group_by(Session.course_id)
        .subquery()
    )
    finished = (
        select(Session.patient_id.label("patient_id"))
        .join(last_dose, last_dose.c.course_id == Session.course_id)
        .where(
            *_completed_in_scope(
                progress,
                Session.phase.in_(["integration", "follow_up"]),
                Session.started_at > last_dose.c.last_dose,
            )
        )
        .distinct()
        .subquery()
    )
    intake = flags.c.intake == 1
    eligible = and_(intake, flags.c.eligible == 1)
    dosed = and_(eligible, flags.c.dosed == 1)
    done = and_(dosed, finished.c.patient_id.is_not(None))

    def count(condition):  # SQL expression
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    counts = [func.count(), count(intake), count(eligible), count(dosed), count(done)]
    stmt = (
        select(*groups, *(c.label(n) for c, n in zip(counts, FUNNEL_COLUMNS, strict=True)))
        .select_from(Patient)
        .outerjoin(flags, flags.c.patient_id == Patient.patient_id)
        .outerjoin(finished, finished.c.patient_id == Patient.patient_id)
        .where(*queries.patient_conditions(filters), *referred_in_range(filters))
    )
    return stmt.group_by(*groups) if groups else stmt


def referred_in_range(filters: Filters) -> list:
    """With a date range, the funnel's "Referred" are the patients referred in it
    (metrics.program.referred_in_range): enrolled on a day of the range, or, with no
    enrolment date, with a course in scope (a session in the range)."""
    if not (filters.start or filters.end):
        return []
    enrolled = [Patient.enrolled_on.is_not(None)]
    if filters.start:
        enrolled.append(Patient.enrolled_on >= filters.start)
    if filters.end:
        enrolled.append(Patient.enrolled_on <= filters.end)
    in_scope = Patient.patient_id.in_(
        select(Course.patient_id).where(Course.course_id.in_(queries.course_scope(filters)))
    )
    return [or_(and_(*enrolled), and_(Patient.enrolled_on.is_(None), in_scope))]


def ineligibility_reasons(conn: Connection, filters: Filters) -> pd.DataFrame:
    """Completed intake sessions found not eligible, per reason, most common first."""
    stmt = ineligibility_select(filters).order_by(func.count().desc(), INELIGIBLE_REASON)
    frame = queries.read_frame(conn, stmt, ["reason", "patients"])
    frame["patients"] = frame["patients"].astype("int64")
    return frame


INELIGIBLE_REASON = func.coalesce(Session.ineligible_reason, "not recorded")


def ineligibility_select(filters: Filters, *groups):  # SQL
    """Not-eligible intake sessions per reason (columns reason, patients), and per `groups`
    (columns of Patient) when given: for `ineligibility_reasons` and the rollups."""
    stmt = select(*groups, INELIGIBLE_REASON.label("reason"), func.count().label("patients")).where(
        *_completed_in_scope(filters, Session.phase == "intake", Session.eligible.is_(False))
    )
    if groups:
        stmt = stmt.join(Patient, Patient.patient_id == Session.patient_id)
    return stmt.group_by(*groups, INELIGIBLE_REASON)


def course_sites(conn: Connection, filters: Filters) -> pd.Series:
    """Site of every course in scope (course_id → site), for per-site outcome rates."""
    stmt = select(Course.course_id, Patient.site).join(
        Patient, Patient.patient_id == Course.patient_id
    )
    scope = queries.course_scope(filters)
    if scope is not None:
        stmt = stmt.where(Course.course_id.in_(scope))
    frame = queries.read_frame(conn, stmt.order_by(Course.course_id), ["course_id", "site"])
    return frame.set_index("course_id")["site"]
