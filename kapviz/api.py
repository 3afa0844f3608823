"""The Python API: any outcome or safety figure, for any cohort, by any breakdown.

    import kapviz
    clinic = kapviz.connect("sqlite:///data/kapviz.db")
    clinic.outcomes("PHQ-9", by="site", baseline_band="severe")

The figures come from the same rules as the pages: `course_outcomes`' inputs read as the
Trajectories page reads them (kapviz.db.aggregates.cohort) and `outcome_rates` per group;
`kaplan_meier` of `response_times` per group; the safety measures from the Safety page's
doses (kapviz.db.aggregates.safety: completed dosing sessions started in the date range)
through its own functions (`effect_rows`, `rates_of`, `dose_bp`, the MOAA/S threshold) and
measurement completion through kapviz.metrics.program. A course is in one group of each
breakdown dimension (docs/domain.md §4c), from its own attributes:

- site, indication: the patient's; sex: the patient's ("unknown" when not recorded);
- route, dose_band: of the course's first completed dose (course_attributes);
- clinician: of most of its completed dosing sessions (clinicians.course_clinicians);
- age_band: birth year to the year of the first completed dose (only the year is stored);
- baseline_band: the severity band of the course's baseline of the instrument asked about.

A missing attribute is the group "unknown" (kapviz.metrics.breakdowns). While the rollups
are current and the filters are sites and indications only, every measure but time to
response is counted in SQL from per-course rollups (kapviz.db.explore_rollups) by the same
rules: the same figures without reading every dose at each call. The API reads as a
director: exact counts, clinician codes; suppress small cells with kapviz.privacy when
showing the results to others (the command line's --suppress does).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from kapviz import instruments
from kapviz.auth.scope import NO_SITE
from kapviz.config import Settings, load_settings
from kapviz.db import explore_rollups, queries, rollups
from kapviz.db.aggregates import cohort as cohort_sql
from kapviz.db.aggregates import outcomes as outcome_sql
from kapviz.db.aggregates import program as program_sql
from kapviz.db.aggregates import safety as safety_sql
from kapviz.db.engine import make_engine
from kapviz.domain import ROUTE_LABELS, SEXES
from kapviz.filters import Filters
from kapviz.metrics import breakdowns, safety
from kapviz.metrics.outcomes import OUTCOME_DTYPES, outcome_rates
from kapviz.metrics.program import measurement_completion
from kapviz.metrics.side_effects import (
    dose_positions,
    effect_rows,
    is_member,
    rates_from_counts,
    rates_of,
)
from kapviz.metrics.stats import mean_ci, poisson_interval, wilson_interval
from kapviz.metrics.time_to_response import kaplan_meier, response_days

# The breakdown dimensions and their bands (one rule, kapviz.metrics.breakdowns).
DIMENSIONS = breakdowns.DIMENSIONS
"""Breakdown dimensions (docs/domain.md §4c), the names `by=` and cohort keywords take."""
AGE_BANDS = breakdowns.AGE_BANDS
UNKNOWN = breakdowns.UNKNOWN

OUTCOME_KEYS: tuple[str, ...] = (
    "courses",
    "evaluable",
    "not_evaluable",
    "responders",
    "response_denominator",
    "response_rate",
    "response_ci_low",
    "response_ci_high",
    "remitters",
    "remission_denominator",
    "remission_rate",
    "remission_ci_low",
    "remission_ci_high",
    "reliable_improvement_n",
    "reliable_improvement_denominator",
    "reliable_improvement_rate",
    "reliable_deterioration_n",
    "reliable_deterioration_denominator",
    "reliable_deterioration_rate",
    "baseline_mean",
    "endpoint_mean",
    "mean_change",
    "reliable_improvement_ci_low",
    "reliable_improvement_ci_high",
    "reliable_deterioration_ci_low",
    "reliable_deterioration_ci_high",
    "baseline_mean_ci_low",
    "baseline_mean_ci_high",
    "endpoint_mean_ci_low",
    "endpoint_mean_ci_high",
    "mean_change_ci_low",
    "mean_change_ci_high",
)
"""Columns of `Clinic.outcomes` after the group columns (means over evaluable courses with
a normal 95% interval, NaN below two courses)."""

COUNT_KEYS: frozenset[str] = frozenset(
    {
        "courses",
        "evaluable",
        "not_evaluable",
        "responders",
        "response_denominator",
        "remitters",
        "remission_denominator",
        "reliable_improvement_n",
        "reliable_improvement_denominator",
        "reliable_deterioration_n",
        "reliable_deterioration_denominator",
        "sessions",
        "dosing_sessions",
        "patients",
        "patients_dosed",
        "events",
        "measured",
    }
)
"""Counts that small-cell suppression applies to (the rest are rates and means)."""

SIDE_EFFECT_KEYS: tuple[str, ...] = (
    "term",
    "sessions",
    "dosing_sessions",
    "session_rate",
    "session_ci_low",
    "session_ci_high",
    "patients",
    "patients_dosed",
    "patient_rate",
)
ADVERSE_EVENT_KEYS: tuple[str, ...] = (
    "dosing_sessions",
    "events",
    "events_per_100_doses",
    "ci_low",
    "ci_high",
)
SESSION_RATE_KEYS: tuple[str, ...] = ("dosing_sessions", "sessions", "rate", "ci_low", "ci_high")
"""Columns of `Clinic.bp_excursions` and `Clinic.sedation` after the group columns."""
COMPLETION_KEYS: tuple[str, ...] = ("dosing_sessions", "measured", "rate", "ci_low", "ci_high")
TIME_TO_RESPONSE_KEYS: tuple[str, ...] = (
    "courses",
    "responders",
    "median_days",
    "median_days_ci_low",
    "median_days_ci_high",
)


def connect(url: str, *, settings: Settings | None = None) -> Clinic:
    """A Clinic reading the database at `url` (any SQLAlchemy URL kapviz supports), with
    the app's settings (KAPVIZ_* variables, e.g. the baseline window) unless given."""
    return Clinic(make_engine(url), settings or load_settings())


