"""Validate an ImportBatch: every problem named (file, row, column, value, expected).

Validation converts the strings of the template into typed, normalised frames ready to
write, and collects *all* problems rather than stopping at the first. Nothing here
touches the database except to read which ids already exist (`ExistingKeys`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, select

from kapviz import instruments
from kapviz.db.models import Patient, Session
from kapviz.domain import ACTIONS, DRUGS, PHASES, ROUTES, SEXES, STATUSES
from kapviz.io.tables import MAX_ITEMS, TEMPLATE_FILES, VITAL_RANGES, ImportBatch, Problem
from kapviz.metrics.courses import assign_courses
from kapviz.vocabulary import normalize_severity, normalize_term, suggest_term

INT_RE = re.compile(r"^[+-]?\d+(\.0+)?$")
TRUE = {"true", "yes", "y", "1", "t"}
FALSE = {"false", "no", "n", "0", "f"}


@dataclass
class ExistingKeys:
    """What the database already holds that the batch may refer to."""

    patients: set[str] = field(default_factory=set)
    sessions: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(
            columns=["session_id", "patient_id", "course_id", "started_at"]
        )
    )

    @classmethod
    def load(cls, conn: Connection) -> ExistingKeys:
        patients = set(conn.execute(select(Patient.patient_id)).scalars())
        rows = conn.execute(
            select(Session.session_id, Session.patient_id, Session.course_id, Session.started_at)
        ).all()
        frame = pd.DataFrame(rows, columns=["session_id", "patient_id", "course_id", "started_at"])
        frame["started_at"] = pd.to_datetime(frame["started_at"])
        return cls(patients=patients, sessions=frame)


@dataclass
class ValidatedBatch:
    """Typed frames ready to write, or the problems that stop the import."""

    frames: dict[str, pd.DataFrame]
    problems: list[Problem]
    warnings: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def parse_datetime(text: str) -> datetime | None:
    """ISO 8601 date or datetime; an offset is converted to the clinic's local time."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is not None:
        value = value.astimezone().replace(tzinfo=None)
    return value


def _isin(values: pd.Series, known: set[str]) -> pd.Series:
    """`values.isin(known)` through a hash table (arrow-string isin is slow on large sets)."""
    return values.astype(object).isin(known)


def _numbers(values: pd.Series) -> pd.Series:
    """Whole-number strings (already checked; "" = missing) as float64, parsed by Arrow."""
    present = values.where(values != "")
    try:
        parsed = pc.cast(pa.array(present, from_pandas=True), pa.float64())
        numbers = parsed.to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        numbers = pd.to_numeric(present, errors="coerce").to_numpy(dtype="float64")
    return pd.Series(numbers, index=values.index, dtype="float64")


