"""The clinic data model (SQLAlchemy 2.x): one table per clinic concept of docs/domain.md.

Natural keys from the import template (`patient_id`, `session_id`, `course_id`) are the
primary keys, so that an import is an upsert and an export writes the same ids back.
Constraints keep rows that break docs/domain.md's ranges and enumerations out of the database;
indexes follow the filters the pages run (site, date, phase/status, instrument).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from kapviz.domain import ACTIONS, DRUGS, PHASES, ROUTES, SEVERITIES, SEXES, STATUSES

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(constraint_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _one_of(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class TimestampMixin:
    """`updated_at` lets the live pages ask cheaply whether anything changed."""

    updated_at: Mapped[datetime] = mapped_column(
        DateTime, server_default=func.current_timestamp(), index=True
    )


class Site(TimestampMixin, Base):
    __tablename__ = "sites"
    name: Mapped[str] = mapped_column(String(120), primary_key=True)


class Clinician(TimestampMixin, Base):
    __tablename__ = "clinicians"
    code: Mapped[str] = mapped_column(String(120), primary_key=True)


class Patient(TimestampMixin, Base):
    """A pseudonymous patient: never a name or an EHR record number."""

    __tablename__ = "patients"
    patient_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site: Mapped[str] = mapped_column(ForeignKey("sites.name"), index=True)
    sex: Mapped[str | None] = mapped_column(String(16))
    birth_year: Mapped[int | None] = mapped_column(SmallInteger)
    indication: Mapped[str | None] = mapped_column(String(80), index=True)
    enrolled_on: Mapped[date | None] = mapped_column(Date)
    __table_args__ = (
        CheckConstraint(_one_of("sex", SEXES), name="sex"),
        CheckConstraint("birth_year BETWEEN 1900 AND 2100", name="birth_year"),
    )


class Course(TimestampMixin, Base):
    """One treatment episode of one patient; outcomes are computed per course."""

    __tablename__ = "courses"
    course_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.patient_id"), index=True)


class Session(TimestampMixin, Base):
    """A scheduled contact in one phase of a course; only completed ones count."""

    __tablename__ = "sessions"
    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.patient_id"))
    course_id: Mapped[str] = mapped_column(ForeignKey("courses.course_id"))
    started_at: Mapped[datetime] = mapped_column(DateTime)
    phase: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="completed")
    clinician: Mapped[str | None] = mapped_column(ForeignKey("clinicians.code"))
    eligible: Mapped[bool | None] = mapped_column(Boolean)
    ineligible_reason: Mapped[str | None] = mapped_column(String(200))
    __table_args__ = (
        CheckConstraint(_one_of("phase", PHASES), name="phase"),
        CheckConstraint(_one_of("status", STATUSES), name="status"),
        CheckConstraint(
            "phase = 'intake' OR (eligible IS NULL AND ineligible_reason IS NULL)",
            name="eligibility_on_intake_only",
        ),
        Index("ix_sessions_patient_started", "patient_id", "started_at"),
        Index("ix_sessions_course_started", "course_id", "started_at"),
        # Covering (migration 0003): funnel and volume counts read patients and courses
        # of completed sessions per phase from the index alone.
        Index(
            "ix_sessions_phase_status_started",
            "phase",
            "status",
            "started_at",
            "patient_id",
            "course_id",
            "session_id",
        ),
        # Migration 0003: recent windows (live tiles) and "data as of" read by start time.
        Index("ix_sessions_started_at", "started_at"),
        # Covering (migration 0005): doses up to a moment and per-course phase dates.
        Index("ix_sessions_course_timeline", "course_id", "phase", "status", "started_at"),
        # Covering (migration 0020): the alerts' look-back reads its sessions from the index.
        Index(
            "ix_sessions_window",
            "started_at",
            "session_id",
            "course_id",
            "patient_id",
            "phase",
            "status",
        ),
    )


class Dosing(TimestampMixin, Base):
    """Dosing details of a dosing session (dose in mg; mg/kg derived when weight is known)."""

    __tablename__ = "dosings"
    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.session_id", ondelete="CASCADE"), primary_key=True
    )
    route: Mapped[str] = mapped_column(String(16), index=True)
    drug: Mapped[str] = mapped_column(String(16), default="ketamine")
    dose_mg: Mapped[float] = mapped_column(Float)
    weight_kg: Mapped[float | None] = mapped_column(Float)
    dose_mg_per_kg: Mapped[float | None] = mapped_column(Float)
    duration_min: Mapped[int | None] = mapped_column(Integer)
    monitoring_min: Mapped[int | None] = mapped_column(Integer)
    __table_args__ = (
        CheckConstraint(_one_of("route", ROUTES), name="route"),
        CheckConstraint(_one_of("drug", DRUGS), name="drug"),
        CheckConstraint("dose_mg > 0", name="dose_positive"),
        CheckConstraint("weight_kg IS NULL OR weight_kg > 0", name="weight_positive"),
        CheckConstraint("duration_min IS NULL OR duration_min >= 0", name="duration"),
        CheckConstraint("monitoring_min IS NULL OR monitoring_min >= 0", name="monitoring"),
    )


class Assessment(TimestampMixin, Base):
    """One administration of an instrument; `items` holds item scores as JSON text.

    `course_id` is resolved on write by docs/domain.md §3 (the session's course, else the
    latest course begun on or before the date). `suicide_item` copies PHQ-9 item 9 so
    that the suicidality flag is one indexed column, not a JSON search.
    """

    __tablename__ = "assessments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.patient_id"))
    course_id: Mapped[str | None] = mapped_column(ForeignKey("courses.course_id"))
    session_id: Mapped[str | None] = mapped_column(ForeignKey("sessions.session_id"), index=True)
    instrument: Mapped[str] = mapped_column(String(16))
    administered_at: Mapped[datetime] = mapped_column(DateTime)
    total: Mapped[int] = mapped_column(SmallInteger)
    items: Mapped[str | None] = mapped_column(Text)
    suicide_item: Mapped[int | None] = mapped_column(SmallInteger)
    __table_args__ = (
        UniqueConstraint("patient_id", "instrument", "administered_at", name="natural_key"),
        CheckConstraint("total >= 0", name="total_nonnegative"),
        CheckConstraint("suicide_item IS NULL OR suicide_item BETWEEN 0 AND 3", name="item9"),
        Index("ix_assessments_course_instrument", "course_id", "instrument", "administered_at"),
        # Covering (migration 0003): recent PHQ-9s are read by time from the index alone.
        Index(
            "ix_assessments_instrument_at",
            "instrument",
            "administered_at",
            "patient_id",
            "course_id",
            "total",
            "suicide_item",
            "session_id",
        ),
        Index("ix_assessments_administered_at", "administered_at"),  # "data as of" (0003)
        # Covering index (migration 0003): the pages' score reads never touch the wide rows.
        Index(
            "ix_assessments_scores",
            "instrument",
            "patient_id",
            "administered_at",
            "course_id",
            "total",
            "suicide_item",
            "session_id",
        ),
        # Partial (migration 0020): the PHQ-9s with item 9 above 0, any date (the alerts).
        Index(
            "ix_assessments_item9_recent",
            "instrument",
            "administered_at",
            "patient_id",
            postgresql_where=text("suicide_item > 0"),
            sqlite_where=text("suicide_item > 0"),
        ),
    )


class SideEffect(TimestampMixin, Base):
    """One recorded side effect; `seq` orders a session's records (natural key with it)."""

    __tablename__ = "side_effects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.session_id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(SmallInteger)
    term: Mapped[str] = mapped_column(String(40), index=True)
    verbatim: Mapped[str | None] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(16))
    ctcae_grade: Mapped[int | None] = mapped_column(SmallInteger)
    serious: Mapped[bool] = mapped_column(Boolean, default=False)
    onset_min: Mapped[int | None] = mapped_column(Integer)
    resolved: Mapped[bool | None] = mapped_column(Boolean)
    action: Mapped[str | None] = mapped_column(String(32))
    __table_args__ = (
        UniqueConstraint("session_id", "seq", name="natural_key"),
        CheckConstraint(_one_of("severity", SEVERITIES), name="severity"),
        CheckConstraint("ctcae_grade IS NULL OR ctcae_grade BETWEEN 1 AND 5", name="ctcae"),
        CheckConstraint(f"action IS NULL OR {_one_of('action', ACTIONS)}", name="action"),
    )


