"""The Case explorer's inputs: one patient's placed scores and the cohort's band summary.

Both come from one SQL placement of outcome scores on the session axis, the rules of
kapviz.metrics.trajectories (docs/domain.md §3) written as SQL:

- a score tied to a session (in scope) takes that session's phase; an untied one takes its
  phase from its date: on or before the course's first completed dose → preparation;
  through the calendar day of the last completed dose → dosing; after the calendar day of
  the last completed integration session → follow-up; otherwise integration;
- a dosing-phase score sits at dose *k*, the number of completed dosing sessions of its
  course started on or before it (its session's start when tied), clipped to 1 … MAX_DOSES+1;
- a score stored without a course takes its session's course, else the patient's latest
  course begun on or before its date, else the patient's first course (kapviz.metrics.courses).

The cohort summary is what the similar-baseline band of every case is drawn from: per
instrument, course baseline (kapviz.metrics.outcomes' rule), session-axis point and course
value (the sum and count of the course's scores there; their quotient is the mean the
pandas metric takes), how many courses have exactly that value. A few thousand rows at
20,000 patients instead of 600,000 trajectory points; the band of one case is then a sum of
counts over the baselines within tolerance, less the case's own course.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import (
    Connection,
    DateTime,
    Integer,
    and_,
    case,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from kapviz.db import queries
from kapviz.db.models import Assessment, Session
from kapviz.filters import Filters
from kapviz.instruments import OUTCOME_INSTRUMENTS
from kapviz.metrics.scores import SCORE_COLUMNS, as_datetime
from kapviz.metrics.trajectories import MAX_DOSES, session_points


class days_before(FunctionElement):  # reads like the SQL expression it renders
    """`timestamp − n days`, exact to the microsecond, on SQLite and PostgreSQL.

    SQLite stores SQLAlchemy datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff' text: the shifted
    date and time are rebuilt in that same format (whole days leave the fraction alone), so
    text comparison stays chronological comparison. `days` is a bound parameter: rendered
    into the SQL it would also be left out of SQLAlchemy's statement cache key, and a cached
    statement of another window would be run.
    """

    type = DateTime()
    inherit_cache = True

    def __init__(self, expr, days: int) -> None:
        super().__init__(expr, literal(int(days), Integer()))


@compiles(days_before, "sqlite")
def _days_before_sqlite(element, compiler, **kw):
    expr, days = (compiler.process(c, **kw) for c in element.clauses.clauses)
    shifted = f"strftime('%Y-%m-%d %H:%M:%S', {expr}, '-' || {days} || ' days')"
    return f"({shifted} || substr({expr}, 20))"


@compiles(days_before)
def _days_before_default(element, compiler, **kw):
    expr, days = (compiler.process(c, **kw) for c in element.clauses.clauses)
    return f"({expr} - {days} * interval '1 day')"


def in_baseline_window(at, first_dose, window_days: int):  # SQL expressions in and out
    """The baseline window of docs/domain.md §3 in SQL: `at` on or before the first dose and
    no more than `window_days` before it (never without a first dose)."""
    return and_(
        first_dose.is_not(None), at <= first_dose, at >= days_before(first_dose, window_days)
    )


class clamp(FunctionElement):  # reads like the SQL expression it renders
    """`value` limited to low … high (integers), evaluating `value` once."""

    type = Integer()
    inherit_cache = True

    def __init__(self, expr, low: int, high: int) -> None:
        self.low, self.high = int(low), int(high)
        super().__init__(expr)


@compiles(clamp, "sqlite")
def _clamp_sqlite(element, compiler, **kw):
    expr = compiler.process(element.clauses, **kw)
    return f"max(min({expr}, {element.high}), {element.low})"


@compiles(clamp)
def _clamp_default(element, compiler, **kw):
    expr = compiler.process(element.clauses, **kw)
    return f"greatest(least({expr}, {element.high}), {element.low})"


_AXIS = session_points(max_doses=MAX_DOSES)
_ORDER_OF_PHASE = {"intake": 0, "preparation": 1, "integration": len(_AXIS) - 2}
_ORDER_OF_PHASE["follow_up"] = len(_AXIS) - 1

_DONE_DOSE = and_(Session.phase == "dosing", Session.status == "completed")


def _in_scope(column, scope):
    return [] if scope is None else [column.in_(scope)]


def _unresolved_course(tied_course, starts):
    """Course of a score stored without one: its session's, else by date (metrics.courses)."""

    def nearest(*where, latest: bool):
        if latest:
            order = (starts.c.start.desc(), starts.c.course_id.desc())
        else:
            order = (starts.c.start, starts.c.course_id)
        return (
            select(starts.c.course_id)
            .where(starts.c.patient_id == Assessment.patient_id, *where)
            .order_by(*order)
            .limit(1)
            .scalar_subquery()
        )

    by_session = select(tied_course.c.course_id).where(
        tied_course.c.session_id == Assessment.session_id
    )
    return func.coalesce(
        by_session.scalar_subquery(),
        nearest(starts.c.start <= Assessment.administered_at, latest=True),
        nearest(latest=False),
    )


