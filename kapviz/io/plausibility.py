"""Plausibility: values that parse but cannot be right (a session in 9999, 35,000 mg, 0.001 kg).

Checked after the type checks, on the typed frames, each finding a row-level `Problem`
(marked `implausible`) like any other, so an import with one writes nothing. Ranges:
- dates (session start, assessment time, enrolment): from 1900-01-01 to tomorrow;
- dose in mg per route (DOMAIN §1: IV 0.1–0.75 mg/kg, sublingual/oral 25–300 mg fixed,
  intranasal esketamine 28 mg per device, 56 or 84 mg a session), with generous margins for
  data-entry errors, not for clinical judgement; configurable (`Settings.plausible_*`);
- weight in kg.
A deliberate override (`import --allow-implausible`, the Data page's checkbox) turns these
findings into warnings, reported with the import, and writes the rows as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import pandas as pd

from kapviz.config import Settings, load_settings
from kapviz.io.tables import ImportBatch, Problem

EARLIEST = datetime(1900, 1, 1)
ROUTE_SETTINGS = {
    "iv": "plausible_dose_max_mg_iv",
    "im": "plausible_dose_max_mg_im",
    "sublingual": "plausible_dose_max_mg_oral",
    "oral": "plausible_dose_max_mg_oral",
    "intranasal": "plausible_dose_max_mg_intranasal",
}
"""Route → the setting holding its highest plausible dose (mg)."""
ACCEPTED = "implausible values accepted (--allow-implausible)"


@dataclass(frozen=True)
class Limits:
    """Plausible ranges, from the settings in force."""

    dose_min_mg: float
    dose_max_mg: dict[str, float]
    weight_min_kg: float
    weight_max_kg: float
    latest: datetime
    """Midnight at the end of tomorrow: later dates are in the future by more than a day."""

    @classmethod
    def from_settings(cls, settings: Settings, *, today: date | None = None) -> Limits:
        today = today or date.today()
        return cls(
            dose_min_mg=settings.plausible_dose_min_mg,
            dose_max_mg={r: getattr(settings, name) for r, name in ROUTE_SETTINGS.items()},
            weight_min_kg=settings.plausible_weight_min_kg,
            weight_max_kg=settings.plausible_weight_max_kg,
            latest=datetime.combine(today + timedelta(days=2), time()),
        )


def default_limits() -> Limits:
    return Limits.from_settings(load_settings())


class _Report:
    def __init__(self, batch: ImportBatch, problems: list[Problem]):
        self.batch, self.problems = batch, problems

    def add(self, file: str, i, column: str, value, expected: str) -> None:
        row = self.batch.source_rows[file][i] if file in self.batch.source_rows else None
        name = self.batch.source_names.get(file, f"{file}.csv")
        self.problems.append(Problem(name, row, column, str(value), expected, implausible=True))


def _dates(report: _Report, file: str, frame: pd.DataFrame, column: str, limits: Limits):
    if column not in frame or frame.empty:
        return
    stamps = pd.to_datetime(frame[column], errors="coerce")
    bad = stamps.notna() & ((stamps < EARLIEST) | (stamps >= limits.latest))
    raw = report.batch.tables[file].get(column)
    latest = (limits.latest - timedelta(days=1)).date()
    for i in frame.index[bad.to_numpy()]:
        value = raw[i] if raw is not None else frame.at[i, column]
        report.add(file, i, column, value, f"a date from 1900-01-01 to {latest} (tomorrow)")


def _number(value: float) -> str:
    return f"{value:g}"


def check(batch: ImportBatch, frames: dict[str, pd.DataFrame], limits: Limits) -> list[Problem]:
    """Every implausible value of the typed `frames` (rows as `batch` numbers them)."""
    problems: list[Problem] = []
    report = _Report(batch, problems)
    if "patients" in frames:
        _dates(report, "patients", frames["patients"], "enrolled_on", limits)
    if "sessions" in frames:
        _dates(report, "sessions", frames["sessions"], "started_at", limits)
    if "assessments" in frames:
        _dates(report, "assessments", frames["assessments"], "administered_at", limits)
    dosings = frames.get("dosings")
    if dosings is not None and not dosings.empty:
        raw = batch.tables["sessions"]
        for i, row in dosings.iterrows():
            top = limits.dose_max_mg.get(row["route"])
            dose, weight = row["dose_mg"], row["weight_kg"]
            if pd.notna(dose) and top is not None and not limits.dose_min_mg <= dose <= top:
                report.add("sessions", i, "dose_mg", raw.at[i, "dose_mg"],
                           f"a dose from {_number(limits.dose_min_mg)} to {_number(top)} mg "
                           f"for route {row['route']}")  # fmt: skip
            if pd.notna(weight) and not limits.weight_min_kg <= weight <= limits.weight_max_kg:
                report.add("sessions", i, "weight_kg", raw.at[i, "weight_kg"],
                           f"a weight from {_number(limits.weight_min_kg)} to "
                           f"{_number(limits.weight_max_kg)} kg")  # fmt: skip
    return problems


def accepted(problems: list[Problem]) -> list[str]:
    """The warnings that replace implausibility problems under the override."""
    return [f"{ACCEPTED}: {p}" for p in problems]