class VitalSign(TimestampMixin, Base):
    """A set of vital signs at a time relative to the dose (negative = before)."""

    __tablename__ = "vitals"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.session_id", ondelete="CASCADE"))
    minutes_from_dose: Mapped[int] = mapped_column(Integer)
    systolic: Mapped[int | None] = mapped_column(SmallInteger)
    diastolic: Mapped[int | None] = mapped_column(SmallInteger)
    heart_rate: Mapped[int | None] = mapped_column(SmallInteger)
    spo2: Mapped[int | None] = mapped_column(SmallInteger)
    __table_args__ = (
        UniqueConstraint("session_id", "minutes_from_dose", name="natural_key"),
        CheckConstraint("systolic IS NULL OR systolic BETWEEN 50 AND 300", name="systolic"),
        CheckConstraint("diastolic IS NULL OR diastolic BETWEEN 20 AND 200", name="diastolic"),
        CheckConstraint(
            "systolic IS NULL OR diastolic IS NULL OR systolic > diastolic", name="sys_gt_dia"
        ),
        CheckConstraint("heart_rate IS NULL OR heart_rate BETWEEN 20 AND 250", name="heart_rate"),
        CheckConstraint("spo2 IS NULL OR spo2 BETWEEN 50 AND 100", name="spo2"),
        # Covering index (migration 0004): the Safety page reads blood pressure from it.
        Index("ix_vitals_bp", "session_id", "minutes_from_dose", "systolic", "diastolic"),
        # The sessions of high readings (migration 0018: kapviz.db.queries.vitals `reaching`).
        Index("ix_vitals_systolic", "systolic", "session_id"),
        Index("ix_vitals_diastolic", "diastolic", "session_id"),
    )


