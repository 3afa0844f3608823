"""Validate an ImportBatch: every problem named (file, row, column, value, expected).

Validation converts the strings of the template into typed, normalised frames ready to
write, and collects *all* problems rather than stopping at the first. Nothing here
touches the database except to read which ids already exist (`ExistingKeys`).
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, select

from kapviz import clinic_time, instruments
from kapviz.db.arrow import bound_sql
from kapviz.db.models import Patient, Session
from kapviz.domain import ACTIONS, DRUGS, PHASES, ROUTES, SEXES, STATUSES
from kapviz.io import plausibility
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
        """Patient ids and sessions as stored (plain DB-API fetches, converted per column)."""
        names = ["session_id", "patient_id", "course_id", "started_at"]
        patients_sql = bound_sql(select(Patient.patient_id), conn.dialect)
        sessions_sql = bound_sql(select(*(Session.__table__.c[n] for n in names)), conn.dialect)
        cursor = conn.connection.driver_connection.cursor()
        try:
            cursor.execute(*patients_sql)
            patients = {row[0] for row in cursor.fetchall()}
            cursor.execute(*sessions_sql)
            rows = cursor.fetchall()
        finally:
            cursor.close()
        matrix = np.empty((len(rows), len(names)), dtype=object)
        matrix[:] = rows or np.empty((0, len(names)), dtype=object)
        frame = pd.DataFrame(
            {n: pd.Series(matrix[:, k], dtype=object) for k, n in enumerate(names)}
        )
        # SQLite hands back its stored text, PostgreSQL datetimes; both parse the same way.
        frame["started_at"] = pd.to_datetime(frame["started_at"], format="ISO8601").astype(
            "datetime64[us]"
        )
        return cls(patients=patients, sessions=frame)


@dataclass
class ValidatedBatch:
    """Typed frames ready to write, or the problems that stop the import."""

    frames: dict[str, pd.DataFrame]
    problems: list[Problem]
    warnings: list[str]
    accepted_implausible: list[Problem] = field(default_factory=list)
    """Implausible values written anyway (`allow_implausible`), reported with the import."""

    @property
    def ok(self) -> bool:
        return not self.problems


def parse_datetime(text: str, zone: tzinfo | None = None) -> datetime | None:
    """ISO 8601 date or datetime; an offset is converted to the clinic's wall time."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return clinic_time.to_clinic(value, zone) if value.tzinfo is not None else value


ISO_FORMATS = (
    (r"\d{4}-\d{2}-\d{2}T(?:[01]\d|2[0-3]):[0-5]\d", "%Y-%m-%dT%H:%M"),
    (r"\d{4}-\d{2}-\d{2}T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d", "%Y-%m-%dT%H:%M:%S"),
    (r"\d{4}-\d{2}-\d{2}", "%Y-%m-%d"),
)
"""The spellings export writes, parsed whole-column with an explicit format; anything else
(offsets, fractions, a space for the T, impossible dates) goes through parse_datetime."""


def parse_datetimes(values: pd.Series) -> pd.Series:
    """`parse_datetime` of every value (trimmed strings, "" = missing) as datetime64[us]."""
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us]")
    todo = (values != "").to_numpy(dtype=bool, copy=True)
    for pattern, fmt in ISO_FORMATS:
        if not todo.any():
            break
        match = todo & values.str.fullmatch(pattern).to_numpy(dtype=bool, na_value=False)
        if match.any():
            stamps = pd.to_datetime(values[match], format=fmt, errors="coerce")
            out[match] = stamps.astype("datetime64[us]")
            todo &= ~(match & out.notna().to_numpy())
    zone = clinic_time.clinic_zone() if todo.any() else None
    for i in np.flatnonzero(todo):
        out.iat[i] = parse_datetime(values.iat[i], zone)
    return out


LOCAL_TIME_RE = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
"""A date and time without an offset: read in the clinic's zone (DOMAIN §4d)."""


