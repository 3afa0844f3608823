"""Published figures beside the clinic's own (docs/domain.md §4b), as lines of text.

A reference is written on its own line under the clinic's rate, with its study,
population, size, route and time point, never drawn in the clinic's series and never as a
target. When no published figure is comparable, the line says which exist and why they
are not shown (other routes, other time point).
"""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from kapviz.db import rollups
from kapviz.db.aggregates import cohort
from kapviz.evidence import registry
from kapviz.evidence.clinic import clinic_figure
from kapviz.filters import Filters
from kapviz.instruments import PHQ9
from kapviz.metrics.outcomes import outcome_rates
from kapviz.ui import data, overview, redact
from kapviz.ui.db import database_url, settings

TTL = 3600
"""An hour: every entry is keyed by the data version and dropped on a new one
(kapviz.ui.data.drop_old_versions); the hour lets go of filter sets nobody asks for again."""
MEASURES = (("response", "response"), ("remission", "remission"))
NOT_A_TARGET = "Published figures for context, not targets; populations and methods differ."


def _key(filters: Filters) -> tuple:
    return (database_url(), filters, data.version(), settings().baseline_window_days)


def _outcomes(filters: Filters, instrument: str, endpoints_only: bool) -> pd.DataFrame:
    if endpoints_only and instrument == PHQ9.id:
        # The Overview's own PHQ-9 rows (from the rollups when they can answer): the same
        # rates without reading every score on the page that must load fastest.
        return overview.phq9_outcomes(filters)
    return data.outcomes(filters)


def _stored_routes(filters: Filters) -> frozenset[str] | None:
    """The first-dose routes of the Overview's PHQ-9 courses from the rollups, when its
    outcome rows come from them (the same courses): an index probe per course instead of
    every course's first dose found among all doses. None: found from the doses."""
    if not overview.from_rollups(filters):
        return None
    return data.aggregate(
        rollups.first_dose_routes,
        filters,
        instrument=PHQ9.id,
        baseline_window_days=settings().baseline_window_days,
    )


@st.cache_resource(ttl=TTL, max_entries=64, show_spinner=False)
def _figures(
    key: tuple, instrument: str, endpoints_only: bool
) -> tuple[registry.ClinicFigure, ...]:
    outcomes = _outcomes(key[1], instrument, endpoints_only)
    routes = _stored_routes(key[1]) if endpoints_only and instrument == PHQ9.id else None
    first = None if routes is not None else data.first_doses(key[1])
    figures = [
        clinic_figure(outcomes, None, first, instrument=instrument, measure=m, routes=routes)
        for m, _ in MEASURES
    ]
    # The dose count at the endpoint only matters when a study of these courses' routes
    # exists: otherwise the completed doses (the larger read) are not fetched at all.
    if registry.could_match(instrument, figures[0].routes):
        doses = data.aggregate(cohort.completed_doses, key[1])
        figures = [
            clinic_figure(outcomes, doses, first, instrument=instrument, measure=m, routes=routes)
            for m, _ in MEASURES
        ]
    return tuple(figures)


@st.cache_resource(ttl=TTL, max_entries=32, show_spinner=False)
def _rates(key: tuple, instrument: str, endpoints_only: bool) -> pd.DataFrame:
    outcomes = _outcomes(key[1], instrument, endpoints_only)
    return outcome_rates(outcomes[outcomes["instrument"] == instrument])


def _pct(value: float) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.0%}"


def clinic_text(row: pd.Series, measure: str) -> str:
    """ "this selection: 43% (95% CI 40%–46%; 388 of 898 courses)" for one rate."""
    n, k = int(row[f"{measure}_denominator"]), int(row[f"{measure}_n"])
    if not n:
        return "this selection: no denominator"
    ci = f"95% CI {_pct(row[f'{measure}_ci_low'])}–{_pct(row[f'{measure}_ci_high'])}"
    return (
        f"this selection: {_pct(row[f'{measure}_rate'])} ({ci}; "
        f"{redact.count_label(k)} of {redact.count_label(n)} courses)"
    )


def beside_rates(filters: Filters, instrument: str, *, endpoints_only: bool = False) -> None:
    """Under an instrument's rates: the matching published response/remission figures.

    `endpoints_only` (Overview, PHQ-9): outcomes from the SQL-picked baseline and endpoint.
    """
    key = _key(filters)
    rates = _rates(key, instrument, endpoints_only)
    mine = rates[rates["instrument"] == instrument]
    if mine.empty:
        return
    row = mine.iloc[0]
    figures = _figures(key, instrument, endpoints_only)
    lines = [
        f"• **{ref.line()}** — {label}, {clinic_text(row, measure)}"
        for figure, (measure, label) in zip(figures, MEASURES, strict=True)
        for ref in registry.matching(figure)
    ]
    if lines:
        st.markdown(f"**Beside published figures · {instrument}**")
        for line in lines:  # one paragraph each: a text bullet, not a markdown list
            st.markdown(line)
        st.caption(f"{NOT_A_TARGET} This selection's endpoints: {registry.when_text(figures[0])}.")
        return
    why = registry.why_none(figures[0], measures=[m for m, _ in MEASURES])
    if why and endpoints_only:
        st.caption(
            f"No published {instrument} figure matches these courses ("
            f"{registry.when_text(figures[0])}); choose one route in the filters to compare "
            "with studies of that route (details on the Trajectories page)."
        )
    elif why:
        st.caption(why)


def bp_reference(filters: Filters) -> None:
    """Under the Safety page's BP panel: the published mean peak rise (IV ketamine)."""
    text = bp_text(filters.routes)
    if text:
        st.caption(text)


def bp_text(routes: tuple[str, ...]) -> str:
    """One line on the published IV blood-pressure figures ("" when IV is filtered out)."""
    rise = registry.by_measure("bp_peak_rise", routes=routes)
    severe = registry.by_measure("severe_hypertension", routes=routes)
    if not rise:
        return ""
    r = rise[0]
    text = (
        f"Published, for context: {r.study} ({r.population}; n = {r.n:,} {r.n_unit}): "
        f"mean peak rise {r.value_text()} ({r.time_point})"
    )
    if severe:
        s = severe[0]
        text += f"; severe hypertension in {s.value_text()} of infusions ({s.time_point})"
    return text + ". Context, not a target: the series is of IV infusions only."
