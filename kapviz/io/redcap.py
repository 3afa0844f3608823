"""REDCap flat CSV export + a TOML mapping → the kapviz template (docs/redcap.md).

The export has one row per record × event × repeating instrument × instance; checkbox
fields come as `field___code` columns. The mapping names which events are which phase and
which fields hold what; the template's validation and writer do the rest. Rows of the
produced batch carry the export's line numbers (header = 1), so problems point at the CSV.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

import pandas as pd

from kapviz.io.tables import ImportBatch, column_names

EVENT = "redcap_event_name"
REPEAT_INSTRUMENT, REPEAT_INSTANCE = "redcap_repeat_instrument", "redcap_repeat_instance"
DEFAULT_SITE = "REDCap import"
SHIPPED_MAPPING = Path(__file__).parent / "mappings" / "kap_redcap.toml"


class MappingError(ValueError):
    """The mapping file is unreadable or names fields the export does not have."""


@dataclass(frozen=True)
class Row:
    """One export row: its line number, record, event, repeat instrument/instance, values."""

    line: int
    record: str
    event: str
    instrument: str
    instance: str
    values: dict[str, str] = field(repr=False)

    def get(self, name: str | None) -> str:
        return self.values.get(name, "").strip() if name else ""


def _choice(value: str, choices: dict | None) -> str:
    """A REDCap choice code translated by the mapping (an unmapped code is left to validate)."""
    if not value or not choices:
        return value
    return str(choices.get(value, value))


def _year(value: str) -> str:
    return value[:4] if value[:4].isdigit() else value


def load_mapping(path: str | Path | None = None) -> dict:
    """Read a mapping TOML (default: the shipped KAP project mapping)."""
    path = Path(path) if path else SHIPPED_MAPPING
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise MappingError(f"{path.name}: not a readable TOML mapping ({exc})") from exc
    except RecursionError:
        raise MappingError(
            f"{path.name}: not a readable TOML mapping (nested too deeply)"
        ) from None


def _rows(data_csv: Path, id_field: str) -> list[Row]:
    try:
        frame = pd.read_csv(data_csv, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise MappingError(f"{data_csv.name}: not a readable REDCap CSV export ({exc})") from exc
    if id_field not in frame:
        raise MappingError(f"{data_csv.name}: no record id column {id_field!r} (see [record])")
    out = []
    for i, values in enumerate(frame.to_dict("records")):
        out.append(Row(i + 2, values[id_field].strip(), values.get(EVENT, "").strip(),
                       values.get(REPEAT_INSTRUMENT, "").strip(),
                       values.get(REPEAT_INSTANCE, "").strip(), values))  # fmt: skip
    return out


def _phase(event: str, events: dict[str, str]) -> str | None:
    if event in events:
        return events[event]
    return next((phase for pattern, phase in events.items() if fnmatchcase(event, pattern)), None)


class _Reader:
    def __init__(self, rows: list[Row], mapping: dict, name: str):
        self.rows, self.m, self.name = rows, mapping, name
        self.record = mapping.get("record", {})
        self.prefix = self.record.get("id_prefix", "")
        self.batch = ImportBatch()
        self.sessions: dict[tuple[str, str], tuple[int, dict]] = {}

    def pid(self, row: Row) -> str:
        return f"{self.prefix}{row.record}"

    def session_key(self, row: Row) -> tuple[str, str]:
        # A repeating *event* repeats the whole event: each instance is its own session.
        repeat = row.instance if row.instance and not row.instrument else ""
        return row.record, row.event + (f"#{repeat}" if repeat else "")

    def session_id(self, key: tuple[str, str]) -> str:
        event, _, repeat = key[1].partition("#")
        return f"{self.prefix}{key[0]}-{event}" + (f"-{repeat}" if repeat else "")

    def run(self) -> ImportBatch:
        self._patients()
        self._sessions()
        self._assessments()
        self._side_effects()
        self._vitals()
        return self.batch

    def add(self, file: str, rows: list[tuple[int, dict]]) -> None:
        if rows or file == "patients":
            frame = pd.DataFrame([r for _, r in rows], columns=column_names(file), dtype=object)
            self.batch.add(file, frame.fillna(""), name=f"{self.name} ({file})",
                           rows=[k for k, _ in rows])  # fmt: skip

    def first(self, record_rows: list[Row], name: str | None) -> str:
        return next((v for r in record_rows if (v := r.get(name))), "")

    def _patients(self) -> None:
        rec = self.record
        by_record: dict[str, list[Row]] = {}
        for row in self.rows:
            by_record.setdefault(row.record, []).append(row)
        out = []
        for rows in by_record.values():
            site = _choice(self.first(rows, rec.get("site_field")), rec.get("site_choices"))
            out.append((rows[0].line, {
                "patient_id": self.pid(rows[0]),
                "site": site or rec.get("site", DEFAULT_SITE),
                "sex": _choice(self.first(rows, rec.get("sex_field")), rec.get("sex_choices")),
                "birth_year": _year(self.first(rows, rec.get("birth_year_field"))),
                "indication": _choice(self.first(rows, rec.get("indication_field")),
                                      rec.get("indication_choices")) or rec.get("indication", ""),
                "enrolled_on": self.first(rows, rec.get("enrolled_on_field"))[:10],
            }))  # fmt: skip
        self.add("patients", out)

    def _sessions(self) -> None:
        events, s, d = self.m.get("events", {}), self.m.get("session", {}), self.m.get("dosing", {})
        skipped: dict[str, int] = {}
        for row in self.rows:
            if row.instrument:
                continue
            phase = _phase(row.event, events)
            if phase is None:
                skipped[row.event] = skipped.get(row.event, 0) + 1
                continue
            key = self.session_key(row)
            values = {
                "session_id": self.session_id(key), "patient_id": self.pid(row),
                "course_id": row.get(s.get("course_field")),
                "started_at": row.get(s.get("date_field")), "phase": phase,
                "status": _choice(row.get(s.get("status_field")), s.get("status_choices")),
                "clinician": row.get(s.get("clinician_field")),
            }  # fmt: skip
            if phase == "intake":
                values["eligible"] = _choice(row.get(s.get("eligible_field")),
                                             s.get("eligible_choices"))  # fmt: skip
                values["ineligible_reason"] = row.get(s.get("ineligible_reason_field"))
            if phase == "dosing":
                values |= {
                    "route": _choice(row.get(d.get("route_field")), d.get("route_choices")),
                    "drug": _choice(row.get(d.get("drug_field")), d.get("drug_choices")),
                    "dose_mg": row.get(d.get("dose_field")),
                    "weight_kg": row.get(d.get("weight_field")),
                    "duration_min": row.get(d.get("duration_field")),
                    "monitoring_min": row.get(d.get("monitoring_field")),
                }
            self.sessions[key] = (row.line, values)
        for event, n in sorted(skipped.items()):
            self.batch.warnings.append(f"{self.name}: {n} rows of event {event!r} skipped "
                                       "(the mapping gives it no phase)")  # fmt: skip
        self.add("sessions", list(self.sessions.values()))

    def _session_of(self, row: Row) -> str:
        hit = self.sessions.get(self.session_key(row)) or self.sessions.get((row.record, row.event))
        return hit[1]["session_id"] if hit else ""

    def _started(self, row: Row) -> str:
        hit = self.sessions.get(self.session_key(row)) or self.sessions.get((row.record, row.event))
        return hit[1]["started_at"] if hit else ""

    def _assessments(self) -> None:
        out = []
        for spec in self.m.get("assessments", []):
            items = list(spec.get("items", []))
            for row in self.rows:
                if spec.get("repeat_instrument", "") != row.instrument:
                    continue
                values = [row.get(f) for f in items]
                total = row.get(spec.get("total_field"))
                if not total and not any(values):
                    continue
                record = {
                    "patient_id": self.pid(row), "session_id": self._session_of(row),
                    "administered_at": row.get(spec.get("date_field")) or self._started(row),
                    "instrument": spec["instrument"], "total": total,
                }  # fmt: skip
                record |= {f"item_{k}": v for k, v in enumerate(values, start=1)}
                out.append((row.line, record))
        self.add("assessments", out)

    def _side_effects(self) -> None:
        spec = self.m.get("side_effects")
        out = []
        for row in self.rows if spec else []:
            if spec.get("repeat_instrument", "") != row.instrument:
                continue
            checkbox = spec["checkbox"]
            for code, term in spec.get("codes", {}).items():
                if row.get(f"{checkbox}___{code}") != "1":
                    continue
                sev = _choice(row.get(spec.get("severity_field")), spec.get("severity_choices"))
                sev = sev or spec.get("severity_default", "")
                out.append((row.line, {
                    "session_id": self._session_of(row), "effect": term, "severity": sev,
                    "serious": _choice(row.get(spec.get("serious_field")),
                                       spec.get("serious_choices")),
                    "onset_min": row.get(spec.get("onset_field")),
                    "resolved": _choice(row.get(spec.get("resolved_field")),
                                        spec.get("resolved_choices")),
                    "action": _choice(row.get(spec.get("action_field")),
                                      spec.get("action_choices")),
                }))  # fmt: skip
        self.add("side_effects", out)

    def _vitals(self) -> None:
        spec = self.m.get("vitals")
        out = []
        names = ("systolic", "diastolic", "heart_rate", "spo2")
        for row in self.rows if spec else []:
            if spec.get("repeat_instrument", "") != row.instrument:
                continue
            values = {n: row.get(spec.get(f"{n}_field")) for n in names}
            if not any(values.values()):
                continue
            out.append((row.line, {"session_id": self._session_of(row),
                                   "minutes_from_dose": row.get(spec.get("minutes_field")),
                                   **values}))  # fmt: skip
        self.add("vitals", out)


def read_redcap(data_csv: str | Path, mapping_toml: str | Path | None = None) -> ImportBatch:
    """Read a REDCap flat CSV export with its mapping (default: the shipped KAP mapping)."""
    data_csv = Path(data_csv)
    mapping = load_mapping(mapping_toml)
    id_field = mapping.get("record", {}).get("id_field", "record_id")
    return _Reader(_rows(data_csv, id_field), mapping, data_csv.name).run()
