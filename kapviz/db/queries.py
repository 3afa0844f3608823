"""Query functions: narrow, typed frames for the pages, with the filters applied in SQL.

Every function takes a Connection (the caller owns its lifecycle) and returns a new
pandas frame in the column contract the metrics expect. Filters become WHERE clauses on
indexed columns so that only the rows a page needs leave the database.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime

import pandas as pd
from sqlalchemy import (
    Connection,
    Select,
    and_,
    column,
    exists,
    false,
    func,
    null,
    select,
    table,
    union,
)

from kapviz.auth.scope import matches_nothing
from kapviz.db import arrow
from kapviz.db.models import (
    Assessment,
    Course,
    Dosing,
    ImportRun,
    Patient,
    RollupState,
    Session,
    SideEffect,
    VitalSign,
)
from kapviz.filters import Filters

SESSION_COLUMNS = [
    "session_id",
    "patient_id",
    "course_id",
    "site",
    "indication",
    "started_at",
    "phase",
    "status",
    "clinician",
    "eligible",
    "ineligible_reason",
    "route",
    "drug",
    "dose_mg",
    "weight_kg",
    "dose_mg_per_kg",
    "duration_min",
    "monitoring_min",
]
_DOSING_COLUMNS = SESSION_COLUMNS[11:]
"""Columns of the dosing details (route … monitoring_min), the rest are the session's or
its patient's."""


def course_scope(filters: Filters, patient_id: str | None = None) -> Select | None:
    """SELECT of the course ids the filters keep, or None when everything is kept."""
    if filters.is_empty and patient_id is None:
        return None
    conditions = patient_conditions(filters)
    if patient_id is not None:
        conditions.append(Course.patient_id == patient_id)
    if filters.routes:
        dosed = (
            select(Session.session_id)
            .join(Dosing, Dosing.session_id == Session.session_id)
            .where(Session.course_id == Course.course_id, Dosing.route.in_(filters.routes))
        )
        conditions.append(exists(dosed))
    if filters.start or filters.end:
        window = [Session.course_id == Course.course_id]
        if filters.start_at:
            window.append(Session.started_at >= filters.start_at)
        if filters.end_before:
            window.append(Session.started_at < filters.end_before)
        conditions.append(exists(select(Session.session_id).where(*window)))
    return (
        select(Course.course_id)
        .join(Patient, Patient.patient_id == Course.patient_id)
        .where(and_(*conditions))
    )


def _patients_of(clinician: str) -> Select:
    """Patients with at least one session by `clinician` ("own patients")."""
    return select(Session.patient_id).where(Session.clinician == clinician).distinct()


def patient_conditions(filters: Filters) -> list:
    """WHERE conditions on Patient for the patient-level filters and the viewer's scope.

    A scope that leaves nothing (auth.scope's sentinels) becomes FALSE: the sentinel values
    are never sent as parameters (PostgreSQL refuses their NUL character).
    """
    if matches_nothing(filters):
        return [false()]
    conditions = []
    if filters.sites:
        conditions.append(Patient.site.in_(filters.sites))
    if filters.indications:
        conditions.append(Patient.indication.in_(filters.indications))
    if filters.clinician is not None:
        conditions.append(Patient.patient_id.in_(_patients_of(filters.clinician)))
    return conditions


def rollup_conditions(table, filters: Filters) -> list:  # a rollup model with site, indication
    """WHERE conditions on a rollup table (rows kept per site and indication) for the
    filters it can serve (kapviz.db.rollups.serves: sites and indications). A scope that
    leaves nothing becomes FALSE, as in `patient_conditions`."""
    if matches_nothing(filters):
        return [false()]
    conditions = []
    if filters.sites:
        conditions.append(table.site.in_(filters.sites))
    if filters.indications:
        conditions.append(table.indication.in_(filters.indications))
    return conditions


def read_frame(conn: Connection, stmt: Select, columns: Sequence[str]) -> pd.DataFrame:
    """Rows of `stmt` as a frame: through Arrow (kapviz.db.arrow) where the backend allows,
    else built column by column from SQLAlchemy rows.

    Column-wise on purpose: `DataFrame.from_records` probes every SQLAlchemy Row with
    hasattr(), each probe raising and catching an exception (half the load time at 250k rows).
    """
    fast = arrow.fetch_frame(conn, stmt, columns)
    if fast is not None and len(fast):
        return fast
    rows = conn.execute(stmt).all()
    if not rows:
        return pd.DataFrame.from_records([], columns=list(columns))
    return pd.DataFrame(dict(zip(columns, zip(*rows, strict=True), strict=True)))