def daylight_saving_checks(
    values: pd.Series, parsed: pd.Series, zone: tzinfo | None = None
) -> tuple[pd.Index, pd.Index]:
    """Of the local times (no offset) in `values`: those a clock change skips (the index of
    each) and those it repeats, read as the earlier instant. Vectorised: pandas localises
    the whole column; only its few failures are looked at one by one."""
    zone = zone or clinic_time.clinic_zone()
    if not hasattr(zone, "key") or not parsed.notna().any():
        return pd.Index([]), pd.Index([])
    try:
        placed = parsed.dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
        failed = parsed.index[(placed.isna() & parsed.notna()).to_numpy()]
    except (TypeError, ValueError):
        failed = parsed.index[parsed.notna().to_numpy()]
    local = [i for i in failed if re.fullmatch(LOCAL_TIME_RE, values[i])]
    kinds = {i: clinic_time.check_local(parsed[i].to_pydatetime(), zone) for i in local}
    gaps = pd.Index([i for i, k in kinds.items() if k is clinic_time.LocalTime.NONEXISTENT])
    folds = pd.Index([i for i, k in kinds.items() if k is clinic_time.LocalTime.AMBIGUOUS])
    return gaps, folds


def _isin(values: pd.Series, known: set | frozenset) -> pd.Series:
    """`values.isin(known)`, looked up once per distinct value in a Python set.

    (pandas' isin against hundreds of thousands of strings is slow; ids repeat, so the
    distinct values are fewer than the rows.)
    """
    codes, distinct = pd.factorize(values)
    distinct = np.asarray(distinct, dtype=object)  # iterating Arrow strings is slower
    found = np.fromiter((v in known for v in distinct), dtype=bool, count=len(distinct))
    return pd.Series(np.append(found, False)[codes], index=values.index)


def _lookup(keys: pd.Series, table: pd.Series) -> pd.Series:
    """`keys.map(table)` for a uniquely indexed `table`, by hash; None where a key is absent."""
    where = pd.Index(table.index.astype(object)).get_indexer(keys.astype(object))
    found = np.append(table.to_numpy(dtype=object), None)[where]
    return pd.Series(found, index=keys.index, dtype=object)


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
        self.warnings: list[str] = _WARNINGS.get([])
        self._raw: dict[str, pd.Series] = {}

    def row(self, i: int) -> int:
        return self.rows[i]

    def add(self, i: int | None, column: str | None, value, expected: str) -> None:
        row = self.row(i) if i is not None else None
        text = None if value is None else str(value)
        self.problems.append(Problem(self.name, row, column, text, expected))

    def raw(self, column: str) -> pd.Series:
        """The column's trimmed text ("" where empty or absent), computed once per column."""
        if column not in self._raw:
            if column in self.frame:
                values = self.frame[column].fillna("").astype(str).str.strip()
            else:
                values = pd.Series([""] * len(self.frame), index=self.frame.index, dtype=object)
            self._raw[column] = values
        return self._raw[column]

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
        filled = (values != "").to_numpy()
        numbers = pd.Series(np.nan, index=values.index, dtype="float64")
        if filled.any():
            given = values[filled]
            ok = given.str.match(INT_RE).to_numpy(dtype=bool, na_value=False)
            for i in given.index[~ok]:
                self.add(i, column, values[i], "a whole number")
            numbers[filled] = _numbers(given.where(ok, "")).to_numpy()
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
        out = np.full(len(values), None, dtype=object)
        out[values.isin(TRUE).to_numpy()] = True
        out[values.isin(FALSE).to_numpy()] = False
        return pd.Series(out, index=values.index, dtype=object).infer_objects()

    def datetimes(self, column: str, *, date_only: bool = False) -> pd.Series:
        values = self.raw(column)
        parsed = parse_datetimes(values)
        for i in values.index[(values != "") & parsed.isna()]:
            self.add(i, column, values[i], "an ISO 8601 date (2026-03-14) or "
                     "datetime (2026-03-14T09:30)")  # fmt: skip
        if not date_only:
            zone = clinic_time.clinic_zone()
            gaps, folds = daylight_saving_checks(values, parsed, zone)
            for i in gaps:
                self.add(i, column, values[i], f"a local time that exists in "
                         f"{clinic_time.zone_label(zone)} (the clocks skip it: daylight "
                         "saving time begins)")  # fmt: skip
            for i in folds:
                self.warnings.append(
                    f"{self.name}:{self.row(i)} {column} {values[i]!r}: this local time "
                    f"occurs twice in {clinic_time.zone_label(zone)} (the clocks go back); "
                    "read as the earlier one"
                )
            parsed = parsed.where(~parsed.index.isin(gaps))
        if date_only:
            days = parsed.dt.date.astype(object)
            return days.where(parsed.notna(), None)
        return parsed

    def duplicates(self, columns: list[str], frame: pd.DataFrame, what: str) -> pd.Series:
        dup = frame.duplicated(columns, keep="first") & frame[columns].notna().all(axis=1)
        for i in frame.index[dup]:
            key = ", ".join(str(frame.at[i, c]) for c in columns)
            self.add(i, columns[-1], key, f"a unique {what} (this one appears earlier)")
        return dup


