"""FHIR R4 → the kapviz template: Bundles, folders, single resources and NDJSON bulk exports.

The converter only translates; the template's validation and transactional writer do the
rest, so a FHIR import obeys the same rules (docs/fhir.md documents every mapping). Rows of
the produced batch carry the *record number* (1-based position of the resource in read
order) so that each problem names the FHIR resource it came from.
"""

from __future__ import annotations

import logging
import math
import sys
from array import array
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import pandas as pd

from kapviz import clinic_time, instruments
from kapviz.io.fhir_elements import (
    BP_PANEL,
    COUNTED_STATUSES,
    DOSE_UNITS_MG,
    ENCOUNTER_STATUS,
    KETAMINE_RXNORM,
    QR_STATUSES,
    ROUTE_SNOMED,
    ROUTE_WORDS,
    VITALS_LOINC,
    WEIGHT_LOINC,
    WEIGHT_UNITS_KG,
    InvalidRecord,
    Origin,
    Resource,
    as_text,
    codings,
    iter_resources,
    phase_of,
    ref_id,
    text_words,
    value_of,
    when_of,
)
from kapviz.io.fhir_mapping import FhirMapping
from kapviz.io.rejections import Rejection, validate_skipping_invalid
from kapviz.io.tables import ImportBatch, Problem, column_names
from kapviz.io.validate import ExistingKeys, ValidatedBatch, parse_datetime, validate
from kapviz.vocabulary import normalize_term

log = logging.getLogger(__name__)

DEFAULT_SITE = "FHIR import"
EARLY_TYPES = ("Patient", "Encounter", "MedicationAdministration", "Procedure")
"""Converted first, from the first pass: the resources that the others refer to."""
LATE_TYPES = ("Observation", "QuestionnaireResponse", "AdverseEvent")
"""Converted in one further pass over the input each (big NDJSON files are mostly these)."""


@dataclass(frozen=True, slots=True)
class SkippedRecord:
    """A resource that was not imported, and why (resource type and id name it)."""

    resource_type: str
    id: str
    reason: str
    record: int | None = None
    origin: Origin | None = None
    """The file (and NDJSON line or Bundle entry) it was read from."""


class _RecordList:
    """Type, id and origin of every record, compactly (a big NDJSON file has millions):
    ids in a list, types and file names shared, lines and entries in integer arrays."""

    def __init__(self) -> None:
        self.types: list[str] = []
        self.ids: list[str] = []
        self.files: list[str] = []
        self._file_index: dict[str, int] = {}
        self.file_of = array("l")
        self.line_of = array("l")
        self.entry_of = array("l")

    def add(self, rtype: str, rid: str, origin: Origin) -> None:
        if origin.file not in self._file_index:
            self._file_index[origin.file] = len(self.files)
            self.files.append(origin.file)
        self.types.append(rtype)
        self.ids.append(rid)
        self.file_of.append(self._file_index[origin.file])
        self.line_of.append(-1 if origin.line is None else origin.line)
        self.entry_of.append(-1 if origin.entry is None else origin.entry)

    def __len__(self) -> int:
        return len(self.ids)

    def origin(self, i: int) -> Origin:
        line, entry = self.line_of[i], self.entry_of[i]
        return Origin(self.files[self.file_of[i]], None if line < 0 else line,
                      None if entry < 0 else entry)  # fmt: skip