def sessions(
    conn: Connection,
    filters: Filters = Filters(),
    *,
    patient_id: str | None = None,
    since: datetime | None = None,
    columns: Sequence[str] = tuple(SESSION_COLUMNS),
    session_ids: Sequence[str] | Select | None = None,
) -> pd.DataFrame:
    """Sessions of the courses in scope, with patient attributes and dosing details.

    `since` keeps only sessions started at or after it (the recent window a live tile needs);
    `columns` (a subset of SESSION_COLUMNS, in that order) reads fewer, joining the patients
    or dosing details only when one of their columns is asked for; `session_ids` keeps only
    these sessions (a list: one IN list, callers keep it short; or a SELECT of ids).
    """
    unknown = set(columns) - set(SESSION_COLUMNS)
    if unknown:
        raise ValueError(f"not session columns: {sorted(unknown)}")
    columns = [c for c in SESSION_COLUMNS if c in columns]
    source = {"site": Patient, "indication": Patient, **dict.fromkeys(_DOSING_COLUMNS, Dosing)}
    stmt = select(*[getattr(source.get(c, Session), c) for c in columns]).order_by(
        Session.patient_id, Session.started_at, Session.session_id
    )
    if {"site", "indication"} & set(columns):
        stmt = stmt.join(Patient, Patient.patient_id == Session.patient_id)
    if set(_DOSING_COLUMNS) & set(columns):
        stmt = stmt.outerjoin(Dosing, Dosing.session_id == Session.session_id)
    scope = course_scope(filters, patient_id)
    if scope is not None:
        stmt = stmt.where(Session.course_id.in_(scope))
    if since is not None:
        stmt = stmt.where(Session.started_at >= since)
    if session_ids is not None:
        wanted = session_ids if isinstance(session_ids, Select) else list(session_ids)
        stmt = stmt.where(Session.session_id.in_(wanted))
    frame = read_frame(conn, stmt, columns)
    if "started_at" in frame:
        frame["started_at"] = pd.to_datetime(frame["started_at"])
    for col in ("dose_mg", "weight_kg", "dose_mg_per_kg", "duration_min", "monitoring_min"):
        if col in frame:
            frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    return frame


def assessment_columns(items) -> list:  # SQL expressions
    """The columns of ASSESSMENT_COLUMNS, with `items` standing for the item lists (the
    column itself, or a NULL labelled "items" where they are not read)."""
    return [
        Assessment.id,
        Assessment.patient_id,
        Assessment.course_id,
        Assessment.session_id,
        Assessment.instrument,
        Assessment.administered_at,
        Assessment.total,
        items,
        Assessment.suicide_item,
    ]


ASSESSMENT_COLUMNS = [
    "id",
    "patient_id",
    "course_id",
    "session_id",
    "instrument",
    "administered_at",
    "total",
    "items",
    "suicide_item",
]


def assessments(
    conn: Connection,
    filters: Filters = Filters(),
    *,
    instruments: Sequence[str] | None = None,
    patient_id: str | None = None,
    with_items: bool = False,
) -> pd.DataFrame:
    """Assessments of the patients in scope; item lists are parsed only when asked for."""
    stmt = select(*assessment_columns(Assessment.items if with_items else null().label("items")))
    scope = course_scope(filters, patient_id)
    if scope is not None:
        stmt = stmt.where(Assessment.course_id.in_(scope))
    if instruments:
        stmt = stmt.where(Assessment.instrument.in_(list(instruments)))
    stmt = stmt.order_by(Assessment.patient_id, Assessment.administered_at, Assessment.id)
    frame = read_frame(conn, stmt, ASSESSMENT_COLUMNS)
    frame["administered_at"] = pd.to_datetime(frame["administered_at"])
    frame["total"] = frame["total"].astype("int64")
    frame["suicide_item"] = pd.to_numeric(frame["suicide_item"]).astype("Int64")
    if with_items:
        frame["items"] = [json.loads(v) if isinstance(v, str) else None for v in frame["items"]]
    return frame


def side_effects(
    conn: Connection,
    filters: Filters = Filters(),
    *,
    patient_id: str | None = None,
    since: datetime | None = None,
) -> pd.DataFrame:
    """Side-effect records of the sessions in scope (all statuses; metrics pick completed).

    `since` keeps only records of sessions started at or after it.
    """
    columns = [
        "session_id",
        "seq",
        "term",
        "verbatim",
        "severity",
        "ctcae_grade",
        "serious",
        "onset_min",
        "resolved",
        "action",
    ]
    stmt = select(*[getattr(SideEffect, c) for c in columns]).order_by(
        SideEffect.session_id, SideEffect.seq
    )
    scope = course_scope(filters, patient_id)
    if scope is not None or since is not None:
        stmt = stmt.join(Session, Session.session_id == SideEffect.session_id)
    if scope is not None:
        stmt = stmt.where(Session.course_id.in_(scope))
    if since is not None:
        stmt = stmt.where(Session.started_at >= since)
    frame = read_frame(conn, stmt, columns)
    frame["serious"] = frame["serious"].astype(bool)
    frame["ctcae_grade"] = pd.to_numeric(frame["ctcae_grade"]).astype("Int64")
    frame["onset_min"] = pd.to_numeric(frame["onset_min"]).astype("Int64")
    return frame


