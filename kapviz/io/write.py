"""Write a validated batch in ONE transaction: upsert by natural keys, only what changed.

Natural keys: patients.patient_id, sessions.session_id, dosings.session_id,
assessments (patient_id, instrument, administered_at), vitals (session_id,
minutes_from_dose). Side effects have no id in the template: for every session present in
the file its records become exactly the file's, matched by their order (seq). Rows equal
to what the database holds are not touched (not even `updated_at`), so importing the same
files twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import (
    Boolean,
    Connection,
    Date,
    DateTime,
    Engine,
    and_,
    bindparam,
    delete,
    insert,
    select,
    update,
)

from kapviz.db.bulk import bulk_insert
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
from kapviz.io.validate import ValidatedBatch

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


def _sqlite_column(values: pd.Series, sql_type) -> list:
    """A column in SQLAlchemy's SQLite storage format (its DateTime/Date/Boolean spelling)."""
    if isinstance(sql_type, DateTime):
        stamps = pd.to_datetime(values)
        text = stamps.dt.strftime("%Y-%m-%d %H:%M:%S.%f").to_numpy(dtype=object, na_value=None)
        text[stamps.isna().to_numpy()] = None
        return text.tolist()
    if isinstance(sql_type, Date):
        return [None if v is None else v.isoformat() for v in _python_column(values)]
    if isinstance(sql_type, Boolean):
        return [None if v is None else int(bool(v)) for v in _python_column(values)]
    return _python_column(values)


def _insert(conn: Connection, table, columns: tuple[str, ...], frame: pd.DataFrame) -> None:
    """Bulk insert: plain DB-API executemany on SQLite (no per-row SQLAlchemy work), else COPY."""
    if frame.empty:
        return
    if conn.dialect.name != "sqlite":
        bulk_insert(conn, table, columns, _records(frame, columns))
        return
    rows = list(zip(*(_sqlite_column(frame[c], table.c[c].type) for c in columns), strict=True))
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" for _ in columns)
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.executemany(f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})', rows)
    finally:
        cursor.close()


def _comparable(values: pd.Series, like: pd.Series) -> pd.Series:
    """`values` (as read from the DB) in the dtype family of `like` (the batch column)."""
    if pd.api.types.is_datetime64_any_dtype(like.dtype):
        return pd.to_datetime(values).astype("datetime64[us]")
    if pd.api.types.is_numeric_dtype(like.dtype) or pd.api.types.is_bool_dtype(like.dtype):
        return pd.to_numeric(values.astype(object).replace({True: 1, False: 0}), errors="coerce")
    return values.astype(object).where(values.notna(), None)


def _differs(new: pd.Series, old: pd.Series) -> np.ndarray:
    """Element-wise: do the batch value and the stored value differ (missing = missing)?"""
    old = _comparable(old, new)
    if pd.api.types.is_datetime64_any_dtype(new.dtype):
        a, b = new.astype("datetime64[us]"), old
        return ((a != b) & ~(a.isna() & b.isna())).to_numpy()
    if pd.api.types.is_numeric_dtype(new.dtype) or pd.api.types.is_bool_dtype(new.dtype):
        a = pd.to_numeric(new.astype(object).replace({True: 1, False: 0}), errors="coerce")
        x = a.to_numpy(dtype="float64", na_value=np.nan)
        y = old.to_numpy(dtype="float64", na_value=np.nan)
        same = np.isclose(x, y, rtol=1e-9, atol=1e-9) | (np.isnan(x) & np.isnan(y))
        return ~same
    a = new.astype(object).where(new.notna(), None).to_numpy()
    b = old.to_numpy(dtype=object)
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


def _existing(conn: Connection, model, keys: tuple[str, ...], cols: tuple[str, ...],
              frame: pd.DataFrame) -> pd.DataFrame:  # fmt: skip
    """The stored rows for the batch's first-key values, columns keys + cols."""
    first = keys[0]
    wanted = sorted(set(_python_column(frame[first])) - {None})
    rows: list = []
    table = model.__table__
    for start in range(0, len(wanted), 5000):
        chunk = wanted[start : start + 5000]
        stmt = select(*[table.c[c] for c in keys + cols]).where(table.c[first].in_(chunk))
        rows += conn.execute(stmt).all()
    names = list(keys + cols)
    if not rows:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in names})
    return pd.DataFrame({c: list(v) for c, v in zip(names, zip(*rows, strict=True), strict=True)})