_WARNINGS: ContextVar[list[str]] = ContextVar("validation_warnings")
"""The warnings of the validation in progress (set by `validate`)."""


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
            "birth_year": c.integers("birth_year", low=1900, high=clinic_time.today().year),
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
        owners = _lookup(sid, owner)
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
    codes, spellings = pd.factorize(names)
    normalised = np.array([instruments.normalize(v) if v else None for v in spellings] + [None],
                          dtype=object)  # fmt: skip
    ids = pd.Series(normalised[codes], index=names.index, dtype=object).infer_objects()
    known = ", ".join(instruments.REGISTRY)
    for i in names.index[(names != "") & ids.isna()]:
        c.add(i, "instrument", names[i], f"a known instrument ({known})")
    c.required("instrument", names)
    given_total = c.integers("total").to_numpy(dtype="float64", na_value=np.nan)
    n = len(names)
    used = sorted({v for v in normalised[np.unique(codes)] if isinstance(v, str)})
    given_items = [k for k in range(1, MAX_ITEMS + 1) if f"item_{k}" in c.frame]
    # Only as many item columns as the file or its instruments have (absent ones stay NaN).
    width = max(given_items + [instruments.get(i).n_items for i in used], default=0)
    matrix = np.full((n, width), np.nan)
    for k in given_items:
        matrix[:, k - 1] = c.integers(f"item_{k}").to_numpy(dtype="float64", na_value=np.nan)
    final_total = np.full(n, np.nan)
    final_items = np.full(n, None, dtype=object)
    item9 = np.full(n, np.nan)
    index = names.index
    for inst_id in used:
        inst = instruments.get(inst_id)
        pos = np.flatnonzero(ids.to_numpy() == inst_id)
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
        if inst.scorer is instruments._sum_items:  # whole columns, no calls
            scored, computed = scorable, items[scorable].sum(axis=1)
        else:
            scored, computed = _scored_rows(inst, items, scorable)
        given = total[scored]
        for k in np.flatnonzero(~np.isnan(given) & (given != computed)):
            c.add(index[pos[scored[k]]], "total", int(given[k]),
                  f"{int(computed[k])}, the total of the {inst.id} items given")  # fmt: skip
        total[scored] = computed
        final_items[pos[scored]] = _json_lists(items[scored])
        if inst.id == instruments.PHQ9.id:
            item9[pos[scored]] = items[scored, 8]
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