def vitals(
    conn: Connection,
    filters: Filters = Filters(),
    *,
    patient_id: str | None = None,
    since: datetime | None = None,
    reaching: tuple[int, int] | None = None,
) -> pd.DataFrame:
    """Vital-sign readings of the sessions in scope, minutes relative to the dose.

    `since` keeps only readings of sessions started at or after it. `reaching=(systolic,
    diastolic)` keeps only sessions with a reading at or above either (all their readings):
    what excursion alerts need, a few percent of the rows.
    """
    columns = ["session_id", "minutes_from_dose", "systolic", "diastolic", "heart_rate", "spo2"]
    stmt = select(*[getattr(VitalSign, c) for c in columns]).order_by(
        VitalSign.session_id, VitalSign.minutes_from_dose
    )
    scope = course_scope(filters, patient_id)
    if reaching is not None:
        systolic, diastolic = reaching
        # Two range scans of the value indexes (migration 0018), not a scan of every
        # reading for "systolic >= a OR diastolic >= b".
        high = high_reading_sessions(systolic, diastolic)
        flagged = select(Session.session_id).where(Session.session_id.in_(high))
        if scope is not None:
            flagged = flagged.where(Session.course_id.in_(scope))
        if since is not None:
            flagged = flagged.where(Session.started_at >= since)
        stmt = stmt.where(VitalSign.session_id.in_(flagged))
    elif scope is not None or since is not None:
        stmt = stmt.join(Session, Session.session_id == VitalSign.session_id)
        if scope is not None:
            stmt = stmt.where(Session.course_id.in_(scope))
        if since is not None:
            stmt = stmt.where(Session.started_at >= since)
    frame = read_frame(conn, stmt, columns)
    for col in columns[1:]:
        frame[col] = pd.to_numeric(frame[col]).astype("Int64")
    return frame


def high_reading_sessions(systolic: int, diastolic: int) -> Select:
    """Ids of the sessions with a reading at or above either limit: two range scans of the
    value indexes (migration 0018), not a scan of every reading for an OR of the two."""
    high = union(
        select(VitalSign.session_id).where(VitalSign.systolic >= systolic),
        select(VitalSign.session_id).where(VitalSign.diastolic >= diastolic),
    ).subquery()
    return select(high.c[0])


def patients(conn: Connection, filters: Filters = Filters()) -> pd.DataFrame:
    """Patients matching the site and indication filters (referred = has a patient record)."""
    columns = ["patient_id", "site", "sex", "birth_year", "indication", "enrolled_on"]
    stmt = select(*[getattr(Patient, c) for c in columns]).order_by(Patient.patient_id)
    stmt = stmt.where(*patient_conditions(filters))
    return read_frame(conn, stmt, columns)


def filter_options(conn: Connection) -> dict[str, list[str]]:
    """Distinct values for the filter widgets (small: sites, indications, routes)."""
    return {
        "sites": _distinct(conn, Patient.site),
        "indications": _distinct(conn, Patient.indication),
        "routes": _distinct(conn, Dosing.route),
    }


def _distinct(conn: Connection, attribute) -> list[str]:
    """The column's values in order, without empty ones, by a loose index scan: a recursive
    query that asks the column's index for the smallest value above the last one found, one
    index probe per value, where `SELECT DISTINCT` read every row (every page's sidebar asks
    this, and dosings grow with the clinic)."""
    found = select(func.min(attribute).label("value")).cte("found", recursive=True)
    above = select(func.min(attribute)).where(attribute > found.c.value).scalar_subquery()
    found = found.union_all(select(above).where(found.c.value.is_not(None)))
    stmt = select(found.c.value).where(found.c.value.is_not(None)).order_by(found.c.value)
    return list(conn.execute(stmt).scalars())


def patient_ids(conn: Connection, filters: Filters = Filters()) -> list[str]:
    """Pseudonymous ids of the patients in scope, for the case picker."""
    stmt = select(Patient.patient_id).order_by(Patient.patient_id)
    stmt = stmt.where(*patient_conditions(filters))
    return list(conn.execute(stmt).scalars().all())