def has_unresolved_scores(conn: Connection, filters: Filters) -> bool:
    """True when the view sees outcome scores stored without a course (rare: the writer
    resolves the course on import; only an unscoped view sees such rows, as in queries)."""
    if queries.course_scope(filters) is not None:
        return False
    stmt = (
        select(Assessment.id)
        .where(Assessment.course_id.is_(None), Assessment.instrument.in_(OUTCOME_INSTRUMENTS))
        .limit(1)
    )
    return conn.execute(stmt).first() is not None


def _scores(
    filters: Filters,
    *,
    unresolved: bool,
    patient_id: str | None = None,
    instrument: str | None = None,
    courses=None,  # noqa: ANN001 - a SELECT of course ids, or None
):  # noqa: ANN202
    """Outcome scores in scope with their course (stored, else docs/domain.md §3 by date).

    Optionally only one patient's courses, one instrument, or the courses `courses` selects.
    Scores stored with a course are plain rows (the course column stays indexable); those
    stored without one (`unresolved`: the view has some) are added with their course derived.
    """
    scope = queries.course_scope(filters)
    columns = [
        Assessment.id,
        Assessment.patient_id,
        Assessment.course_id,
        Assessment.session_id,
        Assessment.instrument,
        Assessment.administered_at,
        Assessment.total,
    ]
    wanted = [instrument] if instrument is not None else list(OUTCOME_INSTRUMENTS)
    kept = Assessment.instrument.in_(wanted)
    stored = select(*columns).where(kept, Assessment.course_id.is_not(None))
    mine = None if patient_id is None else queries.course_scope(filters, patient_id)
    for restriction in (scope, mine, courses):
        if restriction is not None:
            stored = stored.where(Assessment.course_id.in_(restriction))
    if not unresolved or scope is not None:
        return stored.subquery("scores")
    starts = (
        select(Session.patient_id, Session.course_id, func.min(Session.started_at).label("start"))
        .group_by(Session.patient_id, Session.course_id)
        .subquery("course_starts")
    )
    course = _unresolved_course(Session.__table__.alias("tied_course"), starts)
    derived = select(*columns[:2], course.label("course_id"), *columns[3:]).where(
        kept, Assessment.course_id.is_(None), course.is_not(None)
    )
    if patient_id is not None:
        derived = derived.where(Assessment.patient_id == patient_id)
    for restriction in (mine, courses):
        if restriction is not None:
            derived = derived.where(course.in_(restriction))
    return stored.union_all(derived).subquery("scores")


def _session_rows(filters: Filters, patient_id: str | None, courses, stmt):  # noqa: ANN001, ANN202
    for restriction in (queries.course_scope(filters, patient_id), courses):
        if restriction is not None:
            stmt = stmt.where(Session.course_id.in_(restriction))
    return stmt


