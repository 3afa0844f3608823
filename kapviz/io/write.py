"""Write a validated batch in ONE transaction: upsert by natural keys, only what changed.

Natural keys: patients.patient_id, sessions.session_id, dosings.session_id,
assessments (patient_id, instrument, administered_at), vitals (session_id,
minutes_from_dose). Side effects have no id in the template: for every session present in
the file its records become exactly the file's, matched by their order (seq). Rows equal
to what the database holds are not touched (not even `updated_at`), so importing the same
files twice changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np
import pandas as pd
from sqlalchemy import (
    Connection,
    Date,
    DateTime,
    Engine,
    and_,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)

from kapviz.db import rollups
from kapviz.db.bulk import begin_bulk_load, bulk_insert, insert_frame
from kapviz.db.migrate import upgrade
from kapviz.db.models import (
    Assessment,
    Clinician,
    Course,
    Dosing,
    ImportRun,
    Patient,
    Session,
    SideEffect,
    Site,
    VitalSign,
)
from kapviz.db.queries import clinic_version
from kapviz.io.validate import ValidatedBatch

log = logging.getLogger(__name__)

SPECS: dict[str, tuple[type, tuple[str, ...], tuple[str, ...]]] = {
    "patients": (Patient, ("patient_id",), ("site", "sex", "birth_year", "indication",
                                            "enrolled_on")),
    "sessions": (Session, ("session_id",), ("patient_id", "course_id", "started_at", "phase",
                                            "status", "clinician", "eligible",
                                            "ineligible_reason")),
    "dosings": (Dosing, ("session_id",), ("route", "drug", "dose_mg", "weight_kg",
                                          "dose_mg_per_kg", "duration_min", "monitoring_min")),
    "assessments": (Assessment, ("patient_id", "instrument", "administered_at"),
                    ("course_id", "session_id", "total", "items", "suicide_item")),
    "side_effects": (SideEffect, ("session_id", "seq"), ("term", "verbatim", "severity",
                                                         "ctcae_grade", "serious", "onset_min",
                                                         "resolved", "action")),
    "vitals": (VitalSign, ("session_id", "minutes_from_dose"), ("systolic", "diastolic",
                                                                "heart_rate", "spo2")),
}  # fmt: skip
ORDER = ("patients", "sessions", "dosings", "assessments", "side_effects", "vitals")
BULK_ROWS = 100_000
"""From this many new rows on, foreign keys are checked per table after the load."""
REBUILD_ROWS = 50_000
"""In such a load, PostgreSQL rebuilds a table's plain indexes when it gets at least this
many new rows and at least as many as it held (else inserting into them is cheaper)."""
SQLITE_CACHE_KIB = 262_144
"""SQLite page cache of the importing connection (256 MiB; the default is 2 MiB)."""


@dataclass
class TableCounts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0


@dataclass
class ImportResult:
    """What an import added, changed and left alone, per table."""

    tables: dict[str, TableCounts] = field(default_factory=dict)
    dry_run: bool = False

    @property
    def added(self) -> int:
        return sum(t.added for t in self.tables.values())

    @property
    def updated(self) -> int:
        return sum(t.updated + t.removed for t in self.tables.values())

    def summary_lines(self) -> list[str]:
        verb = "would be" if self.dry_run else ""
        lines = []
        for name, t in self.tables.items():
            parts = [f"{t.added} added", f"{t.updated} updated", f"{t.unchanged} unchanged"]
            if t.removed:
                parts.append(f"{t.removed} removed")
            lines.append(f"{name}: " + ", ".join(parts) + (f" ({verb.strip()})" if verb else ""))
        return lines


def _python_column(values: pd.Series) -> list:
    """A column as DB-API friendly Python values (None, int, float, str, datetime, date)."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values.to_numpy(dtype="datetime64[us]").astype(object).tolist()
    if pd.api.types.is_float_dtype(values.dtype):
        numbers = values.to_numpy(dtype="float64", na_value=np.nan)
        out = numbers.astype(object)
        out[np.isnan(numbers)] = None
        return out.tolist()
    return values.to_numpy(dtype=object, na_value=None).tolist()


def _records(frame: pd.DataFrame, columns: tuple[str, ...]) -> list[tuple]:
    """Rows of `frame` as tuples of Python values, built column by column (fast)."""
    return list(zip(*(_python_column(frame[c]) for c in columns), strict=True))