@dataclass
class FhirReadResult:
    """The template batch, what was skipped by rule, what was invalid, and the record list."""

    batch: ImportBatch
    rejected: list[SkippedRecord] = field(default_factory=list)
    _records: _RecordList = field(default_factory=_RecordList, repr=False)
    _skipped_at: array = field(default_factory=lambda: array("l"), repr=False)
    _skipped_why: list[str] = field(default_factory=list, repr=False)

    def add_record(self, rtype: str, rid: str, origin: Origin) -> None:
        self._records.add(rtype, rid, origin)

    def add_skipped(self, record: int, reason: str) -> None:
        self._skipped_at.append(record)
        self._skipped_why.append(reason)

    @property
    def records(self) -> list[tuple[str, str]]:
        """(resource_type, id) of record number k at index k − 1."""
        return list(zip(self._records.types, self._records.ids, strict=True))

    @property
    def skipped(self) -> list[SkippedRecord]:
        """Every record skipped by rule, in the order it was skipped."""
        out = []
        for k, why in zip(self._skipped_at, self._skipped_why, strict=True):
            rtype, rid = self.describe(k)
            out.append(SkippedRecord(rtype or "(no resourceType)", rid, why, k, self.origin(k)))
        return out

    def describe(self, record: int) -> tuple[str, str]:
        """(resource_type, id) of a record number."""
        if 0 < record <= len(self._records):
            return self._records.types[record - 1], self._records.ids[record - 1]
        return ("", "")

    def origin(self, record: int | None) -> Origin | None:
        """The file (and line or entry) of a record number."""
        ok = record is not None and 0 < record <= len(self._records)
        return self._records.origin(record - 1) if ok else None

    def skipped_counts(self) -> Counter:
        """How many records were skipped per (resource type, reason)."""
        types = self._records.types
        return Counter(
            (types[k - 1] or "(no resourceType)", why)
            for k, why in zip(self._skipped_at, self._skipped_why, strict=True)
        )


