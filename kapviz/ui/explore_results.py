"""The Explore page's run and outputs: the cached `kapviz.explore.run`, the sentence, the
chart, the table with its CSV, and the notebook download.

Analysts see counts below the small-cell threshold as "<11" with their estimates blanked,
no group drawn from a small count, and no notebook (it reads exact counts).
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from sqlalchemy.engine import make_url

from kapviz import explore, privacy, safe_text
from kapviz.api import AGE_BANDS, UNKNOWN, Clinic
from kapviz.charts import explore as chart
from kapviz.domain import SEXES
from kapviz.filters import Filters
from kapviz.ui import data, redact
from kapviz.ui.db import database_url, engine_for, settings
from kapviz.ui.explore import DIMENSION_LABELS, baseline_bands, dose_bands
from kapviz.ui.exports import audited, csv_download

MAX_RESULTS = 32
RESULT_TTL_SECONDS = 3600


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
    if redact.count_label(total) != f"{total:,}":
        text = text.replace(f"n = {total:,}", f"n = {redact.count_label(total)}")
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
    if not redact.shows_ids():
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
