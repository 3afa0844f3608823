"""`--skip-invalid`: import the valid records, and list every rejected one and why.

Validation names each problem by the batch's file and row; converters (FHIR, REDCap) put
their record numbers in those rows, so a problem maps back to the record it came from.
Rows with problems are dropped and the rest validated again until nothing is left to drop
(a dropped session takes the rows that refer to it with it, each reported).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kapviz.io.tables import ImportBatch
from kapviz.io.validate import ExistingKeys, ValidatedBatch, validate
from kapviz.privacy import neutralise_text

REPORT_COLUMNS = ("record", "file", "resource_type", "id", "reason")
MAX_ROUNDS = 10
"""Each round drops the rows with problems; dependants surface in the next round."""


@dataclass(frozen=True)
class Rejection:
    """One record left out of an import: its number, what it was, and why."""

    record: int | None
    resource_type: str
    id: str
    reason: str
    file: str = ""
    """The input file (FHIR: the file name, and ':line' for NDJSON) the record was read from."""


def _without(batch: ImportBatch, drop: dict[str, set[int]]) -> ImportBatch:
    out = ImportBatch(warnings=list(batch.warnings))
    for file, frame in batch.tables.items():
        rows = batch.source_rows[file]
        keep = [i for i, r in enumerate(rows) if r not in drop.get(file, set())]
        out.add(file, frame.iloc[keep], name=batch.source_names[file],
                rows=[rows[i] for i in keep])  # fmt: skip
    return out


RECORD_KEYS: dict[str, tuple[str, ...]] = {
    "patients": ("patient_id",),
    "sessions": ("session_id",),
    "assessments": ("patient_id", "instrument", "administered_at"),
    "side_effects": ("session_id", "effect"),
    "vitals": ("session_id", "minutes_from_dose"),
}
"""The columns that name a record of each template file (its natural key)."""


def record_id(batch: ImportBatch, file: str, row: int) -> str:
    """The record's own id (e.g. its session_id) for the report, not its row number."""
    rows = batch.source_rows.get(file, [])
    frame = batch.tables.get(file)
    if frame is None or row not in rows:
        return ""
    values = frame.iloc[rows.index(row)]
    return " ".join(str(values[c]) for c in RECORD_KEYS.get(file, ()) if c in values.index)


def validate_skipping_invalid(
    batch: ImportBatch,
    *,
    existing: ExistingKeys | None = None,
    describe: Callable[[str, int], tuple[str, str]] | None = None,
    allow_implausible: bool = False,
) -> tuple[ValidatedBatch, list[Rejection]]:
    """Validate, dropping every row with a problem; `describe(file, row)` names its record."""
    describe = describe or (lambda file, row: (file, record_id(batch, file, row)))
    rejections: list[Rejection] = []
    for _ in range(MAX_ROUNDS):
        validated = validate(batch, existing=existing, allow_implausible=allow_implausible)
        files = {name: file for file, name in batch.source_names.items()}
        drop: dict[str, set[int]] = {}
        for p in validated.problems:
            if p.row is None or p.file not in files:
                continue
            drop.setdefault(files[p.file], set()).add(p.row)
            rtype, rid = describe(files[p.file], p.row)
            what = f"{p.column} {p.value!r}: " if p.value not in (None, "") else (
                f"{p.column}: " if p.column else "")  # fmt: skip
            rejections.append(
                Rejection(p.row, rtype, rid, f"{what}expected {p.expected}", file=p.file)
            )
        if not drop:
            return validated, rejections
        batch = _without(batch, drop)
    return validate(batch, existing=existing, allow_implausible=allow_implausible), rejections


def write_rejections(path: str | Path, rejections: list[Rejection]) -> Path:
    """Write the rejection report CSV (record, file, resource_type, id, reason), formula-safe."""
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(REPORT_COLUMNS)
        for r in rejections:
            record = "" if r.record is None else r.record
            cells = [record, r.file, r.resource_type, r.id, r.reason]
            writer.writerow([neutralise_text(c) for c in cells])
    return path
