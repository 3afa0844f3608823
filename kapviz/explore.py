"""The Explore view: one measure, for one cohort, by up to two breakdowns (docs/api.md).

Pure (no Streamlit): the page, the notebook export and the tests build an `ExploreView`
(from the URL with `ExploreView.from_params`), and `run` computes it through the Python API
(`kapviz.api.Clinic`), so the page, the API, the command line and an exported notebook give
the same numbers. `run`'s table has one row per group with the same columns for every
measure (numerator, denominator, value, ci_low, ci_high; n for means), which the page's
chart, table, CSV and small-cell suppression read without knowing the measure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date
from typing import Any

import pandas as pd

from kapviz import api, instruments
from kapviz.domain import ROUTE_LABELS, SEXES
from kapviz.filters import Filters
from kapviz.metrics.stats import wilson_interval
from kapviz.vocabulary import normalize_term

PROPORTION = "proportion"
MEAN = "mean"
MEDIAN_DAYS = "median_days"
PER_100 = "per_100"
MAX_BREAKDOWNS = 2


@dataclass(frozen=True)
class Measure:
    """What one measure computes: its kind decides the table's value and the chart."""

    key: str
    label: str
    kind: str  # "proportion" | "mean" | "median_days" | "per_100"
    needs_instrument: bool
    needs_term: bool
    unit: str
    rule: str  # one plain sentence


def _measure(key: str, label: str, kind: str, unit: str, rule: str, **needs: bool) -> Measure:
    return Measure(
        key=key,
        label=label,
        kind=kind,
        needs_instrument=needs.get("instrument", False),
        needs_term=needs.get("term", False),
        unit=unit,
        rule=rule,
    )


_OUTCOME = dict(instrument=True)
MEASURES: dict[str, Measure] = {
    m.key: m
    for m in (
        _measure(
            "response", "Response", PROPORTION, "% of courses",
            "a response is the instrument's response rule met by the endpoint against the "
            "baseline, over evaluable courses (with a defined response)", **_OUTCOME,
        ),
        _measure(
            "remission", "Remission", PROPORTION, "% of courses",
            "a remission is an endpoint in the instrument's remission range, over evaluable "
            "courses whose baseline was not already in remission", **_OUTCOME,
        ),
        _measure(
            "reliable_improvement", "Reliable improvement", PROPORTION, "% of courses",
            "an improvement from baseline to endpoint at least the instrument's reliable "
            "change, over evaluable courses", **_OUTCOME,
        ),
        _measure(
            "reliable_deterioration", "Reliable deterioration", PROPORTION, "% of courses",
            "a worsening from baseline to endpoint at least the instrument's reliable "
            "change, over evaluable courses", **_OUTCOME,
        ),
        _measure(
            "mean_change", "Mean change", MEAN, "points",
            "the mean of endpoint minus baseline over evaluable courses (negative is "
            "better on a symptom scale), with a normal 95% interval", **_OUTCOME,
        ),
        _measure(
            "baseline_mean", "Baseline mean", MEAN, "points",
            "the mean baseline score (the last score in the window before the first dose) "
            "of evaluable courses, with a normal 95% interval", **_OUTCOME,
        ),
        _measure(
            "endpoint_mean", "Endpoint mean", MEAN, "points",
            "the mean endpoint score (the last score after the first dose) of evaluable "
            "courses, with a normal 95% interval", **_OUTCOME,
        ),
        _measure(
            "time_to_response", "Time to response", MEDIAN_DAYS, "days",
            "the Kaplan–Meier median of days from the first dose to the first responding "
            "score, courses that never respond censored at their endpoint", **_OUTCOME,
        ),
        _measure(
            "side_effect_rate", "Side-effect session rate", PROPORTION, "% of dosing sessions",
            "completed dosing sessions with at least one record of the effect, over "
            "completed dosing sessions", term=True,
        ),
        _measure(
            "adverse_events_per_100", "Adverse events per 100 dosing sessions", PER_100,
            "per 100 dosing sessions",
            "side-effect records (one per session and term) on completed dosing sessions, "
            "per 100 completed dosing sessions, with an exact Poisson 95% interval",
        ),
        _measure(
            "bp_excursion_rate", "BP excursion rate", PROPORTION, "% of dosing sessions",
            "completed dosing sessions with any blood-pressure reading at or above the "
            "excursion thresholds, over completed dosing sessions",
        ),
        _measure(
            "sedation_rate", "Sedation rate", PROPORTION, "% of dosing sessions",
            "completed dosing sessions with a MOAA/S score at or below the sedation "
            "threshold, over completed dosing sessions",
        ),
        _measure(
            "measurement_completion", "Measurement completion", PROPORTION,
            "% of dosing sessions",
            "completed dosing sessions with a score of the instrument in the days before "
            "them, over completed dosing sessions", **_OUTCOME,
        ),
    )
}  # fmt: skip
"""Every measure Explore offers, by key (the `measure` URL parameter)."""

