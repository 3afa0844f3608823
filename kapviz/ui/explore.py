"""The Explore page's choices: its widgets, kept in the URL (the run and the outputs are in
kapviz.ui.explore_results).

Every choice is a URL parameter of `kapviz.explore.ExploreView.to_params`, so a copied link,
a bookmark or a reload reopens the same view. The global filters (site, indication, route,
from, to) are the sidebar's own parameters; the page writes the others itself after each
run, and when the URL holds parameters it did not write (a first load, a reload, a link, a
saved cohort), it sets its widgets from them first. A parameter it cannot use is reported
with a warning, never dropped silently.

Analysts get no clinician widget or breakdown; supervisors see their sites only (the
scoped filters are the run's scope).
"""

from __future__ import annotations

import streamlit as st

from kapviz import explore, instruments, safe_text
from kapviz.api import AGE_BANDS, DIMENSIONS, UNKNOWN
from kapviz.db import explore_rollups
from kapviz.domain import SEXES
from kapviz.filters import Filters
from kapviz.metrics.course_attributes import DOSE_BANDS_MG, DOSE_BANDS_MG_PER_KG, _band
from kapviz.ui import data, redact
from kapviz.ui import filters as global_filters
from kapviz.ui.db import database_url, engine_for
from kapviz.vocabulary import PREFERRED_TERMS

SIDEBAR_PARAMS = frozenset(global_filters.QUERY_KEYS)
"""The global filters' URL parameters: written by the sidebar's bound widgets."""
PAGE_PARAMS = tuple(p for p in explore.URL_PARAMS if p not in SIDEBAR_PARAMS)
"""The URL parameters this page writes."""
WRITTEN = "_explore_written"
ERRORS = "_explore_url_errors"
LOADED = "_explore_loaded_view"
KEPT = "_explore_kept"
"""Instrument and term while their widgets are hidden (a widget's state goes with it)."""

W = {
    "measure": "explore_measure",
    "instrument": "explore_instrument",
    "term": "explore_term",
    "by": "explore_by",
    "baseline_band": "explore_baseline_band",
    "age_band": "explore_age_band",
    "sex": "explore_sex",
    "clinician": "explore_clinician",
    "dose_band": "explore_dose_band",
    "doses_min": "explore_doses_min",
    "doses_max": "explore_doses_max",
    "first_dose_from": "explore_first_dose_from",
    "first_dose_to": "explore_first_dose_to",
}
"""Widget keys by view field (page-local, prefixed)."""
MULTI_FIELDS = ("baseline_band", "age_band", "sex", "clinician", "dose_band")

DIMENSION_LABELS = {
    "site": "Site",
    "clinician": "Clinician",
    "route": "Route",
    "indication": "Indication",
    "dose_band": "Dose band",
    "sex": "Sex",
    "age_band": "Age band",
    "baseline_band": "Baseline severity",
}
OPTIONS_TTL_SECONDS = 3600


# -- what the viewer may choose ------------------------------------------------------------


def shows_clinicians() -> bool:
    """Clinician codes (widget, breakdown, table): not for analysts."""
    return redact.shows_ids()


def dimensions() -> list[str]:
    """Breakdown dimensions offered to this viewer."""
    return [d for d in DIMENSIONS if d != "clinician" or shows_clinicians()]


def dose_bands() -> list[str]:
    """Every dose band label (kapviz.metrics.course_attributes), mg/kg bands first."""
    labels: list[str] = []
    for edges, unit in ((DOSE_BANDS_MG_PER_KG, "mg/kg"), (DOSE_BANDS_MG, "mg")):
        points = [edges[0] - 1, *edges]
        labels += [str(_band(float(p), edges, unit)) for p in points]
    return [*labels, UNKNOWN]


def baseline_bands(instrument: str | None) -> list[str]:
    if instrument is None:
        return []
    return [b.label for b in instruments.get(instrument).bands] + [UNKNOWN]


@st.cache_data(ttl=OPTIONS_TTL_SECONDS, max_entries=8, show_spinner=False)
def _clinicians(url: str, filters: Filters, data_version: tuple) -> list[str]:
    with engine_for(url).connect() as conn:
        return explore_rollups.session_clinicians(conn, filters)


