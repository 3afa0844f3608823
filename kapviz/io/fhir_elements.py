"""Reading FHIR R4 JSON: resources from files, references, codings, values and phases.

The small, pure pieces of the FHIR importer (kapviz.io.fhir); the codes are those of
docs/domain.md §5 and docs/fhir.md.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from kapviz.domain import PHASES
from kapviz.io.validate import parse_datetime

COUNTED_STATUSES = frozenset({"final", "amended", "corrected"})
"""Observation statuses that count (others are skipped and counted)."""
QR_STATUSES = frozenset({"completed", "amended"})
ENCOUNTER_STATUS = {"finished": "completed", "cancelled": "cancelled"}
PHASE_SYSTEM = "urn:kapviz:phase"
PHASE_WORDS = {p: p for p in PHASES} | {"follow-up": "follow_up", "followup": "follow_up",
                                         "prep": "preparation", "dose": "dosing"}  # fmt: skip
LOINC_ANSWERS = {"LA6568-5": 0, "LA6569-3": 1, "LA6570-1": 2, "LA6571-9": 3}
"""LOINC answer codes of the PHQ-9/GAD-7 frequency scale → item score."""
ORDINAL_URLS = ("ordinalValue", "itemWeight")
VITALS_LOINC = {"8480-6": "systolic", "8462-4": "diastolic", "8867-4": "heart_rate",
                "59408-5": "spo2"}  # fmt: skip
BP_PANEL = "85354-9"
WEIGHT_LOINC = "29463-7"
WEIGHT_UNITS_KG = {"kg": 1.0, "g": 0.001, "[lb_av]": 0.45359237, "lb": 0.45359237}
DOSE_UNITS_MG = {"mg": 1.0, "g": 1000.0, "ug": 0.001, "mcg": 0.001}
ROUTE_SNOMED = {"47625008": "iv", "78421000": "im", "37839007": "sublingual",
                "26643006": "oral", "46713006": "intranasal"}  # fmt: skip
ROUTE_WORDS = {"intravenous": "iv", "iv": "iv", "intramuscular": "im", "im": "im",
               "sublingual": "sublingual", "oral": "oral", "intranasal": "intranasal",
               "nasal": "intranasal"}  # fmt: skip
KETAMINE_RXNORM = "6130"
"""RxNorm ingredient ketamine; esketamine is recognised by name (code or display text)."""


class InvalidRecord(ValueError):
    """A record whose content cannot be read (non-numeric value, wrong unit)."""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a resource was read: its file, and its NDJSON line or its Bundle entry."""

    file: str
    line: int | None = None
    entry: int | None = None

    def __str__(self) -> str:
        if self.line is not None:
            return f"{self.file} line {self.line}"
        return f"{self.file} entry {self.entry}" if self.entry is not None else self.file


Resource = tuple[dict, str | None, Origin]
"""A resource, its fullUrl when bundled, and where it was read."""


def resources_of(data: dict, origin: Origin) -> list[Resource]:
    """A Bundle's entry resources (with fullUrl and entry number), or the resource itself."""
    if not isinstance(data, dict):
        raise ValueError(f"{origin}: not a FHIR resource or Bundle: {str(data)[:60]!r}")
    if data.get("resourceType") == "Bundle":
        entries = data.get("entry") or []
        entries = entries if isinstance(entries, list) else []
        return [
            (
                e["resource"],
                e.get("fullUrl") if isinstance(e.get("fullUrl"), str) else None,
                Origin(origin.file, origin.line, n),
            )
            for n, e in enumerate(entries, start=1)
            if isinstance(e, dict) and isinstance(e.get("resource"), dict)
        ]
    return [(data, None, origin)]


def _parse(text: str, origin: Origin):
    """JSON text, or a ValueError naming the file (and line) and what is wrong."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{origin}: not readable FHIR JSON ({exc})") from exc
    except RecursionError:
        raise ValueError(
            f"{origin}: not readable FHIR JSON (nested too deeply to be a FHIR resource)"
        ) from None


def fhir_files(path: Path) -> list[Path]:
    """The .json/.ndjson files of a folder in name order, or the file itself."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix.lower() in (".json", ".ndjson"))
    return [path]