class ImportRun(Base):
    """What each import added and changed, for the Data page's 'last import'."""

    __tablename__ = "import_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    finished_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())
    source: Mapped[str] = mapped_column(String(400))
    kind: Mapped[str] = mapped_column(String(16))
    added: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    user: Mapped[str | None] = mapped_column(String(120))
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)


# --- Derived tables: the Overview's rollups (kapviz.db.rollups) -------------------------------
# Written after the clinic data by whoever writes them, never edited by hand; a reader uses
# them only while RollupState's data version is the data's (kapviz.db.rollups).


class RollupState(Base):
    """The data version the rollups were computed from (one row, or none: not built)."""

    __tablename__ = "rollup_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    data_version: Mapped[str] = mapped_column(Text)
    built_at: Mapped[datetime] = mapped_column(DateTime)


class _BySiteAndIndication:
    """The patient's site and indication: what the rollups are grouped and filtered by."""

    site: Mapped[str] = mapped_column(String(120))
    indication: Mapped[str | None] = mapped_column(String(80))


class RollupDosingMonth(_BySiteAndIndication, Base):
    """Completed dosing sessions and their adverse events per site, indication, month and
    route (month: 'YYYY-MM'; route 'unknown' without a dosing record)."""

    __tablename__ = "rollup_dosing_months"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    month: Mapped[str] = mapped_column(String(7))
    route: Mapped[str] = mapped_column(String(32))
    sessions: Mapped[int] = mapped_column(Integer)
    events: Mapped[int] = mapped_column(Integer)


class RollupFunnel(_BySiteAndIndication, Base):
    """Patients at each treatment-funnel step per site and indication."""

    __tablename__ = "rollup_funnel"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patients: Mapped[int] = mapped_column(Integer)
    intake: Mapped[int] = mapped_column(Integer)
    eligible: Mapped[int] = mapped_column(Integer)
    dosed: Mapped[int] = mapped_column(Integer)
    finished: Mapped[int] = mapped_column(Integer)