def _course_context(filters: Filters, *, patient_id: str | None = None, courses=None):  # noqa: ANN001, ANN202
    """Per course in scope: first and last completed dose, last completed integration."""
    done_int = and_(Session.phase == "integration", Session.status == "completed")
    stmt = select(
        Session.course_id,
        func.min(case((_DONE_DOSE, Session.started_at))).label("first_dose"),
        func.max(case((_DONE_DOSE, Session.started_at))).label("last_dose"),
        func.max(case((done_int, Session.started_at))).label("last_integration"),
    ).group_by(Session.course_id)
    return _session_rows(filters, patient_id, courses, stmt).subquery("context")


def _ranked_sessions(filters: Filters):  # noqa: ANN202
    """Sessions in scope with the completed doses of their course started by then."""
    is_done_dose = case((_DONE_DOSE, 1), else_=0)
    # The default window frame (RANGE … CURRENT ROW) takes in sessions started at the same
    # moment: "started on or before", as the pandas as-of match counts.
    upto = func.sum(is_done_dose).over(partition_by=Session.course_id, order_by=Session.started_at)
    stmt = select(Session.session_id, Session.phase, Session.started_at, upto.label("doses_upto"))
    scope = queries.course_scope(filters)
    if scope is not None:
        stmt = stmt.where(Session.course_id.in_(scope))
    return stmt.subquery("tied")


def _placed(  # noqa: ANN202
    filters: Filters,
    scores,  # noqa: ANN001
    ctx,  # noqa: ANN001
    *,
    window_days: int | None = None,
    ranked: bool = False,
):
    """Scores with phase and session-axis point_order (kapviz.metrics.trajectories).

    With `window_days`, also `window_at`: the score's time when it lies in the baseline
    window (first dose − window … first dose), else NULL. `ranked`: tied scores take their
    dose number from a window over the sessions (one pass, hash-joined: PostgreSQL's way)
    instead of an index range count per score (SQLite's way); the same numbers.
    """
    if ranked:
        tied = _ranked_sessions(filters)
        tied_on = [tied.c.session_id == scores.c.session_id]
    else:
        scope = queries.course_scope(filters)
        tied = Session.__table__.alias("tied")
        tied_on = [tied.c.session_id == scores.c.session_id]
        if scope is not None:
            tied_on.append(tied.c.course_id.in_(scope))
    at, first = scores.c.administered_at, ctx.c.first_dose
    by_date = case(
        (or_(first.is_(None), at <= first), "preparation"),
        (func.date(at) <= func.date(ctx.c.last_dose), "dosing"),
        (
            and_(
                ctx.c.last_integration.is_not(None),
                func.date(at) > func.date(ctx.c.last_integration),
            ),
            "follow_up",
        ),
        else_="integration",
    )
    phase = func.coalesce(tied.c.phase, by_date)
    dose = Session.__table__.alias("dose")
    # Completed doses of the course started on or before the score (its session's start
    # when tied to a dosing session): a range count on ix_sessions_course_timeline.
    ref = case((tied.c.phase == "dosing", tied.c.started_at), else_=at)
    doses = (
        select(func.count())
        .select_from(dose)
        .where(
            dose.c.course_id == scores.c.course_id,
            dose.c.phase == "dosing",
            dose.c.status == "completed",
            dose.c.started_at <= ref,
        )
        .scalar_subquery()
    )
    if ranked:
        # Untied scores count their course's doses by a grouped join, not a subquery per
        # score: PostgreSQL's planner prices the latter per row (millions), and then spends
        # seconds compiling the plan (JIT) before running it.
        dose_time = select(Session.course_id, Session.started_at).where(_DONE_DOSE).subquery()
        untied = select(scores.c.id, func.count().label("doses")).select_from(scores)
        if queries.course_scope(filters) is None:
            # Every session is in view and a score's session always exists (foreign key):
            # the untied scores are those without one, found without an anti-join of every
            # score against every session (a fifth of the statement's time at 20,000).
            untied = untied.where(scores.c.session_id.is_(None))
        else:
            untied = untied.outerjoin(tied, and_(*tied_on)).where(tied.c.session_id.is_(None))
        untied = (
            untied.join(
                dose_time,
                and_(
                    dose_time.c.course_id == scores.c.course_id,
                    dose_time.c.started_at <= scores.c.administered_at,
                ),
            )
            .group_by(scores.c.id)
            .subquery("untied")
        )
        doses = case(
            (tied.c.phase == "dosing", tied.c.doses_upto),
            else_=func.coalesce(untied.c.doses, 0),
        )
    # The simple CASE form evaluates the phase once per row.
    order = case(
        {**_ORDER_OF_PHASE, "dosing": 1 + clamp(doses, 1, MAX_DOSES + 1)},
        value=phase,
        else_=None,
    )
    columns = [
        scores.c.id,
        scores.c.patient_id,
        scores.c.course_id,
        scores.c.session_id,
        scores.c.instrument,
        at.label("administered_at"),
        scores.c.total,
        phase.label("phase"),
        order.label("point_order"),
    ]
    if window_days is not None:
        inside = in_baseline_window(at, first, window_days)
        columns.append(case((inside, at), else_=None).label("window_at"))
    stmt = (
        select(*columns)
        .select_from(scores)
        .outerjoin(ctx, ctx.c.course_id == scores.c.course_id)
        .outerjoin(tied, and_(*tied_on))
    )
    if ranked:
        stmt = stmt.outerjoin(untied, untied.c.id == scores.c.id)
    return stmt.subquery("placed")


