"""Published reference figures (DOMAIN.md §4b) and which of them match a clinic figure.

The figures are data: `references.toml` beside this module (documented in
docs/evidence.md). The esketamine label's side-effect rates stay where the Safety chart
reads them (kapviz.vocabulary.REFERENCE_RATES) and are offered here as references too, so
there is one copy of each number.

A reference is shown only beside a clinic figure of the same instrument and measure, a
comparable route (every course of the clinic figure by one of the reference's routes)
and a comparable time point (the clinic's median endpoint within a week of the
reference's days, or within one dosing session of its dose count). Never as a target.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from kapviz.domain import ROUTE_LABELS, ROUTES
from kapviz.vocabulary import REFERENCE_RATES, REFERENCE_SOURCE

REFERENCES_FILE = Path(__file__).with_name("references.toml")
MEASURES = (
    "response",
    "remission",
    "worsening",
    "relapse",
    "suicidal_ideation_reduced",
    "suicidal_ideation_worsened",
    "bp_peak_rise",
    "severe_hypertension",
    "side_effect",
)
MEASURE_LABELS = {
    "bp_peak_rise": "mean peak blood-pressure rise",
    "severe_hypertension": "severe hypertension",
    "side_effect": "% of patients",
    "suicidal_ideation_reduced": "suicidal ideation reduced",
    "suicidal_ideation_worsened": "suicidal ideation worsened",
}
DAYS_TOLERANCE = 7.0
"""A clinic endpoint this many days either side of a reference's time point is comparable."""
DOSES_TOLERANCE = 1.0
"""…or this many dosing sessions either side of a reference published by dose count."""


@dataclass(frozen=True)
class Reference:
    """One published figure with what it is about."""

    id: str
    study: str
    citation: str
    population: str
    n: int
    n_unit: str
    routes: tuple[str, ...]
    instrument: str
    measure: str
    value: float
    time_point: str
    days: tuple[float, float] | None = None
    doses: tuple[float, float] | None = None
    comparator: float | None = None
    comparator_label: str = ""
    value_diastolic: float | None = None
    term: str = ""
    """For side-effect label rates: the preferred term (kapviz.vocabulary)."""

    @property
    def route_label(self) -> str:
        return "/".join(ROUTE_LABELS.get(r, r) for r in self.routes)

    def value_text(self) -> str:
        """The figure as published: "53.6%", or "+16.0/+11.0 mmHg" for a BP rise."""
        if self.measure == "bp_peak_rise":
            return f"+{self.value:.1f}/+{self.value_diastolic or 0:.1f} mmHg"
        return _pct(self.value)

    def line(self) -> str:
        """One line: study, population and size, route, instrument and time point, figure."""
        what = MEASURE_LABELS.get(self.measure, self.measure)
        if self.term:
            what = f"{self.term} ({what})"
        about = f"{self.instrument} {what}" if self.instrument else what
        size = f"; n = {self.n:,} {self.n_unit}" if self.n else ""
        text = (
            f"{self.study} ({self.population}; {self.route_label}{size}): {about}, "
            f"{self.time_point}: {self.value_text()}"
        )
        if self.comparator is not None:
            text += f" vs {_pct(self.comparator)} {self.comparator_label}"
        return text


def _pct(value: float) -> str:
    """As published, to three significant digits: 53.6%, 73%, 0.98%."""
    return f"{100 * value:.3g}%"


class ReferenceFileError(ValueError):
    """references.toml has an entry kapviz cannot use (named in the message)."""