def _floats(values: pd.Series) -> np.ndarray:
    """Numbers (or booleans, as 1/0) as float64; NaN where missing."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return values.to_numpy(dtype="float64", na_value=np.nan)
    return values.to_numpy(dtype=object, na_value=None).astype("float64")


def _differs(new: pd.Series, old: pd.Series) -> np.ndarray:
    """Element-wise: do the batch value and the stored value differ (missing = missing)?

    Whole columns at a time: datetimes as datetime64[us], numbers as float64 (equal within
    1e-9), everything else (text, dates, true/false) as Python objects (True == 1).
    """
    if pd.api.types.is_datetime64_any_dtype(new.dtype):
        a = new.to_numpy(dtype="datetime64[us]")
        b = pd.to_datetime(old).to_numpy(dtype="datetime64[us]")
        return (a != b) & ~(np.isnat(a) & np.isnat(b))
    if pd.api.types.is_numeric_dtype(new.dtype) or pd.api.types.is_bool_dtype(new.dtype):
        x, y = _floats(new), _floats(old)
        same = np.isclose(x, y, rtol=1e-9, atol=1e-9) | (np.isnan(x) & np.isnan(y))
        return ~same
    a = new.to_numpy(dtype=object, na_value=None)
    b = old.to_numpy(dtype=object, na_value=None)
    return np.asarray(a != b, dtype=bool)


def _key_frame(frame: pd.DataFrame, keys: tuple[str, ...]) -> pd.DataFrame:
    """Key columns in one canonical dtype each (strings, datetime64[us], int64) for merging."""
    out = {}
    for k in keys:
        col = frame[k]
        if pd.api.types.is_datetime64_any_dtype(col.dtype) or k == "administered_at":
            out[k] = pd.to_datetime(col).astype("datetime64[us]")
        elif k in ("seq", "minutes_from_dose"):
            out[k] = pd.to_numeric(col).astype("int64")
        else:
            out[k] = col.astype(object).astype(str)
    return pd.DataFrame(out, index=frame.index)


def _stored_column(values: np.ndarray, sql_type, sqlite: bool) -> pd.Series:
    """One fetched column as a Series (SQLite's text dates and times parsed)."""
    column = pd.Series(values, dtype=object)
    if sqlite and isinstance(sql_type, DateTime):
        return pd.to_datetime(column, format="ISO8601")
    if sqlite and isinstance(sql_type, Date):
        return column.map(lambda v: date.fromisoformat(v) if isinstance(v, str) else v)
    return column


def _existing(
    conn: Connection,
    model,
    keys: tuple[str, ...],
    cols: tuple[str, ...],
    frame: pd.DataFrame,
    extra: tuple[str, ...] = (),
) -> tuple[pd.DataFrame, int]:
    """The stored rows that may match the batch's keys (extra + keys + cols), and the count.

    An empty table is not read; when the batch is a large part of the table, all of it is
    read in one scan (the merge on the keys does the matching), else the rows whose first key
    is in the batch. Plain DB-API fetches: no per-row SQLAlchemy work.
    """
    table = model.__table__
    names = list(extra + keys + cols)
    empty = pd.DataFrame({c: pd.Series([], dtype=object) for c in names})
    stored = conn.execute(select(func.count()).select_from(table)).scalar_one()
    if not stored:
        return empty, 0
    sqlite = conn.dialect.name == "sqlite"
    quote = conn.dialect.identifier_preparer.quote
    sql = f"SELECT {', '.join(map(quote, names))} FROM {quote(table.name)}"
    cursor = conn.connection.driver_connection.cursor()
    try:
        if len(frame) * 4 >= stored:
            cursor.execute(sql)
            rows = cursor.fetchall()
        else:
            first = keys[0]
            wanted = sorted(set(_python_column(frame[first])) - {None})
            if not sqlite:
                cursor.execute(f"{sql} WHERE {quote(first)} = ANY(%s)", (wanted,))
                rows = cursor.fetchall()
            else:
                rows = []
                for start in range(0, len(wanted), 5000):
                    chunk = wanted[start : start + 5000]
                    marks = ", ".join("?" for _ in chunk)
                    cursor.execute(f"{sql} WHERE {quote(first)} IN ({marks})", chunk)
                    rows += cursor.fetchall()
    finally:
        cursor.close()
    if not rows:
        return empty, stored
    matrix = np.empty((len(rows), len(names)), dtype=object)
    matrix[:] = rows  # row tuples into a 2-D object array in C, then column by column
    return pd.DataFrame(
        {c: _stored_column(matrix[:, k], table.c[c].type, sqlite)
         for k, c in enumerate(names)}
    ), stored  # fmt: skip


@dataclass
class _Plan:
    """One table's rows split into new, changed and unchanged (and side effects to remove)."""

    name: str
    frame: pd.DataFrame
    is_new: np.ndarray
    changed: np.ndarray
    remove_ids: list = field(default_factory=list)
    held: int = 0
    """Rows the table held before the import."""


def _plan(conn, name: str, frame: pd.DataFrame, counts: TableCounts) -> _Plan | None:
    """Compare the batch's rows of one table with the stored ones, on frames (no row loop)."""
    model, keys, cols = SPECS[name]
    if frame.empty:
        return None
    frame = frame.reset_index(drop=True)
    extra = ("id",) if name == "side_effects" else ()
    stored, held = _existing(conn, model, keys, cols, frame, extra)
    remove_ids: list = []
    if name == "side_effects" and len(stored):
        # Records beyond the file's count for a session it lists are no longer in the source.
        keep = frame.groupby("session_id")["seq"].max()
        limit = stored["session_id"].map(keep)
        beyond = limit.notna() & (pd.to_numeric(stored["seq"]) > limit)
        remove_ids = stored.loc[beyond, "id"].tolist()
        counts.removed += len(remove_ids)
    stored = pd.concat([_key_frame(stored, keys), stored[list(cols)]], axis=1)
    stored = stored.drop_duplicates(list(keys)).rename(columns={c: f"{c}__db" for c in cols})
    merged = _key_frame(frame, keys).merge(stored, on=list(keys), how="left", indicator=True)
    is_new = (merged["_merge"] == "left_only").to_numpy()
    changed = np.zeros(len(frame), dtype=bool)
    if not is_new.all():
        for c in cols:
            changed |= _differs(frame[c], merged[f"{c}__db"].set_axis(frame.index))
    changed &= ~is_new
    counts.added += int(is_new.sum())
    counts.updated += int(changed.sum())
    counts.unchanged += int((~is_new & ~changed).sum())
    return _Plan(name, frame, is_new, changed, remove_ids, held)


def _apply(conn, plan: _Plan) -> None:
    """Insert the plan's new rows, update its changed ones, delete side effects no longer listed."""
    model, keys, cols = SPECS[plan.name]
    table = model.__table__
    insert_frame(conn, table, plan.frame.loc[plan.is_new, list(keys + cols)])
    if plan.changed.any():
        stmt = (
            update(table)
            .where(and_(*[table.c[k] == bindparam(f"k_{k}") for k in keys]))
            .values({c: bindparam(f"v_{c}") for c in cols} | {"updated_at": datetime.now()})
        )
        params = [
            {f"k_{k}": v for k, v in zip(keys, row[: len(keys)], strict=True)}
            | {f"v_{c}": v for c, v in zip(cols, row[len(keys) :], strict=True)}
            for row in _records(plan.frame[plan.changed], keys + cols)
        ]
        conn.execute(stmt, params)
    for start in range(0, len(plan.remove_ids), 5000):
        chunk = plan.remove_ids[start : start + 5000]
        conn.execute(delete(SideEffect).where(SideEffect.id.in_(chunk)))


def _ensure_lookups(conn, frames: dict[str, pd.DataFrame]) -> None:
    """Sites and clinicians named by the batch exist (inserted when missing)."""
    for model, column, values in (
        (Site, "name", frames.get("patients", pd.DataFrame()).get("site")),
        (Clinician, "code", frames.get("sessions", pd.DataFrame()).get("clinician")),
    ):
        if values is None:
            continue
        wanted = {v for v in values.dropna().unique() if v}
        have = set(conn.execute(select(model.__table__.c[column])).scalars())
        bulk_insert(conn, model.__table__, (column,), [(v,) for v in sorted(wanted - have)])


def _ensure_courses(conn, frames: dict[str, pd.DataFrame]) -> None:
    """Courses named by the sessions exist (after their patients do)."""
    sessions = frames.get("sessions")
    if sessions is not None and len(sessions):
        pairs = sessions[["course_id", "patient_id"]].drop_duplicates("course_id")
        have = set(conn.execute(select(Course.course_id)).scalars())
        new = pairs[~pairs["course_id"].isin(have)]
        bulk_insert(conn, Course.__table__, ("course_id", "patient_id"), _records(
            new, ("course_id", "patient_id")))  # fmt: skip


def _clinic_tables(frames: dict[str, pd.DataFrame]) -> list[str]:
    """The tables an import of `frames` writes into (courses come with the sessions)."""
    names = [n for n in ORDER if n in frames and len(frames[n])]
    tables = [SPECS[n][0].__table__.name for n in names]
    if "sessions" in names:
        tables.insert(tables.index(Session.__tablename__), Course.__tablename__)
    return tables


def touched_courses(conn, frames: dict[str, pd.DataFrame]) -> list[str]:
    """Every course of every patient the batch names (directly, or through a session id):
    a patient's new site or indication moves all their courses in the rollups."""
    patients: set[str] = set()
    sessions: set[str] = set()
    for frame in frames.values():
        if "patient_id" in frame:
            patients.update(frame["patient_id"].dropna().astype(str))
        elif "session_id" in frame:
            sessions.update(frame["session_id"].dropna().astype(str))
    wanted = sorted(sessions)
    for start in range(0, len(wanted), 5000):
        chunk = wanted[start : start + 5000]
        stmt = select(Session.patient_id).where(Session.session_id.in_(chunk)).distinct()
        patients.update(conn.execute(stmt).scalars())
    courses: set[str] = set()
    ids = sorted(patients)
    for start in range(0, len(ids), 5000):
        stmt = select(Course.course_id).where(Course.patient_id.in_(ids[start : start + 5000]))
        courses.update(conn.execute(stmt).scalars())
    return sorted(courses)


def write_batch(
    engine: Engine,
    validated: ValidatedBatch,
    *,
    source: str,
    kind: str,
    user: str | None = None,
    dry_run: bool = False,
    progress: Callable[[float], None] | None = None,
) -> ImportResult:
    """Write `validated` in one transaction (nothing at all when it has problems).

    First every table's rows are compared with the stored ones (frames, one read per
    table), then the new rows are inserted in bulk and the changed ones updated. From
    BULK_ROWS new rows on, foreign keys are checked once per table after the load
    (kapviz.db.bulk.begin_bulk_load) rather than row by row; a violation still
    rolls everything back; PostgreSQL then also rebuilds the plain indexes of tables that
    at least double (REBUILD_ROWS).
    """
    if validated.problems:
        raise ValueError(f"{len(validated.problems)} problems: nothing was written")
    upgrade(engine)
    result = ImportResult(dry_run=dry_run)
    frames = validated.frames
    present = [n for n in ORDER if n in frames]
    steps = len(present) * (1 if dry_run else 2)
    bulk = None
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        cache = None
        if sqlite:
            raw = conn.connection.driver_connection
            cache = raw.execute("PRAGMA cache_size").fetchone()[0]
            raw.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        try:
            with conn.begin():
                # The rollups' stamp had they been current before this import: then only the
                # courses it touches need refreshing (kapviz.db.rollups.refresh).
                was = rollups.stamp(clinic_version(conn))
                plans = []
                for step, name in enumerate(present, start=1):
                    counts = result.tables.setdefault(name, TableCounts())
                    plans.append(_plan(conn, name, frames[name], counts))
                    if progress:
                        progress(step / steps)
                if dry_run:
                    return result
                real = [p for p in plans if p is not None]
                if sum(int(p.is_new.sum()) for p in real) >= BULK_ROWS:
                    rebuild = [SPECS[p.name][0].__tablename__ for p in real
                               if p.is_new.sum() >= max(p.held, REBUILD_ROWS)]  # fmt: skip
                    bulk = begin_bulk_load(conn, _clinic_tables(frames), rebuild=rebuild)
                _ensure_lookups(conn, frames)
                for step, plan in enumerate(plans, start=len(present) + 1):
                    if plan is not None:
                        if plan.name == "sessions":
                            _ensure_courses(conn, frames)
                        _apply(conn, plan)
                    if progress:
                        progress(step / steps)
                if bulk is not None:
                    bulk.finish()
                touched = touched_courses(conn, frames)
                conn.execute(
                    insert(ImportRun),
                    [
                        {
                            "source": source[:400],
                            "kind": kind,
                            "added": result.added,
                            "updated": result.updated,
                            "user": user,
                            "is_demo": False,
                        }
                    ],
                )
        finally:
            try:
                if bulk is not None:
                    bulk.release()
                if cache is not None:
                    conn.connection.driver_connection.execute(f"PRAGMA cache_size={cache}")
            except Exception:
                conn.invalidate()  # never hand a connection without its settings back
                raise
    # The pages' derived counts follow the data (kapviz.db.rollups): those of the courses
    # this import touched; should that fail, the data are written and the pages read live
    # until the next rebuild.
    try:
        rollups.refresh(engine, touched, was=was)
    except Exception:  # derived data must not fail a committed import
        log.exception("rollups not rebuilt after the import; the pages read live")
    return result