TABLE_COLUMNS: tuple[str, ...] = ("numerator", "denominator", "value", "ci_low", "ci_high")
"""Columns of `ExploreResult.table` after the group columns (means add `n`)."""


@dataclass(frozen=True)
class CohortSpec:
    """Which courses: the global filters' fields plus course attributes (all optional).

    Tuples of values keep courses with any of them; empty means no restriction. Dates and
    dose counts are inclusive.
    """

    sites: tuple[str, ...] = ()
    indications: tuple[str, ...] = ()
    routes: tuple[str, ...] = ()
    start: date | None = None
    end: date | None = None
    baseline_band: tuple[str, ...] = ()
    age_band: tuple[str, ...] = ()
    sex: tuple[str, ...] = ()
    clinician: tuple[str, ...] = ()
    dose_band: tuple[str, ...] = ()
    doses_min: int | None = None
    doses_max: int | None = None
    first_dose_from: date | None = None
    first_dose_to: date | None = None

    def keywords(self) -> dict[str, Any]:
        """The cohort as `Clinic` method keywords (only what restricts)."""
        out: dict[str, Any] = {}
        for name, keyword in _KEYWORD_OF.items():
            value = getattr(self, name)
            if value is None or value == ():
                continue
            out[keyword] = list(value) if isinstance(value, tuple) else value
        return out

    def describe(self) -> str:
        """The cohort in words, for the sentence under the table."""
        parts = []
        for name, keyword in _KEYWORD_OF.items():
            value = getattr(self, name)
            if value is None or value == ():
                continue
            shown = ", ".join(map(str, value)) if isinstance(value, tuple) else str(value)
            parts.append(_WORDS.get(name, f"{keyword.replace('_', ' ')} {{}}").format(shown))
        return "; ".join(parts) if parts else "all courses"

    @classmethod
    def from_filters(cls, filters: Filters, **attributes: Any) -> CohortSpec:
        """A cohort of the global filters (the sidebar's), plus course attributes."""
        return cls(
            sites=tuple(filters.sites),
            indications=tuple(filters.indications),
            routes=tuple(filters.routes),
            start=filters.start,
            end=filters.end,
            **attributes,
        )


_KEYWORD_OF: dict[str, str] = {
    "sites": "site",
    "indications": "indication",
    "routes": "route",
    "start": "start",
    "end": "end",
    "baseline_band": "baseline_band",
    "age_band": "age_band",
    "sex": "sex",
    "clinician": "clinician",
    "dose_band": "dose_band",
    "doses_min": "doses_min",
    "doses_max": "doses_max",
    "first_dose_from": "first_dose_from",
    "first_dose_to": "first_dose_to",
}
"""CohortSpec field → `Clinic` keyword."""

_WORDS: dict[str, str] = {
    "start": "sessions from {}",
    "end": "sessions up to {}",
    "doses_min": "at least {} completed doses",
    "doses_max": "at most {} completed doses",
    "first_dose_from": "first dose on or after {}",
    "first_dose_to": "first dose on or before {}",
}
"""How `describe` words the fields that are not a list of values."""

_PARAM_OF: dict[str, str] = {
    **{name: name for name in _KEYWORD_OF},
    "sites": "site",
    "indications": "indication",
    "routes": "route",
    "start": "from",
    "end": "to",
}
"""CohortSpec field → URL parameter (the global filters' names for the first five)."""

_DATES = ("start", "end", "first_dose_from", "first_dose_to")
_COUNTS = ("doses_min", "doses_max")
_MULTI = ("sites", "indications", "routes", "baseline_band", "age_band", "sex", "clinician",
          "dose_band")  # fmt: skip

