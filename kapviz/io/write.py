"""Write a validated batch in ONE transaction: upsert by natural keys, only what changed.

Natural keys: patients.patient_id, sessions.session_id, dosings.session_id,
assessments (patient_id, instrument, administered_at), vitals (session_id,
minutes_from_dose). Side effects have no id in the template: for every session present in
the file its records become exactly the file's, matched by their order (seq). Rows equal
to what the database holds are not touched (not even `updated_at`), so importing the same
files twice changes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

import pandas as pd
from sqlalchemy import Connection, Engine, and_, bindparam, delete, insert, select, update

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


def _python(value):
    """A DB-API friendly Python value (no pandas NA, numpy scalars or Timestamps)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    return value


def _canonical(value) -> str:
    """A string that is equal for equal values, whatever their Python or numpy type."""
    value = _python(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return f"{float(value):.6g}"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _records(frame: pd.DataFrame, columns: tuple[str, ...]) -> list[tuple]:
    return [tuple(_python(v) for v in row) for row in frame[list(columns)].itertuples(index=False)]


def _existing(conn: Connection, model, keys: tuple[str, ...], cols: tuple[str, ...],
              frame: pd.DataFrame) -> dict[tuple, tuple]:  # fmt: skip
    """Existing rows for the batch's keys: canonical key → canonical values."""
    first = keys[0]
    wanted = sorted({_python(v) for v in frame[first]})
    found: dict[tuple, tuple] = {}
    table = model.__table__
    for start in range(0, len(wanted), 5000):
        chunk = wanted[start : start + 5000]
        stmt = select(*[table.c[c] for c in keys + cols]).where(table.c[first].in_(chunk))
        for row in conn.execute(stmt):
            key = tuple(_canonical(v) for v in row[: len(keys)])
            found[key] = tuple(_canonical(v) for v in row[len(keys) :])
    return found


def _upsert(conn, name: str, frame: pd.DataFrame, counts: TableCounts, *, dry_run: bool) -> None:
    model, keys, cols = SPECS[name]
    if frame.empty:
        return
    existing = _existing(conn, model, keys, cols, frame)
    new_rows, changed = [], []
    for row in _records(frame, keys + cols):
        key = tuple(_canonical(v) for v in row[: len(keys)])
        if key not in existing:
            new_rows.append(row)
        elif existing[key] != tuple(_canonical(v) for v in row[len(keys) :]):
            changed.append(row)
        else:
            counts.unchanged += 1
    counts.added += len(new_rows)
    counts.updated += len(changed)
    if dry_run:
        return
    bulk_insert(conn, model.__table__, keys + cols, new_rows)
    if changed:
        table = model.__table__
        stmt = (
            update(table)
            .where(and_(*[table.c[k] == bindparam(f"k_{k}") for k in keys]))
            .values({c: bindparam(f"v_{c}") for c in cols} | {"updated_at": datetime.now()})
        )
        params = [
            {f"k_{k}": v for k, v in zip(keys, row[: len(keys)], strict=True)}
            | {f"v_{c}": v for c, v in zip(cols, row[len(keys) :], strict=True)}
            for row in changed
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