class RollupIneligibility(_BySiteAndIndication, Base):
    """Completed intake sessions found not eligible per site, indication and reason."""

    __tablename__ = "rollup_ineligibility"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    reason: Mapped[str] = mapped_column(Text)
    sessions: Mapped[int] = mapped_column(Integer)


class RollupCourseOutcome(_BySiteAndIndication, Base):
    """Per course × outcome instrument with a score: the row of
    kapviz.metrics.outcomes.outcomes_from_scores (the one outcome rule), with the patient's
    site and indication and the baseline window it was computed with."""

    __tablename__ = "rollup_course_outcomes"
    course_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    instrument: Mapped[str] = mapped_column(String(32), primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(64))
    baseline_window_days: Mapped[int] = mapped_column(Integer)
    first_dose_at: Mapped[datetime | None] = mapped_column(DateTime)
    baseline: Mapped[int | None] = mapped_column(Integer)
    baseline_at: Mapped[datetime | None] = mapped_column(DateTime)
    endpoint: Mapped[int | None] = mapped_column(Integer)
    endpoint_at: Mapped[datetime | None] = mapped_column(DateTime)
    change: Mapped[int | None] = mapped_column(Integer)
    pct_change: Mapped[float | None] = mapped_column(Float)
    evaluable: Mapped[bool] = mapped_column(Boolean)
    not_evaluable_reason: Mapped[str | None] = mapped_column(Text)
    is_response: Mapped[bool | None] = mapped_column(Boolean)
    is_remission: Mapped[bool | None] = mapped_column(Boolean)
    baseline_in_remission: Mapped[bool | None] = mapped_column(Boolean)
    reliable_improvement: Mapped[bool | None] = mapped_column(Boolean)
    reliable_deterioration: Mapped[bool | None] = mapped_column(Boolean)
    time_to_response_days: Mapped[float | None] = mapped_column(Float)
    time_to_response_doses: Mapped[int | None] = mapped_column(Integer)
    __table_args__ = (
        Index("ix_rollup_course_outcomes_groups", "instrument", "site", "indication"),
    )


class SavedCohort(Base):
    """An Explore view saved by name by one user (kapviz.db.saved_cohorts): the page's URL
    parameters as JSON text, so that choosing it reopens the same view."""

    __tablename__ = "saved_cohorts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(120))
    name: Mapped[str] = mapped_column(String(120))
    params: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())
    __table_args__ = (UniqueConstraint("owner", "name", name="owner_name"),)


class RollupCoursePoint(_BySiteAndIndication, Base):
    """Per course, outcome instrument and session-axis point: the course's value there (the
    sum and count of its scores at that point) and its baseline, for courses with one
    (kapviz.db.aggregates.case.CohortSummary's values before they are counted)."""

    __tablename__ = "rollup_course_points"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    course_id: Mapped[str] = mapped_column(String(64))
    instrument: Mapped[str] = mapped_column(String(16))
    baseline: Mapped[int] = mapped_column(Integer)
    point_order: Mapped[int] = mapped_column(Integer)
    total_sum: Mapped[int] = mapped_column(Integer)
    scores: Mapped[int] = mapped_column(Integer)
    __table_args__ = (
        Index("ix_rollup_course_points_course", "course_id"),
        # Covering: the counts are grouped in index order, without a sort of every row.
        Index(
            "ix_rollup_course_points_value",
            "instrument",
            "baseline",
            "point_order",
            "total_sum",
            "scores",
            "site",
            "indication",
        ),
    )


class RollupCourseBaseline(_BySiteAndIndication, Base):
    """Per course and outcome instrument with a baseline: that baseline
    (kapviz.db.aggregates.case.CohortSummary's baselines before they are counted)."""

    __tablename__ = "rollup_course_baselines"
    course_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    instrument: Mapped[str] = mapped_column(String(16), primary_key=True)
    baseline: Mapped[int] = mapped_column(Integer)