URL_PARAMS: tuple[str, ...] = ("measure", "instrument", "term", "by", *_PARAM_OF.values())
"""Every URL parameter an Explore view reads and writes."""


@dataclass(frozen=True)
class ExploreView:
    """Everything the Explore page shows: measure, instrument or term, breakdown, cohort."""

    measure: str = "response"
    instrument: str | None = "PHQ-9"
    term: str | None = None
    by: tuple[str, ...] = ()  # at most 2 of api.DIMENSIONS
    cohort: CohortSpec = field(default_factory=CohortSpec)

    def to_params(self) -> dict[str, str | list[str]]:
        """URL query parameters (only what differs from "everything")."""
        params: dict[str, str | list[str]] = {"measure": self.measure}
        if self.instrument:
            params["instrument"] = self.instrument
        if self.term:
            params["term"] = self.term
        if self.by:
            params["by"] = list(self.by)
        for f in fields(CohortSpec):
            value = getattr(self.cohort, f.name)
            if value is None or value == ():
                continue
            key = _PARAM_OF[f.name]
            params[key] = [str(v) for v in value] if isinstance(value, tuple) else str(value)
        return params

    @classmethod
    def from_params(cls, params: Mapping[str, str | list[str]]) -> tuple[ExploreView, list[str]]:
        """The view a URL asks for, and a readable error per value that was dropped (an
        unknown measure, instrument, term, dimension, band or a malformed date or count);
        never raises."""
        errors: list[str] = []

        def values(key: str) -> list[str]:
            raw = params.get(key)
            if raw is None:
                return []
            items = [raw] if isinstance(raw, str) else list(raw)
            return [str(v).strip() for v in items if str(v).strip()]

        def one(key: str) -> str | None:
            given = values(key)
            return given[-1] if given else None

        default = cls()
        measure = one("measure") or default.measure
        if measure not in MEASURES:
            errors.append(f"measure {measure!r} is not one of {', '.join(MEASURES)}")
            measure = default.measure
        instrument = default.instrument
        given_instrument = one("instrument")
        if given_instrument is not None:
            try:
                instrument = instruments.get(given_instrument).id
            except (KeyError, ValueError):
                errors.append(f"instrument {given_instrument!r} is not known")
        term = one("term")
        if term is not None:
            preferred = normalize_term(term)  # a synonym ("somnolence") is its term
            if preferred is None:
                errors.append(f"side effect {term!r} is not a preferred term or synonym")
            term = preferred
        by: list[str] = []
        for dim in values("by"):
            if dim not in api.DIMENSIONS:
                errors.append(f"breakdown {dim!r} is not one of {', '.join(api.DIMENSIONS)}")
            elif dim in by:
                errors.append(f"breakdown {dim!r} is repeated")
            elif len(by) == MAX_BREAKDOWNS:
                errors.append(f"at most {MAX_BREAKDOWNS} breakdowns: {dim!r} is dropped")
            else:
                by.append(dim)
        cohort = _cohort_from(values, one, instrument, errors)
        view = cls(measure=measure, instrument=instrument, term=term, by=tuple(by), cohort=cohort)
        return view, errors


def _cohort_from(values, one, instrument: str | None, errors: list[str]) -> CohortSpec:
    """CohortSpec fields from URL parameters; bad values dropped with an error each."""
    chosen: dict[str, Any] = {}
    for name in _MULTI:
        key = _PARAM_OF[name]
        given = values(key)
        allowed = _allowed(name, instrument)
        if name == "routes":
            given = [_route_code(v) for v in given]
        if allowed is not None:
            bad = [v for v in given if v not in allowed]
            for v in bad:
                errors.append(f"{key} {v!r} is not one of {', '.join(allowed)}")
            given = [v for v in given if v in allowed]
        chosen[name] = tuple(dict.fromkeys(given))
    for name in _DATES:
        raw = one(_PARAM_OF[name])
        if raw is None:
            continue
        try:
            chosen[name] = date.fromisoformat(raw)
        except ValueError:
            errors.append(f"{_PARAM_OF[name]} {raw!r} is not a date (YYYY-MM-DD)")
    for name in _COUNTS:
        raw = one(name)
        if raw is None:
            continue
        if raw.isdigit():
            chosen[name] = int(raw)
        else:
            errors.append(f"{name} {raw!r} is not a whole number of doses")
    for low, high in (("start", "end"), ("first_dose_from", "first_dose_to"),
                      ("doses_min", "doses_max")):  # fmt: skip
        both = chosen.get(low) is not None and chosen.get(high) is not None
        if both and chosen[low] > chosen[high]:
            errors.append(
                f"{_PARAM_OF[low]} {chosen[low]} is after {_PARAM_OF[high]} "
                f"{chosen[high]}: both are dropped"
            )
            del chosen[low], chosen[high]
    return CohortSpec(**chosen)