def _scored_rows(inst, items: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows (of `rows`) the instrument's own scorer accepts, and their totals."""
    scored, totals = [], []
    for r, values in zip(rows, items[rows].astype(int).tolist(), strict=True):
        try:
            totals.append(inst.score(values))
        except ValueError:
            continue
        scored.append(r)
    return np.array(scored, dtype=int), np.array(totals, dtype="float64")


def _json_lists(items: np.ndarray) -> list[str]:
    """Each row of a whole-number matrix as json.dumps would write it: "[2, 1, 0]"."""
    if not len(items):
        return []
    columns = [pa.array(col).cast(pa.string()) for col in items.astype("int64").T]
    joined = pc.binary_join_element_wise(*columns, ", ")
    return pc.binary_join_element_wise("[", joined, "]", "").to_pylist()


def _per_distinct(values: pd.Series, fn) -> pd.Series:
    """`values.map(fn)` calling `fn` once per distinct value (object Series, same index)."""
    codes, distinct = pd.factorize(values)
    mapped = np.full(len(distinct) + 1, None, dtype=object)
    for k, value in enumerate(distinct):
        mapped[k] = fn(value)
    return pd.Series(mapped[codes], index=values.index, dtype=object).infer_objects()


def _severities(values: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """normalize_severity per distinct value: severities, grades (NaN = none), unknown mask."""
    codes, distinct = pd.factorize(values)
    severity = np.full(len(distinct) + 1, None, dtype=object)
    grade = np.full(len(distinct) + 1, np.nan)
    unknown = np.zeros(len(distinct) + 1, dtype=bool)
    for k, value in enumerate(distinct):
        if not value:
            continue
        try:
            severity[k], g = normalize_severity(value)
        except ValueError:
            unknown[k] = True
            continue
        grade[k] = np.nan if g is None else g
    return severity[codes], grade[codes], unknown[codes]


def _session_children(c: _Checker, known: set[str]) -> pd.Series:
    sid = c.raw("session_id")
    c.required("session_id", sid)
    for i in sid.index[(sid != "") & ~_isin(sid, known)]:
        c.add(i, "session_id", sid[i], "a session_id that exists in sessions")
    return sid


def _side_effects(batch, problems, known_sessions: set[str]) -> pd.DataFrame:
    c = _Checker(batch, "side_effects", problems)
    if not c.require_columns():
        return pd.DataFrame()
    sid = _session_children(c, known_sessions)
    verbatim = c.raw("effect")
    c.required("effect", verbatim)
    terms = _per_distinct(verbatim, lambda v: normalize_term(v) if v else None)
    for i in verbatim.index[(verbatim != "") & terms.isna()]:
        hint = suggest_term(verbatim[i])
        c.add(i, "effect", verbatim[i], "a preferred term or synonym (docs/domain.md §4)"
              + (f" — did you mean '{hint}'?" if hint else ""))  # fmt: skip
    raw_sev = c.raw("severity")
    c.required("severity", raw_sev)
    severities, grades, unknown = _severities(raw_sev)
    for i in raw_sev.index[unknown]:
        c.add(i, "severity", raw_sev[i], "mild, moderate, severe, or CTCAE grade 1–5")
    serious = c.booleans("serious")
    out = pd.DataFrame(
        {
            "session_id": sid,
            "term": terms,
            "verbatim": verbatim,
            "severity": severities,
            "ctcae_grade": pd.array(grades, dtype="Float64").astype("Int64"),
            "serious": (serious.to_numpy() == True),  # noqa: E712 - None counts as False
            "onset_min": c.integers("onset_min"),
            "resolved": c.booleans("resolved"),
            "action": c.enum("action", ACTIONS),
        },
        index=sid.index,
    )
    out["seq"] = out.groupby("session_id").cumcount() + 1
    return out


def _vitals(batch, problems, known_sessions: set[str]) -> pd.DataFrame:
    c = _Checker(batch, "vitals", problems)
    if not c.require_columns():
        return pd.DataFrame()
    sid = _session_children(c, known_sessions)
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


def validate(
    batch: ImportBatch,
    *,
    existing: ExistingKeys | None = None,
    allow_implausible: bool = False,
    limits: plausibility.Limits | None = None,
) -> ValidatedBatch:
    """Check every table of `batch` and convert it to typed frames (see module docstring).

    Implausible values (kapviz.io.plausibility) are problems too, unless `allow_implausible`
    makes them warnings (a deliberate override, reported with the import)."""
    warnings = list(batch.warnings)
    token = _WARNINGS.set(warnings)
    try:
        return _validate(batch, existing, warnings, allow_implausible, limits)
    finally:
        _WARNINGS.reset(token)


def _validate(
    batch: ImportBatch,
    existing: ExistingKeys | None,
    warnings: list[str],
    allow_implausible: bool,
    limits: plausibility.Limits | None,
) -> ValidatedBatch:
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
            if len(all_sessions):
                keep = ~_isin(
                    all_sessions["session_id"], set(fresh["session_id"].to_numpy(dtype=object))
                )
                all_sessions = pd.concat([all_sessions[keep], fresh], ignore_index=True)
            else:
                all_sessions = fresh.reset_index(drop=True)
            all_sessions = all_sessions[all_sessions["started_at"].notna()]
            # A duplicated id is reported above; keep one row so that lookups stay defined.
            all_sessions = all_sessions.drop_duplicates("session_id", keep="first")
    if "assessments" in batch.tables:
        frames["assessments"] = _assessments(batch, problems, known_patients, all_sessions)
    known_sessions = set(all_sessions["session_id"].to_numpy(dtype=object))
    if "side_effects" in batch.tables:
        frames["side_effects"] = _side_effects(batch, problems, known_sessions)
    if "vitals" in batch.tables:
        frames["vitals"] = _vitals(batch, problems, known_sessions)
    found = plausibility.check(batch, frames, limits or plausibility.default_limits())
    if allow_implausible:
        warnings += plausibility.accepted(found)
    else:
        problems += found
    order = {batch.source_names.get(f, f): i for i, f in enumerate(batch.tables)}
    problems.sort(key=lambda p: (order.get(p.file, 99), p.row or 0))
    accepted = found if allow_implausible else []
    return ValidatedBatch(frames, problems, warnings, accepted_implausible=accepted)