class RollupMissingPredose(Base):
    """Completed dosing sessions without a PHQ-9 in the 7 days before, kept per course (the
    Data page's quality check, kapviz.db.aggregates.quality.missing_predose_rows)."""

    __tablename__ = "rollup_missing_predose"
    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(64))
    course_id: Mapped[str] = mapped_column(String(64), index=True)
    site: Mapped[str] = mapped_column(String(120))
    started_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class RollupCourseDosing(_BySiteAndIndication, Base):
    """RollupDosingMonth's counts per course: an import refreshes its courses' rows here
    and the by-site counts are summed again from them in SQL (kapviz.db.rollups.refresh)."""

    __tablename__ = "rollup_course_dosing"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    course_id: Mapped[str] = mapped_column(String(64), index=True)
    month: Mapped[str] = mapped_column(String(7))
    route: Mapped[str] = mapped_column(String(32))
    sessions: Mapped[int] = mapped_column(Integer)
    events: Mapped[int] = mapped_column(Integer)


class RollupCohortValue(Base):
    """RollupCoursePoint counted for the whole clinic: how many courses with that baseline
    have that value at that point (the unfiltered cohort band, a bounded number of rows)."""

    __tablename__ = "rollup_cohort_values"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    instrument: Mapped[str] = mapped_column(String(16))
    baseline: Mapped[int] = mapped_column(Integer)
    point_order: Mapped[int] = mapped_column(Integer)
    total_sum: Mapped[int] = mapped_column(Integer)
    scores: Mapped[int] = mapped_column(Integer)
    courses: Mapped[int] = mapped_column(Integer)


class RollupCohortBaseline(Base):
    """RollupCourseBaseline counted for the whole clinic: courses per instrument and
    baseline."""

    __tablename__ = "rollup_cohort_baselines"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    instrument: Mapped[str] = mapped_column(String(16))
    baseline: Mapped[int] = mapped_column(Integer)
    courses: Mapped[int] = mapped_column(Integer)


class RollupTrajectoryValue(_BySiteAndIndication, Base):
    """Per course, outcome instrument, time axis ('session' or 'days') and point: the sum
    and count of the course's scores placed there and the phase of its first one there
    (kapviz.metrics.trajectory_tables.course_values before the mean is taken), for the
    Trajectories page."""

    __tablename__ = "rollup_trajectory_values"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    course_id: Mapped[str] = mapped_column(String(64))
    patient_id: Mapped[str] = mapped_column(String(64))
    instrument: Mapped[str] = mapped_column(String(16))
    axis: Mapped[str] = mapped_column(String(8))
    point_order: Mapped[int] = mapped_column(Integer)
    phase: Mapped[str | None] = mapped_column(String(16))
    total_sum: Mapped[int] = mapped_column(Integer)
    scores: Mapped[int] = mapped_column(Integer)
    __table_args__ = (
        Index("ix_rollup_trajectory_values_course", "course_id"),
        Index("ix_rollup_trajectory_values_point", "instrument", "axis", "point_order"),
    )


class RollupCourseCount(Base):
    """Per course: its rows in each clinic table, so that the Data page's row counts are
    sums of one row per course (kapviz.db.rollup_counts), refreshed with the course's other
    rollups when an import touches it."""

    __tablename__ = "rollup_course_counts"
    course_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sessions: Mapped[int] = mapped_column(Integer)
    dosings: Mapped[int] = mapped_column(Integer)
    assessments: Mapped[int] = mapped_column(Integer)
    side_effects: Mapped[int] = mapped_column(Integer)
    vitals: Mapped[int] = mapped_column(Integer)


# PostgreSQL only (migration 0014): `LIKE 'prefix%'` served by an index whatever the
# database's collation, for the Case explorer's search by id (kapviz.db.case_search).
Index(
    "ix_patients_id_pattern",
    Patient.patient_id,
    postgresql_ops={"patient_id": "text_pattern_ops"},
).ddl_if(dialect="postgresql")
Index(
    "ix_courses_id_pattern",
    Course.course_id,
    postgresql_ops={"course_id": "text_pattern_ops"},
).ddl_if(dialect="postgresql")