class _Checker:
    """Parses one file's columns, recording a Problem for each bad cell."""

    def __init__(self, batch: ImportBatch, file: str, problems: list[Problem]):
        self.file = file
        self.name = batch.source_names.get(file, f"{file}.csv")
        self.frame = batch.tables[file]
        self.rows = batch.source_rows[file]
        self.problems = problems

    def row(self, i: int) -> int:
        return self.rows[i]

    def add(self, i: int | None, column: str | None, value, expected: str) -> None:
        row = self.row(i) if i is not None else None
        text = None if value is None else str(value)
        self.problems.append(Problem(self.name, row, column, text, expected))

    def raw(self, column: str) -> pd.Series:
        if column in self.frame:
            return self.frame[column].fillna("").astype(str).str.strip()
        return pd.Series([""] * len(self.frame), index=self.frame.index, dtype=object)

    def require_columns(self) -> bool:
        missing = [
            c.name
            for c in TEMPLATE_FILES[self.file]
            if c.required is True and c.name not in self.frame
        ]
        for name in missing:
            self.add(None, name, None, f"a column named '{name}' (required)")
        return not missing

    def required(self, column: str, values: pd.Series, mask=None) -> None:
        empty = values == ""
        if mask is not None:
            empty &= mask
        for i in values.index[empty]:
            self.add(i, column, "", "a value (required)")

    def enum(self, column: str, allowed: tuple[str, ...], *, default: str | None = None):
        values = self.raw(column).str.lower().str.replace("-", "_").str.replace(" ", "_")
        bad = (values != "") & ~values.isin(allowed)
        for i in values.index[bad]:
            self.add(i, column, self.raw(column)[i], "one of " + ", ".join(allowed))
        out = values.where(values != "", default)
        return out.where(~bad, None)

    def integers(self, column: str, *, low: int | None = None, high: int | None = None):
        values = self.raw(column)
        ok = values.str.match(INT_RE) | (values == "")
        for i in values.index[~ok]:
            self.add(i, column, values[i], "a whole number")
        numbers = _numbers(values.where(ok & (values != ""), ""))
        if low is not None or high is not None:
            lo = low if low is not None else -(10**12)
            hi = high if high is not None else 10**12
            out_of = numbers.notna() & ((numbers < lo) | (numbers > hi))
            for i in numbers.index[out_of]:
                self.add(i, column, values[i], f"a whole number from {lo} to {hi}")
            numbers = numbers.where(~out_of)
        return numbers.astype("Int64")

    def positive(self, column: str) -> pd.Series:
        values = self.raw(column)
        numbers = pd.to_numeric(values.where(values != ""), errors="coerce")
        bad = (values != "") & ~(numbers > 0)
        for i in values.index[bad]:
            self.add(i, column, values[i], "a number greater than 0")
        return numbers.where(~bad).astype("float64")

    def booleans(self, column: str) -> pd.Series:
        values = self.raw(column).str.lower()
        bad = (values != "") & ~values.isin(TRUE | FALSE)
        for i in values.index[bad]:
            self.add(i, column, self.raw(column)[i], "true or false")
        return values.map(lambda v: True if v in TRUE else False if v in FALSE else None)

    def datetimes(self, column: str, *, date_only: bool = False) -> pd.Series:
        values = self.raw(column)
        parsed = [parse_datetime(v) if v else None for v in values.to_numpy(dtype=object)]
        for i, (v, p) in enumerate(zip(values, parsed, strict=True)):
            if v and p is None:
                self.add(values.index[i], column, v, "an ISO 8601 date (2026-03-14) or "
                         "datetime (2026-03-14T09:30)")  # fmt: skip
        if date_only:
            return pd.Series([p.date() if p else None for p in parsed], index=values.index)
        return pd.Series(pd.to_datetime(pd.Series(parsed, dtype=object)), index=values.index)

    def duplicates(self, columns: list[str], frame: pd.DataFrame, what: str) -> pd.Series:
        dup = frame.duplicated(columns, keep="first") & frame[columns].notna().all(axis=1)
        for i in frame.index[dup]:
            key = ", ".join(str(frame.at[i, c]) for c in columns)
            self.add(i, columns[-1], key, f"a unique {what} (this one appears earlier)")
        return dup


def _patients(batch, problems, existing) -> pd.DataFrame:
    c = _Checker(batch, "patients", problems)
    if not c.require_columns():
        return pd.DataFrame()
    pid, site = c.raw("patient_id"), c.raw("site")
    c.required("patient_id", pid)
    c.required("site", site)
    out = pd.DataFrame(
        {
            "patient_id": pid,
            "site": site,
            "sex": c.enum("sex", SEXES),
            "birth_year": c.integers("birth_year", low=1900, high=date.today().year),
            "indication": c.raw("indication").replace("", None),
            "enrolled_on": c.datetimes("enrolled_on", date_only=True),
        }
    )
    c.duplicates(["patient_id"], out.replace("", None), "patient_id")
    return out