def options(filters: Filters, instrument: str | None) -> dict[str, list[str]]:
    """The values each cohort widget offers (clinicians: those of the scope's sessions)."""
    clinicians = _clinicians(database_url(), filters, data.version()) if shows_clinicians() else []
    return {
        "baseline_band": baseline_bands(instrument),
        "age_band": [label for label, _, _ in AGE_BANDS] + [UNKNOWN],
        "sex": list(SEXES),
        "clinician": clinicians,
        "dose_band": dose_bands(),
    }


# -- the URL --------------------------------------------------------------------------------


def _url_page_params() -> dict[str, list[str]]:
    return {k: st.query_params.get_all(k) for k in PAGE_PARAMS if k in st.query_params}


def _normalised(params: dict[str, str | list[str]]) -> dict[str, list[str]]:
    return {k: [v] if isinstance(v, str) else list(v) for k, v in params.items()}


def sync_from_url(filters: Filters) -> None:
    """Set the widgets from the URL when it holds parameters this page did not write."""
    given = _url_page_params()
    if st.session_state.get(WRITTEN) == given:
        return
    view, errors = explore.ExploreView.from_params(given)
    errors = list(errors)
    if not shows_clinicians() and ("clinician" in view.by or view.cohort.clinician):
        errors.append("clinician breakdowns and filters are not open to your role")
    kept = st.session_state.setdefault(KEPT, {})
    kept["instrument"], kept["term"] = view.instrument, view.term
    st.session_state[W["measure"]] = view.measure
    st.session_state[W["instrument"]] = view.instrument or instruments.OUTCOME_INSTRUMENTS[0]
    st.session_state[W["term"]] = view.term
    st.session_state[W["by"]] = [d for d in view.by if d in dimensions()]
    offered = options(filters, view.instrument)
    for name in MULTI_FIELDS:
        chosen = getattr(view.cohort, name)
        if name == "clinician" and not shows_clinicians():
            chosen = ()
        unknown = [v for v in chosen if v not in offered[name]]
        errors += [f"{name.replace('_', ' ')} {v!r} is not among the choices" for v in unknown]
        st.session_state[W[name]] = [v for v in chosen if v in offered[name]]
    for name in ("doses_min", "doses_max", "first_dose_from", "first_dose_to"):
        st.session_state[W[name]] = getattr(view.cohort, name)
    st.session_state[ERRORS] = errors
    st.session_state[LOADED] = None  # the view the widgets give on this run (set in `view`)
    st.session_state[WRITTEN] = None


def write_url(view: explore.ExploreView) -> None:
    """Put the view's page parameters in the URL (the sidebar writes its own)."""
    wanted = {k: v for k, v in _normalised(view.to_params()).items() if k not in SIDEBAR_PARAMS}
    for key in PAGE_PARAMS:
        if key in wanted:
            if st.query_params.get_all(key) != wanted[key]:
                st.query_params[key] = wanted[key]
        elif key in st.query_params:
            del st.query_params[key]
    st.session_state[WRITTEN] = wanted


def url_warnings(view: explore.ExploreView) -> None:
    """Warn about the URL's unusable parameters until the viewer changes the view."""
    errors = st.session_state.get(ERRORS) or []
    if st.session_state.get(LOADED) is None:
        st.session_state[LOADED] = view
    if not errors or st.session_state.get(LOADED) != view:
        st.session_state[ERRORS] = []
        return
    listed = "; ".join(safe_text.markdown(e) for e in errors)
    st.warning(
        f"Some of this link's choices cannot be used and are not applied: {listed}. "
        "The view below shows what is in force.",
        icon=":material/link_off:",
    )


# -- the widgets ----------------------------------------------------------------------------