def iter_resources(path: Path) -> Iterator[Resource]:
    """Every resource in a file or folder, in read order; NDJSON is read line by line."""
    for file in fhir_files(path):
        try:
            if file.suffix.lower() == ".ndjson":
                with file.open(encoding="utf-8-sig") as handle:
                    for number, line in enumerate(handle, start=1):
                        if line.strip():
                            yield from resources_of(_parse(line, Origin(file.name, number)),
                                                    Origin(file.name, number))  # fmt: skip
            else:
                origin = Origin(file.name)
                yield from resources_of(_parse(file.read_text(encoding="utf-8-sig"), origin),
                                        origin)  # fmt: skip
        except UnicodeDecodeError as exc:
            raise ValueError(f"{file.name}: not readable FHIR JSON ({exc})") from exc


def load_resources(path: Path) -> list[Resource]:
    """Every resource in a file or folder, in read order (see iter_resources)."""
    return list(iter_resources(path))


def ref_id(ref: dict | None, urls: dict[str, str]) -> str | None:
    """The id a Reference points at ("Patient/123", an absolute URL or a bundle urn:uuid)."""
    text = (ref or {}).get("reference")
    if not text:
        return None
    if text in urls:
        return urls[text]
    return text.rstrip("/").split("/")[-1]


def codings(concept: dict | None) -> list[dict]:
    """The codings of a CodeableConcept (none when absent)."""
    return list((concept or {}).get("coding") or [])


def text_words(concepts: list[dict]) -> list[str]:
    """Every code, display and text of some CodeableConcepts, trimmed, non-empty."""
    out = []
    for concept in concepts:
        for c in codings(concept):
            out += [c.get("code") or "", c.get("display") or ""]
        out.append(concept.get("text") or "")
    return [w.strip() for w in out if w and w.strip()]


def number(text: str) -> float:
    """A finite number, or InvalidRecord."""
    try:
        value = float(str(text).strip())
    except ValueError as exc:
        raise InvalidRecord(f"value {text!r} is not a number") from exc
    if not math.isfinite(value):
        raise InvalidRecord(f"value {text!r} is not a number")
    return value


def ordinal_of(element: dict) -> float | None:
    """The score of an ordinalValue/itemWeight extension on a coding, if any."""
    for ext in element.get("extension") or []:
        if str(ext.get("url", "")).endswith(ORDINAL_URLS):
            for key in ("valueDecimal", "valueInteger"):
                if key in ext:
                    return number(ext[key])
    return None


def value_of(element: dict, *, units: dict[str, float] | None = None) -> float | None:
    """A numeric value[x] (Integer, Decimal, Quantity, numeric String, or a scored answer)."""
    for key in ("valueInteger", "valueDecimal"):
        if key in element:
            return number(element[key])
    if "valueString" in element:
        return number(element["valueString"])
    if "valueQuantity" in element:
        q = element["valueQuantity"]
        if "value" not in q:
            raise InvalidRecord("valueQuantity has no value")
        unit = q.get("code") or q.get("unit")
        if units is not None:
            if unit not in units:
                raise InvalidRecord(f"unit {unit!r} is not one of {', '.join(units)}")
            return number(q["value"]) * units[unit]
        return number(q["value"])
    for key in ("valueCoding", "valueCodeableConcept"):
        if key in element:
            coding = element[key]
            ordinal = ordinal_of(coding)
            for c in [coding, *codings(coding)]:
                ordinal = ordinal if ordinal is not None else ordinal_of(c)
                if c.get("code") in LOINC_ANSWERS and ordinal is None:
                    ordinal = float(LOINC_ANSWERS[c["code"]])
            if ordinal is None:
                raise InvalidRecord(
                    f"answer {coding.get('code') or coding.get('text')!r} has no score"
                )
            return ordinal
    return None


def as_text(value: float | None) -> str:
    """A number as the template writes it: 12, 0.5, or empty."""
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def when_of(resource: dict, *keys: str) -> datetime | None:
    """The first of these date/period keys, as clinic-local time."""
    for key in keys:
        raw = resource.get(key)
        if isinstance(raw, dict):
            raw = raw.get("start")
        if raw:
            return parse_datetime(str(raw))
    return None


def phase_of(encounter: dict) -> str | None:
    """The session phase an Encounter names (docs/fhir.md), or None."""
    concepts = list(encounter.get("type") or []) + [encounter.get("serviceType") or {}]
    for concept in concepts:
        for c in codings(concept):
            if c.get("system") == PHASE_SYSTEM and c.get("code"):
                return PHASE_WORDS.get(c["code"].strip().lower().replace(" ", "_"))
    for word in text_words(concepts):
        key = word.lower().replace(" ", "_")
        if key in PHASE_WORDS:
            return PHASE_WORDS[key]
    return None