def _route_code(value: str) -> str:
    by_label = {label.lower(): code for code, label in ROUTE_LABELS.items()}
    return by_label.get(value.lower(), value.lower())


def _allowed(name: str, instrument: str | None) -> tuple[str, ...] | None:
    """The values a cohort field can take, when they are fixed (None: any value)."""
    if name == "sex":
        return SEXES
    if name == "age_band":
        return (*(label for label, _, _ in api.AGE_BANDS), api.UNKNOWN)
    if name == "baseline_band" and instrument is not None:
        inst = instruments.get(instrument)
        return (*(b.label for b in inst.bands), api.UNKNOWN)
    return None


@dataclass(frozen=True)
class ExploreResult:
    """A computed view: the table (one row per group) and the sentence that says what it is."""

    view: ExploreView
    measure: Measure
    table: pd.DataFrame
    sentence: str


def run(clinic: api.Clinic, view: ExploreView, *, scope: Filters | None = None) -> ExploreResult:
    """Compute `view` through the API, within the viewer's `scope` (their scoped global
    filters: sites and clinician) when given. Raises ValueError for a view the API refuses
    (e.g. a term missing for the side-effect rate)."""
    measure = MEASURES[view.measure]
    if measure.needs_term and not view.term:
        raise ValueError(f"{measure.label} needs a side effect (term)")
    if measure.needs_instrument and not view.instrument:
        raise ValueError(f"{measure.label} needs an instrument")
    compute = _BY_KEY.get(measure.key) or _BY_KIND[measure.kind]
    table = compute(clinic, view, measure, scope)
    return ExploreResult(view=view, measure=measure, table=table, sentence=_sentence(view, table))


def _call_keywords(view: ExploreView, scope: Filters | None) -> dict[str, Any]:
    keywords = {**view.cohort.keywords(), "by": list(view.by) or None}
    if scope is not None:
        keywords["scope"] = scope
    return keywords


def _band_instrument(view: ExploreView) -> str | None:
    """The instrument a safety measure needs: only for a baseline-band breakdown or cohort."""
    uses_band = "baseline_band" in view.by or bool(view.cohort.baseline_band)
    return view.instrument if uses_band else None


_OUTCOME_COLUMNS: dict[str, str] = {
    "response": "response",
    "remission": "remission",
    "reliable_improvement": "reliable_improvement",
    "reliable_deterioration": "reliable_deterioration",
}


def _proportion_of_outcomes(clinic, view, measure, scope) -> pd.DataFrame:
    out = clinic.outcomes(view.instrument, **_call_keywords(view, scope))
    prefix = _OUTCOME_COLUMNS[measure.key]
    numerators = {"response": "responders", "remission": "remitters"}
    return _table(
        out,
        view,
        numerator=out[numerators.get(prefix, f"{prefix}_n")],
        denominator=out[f"{prefix}_denominator"],
    )


def _mean_of_outcomes(clinic, view, measure, scope) -> pd.DataFrame:
    out = clinic.outcomes(view.instrument, **_call_keywords(view, scope))
    key = measure.key
    table = _table(
        out,
        view,
        numerator=pd.Series([math.nan] * len(out), dtype="float64"),
        denominator=out["evaluable"],
        value=out[key],
        ci=(out[f"{key}_ci_low"], out[f"{key}_ci_high"]),
    )
    table.insert(len(view.by), "n", out["evaluable"].astype("int64").to_numpy())
    return table