def _baselines(scores, ctx, *, window_days: int):  # noqa: ANN001, ANN202
    """Per course × instrument: the baseline (latest score in the window up to the first dose)."""
    at, first = scores.c.administered_at, ctx.c.first_dose
    ranked = (
        select(
            scores.c.course_id,
            scores.c.instrument,
            scores.c.total.label("baseline"),
            func.row_number()
            .over(
                partition_by=(scores.c.course_id, scores.c.instrument),
                order_by=(at.desc(), scores.c.id.desc()),
            )
            .label("rank"),
        )
        .select_from(scores)
        .join(ctx, ctx.c.course_id == scores.c.course_id)
        .where(in_baseline_window(at, first, window_days))
        .subquery("ranked")
    )
    return (
        select(ranked.c.course_id, ranked.c.instrument, ranked.c.baseline)
        .where(ranked.c.rank == 1)
        .subquery("baselines")
    )


POINT_COLUMNS = [*SCORE_COLUMNS, "phase", "point_order", "baseline"]


def case_points(
    conn: Connection, filters: Filters, *, patient_id: str, window_days: int = 30
) -> pd.DataFrame:
    """One patient's outcome scores placed on the session axis, with their course baseline.

    Columns: id, patient_id, course_id, session_id, instrument, administered_at, total,
    phase, point_order, point (the axis label) and baseline (the course's baseline of that
    instrument, NaN without one), ordered by course, instrument, time and id like
    kapviz.metrics.scores.course_scores.
    """
    unresolved = has_unresolved_scores(conn, filters)
    scores = _scores(filters, unresolved=unresolved, patient_id=patient_id)
    ctx = _course_context(filters, patient_id=patient_id)
    placed = _placed(filters, scores, ctx)
    base = _baselines(scores, ctx, window_days=window_days)
    stmt = (
        select(*[placed.c[c] for c in POINT_COLUMNS[:-1]], base.c.baseline)
        .select_from(placed)
        .outerjoin(
            base,
            and_(
                base.c.course_id == placed.c.course_id,
                base.c.instrument == placed.c.instrument,
            ),
        )
        .order_by(placed.c.course_id, placed.c.instrument, placed.c.administered_at, placed.c.id)
    )
    frame = queries.read_frame(conn, stmt, POINT_COLUMNS)
    frame["id"] = frame["id"].astype("int64")
    frame["administered_at"] = as_datetime(frame["administered_at"])
    frame["total"] = frame["total"].astype("int64")
    frame["point_order"] = pd.to_numeric(frame["point_order"]).astype("Int64")
    frame["baseline"] = pd.to_numeric(frame["baseline"]).astype("float64")
    frame["point"] = frame["point_order"].map(_AXIS["label"]).astype(object)
    for col in ("patient_id", "course_id", "session_id", "instrument", "phase"):
        frame[col] = frame[col].astype(object)
    return frame