def _sessions(batch, problems, known_patients: set[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    c = _Checker(batch, "sessions", problems)
    if not c.require_columns():
        return pd.DataFrame(), pd.DataFrame()
    sid, pid = c.raw("session_id"), c.raw("patient_id")
    c.required("session_id", sid)
    c.required("patient_id", pid)
    for i in pid.index[(pid != "") & ~_isin(pid, known_patients)]:
        c.add(i, "patient_id", pid[i], "a patient_id that exists in patients")
    phase = c.enum("phase", PHASES)
    c.required("phase", c.raw("phase"))
    started = c.datetimes("started_at")
    c.required("started_at", c.raw("started_at"))
    course = c.raw("course_id")
    course = course.where(course != "", pid + "-C1")
    eligible = c.booleans("eligible")
    reason = c.raw("ineligible_reason").replace("", None)
    not_intake = phase.notna() & (phase != "intake")
    for i in eligible.index[not_intake & (eligible.notna() | reason.notna())]:
        column = "eligible" if eligible[i] is not None else "ineligible_reason"
        c.add(i, column, c.raw(column)[i], "a value only on intake sessions")
    sessions = pd.DataFrame(
        {
            "session_id": sid,
            "patient_id": pid,
            "course_id": course,
            "started_at": started,
            "phase": phase,
            "status": c.enum("status", STATUSES, default="completed"),
            "clinician": c.raw("clinician").replace("", None),
            "eligible": eligible,
            "ineligible_reason": reason,
        }
    )
    c.duplicates(["session_id"], sessions.replace("", None), "session_id")
    is_dosing = phase == "dosing"
    route = c.enum("route", ROUTES)
    dose = c.positive("dose_mg")
    weight = c.positive("weight_kg")
    c.required("route", c.raw("route"), mask=is_dosing)
    c.required("dose_mg", c.raw("dose_mg"), mask=is_dosing)
    dosing_cols = ["route", "drug", "dose_mg", "weight_kg", "duration_min", "monitoring_min"]
    has_details = pd.concat([c.raw(col) != "" for col in dosing_cols], axis=1).any(axis=1)
    for i in has_details.index[has_details & phase.notna() & ~is_dosing]:
        c.add(i, "phase", c.raw("phase")[i], "dosing, because route/dose details are given")
    dosings = pd.DataFrame(
        {
            "session_id": sid,
            "route": route,
            "drug": c.enum("drug", DRUGS, default="ketamine"),
            "dose_mg": dose,
            "weight_kg": weight,
            "dose_mg_per_kg": (dose / weight).round(4),
            "duration_min": c.integers("duration_min", low=0),
            "monitoring_min": c.integers("monitoring_min", low=0),
        }
    )[is_dosing]
    return sessions, dosings


def _assessments(batch, problems, known_patients, all_sessions) -> pd.DataFrame:
    c = _Checker(batch, "assessments", problems)
    if not c.require_columns():
        return pd.DataFrame()
    pid, sid = c.raw("patient_id"), c.raw("session_id")
    c.required("patient_id", pid)
    for i in pid.index[(pid != "") & ~_isin(pid, known_patients)]:
        c.add(i, "patient_id", pid[i], "a patient_id that exists in patients")
    if len(all_sessions):
        owner = all_sessions.drop_duplicates("session_id").set_index("session_id")["patient_id"]
        owners = sid.map(owner)
    else:
        owners = pd.Series([None] * len(sid), index=sid.index, dtype=object)
    tied = sid != ""
    for i in sid.index[tied & owners.isna()]:
        c.add(i, "session_id", sid[i], "a session_id that exists in sessions")
    for i in sid.index[tied & owners.notna() & (owners != pid)]:
        c.add(i, "session_id", sid[i], f"a session of patient {pid[i]} "
              f"(this one belongs to {owners[i]})")  # fmt: skip
    when = c.datetimes("administered_at")
    c.required("administered_at", c.raw("administered_at"))
    names = c.raw("instrument")
    lookup = {v: instruments.normalize(v) for v in names.unique() if v}
    ids = names.map(lambda v: lookup.get(v))
    known = ", ".join(instruments.REGISTRY)
    for i in names.index[(names != "") & ids.isna()]:
        c.add(i, "instrument", names[i], f"a known instrument ({known})")
    c.required("instrument", names)
    given_total = c.integers("total").to_numpy(dtype="float64", na_value=np.nan)
    n = len(names)
    matrix = np.full((n, MAX_ITEMS), np.nan)
    for k in range(1, MAX_ITEMS + 1):
        if f"item_{k}" in c.frame:
            matrix[:, k - 1] = c.integers(f"item_{k}").to_numpy(dtype="float64", na_value=np.nan)
    final_total = np.full(n, np.nan)
    final_items: list[str | None] = [None] * n
    item9 = np.full(n, np.nan)
    index = names.index
    for inst_id in sorted({v for v in ids if isinstance(v, str)}):
        inst = instruments.get(inst_id)
        pos = np.flatnonzero((ids == inst_id).to_numpy())
        items = matrix[pos, : inst.n_items]
        for r, col in zip(*np.nonzero(~np.isnan(matrix[pos, inst.n_items :])), strict=True):
            i = index[pos[r]]
            name = f"item_{inst.n_items + 1 + col}"
            c.add(i, name, c.raw(name)[i], f"no value ({inst.id} has {inst.n_items} items)")
        present = (~np.isnan(items)).sum(axis=1)
        full = present == inst.n_items
        for r in np.flatnonzero((present > 0) & ~full):
            c.add(index[pos[r]], f"item_{present[r] + 1}", "",
                  f"all {inst.n_items} {inst.id} items, or none")  # fmt: skip
        out_of = full[:, None] & ((items < inst.item_min) | (items > inst.item_max))
        for r, col in zip(*np.nonzero(out_of), strict=True):
            c.add(index[pos[r]], f"item_{col + 1}", int(items[r, col]),
                  f"{inst.id} item score {inst.item_min}–{inst.item_max}")  # fmt: skip
        total = given_total[pos].copy()
        scorable = np.flatnonzero(full & ~out_of.any(axis=1))
        plain_sum = inst.scorer is instruments._sum_items  # noqa: SLF001 - skip per-row calls
        sums = items[scorable].sum(axis=1).astype(int).tolist()
        for r, values, summed in zip(
            scorable, items[scorable].astype(int).tolist(), sums, strict=True
        ):
            try:
                computed = summed if plain_sum else inst.score(values)
            except ValueError:
                continue
            if not np.isnan(total[r]) and int(total[r]) != computed:
                c.add(index[pos[r]], "total", int(total[r]),
                      f"{computed}, the total of the {inst.id} items given")  # fmt: skip
            total[r] = computed
            final_items[pos[r]] = json.dumps(values)
            if inst.id == "PHQ-9":
                item9[pos[r]] = values[8]
        for r in np.flatnonzero(np.isnan(total) & (present == 0)):
            c.add(index[pos[r]], "total", "", f"a {inst.id} total (or all {inst.n_items} items)")
        bad = ~np.isnan(total) & ((total < inst.total_min) | (total > inst.total_max))
        for r in np.flatnonzero(bad):
            c.add(index[pos[r]], "total", int(total[r]),
                  f"a {inst.id} total from {inst.total_min} to {inst.total_max}")  # fmt: skip
        final_total[pos] = total
    out = pd.DataFrame(
        {
            "patient_id": pid,
            "session_id": sid.replace("", None),
            "instrument": ids,
            "administered_at": when,
            "total": pd.array(final_total, dtype="Float64").astype("Int64"),
            "items": final_items,
            "suicide_item": pd.array(item9, dtype="Float64").astype("Int64"),
        },
        index=index,
    )
    c.duplicates(["patient_id", "instrument", "administered_at"], out, "patient, instrument "
                 "and time")  # fmt: skip
    out["course_id"] = None
    placeable = out["administered_at"].notna() & out["patient_id"].ne("")
    if len(all_sessions) and placeable.any():
        out.loc[placeable, "course_id"] = assign_courses(out[placeable], all_sessions)
    return out


def _session_children(c: _Checker, all_sessions: pd.DataFrame) -> pd.Series:
    sid = c.raw("session_id")
    c.required("session_id", sid)
    known = set(all_sessions["session_id"]) if len(all_sessions) else set()
    for i in sid.index[(sid != "") & ~_isin(sid, known)]:
        c.add(i, "session_id", sid[i], "a session_id that exists in sessions")
    return sid


def _side_effects(batch, problems, all_sessions) -> pd.DataFrame:
    c = _Checker(batch, "side_effects", problems)
    if not c.require_columns():
        return pd.DataFrame()
    sid = _session_children(c, all_sessions)
    verbatim = c.raw("effect")
    c.required("effect", verbatim)
    terms = verbatim.map(lambda v: normalize_term(v) if v else None)
    for i in verbatim.index[(verbatim != "") & terms.isna()]:
        hint = suggest_term(verbatim[i])
        c.add(i, "effect", verbatim[i], "a preferred term or synonym (DOMAIN.md §4)"
              + (f" — did you mean '{hint}'?" if hint else ""))  # fmt: skip
    severities, grades = [], []
    raw_sev = c.raw("severity")
    c.required("severity", raw_sev)
    for i, v in raw_sev.items():
        if not v:
            severities.append(None), grades.append(None)
            continue
        try:
            sev, grade = normalize_severity(v)
        except ValueError:
            c.add(i, "severity", v, "mild, moderate, severe, or CTCAE grade 1–5")
            sev, grade = None, None
        severities.append(sev), grades.append(grade)
    serious = c.booleans("serious")
    out = pd.DataFrame(
        {
            "session_id": sid,
            "term": terms,
            "verbatim": verbatim,
            "severity": severities,
            "ctcae_grade": pd.array(grades, dtype="Int64"),
            "serious": serious.map(lambda v: bool(v) if v is not None else False),
            "onset_min": c.integers("onset_min"),
            "resolved": c.booleans("resolved"),
            "action": c.enum("action", ACTIONS),
        },
        index=sid.index,
    )
    out["seq"] = out.groupby("session_id").cumcount() + 1
    return out


def _vitals(batch, problems, all_sessions) -> pd.DataFrame:
    c = _Checker(batch, "vitals", problems)
    if not c.require_columns():
        return pd.DataFrame()
    sid = _session_children(c, all_sessions)
    minutes = c.integers("minutes_from_dose")
    c.required("minutes_from_dose", c.raw("minutes_from_dose"))
    values = {name: c.integers(name, low=lo, high=hi) for name, (lo, hi) in VITAL_RANGES.items()}
    both = values["systolic"].notna() & values["diastolic"].notna()
    for i in both.index[both & (values["systolic"] <= values["diastolic"]).fillna(False)]:
        c.add(i, "systolic", values["systolic"][i], f"a systolic above the diastolic "
              f"({values['diastolic'][i]})")  # fmt: skip
    out = pd.DataFrame({"session_id": sid, "minutes_from_dose": minutes, **values})
    c.duplicates(["session_id", "minutes_from_dose"], out, "session and minute")
    return out


def validate(batch: ImportBatch, *, existing: ExistingKeys | None = None) -> ValidatedBatch:
    """Check every table of `batch` and convert it to typed frames (see module docstring)."""
    existing = existing or ExistingKeys()
    problems: list[Problem] = []
    frames: dict[str, pd.DataFrame] = {}
    known_patients = set(existing.patients)
    if "patients" in batch.tables:
        frames["patients"] = _patients(batch, problems, existing)
        if len(frames["patients"]):
            known_patients |= set(frames["patients"]["patient_id"])
    all_sessions = existing.sessions
    if "sessions" in batch.tables:
        sessions, dosings = _sessions(batch, problems, known_patients)
        frames["sessions"], frames["dosings"] = sessions, dosings
        if len(sessions):
            fresh = sessions[["session_id", "patient_id", "course_id", "started_at"]]
            # Duplicate or blank ids are already reported; keep one row per id downstream.
            fresh = fresh[fresh["session_id"] != ""].drop_duplicates("session_id")
            keep = ~all_sessions["session_id"].isin(fresh["session_id"])
            all_sessions = pd.concat([all_sessions[keep], fresh], ignore_index=True)
            all_sessions = all_sessions[all_sessions["started_at"].notna()]
            # A duplicated id is reported above; keep one row so that lookups stay defined.
            all_sessions = all_sessions.drop_duplicates("session_id", keep="first")
    if "assessments" in batch.tables:
        frames["assessments"] = _assessments(batch, problems, known_patients, all_sessions)
    if "side_effects" in batch.tables:
        frames["side_effects"] = _side_effects(batch, problems, all_sessions)
    if "vitals" in batch.tables:
        frames["vitals"] = _vitals(batch, problems, all_sessions)
    order = {batch.source_names.get(f, f): i for i, f in enumerate(batch.tables)}
    problems.sort(key=lambda p: (order.get(p.file, 99), p.row or 0))
    return ValidatedBatch(frames=frames, problems=problems, warnings=list(batch.warnings))