def _as_list(by: str | Sequence[str] | None) -> list[str]:
    dims = [] if by is None else [by] if isinstance(by, str) else list(by)
    unknown = [d for d in dims if d not in DIMENSIONS]
    if unknown:
        raise ValueError(f"cannot break down by {unknown}; use some of {list(DIMENSIONS)}")
    if len(set(dims)) != len(dims):
        raise ValueError(f"a dimension is repeated in {dims}")
    return dims


def _values(value: Any) -> tuple[str, ...]:
    """A cohort keyword's value(s) as a tuple of strings."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def _route_code(value: str) -> str:
    """A route code ("iv") from a code or its label ("IV")."""
    by_label = {label.lower(): code for code, label in ROUTE_LABELS.items()}
    return by_label.get(value.lower(), value.lower())


@dataclass(frozen=True)
class Cohort:
    """Which courses are looked at: the pages' global filters plus course attributes.

    `filters` goes to the database (as on every page); `attributes` keeps the courses whose
    attribute (a DIMENSIONS name) is one of the values given.
    """

    filters: Filters
    attributes: dict[str, tuple[str, ...]]
    doses: tuple[int | None, int | None] = (None, None)
    first_dose: tuple[date | None, date | None] = (None, None)
    instrument: str | None = None  # the measure's, for the baseline band

    @classmethod
    def of(
        cls,
        *,
        site: str | Iterable[str] | None = None,
        indication: str | Iterable[str] | None = None,
        route: str | Iterable[str] | None = None,
        start: date | str | None = None,
        end: date | str | None = None,
        doses_min: int | None = None,
        doses_max: int | None = None,
        first_dose_from: date | str | None = None,
        first_dose_to: date | str | None = None,
        **attributes: Any,
    ) -> Cohort:
        """A cohort from keywords: site, indication, route, start and end (dates of any
        session of the course, inclusive, as the global filters), any other DIMENSIONS
        name (clinician, dose_band, sex, age_band, baseline_band) with one or more values,
        doses_min/doses_max (the course's number of completed doses) and
        first_dose_from/first_dose_to (the date of its first completed dose), inclusive."""
        unknown = set(attributes) - set(DIMENSIONS)
        if unknown:
            raise ValueError(
                f"unknown cohort keywords {sorted(unknown)}; use site, indication, route, "
                f"start, end, doses_min, doses_max, first_dose_from, first_dose_to or one "
                f"of {list(DIMENSIONS)}"
            )
        filters = Filters(
            sites=_values(site),
            indications=_values(indication),
            routes=tuple(_route_code(r) for r in _values(route)),
            start=_as_date(start),
            end=_as_date(end),
        )
        kept = {name: _values(v) for name, v in attributes.items() if v is not None}
        # Typed with a hyphen: the labels' en dash ("45–54", "0.5–<0.75 mg/kg").
        if "age_band" in kept:
            kept["age_band"] = tuple(v.replace("-", "–") for v in kept["age_band"])
        if "dose_band" in kept:
            kept["dose_band"] = tuple(v.replace("-<", "–<") for v in kept["dose_band"])
        return cls(
            filters=filters,
            attributes=kept,
            doses=(_as_count(doses_min), _as_count(doses_max)),
            first_dose=(_as_date(first_dose_from), _as_date(first_dose_to)),
        )

    def keeps(self, attrs: pd.DataFrame) -> pd.Series:
        """Which rows of `Clinic.course_attributes` are in the cohort (beyond the filters)."""
        kept = pd.Series(True, index=attrs.index)
        for name, values in self.attributes.items():
            kept &= attrs[name].isin(set(values))
        low, high = self.doses
        if low is not None:
            kept &= attrs["doses"] >= low
        if high is not None:
            kept &= attrs["doses"] <= high
        first, last = self.first_dose
        day = attrs["first_dose"]
        if first is not None:
            kept &= day.notna() & (day >= first)
        if last is not None:
            kept &= day.notna() & (day <= last)
        return kept


def _as_date(value: date | str | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _as_count(value: int | str | None) -> int | None:
    if value is None:
        return None
    count = int(value)
    if count < 0:
        raise ValueError(f"a number of doses cannot be negative ({count})")
    return count


def within(filters: Filters, scope: Filters | None) -> Filters:
    """`filters` narrowed to a viewer's `scope` (their scoped global filters): sites,
    indications and routes intersected, the later start and the earlier end, the scope's
    clinician. An empty intersection keeps nothing (never everything)."""
    if scope is None:
        return filters

    def meet(mine: tuple[str, ...], theirs: tuple[str, ...], nothing: str) -> tuple[str, ...]:
        if not theirs:
            return mine
        if not mine:
            return tuple(theirs)
        both = tuple(v for v in mine if v in theirs)
        return both or (nothing,)

    starts = [d for d in (filters.start, scope.start) if d is not None]
    ends = [d for d in (filters.end, scope.end) if d is not None]
    return type(scope)(  # a viewer's ScopedFilters stay typed as scoped
        sites=meet(filters.sites, scope.sites, NO_SITE),
        indications=meet(filters.indications, scope.indications, NO_SITE),
        routes=meet(filters.routes, scope.routes, NO_SITE),
        start=max(starts) if starts else None,
        end=min(ends) if ends else None,
        clinician=scope.clinician if scope.clinician is not None else filters.clinician,
    )


class Clinic:
    """One clinic database, read as a director (every course, exact counts)."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    def __repr__(self) -> str:
        return f"Clinic({self.engine.url.render_as_string(hide_password=True)!r})"

    # -- reading ----------------------------------------------------------------------

    def course_outcomes(
        self, filters: Filters = Filters(), *, instrument: str | None = None
    ) -> pd.DataFrame:
        """`course_outcomes` rows of the courses in `filters` (only `instrument`'s when given),
        as the pages read them: from the per-course outcome rollup when it serves these
        filters and is current, else computed live by the same rule."""
        window = self.settings.baseline_window_days
        with self.engine.connect() as conn:
            if rollups.serves(filters) and rollups.is_current(conn):
                rows = rollups.course_outcomes(
                    conn, filters, instrument=instrument, baseline_window_days=window
                )
                if rows is not None:
                    return rows
            return outcome_sql.course_outcomes(
                conn, filters, instrument=instrument, baseline_window_days=window
            )

    def course_attributes(
        self, filters: Filters = Filters(), *, outcomes: pd.DataFrame | None = None,
        instrument: str | None = None,
    ) -> pd.DataFrame:  # fmt: skip
        """One row per course in `filters`: course_id, patient_id, every DIMENSIONS column
        (baseline_band needs `instrument` and its `outcomes`; "unknown" otherwise), doses
        (completed dosing sessions of the course) and first_dose (the date of its first)."""
        with self.engine.connect() as conn:
            if rollups.serves(filters) and rollups.is_current(conn):
                return explore_rollups.course_attributes(
                    conn, filters, outcomes=outcomes, instrument=instrument
                )
            first = cohort_sql.course_first_doses(conn, filters)
            done = explore_rollups.completed_doses(conn, filters)
            patients = queries.patients(conn, filters)  # the viewer's scope, as every read
        return breakdowns.attribute_table(
            first, done, patients, outcomes=outcomes, instrument=instrument
        )

    def _cohort(
        self,
        cohort_keywords: dict[str, Any],
        dims: list[str],
        *,
        instrument: str | None,
        outcomes: bool,
    ) -> tuple[Cohort, pd.DataFrame, pd.DataFrame | None]:
        """The cohort (within the `scope` keyword's filters, when given), its courses'
        attributes and (when asked) their outcomes."""
        chosen = _chosen(cohort_keywords, dims, instrument)
        needs_band = "baseline_band" in dims or "baseline_band" in chosen.attributes
        rows = (
            self.course_outcomes(chosen.filters, instrument=instrument)
            if outcomes or needs_band
            else None
        )
        attrs = self.course_attributes(chosen.filters, outcomes=rows, instrument=instrument)
        attrs = attrs[chosen.keeps(attrs)]
        return chosen, attrs.reset_index(drop=True), rows

    # -- measures ---------------------------------------------------------------------

    def outcomes(
        self, instrument: str, by: str | Sequence[str] | None = None, **cohort: Any
    ) -> pd.DataFrame:
        """Outcome counts and rates of `instrument` per group (OUTCOME_KEYS after the group
        columns): rates are fractions with 95% Wilson intervals, NaN on an empty
        denominator. A group is a row when one of its courses has a score of the
        instrument, also when none is evaluable; without `by`, always one row."""
        instrument = instruments.get(instrument).id
        dims = _as_list(by)
        parts = self._outcome_parts_from_rollups(_chosen(cohort, dims, instrument), dims)
        if parts is None:
            parts = self._outcome_parts(cohort, dims, instrument)
        records = [{**key, **_outcome_summary(part)} for key, part in parts]
        return pd.DataFrame.from_records(records, columns=[*dims, *OUTCOME_KEYS])

    def _outcome_parts(
        self, cohort: dict[str, Any], dims: list[str], instrument: str
    ) -> list[tuple[dict[str, str], pd.DataFrame]]:
        """(group key, its courses' outcome rows of `instrument`) per group, live."""
        _, attrs, rows = self._cohort(cohort, dims, instrument=instrument, outcomes=True)
        assert rows is not None
        mine = rows[(rows["instrument"] == instrument) & rows["course_id"].isin(attrs["course_id"])]
        scored = attrs[attrs["course_id"].isin(mine["course_id"])]
        return [(key, mine[in_group]) for key, in_group in _parts(scored, dims, mine["course_id"])]

    def _outcome_parts_from_rollups(
        self, chosen: Cohort, dims: list[str]
    ) -> list[tuple[dict[str, str], pd.DataFrame]] | None:
        """`_outcome_parts` counted in SQL from the per-course rollups (the outcome rows
        joined to the courses' attributes, grouped by the groups and the outcome values),
        each group's rows rebuilt from the counts; None when the rollups cannot answer
        (filters beyond sites and indications, stale rollups, another baseline window)."""
        instrument = chosen.instrument
        assert instrument is not None
        if not rollups.serves(chosen.filters):
            return None
        with self.engine.connect() as conn:
            window = self.settings.baseline_window_days
            if not (rollups.is_current(conn) and rollups.outcome_window_is(conn, window)):
                return None
            grouped = explore_rollups.outcome_groups(
                conn,
                chosen.filters,
                instrument=instrument,
                dims=dims,
                attributes=chosen.attributes,
                doses=chosen.doses,
                first_dose=chosen.first_dose,
            )
        return _rebuilt_parts(grouped, dims, chosen)

    def side_effects(
        self,
        by: str | Sequence[str] | None = None,
        *,
        instrument: str | None = None,
        term: str | None = None,
        **cohort: Any,
    ) -> pd.DataFrame:
        """Per group × effect term: sessions with the effect over completed dosing sessions
        (session_rate, 95% Wilson interval) and patients over patients dosed, as the Safety
        page's rates (SIDE_EFFECT_KEYS after the group columns). A course's doses count in
        the course's group; `instrument` is only needed for baseline_band. Without `term`, a
        group without a recorded effect has no rows; with it, every group has one row for
        that term (0 sessions when none)."""
        dims = _as_list(by)
        counted = self._safety_counts(cohort, dims, instrument, term=term)
        if counted is not None:
            return _side_effects_of_counts(*counted, dims, term)
        chosen, doses, attrs = self._doses(cohort, dims, instrument)
        with self.engine.connect() as conn:
            effects = safety_sql.dose_effects(conn, chosen)
        if term is not None:
            effects = effects[(effects["term"] == term).to_numpy()]
        position = dose_positions(effects["session_id"], doses["session_id"])
        rows, _ = effect_rows(doses, effects, position)
        parts = []
        row_parts = _parts(attrs, dims, rows["course_id"])
        for (key, mine), (_, rows_in) in zip(_parts(attrs, dims, doses["course_id"]), row_parts,
                                             strict=True):  # fmt: skip
            rates = rates_of(
                rows[rows_in],
                dosing_sessions=int(mine.sum()),
                patients_dosed=int(doses.loc[mine, "patient_id"].nunique()),
            )
            if term is not None and rates.empty:
                rates = _no_effect(term, int(mine.sum()), doses.loc[mine, "patient_id"].nunique())
            parts.append(rates.assign(**key)[[*dims, *SIDE_EFFECT_KEYS]])
        if not parts:
            return pd.DataFrame(columns=[*dims, *SIDE_EFFECT_KEYS])
        return pd.concat(parts, ignore_index=True)

    def adverse_events(
        self, by: str | Sequence[str] | None = None, *, instrument: str | None = None,
        **cohort: Any,
    ) -> pd.DataFrame:  # fmt: skip
        """Adverse events per 100 completed dosing sessions per group, as the Safety page
        counts them: one event per dosing session × effect term (kapviz.metrics.side_effects
        `effect_rows`), with an exact Poisson 95% interval (ADVERSE_EVENT_KEYS after the
        group columns; NaN rate for a group without doses)."""
        dims = _as_list(by)
        counted = self._safety_counts(cohort, dims, instrument, events=True)
        if counted is not None:
            groups, effects = counted
            events = _by_group(effects, dims, "sessions")
            records = [
                _adverse_record(key, n, events.get(tuple(key.values()), 0))
                for key, n in _group_records(groups, dims, "dosing_sessions")
            ]
            return pd.DataFrame.from_records(records, columns=[*dims, *ADVERSE_EVENT_KEYS])
        chosen, doses, attrs = self._doses(cohort, dims, instrument)
        with self.engine.connect() as conn:
            effects = safety_sql.dose_effects(conn, chosen)
        position = dose_positions(effects["session_id"], doses["session_id"])
        _, row_dose = effect_rows(doses, effects, position)
        events = np.bincount(row_dose, minlength=len(doses))
        records = [
            _adverse_record(key, int(mine.sum()), int(events[mine].sum()))
            for key, mine in _parts(attrs, dims, doses["course_id"])
        ]
        return pd.DataFrame.from_records(records, columns=[*dims, *ADVERSE_EVENT_KEYS])

    def _safety_counts(
        self,
        cohort: dict[str, Any],
        dims: list[str],
        instrument: str | None,
        *,
        term: str | None = None,
        events: bool = False,
        flagged: Any = None,
        measured: str | None = None,
    ) -> tuple[pd.DataFrame, pd.DataFrame] | None:
        """The cohort's groups with their doses and patients dosed, and their side-effect
        counts per term (with `events`, the adverse events per group; with `flagged`, the doses
        meeting that SQL condition on RollupDoseFlag per group; with `measured`, the doses
        measured with that instrument per group), counted in SQL from
        the per-course rollups (explore_rollups.dose_groups, effect_groups, event_groups);
        None when the rollups cannot answer (filters beyond sites and indications, stale
        rollups, a band of another baseline window)."""
        inst = instruments.get(instrument).id if instrument else None
        chosen = _chosen(cohort, dims, inst)
        if not rollups.serves(chosen.filters):
            return None
        needs_band = "baseline_band" in dims or "baseline_band" in chosen.attributes
        window = self.settings.baseline_window_days
        keywords: dict[str, Any] = {
            "dims": dims,
            "attributes": chosen.attributes,
            "doses": chosen.doses,
            "first_dose": chosen.first_dose,
            "instrument": inst,
        }
        with self.engine.connect() as conn:
            if not rollups.is_current(conn):
                return None
            if needs_band and not rollups.outcome_window_is(conn, window):
                return None
            groups = explore_rollups.dose_groups(conn, chosen.filters, **keywords)
            if measured is not None:  # the doses measured with that instrument per group
                effects = explore_rollups.measured_groups(
                    conn, chosen.filters, measured_instrument=measured, **keywords
                )
            elif flagged is not None:  # the doses meeting a condition per group
                effects = explore_rollups.flag_groups(
                    conn, chosen.filters, flagged=flagged, **keywords
                )
            elif events:  # the adverse events per group only
                effects = explore_rollups.event_groups(conn, chosen.filters, **keywords)
            else:
                effects = explore_rollups.effect_groups(conn, chosen.filters, term=term, **keywords)
        return groups, effects

    def bp_excursions(
        self, by: str | Sequence[str] | None = None, *, instrument: str | None = None,
        **cohort: Any,
    ) -> pd.DataFrame:  # fmt: skip
        """Completed dosing sessions with a BP excursion (any reading at or above the
        settings' systolic or diastolic threshold, the Safety page's `is_excursion`) over
        completed dosing sessions per group, with a 95% Wilson interval
        (SESSION_RATE_KEYS after the group columns)."""
        dims = _as_list(by)
        excursion = explore_rollups.is_excursion(self.settings)
        counted = self._safety_counts(cohort, dims, instrument, flagged=excursion)
        if counted is not None:
            return _session_rates_of_counts(*counted, dims)
        chosen, doses, attrs = self._doses(cohort, dims, instrument)
        with self.engine.connect() as conn:
            readings = safety_sql.readings(conn, chosen)
        flags, _ = safety.dose_bp(doses, readings, settings=self.settings)
        flagged = flags["is_excursion"].fillna(False).astype(bool).to_numpy()
        return _session_rates(doses, attrs, dims, flagged)

    def sedation(
        self, by: str | Sequence[str] | None = None, *, instrument: str | None = None,
        **cohort: Any,
    ) -> pd.DataFrame:  # fmt: skip
        """Completed dosing sessions with a MOAA/S score at or below the settings' sedation
        threshold (docs/domain.md §4) over completed dosing sessions per group, with a 95%
        Wilson interval (SESSION_RATE_KEYS after the group columns)."""
        dims = _as_list(by)
        sedated = explore_rollups.is_sedated(self.settings)
        counted = self._safety_counts(cohort, dims, instrument, flagged=sedated)
        if counted is not None:
            return _session_rates_of_counts(*counted, dims)
        chosen, doses, attrs = self._doses(cohort, dims, instrument)
        with self.engine.connect() as conn:
            scales = safety_sql.scale_scores(conn, chosen)
        moaas = scales[scales["instrument"] == instruments.MOAAS.id]
        sedated = moaas.loc[moaas["total"] <= self.settings.sedation_moaas_max, "session_id"]
        flagged = is_member(doses["session_id"], sedated)
        return _session_rates(doses, attrs, dims, flagged)

    def measurement_completion(
        self, instrument: str = "PHQ-9", by: str | Sequence[str] | None = None,
        **cohort: Any,
    ) -> pd.DataFrame:  # fmt: skip
        """Completed dosing sessions with a score of `instrument` in the days before them
        (kapviz.metrics.program.measurement_completion, the Overview's rule) over completed
        dosing sessions per group, with a 95% Wilson interval (COMPLETION_KEYS after the
        group columns)."""
        instrument = instruments.get(instrument).id
        dims = _as_list(by)
        counted = self._safety_counts(cohort, dims, instrument, measured=instrument)
        if counted is not None:
            groups, done = counted
            sums = _by_group(done, dims, "sessions")
            records = [
                _completion_record(key, sums.get(tuple(key.values()), 0), total)
                for key, total in _group_records(groups, dims, "dosing_sessions")
            ]
            return pd.DataFrame.from_records(records, columns=[*dims, *COMPLETION_KEYS])
        chosen, attrs, _ = self._cohort(cohort, dims, instrument=instrument, outcomes=False)
        filters = chosen.filters
        begin = (
            None if filters.start is None else datetime.combine(filters.start, datetime.min.time())
        )
        stop = (
            None
            if filters.end is None
            else datetime.combine(filters.end + timedelta(days=1), datetime.min.time())
        )
        with self.engine.connect() as conn:
            courses = program_sql.measurement_by_course(
                conn, filters, start=begin, end=stop, instrument=instrument
            )
        courses = courses[is_member(courses["course_id"], attrs["course_id"])]
        records = [
            _completion_record(key, *measurement_completion(courses[in_group]))
            for key, in_group in _parts(attrs, dims, courses["course_id"])
        ]
        return pd.DataFrame.from_records(records, columns=[*dims, *COMPLETION_KEYS])

    def _doses(
        self, cohort: dict[str, Any], dims: list[str], instrument: str | None
    ) -> tuple[Filters, pd.DataFrame, pd.DataFrame]:
        """The cohort's filters, its doses as the Safety page reads them (completed dosing
        sessions of the courses in scope, started inside the date range) and its courses'
        attributes."""
        inst = instruments.get(instrument).id if instrument else None
        chosen, attrs, _ = self._cohort(cohort, dims, instrument=inst, outcomes=False)
        with self.engine.connect() as conn:
            doses = safety_sql.doses(conn, chosen.filters)
        doses = doses[is_member(doses["course_id"], attrs["course_id"])].reset_index(drop=True)
        return chosen.filters, doses, attrs

    def time_to_response(
        self, instrument: str, by: str | Sequence[str] | None = None, **cohort: Any
    ) -> pd.DataFrame:
        """Kaplan–Meier time to first response per group (kapviz.metrics.time_to_response):
        courses in the analysis, responders, median days with its 95% Brookmeyer–Crowley
        interval (NaN when the curve or its limit never reaches 0.5)."""
        instrument = instruments.get(instrument).id
        dims = _as_list(by)
        _, attrs, rows = self._cohort(cohort, dims, instrument=instrument, outcomes=True)
        assert rows is not None
        mine = rows[(rows["instrument"] == instrument) & rows["course_id"].isin(attrs["course_id"])]
        times = response_days(mine)  # the curve reads days only: no dose is read
        records = []
        scored = attrs[attrs["course_id"].isin(mine["course_id"])]
        for key, in_group in _parts(scored, dims, times["course_id"]):
            part = times[in_group]
            curve = kaplan_meier(part["days"], part["responded"])
            low, high = curve.median_ci
            records.append(
                {
                    **key,
                    "courses": curve.courses,
                    "responders": curve.responders,
                    "median_days": _nan(curve.median),
                    "median_days_ci_low": _nan(low),
                    "median_days_ci_high": _nan(high),
                }
            )
        return pd.DataFrame.from_records(records, columns=[*dims, *TIME_TO_RESPONSE_KEYS])


def _chosen(cohort_keywords: dict[str, Any], dims: list[str], instrument: str | None) -> Cohort:
    """The cohort of a measure's keywords, within the `scope` keyword's filters when given;
    ValueError for a baseline band without an instrument or a value no course can have."""
    keywords = dict(cohort_keywords)
    scope = keywords.pop("scope", None)
    chosen = Cohort.of(**keywords)
    chosen = replace(chosen, filters=within(chosen.filters, scope), instrument=instrument)
    needs_band = "baseline_band" in dims or "baseline_band" in chosen.attributes
    if needs_band and instrument is None:
        raise ValueError("baseline_band needs an instrument (instrument=...)")
    _check_values(chosen.attributes, instrument)
    return chosen


def _outcome_summary(part: pd.DataFrame) -> dict[str, Any]:
    """OUTCOME_KEYS of one group's outcome rows: `outcome_rates` and the means' intervals."""
    rates = outcome_rates(part)
    record = _outcome_record(rates.iloc[0] if len(rates) else None)
    evaluable = part[part["evaluable"].astype(bool)]
    for name, column in (("baseline_mean", "baseline"), ("endpoint_mean", "endpoint"),
                         ("mean_change", "change")):  # fmt: skip
        _, low, high = mean_ci(evaluable[column])
        record[f"{name}_ci_low"], record[f"{name}_ci_high"] = low, high
    return record


def _rebuilt_parts(
    grouped: pd.DataFrame, dims: list[str], chosen: Cohort
) -> list[tuple[dict[str, str], pd.DataFrame]]:
    """Each group's outcome rows from `explore_rollups.outcome_groups`' counts: every
    distinct row repeated as many times as courses have it, typed as stored outcome rows
    (only the columns the outcome measures read; the rest NaN). The groups in the order of
    `_parts` (sorted by their values)."""
    instrument = chosen.instrument
    assert instrument is not None
    frame = grouped.copy()
    for dim in dims:
        if dim != "baseline_band":
            frame[dim] = frame[dim].astype(object)
    if "baseline_band" in dims or "baseline_band" in chosen.attributes:
        bands = [breakdowns.band_of_baseline(b, instrument) for b in frame["baseline"]]
        frame["baseline_band"] = pd.Series(bands, index=frame.index, dtype=object)
        if "baseline_band" in chosen.attributes:
            frame = frame[frame["baseline_band"].isin(set(chosen.attributes["baseline_band"]))]
    for column in explore_rollups.OUTCOME_VALUES:
        dtype = OUTCOME_DTYPES[column]
        values = frame[column]
        if dtype is bool:
            frame[column] = values.astype(bool)
        elif dtype is object:
            frame[column] = values.astype(object).where(values.notna(), None)
        elif dtype == "boolean":
            frame[column] = values.astype("float64").astype("boolean")
        else:
            frame[column] = pd.to_numeric(values).astype(dtype)
    frame = frame.assign(instrument=instrument, time_to_response_days=math.nan)
    frame["time_to_response_doses"] = pd.array([pd.NA] * len(frame), dtype="Int64")

    def rows(part: pd.DataFrame) -> pd.DataFrame:
        return part.loc[part.index.repeat(part["courses"].to_numpy())].reset_index(drop=True)

    if not dims:
        return [({}, rows(frame))]
    parts = []
    for values, part in frame.groupby(dims, sort=True):
        values = values if isinstance(values, tuple) else (values,)
        parts.append((dict(zip(dims, values, strict=True)), rows(part)))
    return parts


def _check_values(attributes: dict[str, tuple[str, ...]], instrument: str | None) -> None:
    """A cohort value that no course can have is an error, not an empty answer."""
    known: dict[str, set[str]] = {
        "sex": {*SEXES, UNKNOWN},
        "age_band": {label for label, _, _ in AGE_BANDS} | {UNKNOWN},
    }
    if instrument is not None:
        known["baseline_band"] = {b.label for b in instruments.get(instrument).bands} | {UNKNOWN}
    for name, values in attributes.items():
        wrong = [v for v in values if name in known and v not in known[name]]
        if wrong:
            raise ValueError(f"no {name} {wrong}; use one of {sorted(known[name])}")


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _parts(
    attrs: pd.DataFrame, dims: list[str], ids: pd.Series
) -> list[tuple[dict[str, str], np.ndarray]]:
    """(group key, which of `ids` (course ids of some rows) are in the group) per group of
    `attrs`' courses, sorted by the group values; without dimensions, one group of all.

    Each row's group is found once, by position (a hash lookup of its course id): testing
    membership per group would convert every Arrow string of the rows once per group."""
    position = dose_positions(ids, attrs["course_id"].reset_index(drop=True))
    if not dims:
        return [({}, position >= 0)]
    grouped = attrs.reset_index(drop=True).groupby(dims, sort=True)
    number = grouped.ngroup().to_numpy()
    code = np.where(position >= 0, number[np.maximum(position, 0)] if len(number) else -1, -1)
    out = []
    for i, values in enumerate(grouped.size().index):
        values = values if isinstance(values, tuple) else (values,)
        out.append((dict(zip(dims, values, strict=True)), code == i))
    return out


def _outcome_record(rates: pd.Series | None) -> dict[str, Any]:
    """OUTCOME_KEYS from one `outcome_rates` row (zeros and NaN without one)."""
    if rates is None:
        return {k: (0 if k in COUNT_KEYS else math.nan) for k in OUTCOME_KEYS}
    record: dict[str, Any] = {}
    renamed = {"responders": "response_n", "remitters": "remission_n"}
    for key in OUTCOME_KEYS:
        value = rates.get(renamed.get(key, key), math.nan)  # mean CIs: added by the caller
        record[key] = int(value) if key in COUNT_KEYS else float(value)
    return record


def _session_rates(
    doses: pd.DataFrame, attrs: pd.DataFrame, dims: list[str], flagged: np.ndarray
) -> pd.DataFrame:
    """SESSION_RATE_KEYS per group: flagged doses over the group's doses."""
    records = [
        _rate_record(key, int(mine.sum()), int(flagged[mine].sum()))
        for key, mine in _parts(attrs, dims, doses["course_id"])
    ]
    return pd.DataFrame.from_records(records, columns=[*dims, *SESSION_RATE_KEYS])


def _completion_record(key: dict[str, str], measured: int, total: int) -> dict[str, Any]:
    """COMPLETION_KEYS of a group: `measured` of its `total` doses, 95% Wilson interval."""
    low, high = wilson_interval(measured, total)
    return {
        **key,
        "dosing_sessions": total,
        "measured": measured,
        "rate": measured / total if total else math.nan,
        "ci_low": low,
        "ci_high": high,
    }


def _rate_record(key: dict[str, str], n: int, k: int) -> dict[str, Any]:
    """SESSION_RATE_KEYS of a group: `k` flagged doses of its `n`, 95% Wilson interval."""
    low, high = wilson_interval(k, n)
    return {
        **key,
        "dosing_sessions": n,
        "sessions": k,
        "rate": k / n if n else math.nan,
        "ci_low": low,
        "ci_high": high,
    }


def _session_rates_of_counts(
    groups: pd.DataFrame, flagged: pd.DataFrame, dims: list[str]
) -> pd.DataFrame:
    """`_session_rates` from the counts of `Clinic._safety_counts(flagged=...)`."""
    sessions = _by_group(flagged, dims, "sessions")
    records = [
        _rate_record(key, n, sessions.get(tuple(key.values()), 0))
        for key, n in _group_records(groups, dims, "dosing_sessions")
    ]
    return pd.DataFrame.from_records(records, columns=[*dims, *SESSION_RATE_KEYS])


def _adverse_record(key: dict[str, str], n: int, k: int) -> dict[str, Any]:
    """ADVERSE_EVENT_KEYS of a group of `n` doses with `k` events."""
    low, high = poisson_interval(k)
    return {
        **key,
        "dosing_sessions": n,
        "events": k,
        "events_per_100_doses": 100 * k / n if n else math.nan,
        "ci_low": 100 * low / n if n else math.nan,
        "ci_high": 100 * high / n if n else math.nan,
    }


def _group_records(groups: pd.DataFrame, dims: list[str], *columns: str) -> list[tuple]:
    """(group key, the values of `columns`) per row of explore_rollups.dose_groups."""
    out = []
    for record in groups.to_dict("records"):
        key = {d: record[d] for d in dims}
        out.append((key, *(int(record[c]) for c in columns)))
    return out


def _by_group(effects: pd.DataFrame, dims: list[str], column: str) -> dict[tuple, int]:
    """The sum of `column` of explore_rollups.effect_groups per group key (a tuple)."""
    if not dims:
        return {(): int(effects[column].sum())}
    sums = effects.groupby(dims, sort=False)[column].sum()
    return {k if isinstance(k, tuple) else (k,): int(v) for k, v in sums.items()}


def _side_effects_of_counts(
    groups: pd.DataFrame, effects: pd.DataFrame, dims: list[str], term: str | None
) -> pd.DataFrame:
    """`Clinic.side_effects` from the counts of `Clinic._safety_counts`: per group,
    `rates_from_counts` of its terms (the Safety page's rule from counts)."""
    counts = ["term", "sessions", "patients", "mild", "moderate", "severe"]
    if dims:
        of_group = {
            k if isinstance(k, tuple) else (k,): part
            for k, part in effects.groupby(dims, sort=False)
        }
    else:
        of_group = {(): effects}
    parts = []
    for key, n, patients in _group_records(groups, dims, "dosing_sessions", "patients_dosed"):
        mine = of_group.get(tuple(key.values()), effects.iloc[:0])
        rates = rates_from_counts(
            mine[counts].reset_index(drop=True), dosing_sessions=n, patients_dosed=patients
        )
        if term is not None and rates.empty:
            rates = _no_effect(term, n, patients)
        parts.append(rates.assign(**key)[[*dims, *SIDE_EFFECT_KEYS]])
    if not parts:
        return pd.DataFrame(columns=[*dims, *SIDE_EFFECT_KEYS])
    return pd.concat(parts, ignore_index=True)


def _no_effect(term: str, n: int, patients: int) -> pd.DataFrame:
    """SIDE_EFFECT_KEYS of a term none of a group's `n` doses (of `patients` patients) had:
    0 sessions and patients."""
    patients = int(patients)
    low, high = wilson_interval(0, n)
    return pd.DataFrame.from_records(
        [
            {
                "term": term,
                "sessions": 0,
                "dosing_sessions": n,
                "session_rate": 0.0 if n else math.nan,
                "session_ci_low": low,
                "session_ci_high": high,
                "patients": 0,
                "patients_dosed": patients,
                "patient_rate": 0.0 if patients else math.nan,
            }
        ]
    )