class _Converter:
    """Turns resources into template rows, in the order the template needs them."""

    def __init__(self, *, default_site: str, mapping: FhirMapping | None = None):
        self.default_site = default_site
        self.mapping = mapping or FhirMapping()
        self.result = FhirReadResult(batch=ImportBatch())
        self.urls: dict[str, str] = {}
        self.patients: dict[str, tuple[int, dict]] = {}
        self.referenced: dict[str, int] = {}
        self.sessions: dict[str, tuple[int, dict]] = {}
        self.dropped_encounters: set[str] = set()
        self.dose_start: dict[str, datetime] = {}
        self.dose_end: dict[str, datetime] = {}
        self.assessments: dict[tuple, tuple[int, dict]] = {}
        self.vitals: dict[tuple, tuple[int, dict]] = {}
        self.effects: list[tuple[int, dict]] = []
        self.weights: list[tuple[int, str, datetime, float]] = []
        self.vital_records: dict[tuple, list[int]] = {}
        self.zone = clinic_time.clinic_zone()
        """Every record merged into a vitals row (a skip counts each of them)."""

    def seconds(self, start: datetime, end: datetime) -> float:
        """Elapsed seconds between two clinic wall times (across a clock change too)."""
        return clinic_time.seconds_between(start, end, self.zone)

    def skip(self, k: int, rtype: str, rid: str, reason: str) -> None:
        # Reasons repeat (one per code or status): one string each, for big files.
        self.result.add_skipped(k, sys.intern(reason))

    def reject(self, k: int, rtype: str, rid: str, reason: str) -> None:
        self.result.rejected.append(SkippedRecord(rtype, rid, reason, k, self.result.origin(k)))

    def run(self, read: Callable[[], Iterable[Resource]]) -> FhirReadResult:
        """Convert the resources `read()` yields (it is called again for each late pass).

        Bounded memory for big NDJSON files: the first pass keeps only each record's type,
        id and origin, plus the resources that the others refer to (Patient, Encounter,
        MedicationAdministration, Procedure); Observations, QuestionnaireResponses and
        AdverseEvents are converted in later passes over the input, one type per pass, in
        the order the template needs them (EARLY_TYPES, then LATE_TYPES).
        """
        early: list[tuple[int, str, str, dict]] = []
        unused: list[int] = []
        present: set[str] = set()
        for k, (res, url, origin) in enumerate(read(), start=1):
            rtype = sys.intern(str(res.get("resourceType", "")))
            tail = (url or "").rstrip("/").split("/")[-1].split(":")[-1]
            rid = str(res.get("id") or tail or f"record-{k}")
            self.result.add_record(rtype, rid, origin)
            if url:
                self.urls[url] = rid
            if rtype in EARLY_TYPES:
                early.append((k, rtype, rid, res))
            elif rtype in LATE_TYPES:
                present.add(rtype)
            else:
                unused.append(k)
        for rtype in EARLY_TYPES:
            for k, t, rid, res in early:
                if t == rtype:
                    self._convert(k, rtype, rid, res)
        early.clear()
        for rtype in (t for t in LATE_TYPES if t in present):
            for k, (res, _, _) in enumerate(read(), start=1):
                found, rid = self.result.describe(k)
                if found == rtype:
                    self._convert(k, rtype, rid, res)
        for k in unused:
            t, rid = self.result.describe(k)
            self.skip(k, t or "(no resourceType)", rid, "resource type not used by kapviz")
        self._apply_weights()
        return self._finish()

    def _convert(self, k: int, rtype: str, rid: str, res: dict) -> None:
        try:
            getattr(self, f"_{rtype}")(k, rid, res)
        except InvalidRecord as exc:
            self.reject(k, rtype, rid, str(exc))
        except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
            # Malformed JSON shapes (a string where an object belongs, …).
            self.reject(k, rtype, rid, f"malformed {rtype} ({type(exc).__name__}: {exc})")

    def _patient_of(self, k: int, res: dict) -> str | None:
        pid = ref_id(res.get("subject") or res.get("patient"), self.urls)
        sid = ref_id(res.get("encounter") or res.get("context"), self.urls)
        if pid is None and sid in self.sessions:
            pid = self.sessions[sid][1]["patient_id"] or None  # the encounter's patient
        if pid and pid not in self.patients:
            self.referenced.setdefault(pid, k)
        return pid

    def _session_of(self, res: dict) -> tuple[str | None, bool]:
        """(session id, usable): unusable when it names an encounter that was skipped."""
        ref = res.get("encounter") or res.get("context")
        sid = ref_id(ref, self.urls)
        return sid, sid not in self.dropped_encounters

    def _Patient(self, k: int, rid: str, res: dict) -> None:
        # Pseudonymous: only the resource id, sex, birth year and site are read — never
        # name, identifier, address, telecom or the full birth date.
        birth = str(res.get("birthDate") or "")[:4]
        site = (res.get("managingOrganization") or {}).get("display") or self.default_site
        sex = res.get("gender") or ""
        self.patients[rid] = (k, {"patient_id": rid, "site": site, "sex": sex,
                                  "birth_year": birth if birth.isdigit() else ""})  # fmt: skip

    def _Encounter(self, k: int, rid: str, res: dict) -> None:
        status = res.get("status", "")
        if status not in ENCOUNTER_STATUS:
            self.dropped_encounters.add(rid)
            return self.skip(k, "Encounter", rid, f"status {status or '(none)'} is not imported")
        concepts = [*(res.get("type") or []), res.get("serviceType") or {}]
        classes = res.get("class") or []
        classes = classes if isinstance(classes, list) else [classes]  # R4: one Coding
        mapped = self.mapping.phase([c for x in concepts for c in codings(x)] + classes)
        phase = mapped or phase_of(res)
        if phase is None:
            # A ketamine MedicationAdministration on it tells the phase (see _Medication…).
            phase = ""
        start = when_of(res, "period")
        self.sessions[rid] = (k, {
            "session_id": rid, "patient_id": self._patient_of(k, res) or "",
            "course_id": ref_id((res.get("episodeOfCare") or [None])[0], self.urls) or "",
            "started_at": start.isoformat() if start else "", "phase": phase,
            "status": ENCOUNTER_STATUS[status],
        })  # fmt: skip

    def _MedicationAdministration(self, k: int, rid: str, res: dict) -> None:
        concept = res.get("medicationCodeableConcept") or {}
        rule = self.mapping.dose(codings(concept))
        words = " ".join(text_words([concept])).lower()
        codes = {c.get("code") for c in codings(concept)}
        drug = rule.drug if rule else "esketamine" if "esketamine" in words else (
            "ketamine" if "ketamine" in words or KETAMINE_RXNORM in codes else None)  # fmt: skip
        if drug is None:
            return self.skip(k, "MedicationAdministration", rid, "not ketamine or esketamine")
        if res.get("status") not in ("completed", None):
            return self.skip(k, "MedicationAdministration", rid,
                             f"status {res.get('status')} is not imported")  # fmt: skip
        dosage = res.get("dosage") or {}
        route = None
        for c in codings(dosage.get("route")):
            route = route or ROUTE_SNOMED.get(c.get("code")) or ROUTE_WORDS.get(
                str(c.get("display", "")).lower())  # fmt: skip
        route = route or ROUTE_WORDS.get(str((dosage.get("route") or {}).get("text", "")).lower())
        dose = None
        if "dose" in dosage:
            dose = value_of({"valueQuantity": dosage["dose"]}, units=DOSE_UNITS_MG)
        start = when_of(res, "effectivePeriod", "effectiveDateTime")
        end = parse_datetime(str((res.get("effectivePeriod") or {}).get("end") or "")) or None
        self._dose(k, "MedicationAdministration", rid, res, drug=drug,
                   route=route or (rule.route if rule else None),
                   dose=dose if dose is not None else (rule.dose_mg if rule else None),
                   start=start, end=end)  # fmt: skip

    def _Procedure(self, k: int, rid: str, res: dict) -> None:
        """A Procedure whose code the mapping names as a dose (e.g. a local 'ketamine
        infusion' code): the dosing session of its encounter, dose and route from the rule."""
        rule = self.mapping.dose(codings(res.get("code")))
        if rule is None:
            return self.skip(k, "Procedure", rid, "code not mapped to a dose (FHIR mapping)")
        if res.get("status") not in ("completed", None):
            return self.skip(k, "Procedure", rid, f"status {res.get('status')} is not imported")
        start = when_of(res, "performedPeriod", "performedDateTime")
        end = parse_datetime(str((res.get("performedPeriod") or {}).get("end") or "")) or None
        self._dose(k, "Procedure", rid, res, drug=rule.drug, route=rule.route,
                   dose=rule.dose_mg, start=start, end=end)  # fmt: skip

    def _dose(self, k, rtype, rid, res, *, drug, route, dose, start, end) -> None:
        """Dosing details on the session of the resource's encounter."""
        sid, usable = self._session_of(res)
        if not sid or not usable or sid not in self.sessions:
            why = "its encounter was skipped" if sid and not usable else (
                "no encounter in this import to attach the dose to")  # fmt: skip
            return self.skip(k, rtype, rid, why)
        row = self.sessions[sid][1]
        # Several administrations in one session (e.g. one per esketamine device) add up:
        # the dose is their sum, the dose time the earliest start, the duration to the last end.
        first = self.dose_start.get(sid)
        if start and (first is None or start < first):
            self.dose_start[sid] = first = start
        if end:
            self.dose_end[sid] = max(end, self.dose_end.get(sid, end))
        last = self.dose_end.get(sid)
        duration = int(self.seconds(first, last) // 60) if first and last else None
        if dose is not None and row.get("dose_mg"):
            dose += float(row["dose_mg"])
        row.update({"route": row.get("route") or route or "", "drug": drug,
                    "dose_mg": as_text(dose) if dose is not None else row.get("dose_mg", ""),
                    "duration_min": "" if duration is None else str(duration)})  # fmt: skip
        if not row["phase"]:
            row["phase"] = "dosing"
        return None

    def _Observation(self, k: int, rid: str, res: dict) -> None:
        codes = [c.get("code") for c in codings(res.get("code")) if c.get("code")]
        code = next((c for c in codes if c in VITALS_LOINC or c in (BP_PANEL, WEIGHT_LOINC)),
                    None)  # fmt: skip
        inst_part = None
        for c in codes:
            try:
                inst_part = instruments.by_loinc(c)
                code = c
                break
            except instruments.UnknownInstrument:
                continue
        if code is None:
            return self.skip(k, "Observation", rid, f"code {', '.join(codes) or '(none)'} "
                             "is not used by kapviz")  # fmt: skip
        if res.get("status") not in COUNTED_STATUSES:
            return self.skip(k, "Observation", rid,
                             f"status {res.get('status') or '(none)'} does not count")  # fmt: skip
        pid = self._patient_of(k, res)
        when = when_of(res, "effectiveDateTime", "effectivePeriod", "effectiveInstant")
        if inst_part is not None:
            return self._score(k, rid, res, pid, when, *inst_part)
        if code == WEIGHT_LOINC:
            value = value_of(res, units=WEIGHT_UNITS_KG)
            if value is not None and pid and when:
                self.weights.append((k, pid, when, value))
            return None
        self._vital(k, rid, res, code, when)

    def _score(self, k, rid, res, pid, when, inst, part) -> None:
        key = (pid, inst.id, when)
        if part == "panel":
            parts = []
            for comp in res.get("component") or []:
                for c in codings(comp.get("code")):
                    try:
                        found, sub = instruments.by_loinc(c.get("code", ""))
                    except instruments.UnknownInstrument:
                        continue
                    if found.id == inst.id and sub != "panel":
                        parts.append((sub, value_of(comp)))
            if not parts:
                reason = ("a panel: its scores are read from its members" if res.get("hasMember")
                          else f"{inst.id} panel code {inst.loinc_panel} carries no item or "
                          f"total (the total is {inst.loinc_total})")  # fmt: skip
                return self.skip(k, "Observation", rid, reason)
        else:
            value = value_of(res)
            if value is None:
                raise InvalidRecord("no value")
            parts = [(part, value)]
        first, row = self.assessments.setdefault(key, (k, {
            "patient_id": pid or "", "administered_at": when.isoformat() if when else "",
            "instrument": inst.id, "session_id": ""}))  # fmt: skip
        sid, usable = self._session_of(res)
        if sid and usable:
            row["session_id"] = row["session_id"] or sid
        for name, value in parts:
            row[name] = as_text(value)

    def _vital(self, k, rid, res, code, when) -> None:
        sid, usable = self._session_of(res)
        if not sid or not usable or sid not in self.sessions:
            return self.skip(k, "Observation", rid, "a vital sign needs the encounter of a "
                             "session in this import")  # fmt: skip
        start = self.dose_start.get(sid) or parse_datetime(self.sessions[sid][1]["started_at"])
        if when is None or start is None:
            raise InvalidRecord("no effective time or no dose/encounter start to relate it to")
        minute = math.floor(self.seconds(start, when) / 60)
        values = {}
        if code == BP_PANEL:
            for comp in res.get("component") or []:
                for c in codings(comp.get("code")):
                    if c.get("code") in VITALS_LOINC:
                        values[VITALS_LOINC[c["code"]]] = value_of(comp)
        else:
            values[VITALS_LOINC[code]] = value_of(res)
        _, row = self.vitals.setdefault((sid, minute), (k, {
            "session_id": sid, "minutes_from_dose": str(minute)}))  # fmt: skip
        self.vital_records.setdefault((sid, minute), []).append(k)
        row.update({name: as_text(v) for name, v in values.items() if v is not None})

    def _QuestionnaireResponse(self, k: int, rid: str, res: dict) -> None:
        if res.get("status") not in QR_STATUSES:
            return self.skip(k, "QuestionnaireResponse", rid,
                             f"status {res.get('status') or '(none)'} does not count")  # fmt: skip
        inst = instruments.PHQ9
        found = {}
        stack = list(res.get("item") or [])
        while stack:
            item = stack.pop(0)
            stack += item.get("item") or []
            code = str(item.get("linkId", "")).strip("/").split("/")[-1]
            for c in codings({"coding": item.get("code") or []}):
                code = c.get("code") if c.get("code") in inst.loinc_items else code
            if code in inst.loinc_items or code == inst.loinc_total:
                answers = item.get("answer") or []
                if answers:
                    name = "total" if code == inst.loinc_total else (
                        f"item_{inst.loinc_items.index(code) + 1}")  # fmt: skip
                    found[name] = value_of(answers[0])
        if not found:
            return self.skip(k, "QuestionnaireResponse", rid, "not a PHQ-9 questionnaire")
        pid = self._patient_of(k, res)
        when = when_of(res, "authored")
        _, row = self.assessments.setdefault((pid, inst.id, when), (k, {
            "patient_id": pid or "", "administered_at": when.isoformat() if when else "",
            "instrument": inst.id, "session_id": ""}))  # fmt: skip
        sid, usable = self._session_of(res)
        if sid and usable:
            row["session_id"] = row["session_id"] or sid
        for name, value in found.items():
            row.setdefault(name, as_text(value))

    def _AdverseEvent(self, k: int, rid: str, res: dict) -> None:
        if res.get("actuality", "actual") != "actual":
            return self.skip(k, "AdverseEvent", rid, "a potential event, not an actual one")
        sid, usable = self._session_of(res)
        if not sid or not usable or sid not in self.sessions:
            return self.skip(k, "AdverseEvent", rid, "a side effect needs the encounter of a "
                             "session in this import")  # fmt: skip
        words = text_words([res.get("event") or {}])
        effect = next((w for w in words if normalize_term(w)), words[0] if words else "")
        severity = ""
        for w in text_words([res.get("severity") or {}]):
            severity = severity or (w.lower() if w.lower() in ("mild", "moderate", "severe")
                                    else "")  # fmt: skip
        for ext in res.get("extension") or []:
            if "severity" in str(ext.get("url", "")).lower() or "grade" in str(ext.get("url")):
                raw = ext.get("valueInteger", ext.get("valueCode", ext.get("valueString")))
                severity = severity or ("" if raw is None else str(raw))
        serious = [w.lower() for w in text_words([res.get("seriousness") or {}])]
        onset = ""
        when, start = when_of(res, "date"), self.dose_start.get(sid)
        if when and start:
            onset = str(math.floor(self.seconds(start, when) / 60))
        self.effects.append((k, {
            "session_id": sid, "effect": effect, "severity": severity,
            "serious": "true" if "serious" in serious else "false" if serious else "",
            "onset_min": onset}))  # fmt: skip

    def _apply_weights(self) -> None:
        dosing: dict[tuple[str, str], list[dict]] = {}
        for _, row in self.sessions.values():
            if row.get("phase") == "dosing":
                dosing.setdefault((row["patient_id"], row["started_at"][:10]), []).append(row)
        used = set()
        for k, pid, when, kg in self.weights:
            for row in dosing.get((pid, when.date().isoformat()), []):
                if not row.get("weight_kg"):
                    row["weight_kg"] = as_text(round(kg, 2))
                    used.add(k)
        for k, _, _, _ in self.weights:
            if k not in used:
                rtype, rid = self.result.describe(k)
                self.skip(k, rtype, rid, "body weight used only for a dosing session that day "
                          "without one")  # fmt: skip

    def _finish(self) -> FhirReadResult:
        removed = set()
        for k, row in list(self.sessions.values()):
            if not row["phase"]:
                rtype, rid = self.result.describe(k)
                self.skip(k, rtype, rid, "phase cannot be told (no phase code in type or "
                          "serviceType, no ketamine administration)")  # fmt: skip
                removed.add(row["session_id"])
                del self.sessions[row["session_id"]]
        for _, row in self.assessments.values():
            # A score on an encounter skipped by rule stays, untied from the session.
            if row["session_id"] in self.dropped_encounters | removed:
                row["session_id"] = ""
        for store in (self.vitals, dict(enumerate(self.effects))):
            for key, (k, row) in list(store.items()):
                if row["session_id"] in removed:
                    merged = self.vital_records.get(key, [k]) if store is self.vitals else [k]
                    for member in merged:  # count resources, not merged rows
                        rtype, rid = self.result.describe(member)
                        self.skip(member, rtype, rid, "its encounter was skipped")
                    store.pop(key)
                    if store is not self.vitals:
                        self.effects.remove((k, row))
        for pid, k in self.referenced.items():
            if pid not in self.patients:
                self.patients[pid] = (k, {"patient_id": pid, "site": self.default_site})
                self.result.batch.warnings.append(
                    f"patient {pid}: referenced but no Patient resource; added with site "
                    f"{self.default_site!r}"
                )
        batch = self.result.batch
        for file, rows in (
            ("patients", self.patients.values()),
            ("sessions", self.sessions.values()),
            ("assessments", self.assessments.values()),
            ("side_effects", self.effects),
            ("vitals", self.vitals.values()),
        ):
            rows = list(rows)
            if not rows and file != "patients":
                continue
            frame = pd.DataFrame([r for _, r in rows], columns=column_names(file), dtype=object)
            batch.add(file, frame.fillna(""), name=f"FHIR {file}", rows=[k for k, _ in rows])
        return self.result


def read_fhir(
    path: str | Path, *, default_site: str = DEFAULT_SITE, mapping: FhirMapping | None = None
) -> FhirReadResult:
    """Read FHIR R4 JSON/NDJSON (file or folder) as a template batch plus skip/reject lists;
    `mapping` (kapviz.io.fhir_mapping) tells the EHR's own phase and dose codes."""
    path = Path(path)
    result = _Converter(default_site=default_site, mapping=mapping).run(
        lambda: iter_resources(path)
    )
    log.info("FHIR: %d records, %d skipped, %d rejected", len(result._records),
             len(result._skipped_at), len(result.rejected))  # fmt: skip
    return result


def validate_fhir(
    result: FhirReadResult,
    *,
    existing: ExistingKeys | None = None,
    skip_invalid: bool = False,
    allow_implausible: bool = False,
) -> tuple[ValidatedBatch, list[Rejection]]:
    """Validate a FHIR batch: invalid records are problems, or rejections with skip_invalid."""
    pre = [
        Rejection(r.record, r.resource_type, r.id, r.reason, _file(r.origin))
        for r in result.rejected
    ]
    if skip_invalid:
        validated, rest = validate_skipping_invalid(
            result.batch,
            existing=existing,
            describe=lambda _file, row: result.describe(row),
            allow_implausible=allow_implausible,
        )
        rest = [replace(r, file=_file(result.origin(r.record))) for r in rest]
        return validated, pre + rest
    validated = validate(result.batch, existing=existing, allow_implausible=allow_implausible)
    named = [_located(p, result) for p in validated.problems]
    invalid = [
        _located(Problem("FHIR records", r.record, None, None,
                         f"a readable {r.resource_type}: {r.reason}"), result)
        for r in result.rejected
    ]  # fmt: skip
    validated.problems = sorted(invalid + named, key=lambda p: (p.file, p.row or 0))
    return validated, []


def _file(origin: Origin | None) -> str:
    """The file name and NDJSON line of a record, as the rejection report's `file`."""
    if origin is None:
        return ""
    return origin.file + (f":{origin.line}" if origin.line is not None else "")


def _located(problem: Problem, result: FhirReadResult) -> Problem:
    """A problem of a converted row, told by the FHIR file (and NDJSON line) and resource."""
    origin = result.origin(problem.row)
    if origin is None:
        return problem
    rtype, rid = result.describe(problem.row)
    entry = f", entry {origin.entry}" if origin.entry is not None else ""
    return replace(problem, file=origin.file, row=origin.line,
                   expected=f"{problem.expected} ({rtype}/{rid}{entry})")  # fmt: skip