@dataclass(frozen=True)
class CohortSummary:
    """Every case's similar-baseline band in two small tables (read-only frames).

    `values`: instrument, baseline, order, total_sum, scores, courses — how many courses
    with that baseline of the instrument have the value total_sum / scores (the mean of
    their scores there) at that session-axis point.
    `baselines`: instrument, baseline, courses — how many courses have that baseline.
    """

    values: pd.DataFrame
    baselines: pd.DataFrame


def cohort_summary(conn: Connection, filters: Filters, *, window_days: int = 30) -> CohortSummary:
    """Course values counted per instrument × baseline × point (see CohortSummary).

    SQL places every score in one pass (SQLite: an index range count per dosing score, in
    the score index's order; PostgreSQL: dose numbers from a window over the sessions,
    hash-joined). The ~600k placed scores are grouped into courses and counts on the narrow
    fetched columns: cheaper than SQLite's sorter, and on a large clinic faster than
    PostgreSQL grouping them itself (its sorts spill to disk).
    """
    unresolved = has_unresolved_scores(conn, filters)
    scores = _scores(filters, unresolved=unresolved)
    sqlite = conn.dialect.name == "sqlite"
    ctx = _course_context(filters)
    placed = _placed(filters, scores, ctx, window_days=window_days, ranked=not sqlite)
    stmt = select(
        placed.c.instrument,
        placed.c.course_id,
        placed.c.id,
        placed.c.total,
        placed.c.point_order,
        placed.c.window_at,
    )
    if sqlite:
        # In the covering score index's order (instrument, patient): each patient's courses
        # and sessions are then probed together. Unordered, SQLite scans the index by time
        # and its per-course lookups jump across the file (2.5 s of CPU and as much I/O at
        # 20,000 patients instead of 1.4 s). PostgreSQL hashes the joins: no order needed.
        stmt = stmt.order_by(placed.c.instrument, placed.c.patient_id)
    rows = queries.read_frame(
        conn, stmt, ["instrument", "course_id", "id", "total", "order", "window_at"]
    )
    return summarise(rows)


def summarise(rows: pd.DataFrame) -> CohortSummary:
    """CohortSummary of placed scores (instrument, course_id, id, total, order, window_at)."""
    keys = ["instrument", "course_id"]
    window = rows.loc[rows["window_at"].notna(), [*keys, "id", "total", "window_at"]]
    window = window.assign(window_at=pd.to_datetime(window["window_at"]))
    # The baseline: the latest score in the window, the later-recorded on equal times.
    window = window.sort_values([*keys, "window_at", "id"], kind="stable")
    base = window.drop_duplicates(keys, keep="last")[[*keys, "total"]]
    base = base.rename(columns={"total": "baseline"})
    placed = rows[rows["order"].notna()]
    per_course = placed.groupby([*keys, "order"], sort=False, observed=True)["total"].agg(
        total_sum="sum", scores="size"
    )
    per_course = per_course.reset_index().merge(base, on=keys, how="inner")
    value_keys = ["instrument", "baseline", "order", "total_sum", "scores"]
    values = per_course.groupby(value_keys, sort=True).size().rename("courses").reset_index()
    baselines = (
        base.groupby(["instrument", "baseline"], sort=True).size().rename("courses").reset_index()
    )
    for frame in (values, baselines):
        for col in frame.columns[1:]:
            frame[col] = pd.to_numeric(frame[col]).astype("int64")
        frame["instrument"] = frame["instrument"].astype(object)
    return CohortSummary(values=values, baselines=baselines)