# Migration 0017: the clinicians with a session (Explore's choices) by one probe each.
Index("ix_sessions_clinician", Session.clinician)


class RollupCourseEffect(_BySiteAndIndication, Base):
    """One course's dosing sessions with a side-effect term, per dose number and route: how
    many, and how many at each highest severity (kapviz.db.safety_rollups). Route is null for
    a dose without a dosing record."""

    __tablename__ = "rollup_course_effects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    course_id: Mapped[str] = mapped_column(String(64), index=True)
    patient_id: Mapped[str] = mapped_column(String(64))
    session_number: Mapped[int] = mapped_column(Integer)
    route: Mapped[str | None] = mapped_column(String(32))
    term: Mapped[str] = mapped_column(String(40))
    sessions: Mapped[int] = mapped_column(Integer)
    mild: Mapped[int] = mapped_column(Integer)
    moderate: Mapped[int] = mapped_column(Integer)
    severe: Mapped[int] = mapped_column(Integer)


class RollupCourseDose(_BySiteAndIndication, Base):
    """One course's completed dosing sessions per dose number and route (the denominators
    of RollupCourseEffect's rates)."""

    __tablename__ = "rollup_course_doses"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    course_id: Mapped[str] = mapped_column(String(64), index=True)
    patient_id: Mapped[str] = mapped_column(String(64))
    session_number: Mapped[int] = mapped_column(Integer)
    route: Mapped[str | None] = mapped_column(String(32))
    dosing_sessions: Mapped[int] = mapped_column(Integer)


class RollupCourseBpCount(_BySiteAndIndication, Base):
    """One course's blood-pressure readings during its doses per time bin, measure and value
    (kapviz.metrics.vitals.bp_counts), from which the Safety page's BP curve is drawn."""

    __tablename__ = "rollup_course_bp_counts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    course_id: Mapped[str] = mapped_column(String(64), index=True)
    minute: Mapped[int] = mapped_column(Integer)
    measure: Mapped[str] = mapped_column(String(16))
    value: Mapped[int] = mapped_column(Integer)
    readings: Mapped[int] = mapped_column(Integer)


class RollupEffectCount(_BySiteAndIndication, Base):
    """RollupCourseEffect summed over courses (a bounded number of rows)."""

    __tablename__ = "rollup_effect_counts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_number: Mapped[int] = mapped_column(Integer)
    route: Mapped[str | None] = mapped_column(String(32))
    term: Mapped[str] = mapped_column(String(40))
    sessions: Mapped[int] = mapped_column(Integer)
    mild: Mapped[int] = mapped_column(Integer)
    moderate: Mapped[int] = mapped_column(Integer)
    severe: Mapped[int] = mapped_column(Integer)


class RollupEffectPatients(_BySiteAndIndication, Base):
    """Distinct patients with each side-effect term on a dose. Exact when summed over sites
    and indications: a patient has one site and one indication."""

    __tablename__ = "rollup_effect_patients"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    term: Mapped[str] = mapped_column(String(40))
    patients: Mapped[int] = mapped_column(Integer)


class RollupDoseCount(_BySiteAndIndication, Base):
    """RollupCourseDose summed over courses."""

    __tablename__ = "rollup_dose_counts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_number: Mapped[int] = mapped_column(Integer)
    route: Mapped[str | None] = mapped_column(String(32))
    dosing_sessions: Mapped[int] = mapped_column(Integer)


class RollupDosedPatients(_BySiteAndIndication, Base):
    """Distinct patients with a completed dosing session, per site and indication."""

    __tablename__ = "rollup_dosed_patients"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patients: Mapped[int] = mapped_column(Integer)


class RollupBpCount(_BySiteAndIndication, Base):
    """RollupCourseBpCount summed over courses (bounded by time bins × values)."""

    __tablename__ = "rollup_bp_counts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    minute: Mapped[int] = mapped_column(Integer)
    measure: Mapped[str] = mapped_column(String(16))
    value: Mapped[int] = mapped_column(Integer)
    readings: Mapped[int] = mapped_column(Integer)


