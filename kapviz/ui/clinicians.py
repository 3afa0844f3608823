"""The clinician view for supervisors (docs/domain.md §4c): outcomes and safety per clinician.

Scoped like every page: a supervisor's filters hold only their sites, so only the
clinicians of those courses appear. Analysts see "Clinician 1…n" instead of codes, small
counts as "<11" and no funnel point of fewer courses than the small-cell threshold.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from kapviz.charts.clinicians import clinician_funnel
from kapviz.db import clinician_rollups, rollups
from kapviz.db.aggregates import clinicians as clinicians_sql
from kapviz.filters import Filters
from kapviz.metrics import clinicians as metric
from kapviz.ui import data, redact, rollup_panel
from kapviz.ui.db import database_url, settings

TTL = 3600
"""An hour: every entry is keyed by the data version and dropped on a new one
(kapviz.ui.data.drop_old_versions); the hour lets go of filter sets nobody asks for again."""


def _key(filters: Filters) -> tuple:
    cfg = settings()
    thresholds = (cfg.bp_excursion_systolic, cfg.bp_excursion_diastolic)
    return (database_url(), filters, data.version(), cfg.baseline_window_days, thresholds)


def _inputs(filters: Filters, systolic: float, diastolic: float) -> tuple[pd.Series, pd.DataFrame]:
    """Each course's clinician and the safety counts per clinician: summed from the
    per-course rollup while it can answer (kapviz.db.clinician_rollups, the same numbers),
    else counted from every dose."""
    thresholds = {"systolic": systolic, "diastolic": diastolic}
    if rollups.serves(filters) and rollup_panel.status().current:
        stored = data.aggregate(clinician_rollups.inputs, filters, **thresholds)
        if stored is not None:
            return stored
    return data.aggregate(clinicians_sql.inputs, filters, **thresholds)


@st.cache_resource(ttl=TTL, max_entries=32, show_spinner="Computing figures per clinician…")
def _table(key: tuple, instrument: str, hide_codes: bool) -> tuple[pd.DataFrame, dict]:
    filters = key[1]
    systolic, diastolic = key[4]
    clinician_of, counts = _inputs(filters, systolic, diastolic)
    first = data.first_doses(filters)
    routes = first.drop_duplicates("course_id").set_index("course_id")["route"]
    table, programme = metric.clinician_table_from_counts(
        data.outcomes(filters),
        clinician_of,
        counts,
        instrument=instrument,
        first_routes=routes,
    )
    return (metric.pseudonymise(table) if hide_codes else table), programme


@st.cache_resource(ttl=TTL, max_entries=32, show_spinner=False)
def _figure(key: tuple, instrument: str, hide_codes: bool, small: int | None) -> go.Figure:
    table, programme = _table(key, instrument, hide_codes)
    drawn = table[table["response_denominator"] > 0]
    if small is not None:
        drawn = drawn[drawn["response_denominator"] >= small]
    n_max = int(max(10, table["response_denominator"].max() if len(table) else 10))
    curve = metric.funnel_curve(programme["response_rate"], int(n_max * 1.1))
    return clinician_funnel(
        drawn, curve, programme_rate=programme["response_rate"], instrument=instrument
    )


COUNTS = [
    "courses",
    "evaluable",
    "response_n",
    "response_denominator",
    "remission_n",
    "remission_denominator",
    "reliable_improvement_n",
    "reliable_improvement_denominator",
    "dosing_sessions",
    "adverse_events",
    "excursion_sessions",
]
PERCENT_COLUMNS = (
    "response_rate",
    "remission_rate",
    "reliable_improvement_rate",
    "baseline_top_band_share",
)
SHOWN = [
    "clinician",
    "baseline_top_band_share",
    "route_mix",
    "baseline_mean",
    "response_rate",
    "response_n",
    "response_denominator",
    "remission_rate",
    "remission_n",
    "remission_denominator",
    "reliable_improvement_rate",
    "reliable_improvement_n",
    "reliable_improvement_denominator",
    "mean_change",
    "ae_per_100",
    "adverse_events",
    "dosing_sessions",
    "excursion_sessions",
    "courses",
    "evaluable",
]


def section(filters: Filters, available: Sequence[str]) -> None:
    """ "By clinician": funnel plot of response and the table with case-mix beside it."""
    if not available:
        return
    st.subheader("By clinician")
    instrument = st.segmented_control(
        "Instrument", list(available), default=available[0], key="clin_instrument"
    )
    instrument = instrument or available[0]
    hide_codes = not redact.shows_ids()
    key = _key(filters)
    table, programme = _table(key, instrument, hide_codes)
    if table.empty or programme["response_denominator"] == 0:
        st.caption(f"No evaluable {instrument} course with a dosing clinician in this selection.")
        return
    st.plotly_chart(
        _figure(key, instrument, hide_codes, redact.small_below()),
        theme=None,
        key="clin_funnel",
    )
    st.caption(
        "A course counts for the clinician of most of its completed dosing sessions. Limits: "
        "exact binomial 95% (dashed) and 99.8% (dotted) around the programme's rate at each "
        "clinician's number of courses; outside 95% differs from the programme by more than "
        "chance at that volume. Read every rate beside its case-mix: the share of courses in "
        "the most severe baseline band and the routes."
    )
    shown = table[SHOWN].copy()
    for column in PERCENT_COLUMNS:
        shown[column] = 100 * shown[column]
    redact.aggregate_table(
        shown,
        counts=COUNTS,
        blank=[
            "response_rate",
            "remission_rate",
            "reliable_improvement_rate",
            "mean_change",
            "ae_per_100",
            "baseline_mean",
            "baseline_top_band_share",
            "route_mix",
        ],
        key=f"clin_table_{instrument}",
        download=f"clinicians-{instrument}.csv",
        hide_index=True,
        column_config=_table_columns(),
    )
    st.caption(
        f"Programme: response {programme['response_rate']:.0%} of "
        f"{redact.count_label(programme['response_denominator'])} courses; "
        f"{programme['ae_per_100']:.1f} adverse events per 100 dosing sessions."
    )


def _table_columns() -> dict:
    """Narrow columns and the clinician pinned: the table has 19 columns, and at 1440 px the
    rates were scrolled out of view behind the routes' text with nothing to say whose row
    a rate was on once scrolled. Counts keep a plain column (an analyst's may read "<11")."""

    def count(label: str, width: int = 80) -> object:
        return st.column_config.Column(label, width=width)

    def number(label: str, fmt: str, width: int = 80, help: str | None = None) -> object:
        return st.column_config.NumberColumn(label, format=fmt, width=width, help=help)

    return {
        "clinician": st.column_config.TextColumn("Clinician", pinned=True),
        "response_rate": number("Response", "%.0f%%"),
        "response_n": count("Responders", 95),
        "response_denominator": count("of"),
        "remission_rate": number("Remission", "%.0f%%"),
        "remission_n": count("Remitted"),
        "remission_denominator": count("of "),
        "reliable_improvement_rate": number("Reliable improvement", "%.0f%%", 150),
        "reliable_improvement_n": count("Improved"),
        "reliable_improvement_denominator": count("of  "),
        "mean_change": number("Mean change", "%+.1f", 100),
        "ae_per_100": number(
            "AEs per 100", "%.1f", 100, help="Adverse events per 100 dosing sessions"
        ),
        "adverse_events": count("AEs"),
        "dosing_sessions": count("Doses", 70),
        "excursion_sessions": count("BP excursions"),
        "baseline_mean": number("Baseline", "%.1f", help="Mean baseline total"),
        "baseline_top_band_share": number(
            "Severe start",
            "%.0f%%",
            help="Share of courses in the instrument's most severe band at baseline",
        ),
        "route_mix": st.column_config.TextColumn(
            "Routes", width="medium", help="Share of the clinician's courses by route"
        ),
        "courses": count("Courses"),
        "evaluable": count("Evaluable"),
    }