def _upsert(conn, name: str, frame: pd.DataFrame, counts: TableCounts, *, dry_run: bool) -> None:
    model, keys, cols = SPECS[name]
    if frame.empty:
        return
    frame = frame.reset_index(drop=True)
    stored = _existing(conn, model, keys, cols, frame)
    stored = pd.concat([_key_frame(stored, keys), stored[list(cols)]], axis=1)
    stored = stored.drop_duplicates(list(keys)).rename(columns={c: f"{c}__db" for c in cols})
    merged = _key_frame(frame, keys).merge(stored, on=list(keys), how="left", indicator=True)
    is_new = (merged["_merge"] == "left_only").to_numpy()
    changed = np.zeros(len(frame), dtype=bool)
    for c in cols:
        changed |= _differs(frame[c], merged[f"{c}__db"].set_axis(frame.index))
    changed &= ~is_new
    counts.added += int(is_new.sum())
    counts.updated += int(changed.sum())
    counts.unchanged += int((~is_new & ~changed).sum())
    if dry_run:
        return
    _insert(conn, model.__table__, keys + cols, frame[is_new])
    if changed.any():
        table = model.__table__
        stmt = (
            update(table)
            .where(and_(*[table.c[k] == bindparam(f"k_{k}") for k in keys]))
            .values({c: bindparam(f"v_{c}") for c in cols} | {"updated_at": datetime.now()})
        )
        params = [
            {f"k_{k}": v for k, v in zip(keys, row[: len(keys)], strict=True)}
            | {f"v_{c}": v for c, v in zip(cols, row[len(keys) :], strict=True)}
            for row in _records(frame[changed], keys + cols)
        ]
        conn.execute(stmt, params)


def _remove_extra_side_effects(conn, frame: pd.DataFrame, counts: TableCounts, *, dry_run: bool):
    """Records beyond the file's count for a session it lists are no longer in the source."""
    if frame.empty:
        return
    keep = frame.groupby("session_id")["seq"].max()
    sessions = list(keep.index)
    rows = []
    for start in range(0, len(sessions), 5000):
        chunk = sessions[start : start + 5000]
        rows += conn.execute(
            select(SideEffect.id, SideEffect.session_id, SideEffect.seq).where(
                SideEffect.session_id.in_(chunk)
            )
        ).all()
    extra = [r.id for r in rows if r.seq > keep[r.session_id]]
    counts.removed += len(extra)
    if extra and not dry_run:
        for start in range(0, len(extra), 5000):
            conn.execute(delete(SideEffect).where(SideEffect.id.in_(extra[start : start + 5000])))


def _ensure_lookups(conn, frames: dict[str, pd.DataFrame]) -> None:
    """Sites and clinicians named by the batch exist (inserted when missing)."""
    for model, column, values in (
        (Site, "name", frames.get("patients", pd.DataFrame()).get("site")),
        (Clinician, "code", frames.get("sessions", pd.DataFrame()).get("clinician")),
    ):
        if values is None:
            continue
        wanted = {v for v in values.dropna() if v}
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
    """Write `validated` in one transaction (nothing at all when it has problems)."""
    if validated.problems:
        raise ValueError(f"{len(validated.problems)} problems: nothing was written")
    upgrade(engine)
    result = ImportResult(dry_run=dry_run)
    frames = validated.frames
    with engine.begin() as conn:
        if not dry_run:
            _ensure_lookups(conn, frames)
        present = [n for n in ORDER if n in frames]
        for step, name in enumerate(present, start=1):
            counts = result.tables.setdefault(name, TableCounts())
            if name == "sessions" and not dry_run:
                _ensure_courses(conn, frames)
            _upsert(conn, name, frames[name], counts, dry_run=dry_run)
            if name == "side_effects":
                _remove_extra_side_effects(conn, frames[name], counts, dry_run=dry_run)
            if progress:
                progress(step / len(present))
        if not dry_run:
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
    return result