class RollupCourseClinician(_BySiteAndIndication, Base):
    """Per course with a dosing clinician: that clinician (of most of its completed doses),
    the course's doses, adverse events and doses with a BP excursion at the thresholds it
    was computed with; summed per clinician for the clinician view
    (kapviz.db.clinician_rollups)."""

    __tablename__ = "rollup_course_clinicians"
    course_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    clinician: Mapped[str] = mapped_column(String(120))
    dosing_sessions: Mapped[int] = mapped_column(Integer)
    adverse_events: Mapped[int] = mapped_column(Integer)
    excursion_sessions: Mapped[int] = mapped_column(Integer)
    systolic: Mapped[float] = mapped_column(Float)
    diastolic: Mapped[float] = mapped_column(Float)


# Migration 0015: the courses with a value of one instrument on one axis (the course lines'
# and the mixed model's sampling frame, kapviz.db.rollups.trajectory_courses) and the
# cohort table's value counts (trajectory_counts) read from an index alone, in order,
# instead of every point row.
Index(
    "ix_rollup_trajectory_values_courses",
    RollupTrajectoryValue.instrument,
    RollupTrajectoryValue.axis,
    RollupTrajectoryValue.patient_id,
    RollupTrajectoryValue.course_id,
)


class RollupCourseFirstDose(_BySiteAndIndication, Base):
    """Per course with a session: its patient, route and dose of its first completed dose
    (kapviz.metrics.course_attributes.FIRST_DOSE_COLUMNS; kapviz.db.first_dose_rollups)."""

    __tablename__ = "rollup_course_first_doses"
    course_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(64))
    route: Mapped[str | None] = mapped_column(String(32))
    dose_mg: Mapped[float | None] = mapped_column(Float)
    dose_mg_per_kg: Mapped[float | None] = mapped_column(Float)


Index(
    "ix_rollup_trajectory_values_counts",
    RollupTrajectoryValue.instrument,
    RollupTrajectoryValue.axis,
    RollupTrajectoryValue.point_order,
    RollupTrajectoryValue.total_sum,
    RollupTrajectoryValue.scores,
)


class RollupDoseSafety(_BySiteAndIndication, Base):
    """One row per completed dosing session (kapviz.db.safety_rollups): what the Safety
    page's headline, sedation and monitoring counts, blood-pressure tiles and flagged table
    need, so that they are counted from one narrow row per dose instead of every side
    effect, score and reading. Blood-pressure columns are null without readings (as
    kapviz.metrics.vitals.bp_per_session leaves them); moaas_0 … moaas_5 count the dose's
    MOAA/S scores of each value; urinary_symptoms and cognitive_impairment (the long-term
    terms, kapviz.vocabulary.LONG_TERM_TERMS) are 1 when the dose has a record of it."""

    __tablename__ = "rollup_dose_safety"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    course_id: Mapped[str] = mapped_column(String(64), index=True)
    patient_id: Mapped[str] = mapped_column(String(64))
    session_id: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(DateTime)
    route: Mapped[str | None] = mapped_column(String(32))
    drug: Mapped[str | None] = mapped_column(String(32))
    monitoring_min: Mapped[int | None] = mapped_column(Integer)
    dose_mg: Mapped[float | None] = mapped_column(Float)
    events: Mapped[int] = mapped_column(Integer)
    serious_events: Mapped[int] = mapped_column(Integer)
    urinary_symptoms: Mapped[int] = mapped_column(Integer)
    cognitive_impairment: Mapped[int] = mapped_column(Integer)
    moaas_scores: Mapped[int] = mapped_column(Integer)
    moaas_0: Mapped[int] = mapped_column(Integer)
    moaas_1: Mapped[int] = mapped_column(Integer)
    moaas_2: Mapped[int] = mapped_column(Integer)
    moaas_3: Mapped[int] = mapped_column(Integer)
    moaas_4: Mapped[int] = mapped_column(Integer)
    moaas_5: Mapped[int] = mapped_column(Integer)
    readings: Mapped[int] = mapped_column(Integer)
    max_systolic: Mapped[int | None] = mapped_column(SmallInteger)
    max_diastolic: Mapped[int | None] = mapped_column(SmallInteger)
    last_systolic: Mapped[int | None] = mapped_column(SmallInteger)
    last_diastolic: Mapped[int | None] = mapped_column(SmallInteger)
    pre_systolic: Mapped[int | None] = mapped_column(SmallInteger)
    pre_diastolic: Mapped[int | None] = mapped_column(SmallInteger)
    peak_systolic: Mapped[int | None] = mapped_column(SmallInteger)
    peak_diastolic: Mapped[int | None] = mapped_column(SmallInteger)


