"""The Explore page's glue: its widgets, kept in the URL; the cached run; the outputs.

Every choice is a URL parameter of `kapviz.explore.ExploreView.to_params`, so a copied link,
a bookmark or a reload reopens the same view. The global filters (site, indication, route,
from, to) are the sidebar's own parameters; the page writes the others itself after each
run, and when the URL holds parameters it did not write (a first load, a reload, a link, a
saved cohort), it sets its widgets from them first. A parameter it cannot use is reported
with a warning, never dropped silently.

Analysts get no clinician widget or breakdown, counts below the small-cell threshold as
"<11" with their rates blanked, and no group drawn from a small count; supervisors see
their sites only (the scoped filters are the run's scope).
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from sqlalchemy.engine import make_url

from kapviz import explore, instruments, privacy, safe_text
from kapviz.api import AGE_BANDS, DIMENSIONS, UNKNOWN, Clinic
from kapviz.charts import explore as chart
from kapviz.domain import SEXES
from kapviz.filters import Filters
from kapviz.metrics.course_attributes import DOSE_BANDS_MG, DOSE_BANDS_MG_PER_KG, _band
from kapviz.ui import auth, data, redact
from kapviz.ui import filters as global_filters
from kapviz.ui.db import database_url, engine_for, settings
from kapviz.ui.exports import audited, csv_download
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
MAX_RESULTS = 32
RESULT_TTL_SECONDS = 3600


# -- what the viewer may choose ------------------------------------------------------------


def shows_clinicians() -> bool:
    """Clinician codes (widget, breakdown, table): not for analysts."""
    return auth.shows_ids()


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


@st.cache_data(ttl=RESULT_TTL_SECONDS, max_entries=8, show_spinner=False)
def _clinicians(url: str, filters: Filters, data_version: tuple) -> list[str]:
    sessions = data.sessions(filters)
    return sorted(str(c) for c in sessions["clinician"].dropna().unique())


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


# -- the run --------------------------------------------------------------------------------


@st.cache_data(ttl=RESULT_TTL_SECONDS, max_entries=MAX_RESULTS, show_spinner=False)
def _run(
    url: str, view: explore.ExploreView, scope: Filters, data_version: tuple
) -> explore.ExploreResult:
    return in_natural_order(explore.run(Clinic(engine_for(url), settings()), view, scope=scope))


def natural_order(dimension: str, instrument: str | None) -> list[str]:
    """The order groups of a dimension are listed in where it has one (bands low to high,
    the registry's severity bands); other dimensions sort by name. "unknown" comes last."""
    orders = {
        "dose_band": dose_bands(),
        "age_band": [label for label, _, _ in AGE_BANDS],
        "baseline_band": baseline_bands(instrument),
        "sex": list(SEXES),
    }
    return orders.get(dimension, [])


def in_natural_order(res: explore.ExploreResult) -> explore.ExploreResult:
    """The result with its rows in each dimension's natural order (first dimension first)."""
    if res.table.empty or not res.view.by:
        return res

    def rank(dimension: str):
        order = natural_order(dimension, res.view.instrument)
        place = {v: i for i, v in enumerate(order)}

        def key(values: pd.Series) -> pd.Series:
            return pd.Series(
                [
                    (2, "")
                    if v == UNKNOWN
                    else (0, f"{place[v]:04d}")
                    if v in place
                    else (1, str(v))
                    for v in values
                ],
                index=values.index,
            )

        return key

    table = res.table
    keys = pd.DataFrame({d: rank(d)(table[d]) for d in res.view.by})
    order = sorted(range(len(table)), key=lambda i: tuple(keys.iloc[i]))
    return replace(res, table=table.iloc[order].reset_index(drop=True))


def result(view: explore.ExploreView, scope: Filters) -> explore.ExploreResult | None:
    """`kapviz.explore.run` of the view within the viewer's scope, cached per data version;
    None (with the reason shown) for a view the API refuses."""
    try:
        return _run(database_url(), view, scope, data.version())
    except ValueError as exc:
        st.error(f"This view cannot be computed: {safe_text.markdown(exc)}.")
        return None


def measure_of(view: explore.ExploreView) -> explore.Measure:
    return explore.MEASURES[view.measure]


EMPTY_HINT = "Widen the filters in the sidebar or the cohort's course attributes."


# -- the outputs ----------------------------------------------------------------------------


def shown_table(res: explore.ExploreResult) -> pd.DataFrame:
    """The table as shown and downloaded: group labels, counts, the estimate and its 95% CI
    (proportions in whole percent, means to one decimal, median days whole)."""
    m = res.measure
    frame = res.table.copy()
    for dim in res.view.by:
        frame[dim] = [chart.group_text(dim, v) for v in frame[dim]]
    scale, digits = (100.0, 0) if m.kind in chart.PERCENT_KINDS else (1.0, 1)
    if m.kind == "median_days":
        digits = 0
    for column in ("value", "ci_low", "ci_high"):
        frame[column] = (frame[column].astype("float64") * scale).round(digits)
    columns = [*res.view.by, *count_columns(res), "value", "ci_low", "ci_high"]
    return frame[columns]


def count_columns(res: explore.ExploreResult) -> list[str]:
    """The counts of the table: no numerator for means (n is the denominator)."""
    if res.measure.kind == "mean":
        return ["denominator"]
    return ["numerator", "denominator"]


ESTIMATES = ("value", "ci_low", "ci_high")
COUNT_LABELS = {
    "proportion": ("In the numerator", "In the denominator"),
    "per_100": ("Events", "Dosing sessions"),
    "median_days": ("Responders", "Courses in the analysis"),
    "mean": ("", "Evaluable courses"),
}


def estimate_text(value: object, kind: str) -> str:
    """An estimate of `shown_table` as a cell: "57%", "-5.8", "19"; empty when there is
    none (an empty group, a limit not reached, a suppressed row)."""
    if value is None or pd.isna(value):
        return ""
    if kind in chart.PERCENT_KINDS:
        return f"{value:.0f}%"
    return f"{value:.0f}" if kind == "median_days" else f"{value:.1f}"


def table_section(res: explore.ExploreResult) -> None:
    """The table (counts "<11" and their estimates hidden for analysts) and its CSV, which
    holds the same rows with the estimates as numbers."""
    counts = count_columns(res)
    numbers = redact.suppress_rows(shown_table(res), counts=counts, blank=ESTIMATES)
    shown = numbers.copy()
    for column in ESTIMATES:
        shown[column] = [estimate_text(v, res.measure.kind) for v in shown[column]]
    m = res.measure
    first, second = COUNT_LABELS[m.kind]
    count_column = (
        st.column_config.TextColumn if redact.suppresses() else st.column_config.NumberColumn
    )
    config = {
        **{d: st.column_config.TextColumn(DIMENSION_LABELS[d], pinned=True) for d in res.view.by},
        "numerator": count_column(first or "Numerator"),
        "denominator": count_column(second),
        "value": st.column_config.TextColumn(axis_title(m)),
        "ci_low": st.column_config.TextColumn("95% CI low"),
        "ci_high": st.column_config.TextColumn("95% CI high"),
    }
    st.dataframe(shown, hide_index=True, key="explore_table", column_config=config)
    csv_download(
        "Download this table (CSV)",
        numbers,
        file_name=f"{file_stem(res.view)}.csv",
        key="explore_table_csv",
        what="explore table",
    )


def sentence(res: explore.ExploreResult) -> str:
    """What was computed and by which rule, as literal text. For analysts a total below the
    small-cell threshold is written as "<11", as every count on the page."""
    text = res.sentence
    total = int(res.table["denominator"].sum()) if len(res.table) else 0
    if auth.count_label(total) != f"{total:,}":
        text = text.replace(f"n = {total:,}", f"n = {auth.count_label(total)}")
    return safe_text.markdown(text)


def axis_title(m: explore.Measure) -> str:
    """The measure with its unit, unless the label already says it."""
    return m.label if m.unit.lower() in m.label.lower() else f"{m.label} ({m.unit})"


@st.cache_resource(ttl=RESULT_TTL_SECONDS, max_entries=MAX_RESULTS, show_spinner=False)
def _figure(
    url: str,
    view: explore.ExploreView,
    scope: Filters,
    data_version: tuple,
    small: int | None,
) -> go.Figure:
    res = _run(url, view, scope, data_version)
    return chart.dot_interval(
        redact.drawable(res.table, count_columns(res), small),
        by=res.view.by,
        kind=res.measure.kind,
        axis_title=axis_title(res.measure),
        count_label=lambda n: (
            privacy.suppressed_label(small) if small and 0 < n < small else f"{n:,}"
        ),
    )


def figure(view: explore.ExploreView, scope: Filters) -> go.Figure:
    """The chart of `result(view, scope)`, cached with it (shared: never changed in place).
    For analysts without the groups drawn from a count below the threshold, and small counts
    in labels as "<11"."""
    return _figure(database_url(), view, scope, data.version(), redact.small_below())


def file_stem(view: explore.ExploreView) -> str:
    parts = [view.measure]
    if view.instrument and explore.MEASURES[view.measure].needs_instrument:
        parts.append(view.instrument)
    if view.term:
        parts.append(view.term)
    parts += [f"by-{d}" for d in view.by]
    return "explore-" + "-".join(p.replace("/", "").replace(" ", "_") for p in parts)


def notebook_url(url: str) -> str:
    """The database URL handed to the notebook: its password as *** (kapviz.explore_notebook
    then reads the full URL from an environment variable), never the password itself."""
    return make_url(url).render_as_string(hide_password=True)


def notebook_download(res: explore.ExploreResult) -> None:
    """ "Open as notebook": a Jupyter notebook that rebuilds this view with the Python API.
    Not for analysts: it reads exact counts straight from the database."""
    if not auth.shows_ids():
        st.caption(
            ":material/visibility_off: The notebook computes exact counts from the database, "
            "so it is not offered to analysts."
        )
        return
    stem = file_stem(res.view)
    url = notebook_url(database_url())
    st.download_button(
        "Open as notebook (.ipynb)",
        audited(
            lambda: _notebook_bytes(res.view, url),
            target=f"{stem}.ipynb",
            detail={"what": "explore notebook", "view": res.view.to_params()},
        ),
        file_name=f"{stem}.ipynb",
        mime="application/x-ipynb+json",
        icon=":material/code:",
        on_click="ignore",
        key="explore_notebook",
        help="A Jupyter notebook that connects with the Python API and rebuilds this table "
        "and chart. The database password is never written into it (shown as ***).",
    )


def _notebook_bytes(view: explore.ExploreView, url: str) -> bytes:
    import nbformat

    from kapviz.explore_notebook import notebook_for

    return nbformat.writes(notebook_for(view, url)).encode("utf-8")