ROW_COUNTS = table("row_counts", column("name"), column("n"))
"""PostgreSQL only (migration 0020): the number of patients and of sessions, kept current by
statement triggers, where count(*) would read every row."""


def _row_count(conn: Connection, model):
    if conn.dialect.name == "postgresql":
        return (
            select(ROW_COUNTS.c.n).where(ROW_COUNTS.c.name == model.__tablename__).scalar_subquery()
        )
    return select(func.count()).select_from(model).scalar_subquery()


def _clinic_parts(conn: Connection) -> list:
    parts = [
        select(func.max(t.updated_at)).scalar_subquery()
        for t in (Patient, Course, Session, Dosing, Assessment, SideEffect, VitalSign)
    ]
    return parts + [
        select(func.max(Assessment.id)).scalar_subquery(),
        select(func.max(SideEffect.id)).scalar_subquery(),
        select(func.max(VitalSign.id)).scalar_subquery(),
        _row_count(conn, Patient),
        _row_count(conn, Session),
        select(func.max(ImportRun.id)).scalar_subquery(),
    ]


def clinic_version(conn: Connection) -> tuple:
    """A cheap fingerprint of the clinic data: changes when rows are added, changed or
    removed. Index-only lookups (max of indexed columns) and the numbers of patients and
    sessions (on PostgreSQL from the trigger-kept `ROW_COUNTS`): constant time."""
    return tuple(str(v) for v in conn.execute(select(*_clinic_parts(conn))).one())


def data_version(conn: Connection) -> tuple:
    """A cheap fingerprint of what the pages read: the clinic data (`clinic_version`) and
    the moment the Overview's rollups were last rebuilt (kapviz.db.rollups), in one query
    that a live page can ask every refresh without reading data."""
    built = select(func.max(RollupState.built_at)).scalar_subquery()
    return tuple(str(v) for v in conn.execute(select(*_clinic_parts(conn), built)).one())


def newest_record_at(conn: Connection) -> datetime | None:
    """When the newest session or assessment in the data took place ("data as of")."""
    s = conn.execute(select(func.max(Session.started_at))).scalar()
    a = conn.execute(select(func.max(Assessment.administered_at))).scalar()
    values = [pd.Timestamp(v).to_pydatetime() for v in (s, a) if v is not None]
    return max(values) if values else None


def is_demo_data(conn: Connection) -> bool:
    """True while the data shown came from the synthetic demo generator only."""
    kinds = conn.execute(select(ImportRun.is_demo).distinct()).scalars().all()
    return bool(kinds) and all(kinds)


def has_imported_clinic_data(conn: Connection) -> bool:
    """True once anything but the synthetic demo clinic has been imported (an import run not
    flagged as the demo's): from then on the data are a clinic's, whatever the database."""
    return bool(
        conn.execute(
            select(exists(select(ImportRun.id).where(ImportRun.is_demo.is_(False))))
        ).scalar()
    )


def phase_counts(conn: Connection) -> dict[str, int]:
    """Completed sessions per phase (the summary's `sessions` object)."""
    rows = conn.execute(
        select(Session.phase, func.count())
        .where(Session.status == "completed")
        .group_by(Session.phase)
    ).all()
    return {phase: int(n) for phase, n in rows}


def table_counts(conn: Connection) -> dict[str, int]:
    """Row counts per table, for the summary and the data-quality panel."""
    out = {}
    for name, model in (
        ("patients", Patient),
        ("courses", Course),
        ("sessions", Session),
        ("dosings", Dosing),
        ("assessments", Assessment),
        ("side_effects", SideEffect),
        ("vitals", VitalSign),
    ):
        out[name] = int(conn.execute(select(func.count()).select_from(model)).scalar_one())
    return out


def import_history(conn: Connection, *, limit: int = 10) -> pd.DataFrame:
    """The latest imports (demo generation included), newest first."""
    stmt = (
        select(
            ImportRun.finished_at,
            ImportRun.kind,
            ImportRun.source,
            ImportRun.added,
            ImportRun.updated,
            ImportRun.user,
        )
        .order_by(ImportRun.id.desc())
        .limit(limit)
    )
    columns = ["finished_at", "kind", "source", "added", "updated", "user"]
    return read_frame(conn, stmt, columns)


def first_session_on(conn: Connection) -> date | None:
    """The day of the programme's first session (any phase or status): where its monthly
    charts begin, so a first month begun after the 1st is marked partial (index-only)."""
    first = conn.execute(select(func.min(Session.started_at))).scalar()
    return None if first is None else pd.Timestamp(first).date()