def parse_references(text: str) -> tuple[Reference, ...]:
    """References from TOML text; ReferenceFileError naming the entry on a bad field."""
    try:
        entries = tomllib.loads(text).get("reference", [])
    except tomllib.TOMLDecodeError as exc:
        raise ReferenceFileError(f"references file is not valid TOML: {exc}") from exc
    out, seen = [], set()
    for i, entry in enumerate(entries, start=1):
        name = entry.get("id", f"entry {i}")
        try:
            ref = Reference(
                id=str(entry["id"]),
                study=str(entry["study"]),
                citation=str(entry["citation"]),
                population=str(entry["population"]),
                n=int(entry["n"]),
                n_unit=str(entry["n_unit"]),
                routes=tuple(str(r) for r in entry["routes"]),
                instrument=str(entry.get("instrument", "")),
                measure=str(entry["measure"]),
                value=float(entry["value"]),
                time_point=str(entry["time_point"]),
                days=_window(entry.get("days")),
                doses=_window(entry.get("doses")),
                comparator=_optional_float(entry.get("comparator")),
                comparator_label=str(entry.get("comparator_label", "")),
                value_diastolic=_optional_float(entry.get("value_diastolic")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ReferenceFileError(f"reference {name}: missing or bad field {exc}") from exc
        if ref.measure not in MEASURES:
            raise ReferenceFileError(f"reference {name}: unknown measure {ref.measure!r}")
        unknown = [r for r in ref.routes if r not in ROUTES]
        if unknown or not ref.routes:
            raise ReferenceFileError(f"reference {name}: unknown route(s) {unknown}")
        if ref.id in seen:
            raise ReferenceFileError(f"reference {name}: id used twice")
        seen.add(ref.id)
        out.append(ref)
    return tuple(out)


def _window(value: object) -> tuple[float, float] | None:
    if value is None:
        return None
    low, high = value  # type: ignore[misc]
    return (float(low), float(high))


def _optional_float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def label_references() -> tuple[Reference, ...]:
    """The esketamine label's side-effect rates (kapviz.vocabulary) as references."""
    return tuple(
        Reference(
            id=f"label-{r.term.replace(' ', '-')}",
            study="Esketamine label",
            citation=REFERENCE_SOURCE,
            population="treatment-resistant depression, pooled short-term trials",
            n=0,
            n_unit="patients",
            routes=("intranasal",),
            instrument="",
            measure="side_effect",
            value=r.esketamine_pct / 100,
            time_point="in the short-term trials",
            comparator=r.placebo_pct / 100,
            comparator_label="placebo",
            term=r.term,
        )
        for r in REFERENCE_RATES
    )


@lru_cache(maxsize=1)
def references() -> tuple[Reference, ...]:
    """Every reference: references.toml, then the label's side-effect rates."""
    return parse_references(REFERENCES_FILE.read_text(encoding="utf-8")) + label_references()


@dataclass(frozen=True)
class ClinicFigure:
    """What a clinic rate is about, for matching: instrument, measure, routes of its
    courses, and when its endpoints were (median days and dosing sessions since the first
    dose; None when unknown)."""

    instrument: str
    measure: str
    routes: frozenset[str]
    endpoint_days: float | None = None
    endpoint_doses: float | None = None


def _time_comparable(ref: Reference, clinic: ClinicFigure) -> bool:
    if ref.days is not None and clinic.endpoint_days is not None:
        low, high = ref.days
        if low - DAYS_TOLERANCE <= clinic.endpoint_days <= high + DAYS_TOLERANCE:
            return True
    if ref.doses is not None and clinic.endpoint_doses is not None:
        low, high = ref.doses
        if low - DOSES_TOLERANCE <= clinic.endpoint_doses <= high + DOSES_TOLERANCE:
            return True
    return False


def _same_kind(ref: Reference, clinic: ClinicFigure) -> bool:
    return ref.instrument == clinic.instrument and ref.measure == clinic.measure


def _route_comparable(ref: Reference, clinic: ClinicFigure) -> bool:
    return bool(clinic.routes) and clinic.routes <= set(ref.routes)


def could_match(instrument: str, routes: frozenset[str]) -> bool:
    """True when some reference of this instrument covers these routes (time not checked):
    when False, nothing can match and the time point need not be computed."""
    return any(
        r.instrument == instrument and bool(routes) and routes <= set(r.routes)
        for r in references()
    )


def matching(
    clinic: ClinicFigure, candidates: Iterable[Reference] | None = None
) -> list[Reference]:
    """References of the same instrument and measure, comparable route and time point."""
    pool = references() if candidates is None else candidates
    return [
        r
        for r in pool
        if _same_kind(r, clinic) and _route_comparable(r, clinic) and _time_comparable(r, clinic)
    ]


def why_none(
    clinic: ClinicFigure,
    candidates: Iterable[Reference] | None = None,
    *,
    measures: Sequence[str] = (),
) -> str | None:
    """Why no reference is shown, naming the published figures of this instrument and
    measure (or of each of `measures`) that exist; None when there are none at all."""
    wanted = tuple(measures) or (clinic.measure,)
    pool = list(references() if candidates is None else candidates)
    same = [r for r in pool if r.instrument == clinic.instrument and r.measure in wanted]
    if not same:
        return None
    studies = dict.fromkeys(f"{r.study}: {r.route_label}, {r.time_point}" for r in same)
    reasons = []
    if not any(_route_comparable(r, clinic) for r in same):
        routes = ", ".join(ROUTE_LABELS.get(r, r) for r in sorted(clinic.routes)) or "none"
        reasons.append(f"these courses' routes ({routes}) differ from the studies'")
    if not any(_time_comparable(r, clinic) for r in same):
        reasons.append(
            f"the endpoints here ({when_text(clinic)}) are not at the studies' time point"
        )
    kinds = " and ".join(m for m in wanted if any(r.measure == m for r in same))
    return (
        f"Published {clinic.instrument} {kinds} figures ({'; '.join(studies)}) are not "
        "shown: " + " and ".join(reasons or ["they are not comparable"]) + "."
    )


def when_text(clinic: ClinicFigure) -> str:
    """ "median 147 days, 6 dosing sessions after the first dose" (what is known)."""
    when = []
    if clinic.endpoint_days is not None:
        when.append(f"median {clinic.endpoint_days:.0f} days")
    if clinic.endpoint_doses is not None:
        when.append(f"{clinic.endpoint_doses:g} dosing sessions")
    return (", ".join(when) or "timing unknown") + " after the first dose"


def by_measure(measure: str, *, routes: Sequence[str] = ()) -> list[Reference]:
    """Safety references of one measure (e.g. bp_peak_rise), of these routes if given."""
    return [
        r
        for r in references()
        if r.measure == measure and (not routes or set(routes) & set(r.routes))
    ]
