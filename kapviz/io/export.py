"""Export the database in the kapviz template; export → import → export is identical.

Text that a spreadsheet would run as a formula is neutralised (kapviz.privacy); the template
importer removes that apostrophe again, so the round trip still gives back the same text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from kapviz.db.models import Assessment, Dosing, Patient, Session, SideEffect, VitalSign
from kapviz.io.tables import TEMPLATE_FILES, column_names
from kapviz.privacy import neutralise_formulas, write_workbook


def _text(value) -> str:
    """The template's spelling of a value: ISO dates, true/false, integers without '.0'."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, float) and value != value:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M" if value.second == 0 else "%Y-%m-%dT%H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return format(value, ".10g")
    return str(value)


def template_frames(
    engine: Engine, *, patient_ids: Iterable[str] | None = None
) -> dict[str, pd.DataFrame]:
    """The database as template tables of strings (optionally limited to some patients)."""
    wanted = sorted(set(patient_ids)) if patient_ids is not None else None

    def rows(stmt, patient_column):
        if wanted is not None:
            stmt = stmt.where(patient_column.in_(wanted))
        with engine.connect() as conn:
            result = conn.execute(stmt)
            names = list(result.keys())
            rows = result.all()
        return pd.DataFrame(
            {n: list(v) for n, v in zip(names, zip(*rows, strict=True), strict=True)}
            if rows
            else {n: [] for n in names}
        )

    frames: dict[str, pd.DataFrame] = {}
    p = rows(
        select(Patient.patient_id, Patient.site, Patient.sex, Patient.birth_year,
               Patient.indication, Patient.enrolled_on).order_by(Patient.patient_id),
        Patient.patient_id,
    )  # fmt: skip
    frames["patients"] = p.set_axis(column_names("patients"), axis=1)
    s = rows(
        select(Session.session_id, Session.patient_id, Session.course_id, Session.started_at,
               Session.phase, Session.eligible, Session.ineligible_reason, Session.status,
               Session.clinician, Dosing.route, Dosing.drug, Dosing.dose_mg, Dosing.weight_kg,
               Dosing.duration_min, Dosing.monitoring_min)
        .outerjoin(Dosing, Dosing.session_id == Session.session_id)
        .order_by(Session.session_id),
        Session.patient_id,
    )  # fmt: skip
    frames["sessions"] = s.set_axis(column_names("sessions"), axis=1)
    a = rows(
        select(Assessment.patient_id, Assessment.session_id, Assessment.administered_at,
               Assessment.instrument, Assessment.total, Assessment.items)
        .order_by(Assessment.patient_id, Assessment.administered_at, Assessment.instrument),
        Assessment.patient_id,
    )  # fmt: skip
    assessments = a.set_axis(
        ["patient_id", "session_id", "administered_at", "instrument", "total", "items"], axis=1
    )
    lists = [json.loads(v) if isinstance(v, str) else [] for v in assessments["items"]]
    width = max(map(len, lists), default=0)
    padded = [v + [None] * (width - len(v)) for v in lists]
    matrix = pd.DataFrame(padded, index=assessments.index) if width else pd.DataFrame()
    for k in matrix.columns:
        assessments[f"item_{k + 1}"] = matrix[k]
    frames["assessments"] = assessments.drop(columns="items")
    e = rows(
        select(SideEffect.session_id, SideEffect.verbatim, SideEffect.term, SideEffect.severity,
               SideEffect.ctcae_grade, SideEffect.serious, SideEffect.onset_min,
               SideEffect.resolved, SideEffect.action)
        .join(Session, Session.session_id == SideEffect.session_id)
        .order_by(SideEffect.session_id, SideEffect.seq),
        Session.patient_id,
    )  # fmt: skip
    effects = e.set_axis(
        ["session_id", "verbatim", "term", "severity", "ctcae_grade", "serious", "onset_min",
         "resolved", "action"], axis=1,
    )  # fmt: skip
    effects["effect"] = effects["verbatim"].where(effects["verbatim"].notna(), effects["term"])
    # A CTCAE grade is exported as the grade, which re-imports to the same severity and grade.
    effects["severity"] = [
        str(int(g)) if pd.notna(g) else s
        for s, g in zip(effects["severity"], effects["ctcae_grade"], strict=True)
    ]
    frames["side_effects"] = effects[column_names("side_effects")]
    v = rows(
        select(VitalSign.session_id, VitalSign.minutes_from_dose, VitalSign.systolic,
               VitalSign.diastolic, VitalSign.heart_rate, VitalSign.spo2)
        .join(Session, Session.session_id == VitalSign.session_id)
        .order_by(VitalSign.session_id, VitalSign.minutes_from_dose),
        Session.patient_id,
    )  # fmt: skip
    frames["vitals"] = v.set_axis(column_names("vitals"), axis=1)
    return {name: _texts(name, frame) for name, frame in frames.items()}


KINDS = {c.name: c.kind for columns in TEMPLATE_FILES.values() for c in columns}


def _texts(file: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Every column in the template's spelling, converted column by column (vectorised)."""
    out = {}
    for name in frame.columns:
        values, kind = frame[name], KINDS.get(name, "text")
        present = values.notna().to_numpy()
        if kind in ("int", "nonnegative_int", "birth_year"):
            numbers = pd.to_numeric(values.astype(object), errors="coerce")
            text = numbers.astype("Int64").astype(str).to_numpy(dtype=object)
        elif kind == "datetime":
            stamps = pd.to_datetime(values)
            minutes = stamps.dt.strftime("%Y-%m-%dT%H:%M")
            seconds = stamps.dt.strftime("%Y-%m-%dT%H:%M:%S")
            text = np.where(stamps.dt.second.fillna(0).to_numpy() == 0, minutes, seconds)
        elif kind in ("bool", "date", "positive"):
            text = np.array([_text(v) for v in values.to_numpy(dtype=object)], dtype=object)
        else:
            text = values.to_numpy(dtype=object)
        # A copy: pandas 3 can hand back a read-only array (an entirely empty object column).
        text = np.array(text, dtype=object)
        text[~present] = ""
        out[name] = pd.Series(text, index=frame.index, dtype=object).astype(str)
    return pd.DataFrame(out, index=frame.index, columns=frame.columns)


def export_template(
    engine: Engine,
    out: str | Path,
    *,
    format: str = "csv",
    patient_ids: Iterable[str] | None = None,
) -> list[Path]:
    """Write the template: a folder of CSVs, or one .xlsx (OUT is the folder or file)."""
    frames = template_frames(engine, patient_ids=patient_ids)
    out = Path(out)
    if format == "csv":
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name in TEMPLATE_FILES:
            target = out / f"{name}.csv"
            neutralise_formulas(frames[name]).to_csv(target, index=False, lineterminator="\n")
            written.append(target)
        return written
    if format == "xlsx":
        target = out if out.suffix.lower() == ".xlsx" else out / "kapviz-export.xlsx"
        target.parent.mkdir(parents=True, exist_ok=True)
        write_workbook(target, {name: frames[name] for name in TEMPLATE_FILES})
        return [target]
    raise ValueError(f"unknown export format {format!r} (csv or xlsx)")
