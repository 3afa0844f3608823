"""The kapviz clinic data template, version 1: the one spec behind import, export and docs."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

TEMPLATE_VERSION = 1
MAX_ITEMS = 23
"""Item columns item_1 … item_23 (CADSS has the most items)."""


@dataclass(frozen=True)
class Column:
    """One template column: name, whether it is required, its type and meaning."""

    name: str
    required: bool | str
    """True, False, or "dosing" (required on dosing sessions only)."""
    kind: str
    meaning: str


TEMPLATE_FILES: dict[str, tuple[Column, ...]] = {
    "patients": (
        Column("patient_id", True, "id", "pseudonymous id, unique (never a name or record number)"),
        Column("site", True, "text", "clinic or site name"),
        Column("sex", False, "sex", "female, male, other, unknown"),
        Column("birth_year", False, "birth_year", "1900 … this year"),
        Column("indication", False, "text", "e.g. MDD, TRD, PTSD, GAD, bipolar depression, other"),
        Column("enrolled_on", False, "date", "date"),
    ),
    "sessions": (
        Column("session_id", True, "id", "unique"),
        Column("patient_id", True, "id", "must exist in patients"),
        Column("course_id", False, "id", "treatment course; absent = <patient_id>-C1"),
        Column("started_at", True, "datetime", "date or datetime"),
        Column("phase", True, "phase", "intake, preparation, dosing, integration, follow_up"),
        Column("eligible", False, "bool", "intake only: true/false"),
        Column("ineligible_reason", False, "text", "intake only: why not eligible"),
        Column("status", False, "status", "completed (default), cancelled, no_show"),
        Column("clinician", False, "text", "name or code of the treating clinician"),
        Column("route", "dosing", "route", "iv, im, sublingual, oral, intranasal"),
        Column("drug", False, "drug", "ketamine (default) or esketamine"),
        Column("dose_mg", "dosing", "positive", "> 0"),
        Column("weight_kg", False, "positive", "> 0; with dose_mg gives mg/kg"),
        Column("duration_min", False, "nonnegative_int", "length of the session or infusion"),
        Column("monitoring_min", False, "nonnegative_int", "observation time after dosing"),
    ),
    "assessments": (
        Column("patient_id", True, "id", "must exist"),
        Column("session_id", False, "id", "must exist and belong to the same patient"),
        Column("administered_at", True, "datetime", "date or datetime"),
        Column("instrument", True, "instrument", "PHQ-9, GAD-7, PCL-5, MADRS, QIDS-SR16, …"),
        Column("total", False, "int", "total score (unless items are given)"),
        *(Column(f"item_{i}", False, "int", f"item {i} score") for i in range(1, MAX_ITEMS + 1)),
    ),
    "side_effects": (
        Column("session_id", True, "id", "must exist (normally a dosing session)"),
        Column("effect", True, "effect", "preferred term or known synonym"),
        Column("severity", True, "severity", "mild, moderate, severe, or CTCAE grade 1–5"),
        Column("serious", False, "bool", "true/false (default false)"),
        Column("onset_min", False, "int", "minutes after dose"),
        Column("resolved", False, "bool", "true/false"),
        Column("action", False, "action", "none, observation, medication_given, …"),
    ),
    "vitals": (
        Column("session_id", True, "id", "must exist"),
        Column("minutes_from_dose", True, "int", "negative or 0 = before/at dosing"),
        Column("systolic", False, "int", "mmHg, 50–300, above diastolic"),
        Column("diastolic", False, "int", "mmHg, 20–200"),
        Column("heart_rate", False, "int", "beats/min, 20–250"),
        Column("spo2", False, "int", "%, 50–100"),
    ),
}
"""File name (without .csv) → its columns, in the order export writes them."""

VITAL_RANGES = {"systolic": (50, 300), "diastolic": (20, 200), "heart_rate": (20, 250),
                "spo2": (50, 100)}  # fmt: skip


def column_names(file: str) -> list[str]:
    return [c.name for c in TEMPLATE_FILES[file]]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where it is and what was expected there."""

    file: str
    row: int | None
    column: str | None
    value: str | None
    expected: str
    implausible: bool = False
    """A value of the right type outside the plausible range (kapviz.io.plausibility)."""

    def __str__(self) -> str:
        where = self.file + (f":{self.row}" if self.row is not None else "")
        col = f" {self.column}" if self.column else ""
        val = f" {self.value!r}" if self.value not in (None, "") else ""
        return f"{where}{col}{val}: expected {self.expected}"


@dataclass
class ImportBatch:
    """Template tables as read (all strings), with where each row came from.

    `source_rows[file][i]` is the row number to report for row i (spreadsheet numbering,
    header = 1, for the template; converters put their own record numbers there) and
    `source_names[file]` the file name to report.
    """

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    source_rows: dict[str, list[int]] = field(default_factory=dict)
    source_names: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def add(self, file: str, frame: pd.DataFrame, *, name: str | None = None, rows=None) -> None:
        self.tables[file] = frame.reset_index(drop=True)
        self.source_rows[file] = list(rows) if rows is not None else list(range(2, len(frame) + 2))
        self.source_names[file] = name or f"{file}.csv"