def controls(filters: Filters) -> explore.ExploreView:
    """Measure, instrument or side effect, breakdown and cohort widgets; the view they give."""
    kept = st.session_state.setdefault(KEPT, {})
    left, mid, right = st.columns([3, 2, 3])
    measure_key = left.selectbox(
        "Measure",
        list(explore.MEASURES),
        format_func=lambda k: explore.MEASURES[k].label,
        key=W["measure"],
    )
    measure = explore.MEASURES[measure_key]
    by = right.multiselect(
        "Break down by",
        dimensions(),
        format_func=DIMENSION_LABELS.get,
        max_selections=explore.MAX_BREAKDOWNS,
        key=W["by"],
        placeholder="No breakdown: the whole cohort",
        help="Up to two. Two give one panel per group of the second.",
    )
    uses_band = "baseline_band" in by or bool(st.session_state.get(W["baseline_band"]))
    if measure.needs_instrument or uses_band:
        kept["instrument"] = mid.selectbox(
            "Instrument",
            list(instruments.OUTCOME_INSTRUMENTS),
            key=W["instrument"],
            help=None if measure.needs_instrument else "Used for the baseline severity band.",
        )
    elif measure.needs_term:
        kept["term"] = mid.selectbox(
            "Side effect",
            list(PREFERRED_TERMS),
            key=W["term"],
            index=None,
            placeholder="Choose a side effect",
        )
    instrument = kept.get("instrument") or instruments.OUTCOME_INSTRUMENTS[0]
    term = kept.get("term") if measure.needs_term else None
    cohort = _cohort_widgets(filters, instrument)
    return explore.ExploreView(
        measure=measure_key, instrument=instrument, term=term, by=tuple(by), cohort=cohort
    )


def _cohort_widgets(filters: Filters, instrument: str) -> explore.CohortSpec:
    offered = options(filters, instrument)
    for name in MULTI_FIELDS:  # e.g. a band of the previous instrument
        held = st.session_state.get(W[name])
        if held:
            st.session_state[W[name]] = [v for v in held if v in offered[name]]
    active = any(st.session_state.get(W[n]) not in (None, []) for n in W if n in _COHORT_FIELDS)
    chosen: dict = {}
    with st.expander("Cohort: course attributes", expanded=active, icon=":material/groups:"):
        st.caption(
            "With the filters in the sidebar. A course is in the cohort when it has one of "
            "the values chosen in each list (none chosen: any)."
        )
        # Three to a row: five side by side cut the chosen values to "f…" on a laptop.
        cols = [*st.columns(3), *st.columns(3)]
        labels = {
            "baseline_band": f"Baseline severity ({instrument})",
            "age_band": "Age band",
            "sex": "Sex",
            "dose_band": "Dose band",
            "clinician": "Clinician",
        }
        fields = [n for n in MULTI_FIELDS if n != "clinician" or shows_clinicians()]
        for col, name in zip(cols, fields, strict=False):
            chosen[name] = tuple(
                col.multiselect(labels[name], offered[name], key=W[name], placeholder="Any")
            )
        a, b, c, d = st.columns(4)
        chosen["doses_min"] = a.number_input(
            "Completed doses, at least", value=None, min_value=0, step=1, key=W["doses_min"]
        )
        chosen["doses_max"] = b.number_input(
            "Completed doses, at most", value=None, min_value=0, step=1, key=W["doses_max"]
        )
        chosen["first_dose_from"] = c.date_input(
            "First dose from", value=None, key=W["first_dose_from"], format="YYYY-MM-DD"
        )
        chosen["first_dose_to"] = d.date_input(
            "First dose to", value=None, key=W["first_dose_to"], format="YYYY-MM-DD"
        )
    for low, high in (("doses_min", "doses_max"), ("first_dose_from", "first_dose_to")):
        if chosen[low] is not None and chosen[high] is not None and chosen[low] > chosen[high]:
            st.warning(f"{labels_of(low)} is after {labels_of(high)}: both are ignored.")
            chosen[low] = chosen[high] = None
    for name in ("doses_min", "doses_max"):
        chosen[name] = None if chosen[name] is None else int(chosen[name])
    return explore.CohortSpec.from_filters(filters, **chosen)


_COHORT_FIELDS = (*MULTI_FIELDS, "doses_min", "doses_max", "first_dose_from", "first_dose_to")


def labels_of(name: str) -> str:
    return {
        "doses_min": "'Completed doses, at least'",
        "doses_max": "'at most'",
        "first_dose_from": "'First dose from'",
        "first_dose_to": "'First dose to'",
    }[name]