def _time_to_response(clinic, view, measure, scope) -> pd.DataFrame:
    out = clinic.time_to_response(view.instrument, **_call_keywords(view, scope))
    return _table(
        out,
        view,
        numerator=out["responders"],
        denominator=out["courses"],
        value=out["median_days"],
        ci=(out["median_days_ci_low"], out["median_days_ci_high"]),
    )


def _side_effect_rate(clinic, view, measure, scope) -> pd.DataFrame:
    out = clinic.side_effects(
        term=view.term, instrument=_band_instrument(view), **_call_keywords(view, scope)
    )
    return _table(out, view, numerator=out["sessions"], denominator=out["dosing_sessions"])


def _adverse_events(clinic, view, measure, scope) -> pd.DataFrame:
    out = clinic.adverse_events(instrument=_band_instrument(view), **_call_keywords(view, scope))
    return _table(
        out,
        view,
        numerator=out["events"],
        denominator=out["dosing_sessions"],
        value=out["events_per_100_doses"],
        ci=(out["ci_low"], out["ci_high"]),
    )


def _session_rate(method: str):
    def compute(clinic, view, measure, scope) -> pd.DataFrame:
        call = getattr(clinic, method)
        out = call(instrument=_band_instrument(view), **_call_keywords(view, scope))
        return _table(out, view, numerator=out["sessions"], denominator=out["dosing_sessions"])

    return compute


def _measurement_completion(clinic, view, measure, scope) -> pd.DataFrame:
    out = clinic.measurement_completion(view.instrument, **_call_keywords(view, scope))
    return _table(out, view, numerator=out["measured"], denominator=out["dosing_sessions"])


_BY_KEY = {
    "time_to_response": _time_to_response,
    "side_effect_rate": _side_effect_rate,
    "adverse_events_per_100": _adverse_events,
    "bp_excursion_rate": _session_rate("bp_excursions"),
    "sedation_rate": _session_rate("sedation"),
    "measurement_completion": _measurement_completion,
}
_BY_KIND = {PROPORTION: _proportion_of_outcomes, MEAN: _mean_of_outcomes}


def _table(
    out: pd.DataFrame,
    view: ExploreView,
    *,
    numerator: pd.Series,
    denominator: pd.Series,
    value: pd.Series | None = None,
    ci: tuple[pd.Series, pd.Series] | None = None,
) -> pd.DataFrame:
    """The uniform table: group columns, numerator, denominator, value, ci_low, ci_high.

    Without `value`, the value is numerator ÷ denominator with a 95% Wilson interval (NaN
    on an empty denominator)."""
    table = out[list(view.by)].reset_index(drop=True).astype(object)
    num = numerator.reset_index(drop=True)
    den = denominator.reset_index(drop=True).astype("int64")
    table["numerator"] = num.astype("int64") if num.notna().all() else num.astype("float64")
    table["denominator"] = den
    if value is None:
        bounds = [wilson_interval(int(k), int(n)) for k, n in zip(num, den, strict=True)]
        table["value"] = [k / n if n else math.nan for k, n in zip(num, den, strict=True)]
        table["ci_low"] = [lo for lo, _ in bounds]
        table["ci_high"] = [hi for _, hi in bounds]
    else:
        assert ci is not None
        table["value"] = value.reset_index(drop=True).astype("float64")
        table["ci_low"] = ci[0].reset_index(drop=True).astype("float64")
        table["ci_high"] = ci[1].reset_index(drop=True).astype("float64")
    return table


def _sentence(view: ExploreView, table: pd.DataFrame) -> str:
    """What was computed, for which cohort, by which rule, over how many."""
    measure = MEASURES[view.measure]
    what = measure.label
    if measure.needs_instrument and view.instrument:
        what += f" ({view.instrument})"
    if measure.needs_term and view.term:
        what += f" of {view.term}"
    by = f", by {' and '.join(d.replace('_', ' ') for d in view.by)}" if view.by else ""
    total = int(table["n" if "n" in table else "denominator"].sum()) if len(table) else 0
    counted = {
        PROPORTION: "in the denominator",
        MEAN: "evaluable courses",
        MEDIAN_DAYS: "courses in the analysis",
        PER_100: "dosing sessions",
    }[measure.kind]
    return (
        f"{what} for {view.cohort.describe()}{by}: {measure.rule}. "
        f"n = {total:,} {counted} in {len(table)} group{'s' if len(table) != 1 else ''}."
    )