# Migration 0016: the few patients with a PHQ-9 item 9 above 0, found without reading every
# PHQ-9 (the alerts worklist's candidates: kapviz.db.aggregates.safety.latest_phq9).
_ITEM9_POSITIVE = "instrument = 'PHQ-9' AND suicide_item > 0"
Index(
    "ix_assessments_item9_positive",
    Assessment.patient_id,
    postgresql_where=text(_ITEM9_POSITIVE),
    sqlite_where=text(_ITEM9_POSITIVE),
)


class RollupCourseCadss(_BySiteAndIndication, Base):
    """One course's CADSS scores taken during its doses per dose number and score
    (kapviz.db.safety_rollups): the Safety page's CADSS table is computed from them."""

    __tablename__ = "rollup_course_cadss"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    course_id: Mapped[str] = mapped_column(String(64), index=True)
    session_number: Mapped[int] = mapped_column(Integer)
    value: Mapped[int] = mapped_column(Integer)
    scores: Mapped[int] = mapped_column(Integer)


class RollupCadssCount(_BySiteAndIndication, Base):
    """RollupCourseCadss summed over courses (bounded by dose numbers × scores)."""

    __tablename__ = "rollup_cadss_counts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_number: Mapped[int] = mapped_column(Integer)
    value: Mapped[int] = mapped_column(Integer)
    scores: Mapped[int] = mapped_column(Integer)


class RollupCourseAttribute(_BySiteAndIndication, Base):
    """Per course: its group in every breakdown dimension but the baseline band
    (kapviz.metrics.breakdowns.attribute_table), its completed doses and first dose date,
    and whether it has any session (the live attribute table lists those courses)."""

    __tablename__ = "rollup_course_attributes"
    course_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(64))
    clinician: Mapped[str] = mapped_column(String(120))
    route: Mapped[str] = mapped_column(String(32))
    dose_band: Mapped[str] = mapped_column(String(32))
    sex: Mapped[str] = mapped_column(String(32))
    age_band: Mapped[str] = mapped_column(String(16))
    doses: Mapped[int] = mapped_column(Integer)
    first_dose: Mapped[date | None] = mapped_column(Date)
    has_sessions: Mapped[bool] = mapped_column(Boolean)


class RollupDoseFlag(Base):
    """Per completed dosing session: its highest systolic and diastolic readings and lowest
    MOAA/S score (null without one), from which the BP excursion and sedation rates are
    counted with the thresholds of the settings (kapviz.db.explore_rollups)."""

    __tablename__ = "rollup_dose_flags"
    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    course_id: Mapped[str] = mapped_column(String(64), index=True)
    max_systolic: Mapped[float | None] = mapped_column(Float)
    max_diastolic: Mapped[float | None] = mapped_column(Float)
    min_moaas: Mapped[int | None] = mapped_column(Integer)


class RollupCourseMeasured(Base):
    """Per course × outcome instrument: its completed dosing sessions measured with a score
    of the instrument in the days before them (kapviz.db.aggregates.program
    .measurement_by_course's numerator; only courses with at least one)."""

    __tablename__ = "rollup_course_measured"
    course_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    instrument: Mapped[str] = mapped_column(String(32), primary_key=True)
    measured: Mapped[int] = mapped_column(Integer)
