"""Overview glue: KPI tiles cached per filters × data version × day; chart aggregates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from kapviz.charts import program as program_charts
from kapviz.charts import safety as safety_charts
from kapviz.config import Settings
from kapviz.db import rollups
from kapviz.db.aggregates import outcomes as outcome_sql
from kapviz.db.aggregates import program as program_sql
from kapviz.filters import Filters
from kapviz.instruments import PHQ9
from kapviz.metrics import monitoring, outcomes, program
from kapviz.ui import background, data, redact, rollup_panel
from kapviz.ui.db import database_url, settings


def recent_since(now: datetime, *, lookback_days: int = 14) -> datetime:
    """Start of the rows the tiles read for the alerts (their other numbers are counted in
    SQL): as of now and as of 30 days ago, `lookback_days` back, in whole days."""
    return datetime.combine(now.date() - timedelta(days=31 + lookback_days), time.min)


def excursion_thresholds(config: Settings) -> tuple[int, int]:
    """(systolic, diastolic) at or above which a reading is an excursion: the tiles read the
    vital signs of such sessions only (the alerts look at nothing else)."""
    return (config.bp_excursion_systolic, config.bp_excursion_diastolic)


@st.cache_data(ttl=3600, max_entries=64, show_spinner=False)
def _kpis(url: str, filters: Filters, data_version: tuple, as_of: datetime) -> dict:
    # Counts in SQL (kapviz.db.aggregates.program.tile_counts); the alerts worklist by the
    # same metric functions as the Safety page, on the rows of the alerts' look-back only
    # (recent_activity); both once per day × data version.
    counts, adverse = data.aggregate(program_sql.tile_counts, filters, now=as_of)
    lookback = settings().alert_lookback_days
    recent = data.aggregate(
        program_sql.recent_activity,
        filters,
        since=recent_since(as_of, lookback_days=lookback),
        vitals_reaching=excursion_thresholds(settings()),
    )
    open_alerts = program.open_alert_patients(
        recent.sessions,
        recent.side_effects,
        recent.vitals,
        recent.phq9,
        settings=settings(),
        now=as_of,
    )
    kpis = program.director_kpis_from(counts, phq9_outcomes(filters), now=as_of)
    return kpis | program.safety_kpis_from(adverse, open_alerts)


def from_rollups(filters: Filters) -> bool:
    """Whether the whole-period counts come from the rollups kept in the database
    (kapviz.db.rollups: current, and filters of sites and indications only) rather than from
    the live queries; both give the same numbers. Asked once per filters × data version."""
    return rollups.serves(filters) and rollup_panel.status().current


def phq9_outcomes(filters: Filters) -> pd.DataFrame:
    """PHQ-9 outcomes per course, baseline and endpoint picked in SQL (all the Overview needs:
    response and remission by endpoint date and site), cached per filters × data version."""
    window = settings().baseline_window_days
    if from_rollups(filters):
        return _rollup_outcomes(database_url(), filters, data.version(), window)
    return data.aggregate(
        outcome_sql.instrument_outcomes, filters, instrument=PHQ9.id, baseline_window_days=window
    )


@st.cache_resource(ttl=3600, max_entries=32, show_spinner=False)
def _rollup_outcomes(url: str, filters: Filters, data_version: tuple, window: int) -> pd.DataFrame:
    rows = data.aggregate(rollups.phq9_endpoint_rows, filters)
    return outcomes.outcomes_from_endpoints(rows, instrument=PHQ9.id, baseline_window_days=window)


def funnel(filters: Filters) -> pd.DataFrame:
    """The treatment funnel from step counts read in SQL."""
    counts = rollups.funnel_counts if from_rollups(filters) else program_sql.funnel_counts
    return program.funnel_frame(data.aggregate(counts, filters))


def ineligibility_reasons(filters: Filters) -> pd.DataFrame:
    if from_rollups(filters):
        return data.aggregate(rollups.ineligibility_reasons, filters)
    return data.aggregate(program_sql.ineligibility_reasons, filters)


def dosing_counts(filters: Filters) -> pd.DataFrame:
    """Completed dosing sessions and their adverse events per route, per day (live) or per
    month (rollups); both sum to the same months."""
    if from_rollups(filters):
        return data.aggregate(rollups.dosing_months, filters)
    return data.aggregate(program_sql.daily_dosing, filters)


def monthly_dosing(filters: Filters) -> pd.DataFrame:
    """Completed dosing sessions per month and route, from counts grouped in SQL."""
    return program.monthly_from_daily(dosing_counts(filters))


def adverse_event_u_chart(filters: Filters) -> pd.DataFrame:
    """The Safety page's u-chart of adverse events per 100 doses, from grouped counts."""
    daily = dosing_counts(filters)
    monthly = program.monthly_from_daily(daily.assign(route=""), value="sessions")
    events = program.monthly_from_daily(daily.assign(route=""), value="events")
    counts = monthly.merge(events, on=["month", "route"]).rename(
        columns={"sessions": "dosing_sessions"}
    )
    return monitoring.u_chart_from_counts(counts)


def site_response(filters: Filters) -> tuple[pd.DataFrame, float]:
    """Per-site PHQ-9 response with funnel-plot limits (courses mapped to sites in SQL)."""
    sites = data.aggregate(program_sql.course_sites, filters)
    return program.site_response(phq9_outcomes(filters), sites)


@dataclass(frozen=True)
class Charts:
    """The Overview's figures, built once per filters × data version (None: nothing to draw,
    or, for the funnel, counts an analyst may not see drawn).

    Building a plotly figure costs milliseconds of validation, so a rerun with unchanged
    data reuses these; st.plotly_chart only serialises them.
    """

    funnel: go.Figure | None
    volume: go.Figure
    response: go.Figure | None
    u_chart: go.Figure
    sites: go.Figure | None


@st.cache_resource(ttl=3600, max_entries=32, show_spinner=False)
def _charts(url: str, filters: Filters, data_version: tuple, small_below: int | None) -> Charts:
    # small_below: counts from 1 to small_below − 1 are not drawn (analysts, kapviz.privacy).
    def drawable(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
        return redact.drawable(frame, columns, small_below)

    monthly = drawable(program.monthly_response(phq9_outcomes(filters)), "n")
    sites, overall = site_response(filters)
    sites = drawable(sites, "n", "responders")
    site_figure = None
    if len(sites) >= 2:
        reach = int(sites["n"].max() * program_charts.SITE_AXIS_ROOM) + 2
        grid = program.funnel_plot_limits(overall, list(range(1, reach)))
        site_figure = program_charts.site_funnel_plot(
            sites, grid, overall_rate=overall, what="PHQ-9 response rate"
        )
    steps = funnel(filters)
    return Charts(
        funnel=program_charts.treatment_funnel(steps)
        if len(drawable(steps, "patients")) == len(steps)
        else None,
        volume=program_charts.monthly_dosing(drawable(monthly_dosing(filters), "sessions")),
        response=None
        if monthly.empty
        else program_charts.monthly_rate(
            monthly, title="PHQ-9 response rate by month of endpoint", y_title="Responders"
        ),
        u_chart=safety_charts.u_chart(
            drawable(adverse_event_u_chart(filters), "events", "dosing_sessions")
        ),
        sites=site_figure,
    )


def charts(filters: Filters) -> Charts:
    """The Overview's figures for these filters and this viewer (shared, read-only)."""
    return _charts(database_url(), filters, data.version(), redact.small_below())


def start_charts(filters: Filters) -> None:
    """Begin building the figures in a thread while the tiles are computed (PostgreSQL:
    kapviz.ui.background); `charts()` then takes them from the cache, waiting for the
    computation under way rather than starting a second. On SQLite this does nothing."""
    url = database_url()
    if background.side_by_side(url):
        version, small = data.version(), redact.small_below()
        key = ("overview-charts", url, filters, version, small)
        background.start(key, _charts, url, filters, version, small)


TILES: tuple[tuple[str, str, bool, str], ...] = (
    (
        "active_patients",
        "Active patients",
        False,
        "Patients with a completed session in the last 30 calendar days (today included); "
        "delta vs the 30 days before. Every tile counts whole days up to the end of today.",
    ),
    (
        "dosing_week",
        "Dosing sessions this week",
        False,
        "Completed dosing sessions since Monday; delta vs the same span of last week.",
    ),
    (
        "dosing_month",
        "Dosing sessions this month",
        False,
        "Completed dosing sessions since the 1st; delta vs the same span of last month.",
    ),
    (
        "response",
        "PHQ-9 response (90 d)",
        True,
        "Courses whose endpoint fell in the last 90 days with a ≥50% PHQ-9 fall from "
        "baseline; delta vs the 90 days before.",
    ),
    (
        "remission",
        "PHQ-9 remission (90 d)",
        True,
        "Endpoint PHQ-9 below 5, among courses not already in remission at baseline.",
    ),
    (
        "measurement_completion",
        "Measured before dose (30 d)",
        True,
        "Measurement completion: completed dosing sessions in the last 30 days with a PHQ-9 "
        "in the 7 days before; delta vs the 30 days before.",
    ),
    (
        "adverse_events",
        "Adverse events / 100 doses (30 d)",
        False,
        "Adverse events per 100 completed dosing sessions in the last 30 days (a side-effect "
        "term counts once per session); delta vs the 30 days before. Lower is better.",
    ),
    (
        "open_alerts",
        "Patients needing attention",
        False,
        "Patients on the Safety page's alerts worklist now (item 9 > 0 on the latest PHQ-9, "
        "or a serious event, BP excursion, severe, urinary or cognitive effect in the last "
        "14 days); delta vs 30 days ago.",
    ),
)
LOWER_IS_BETTER = {"adverse_events", "open_alerts"}
"""(kpi key, label, shown as percent, help) of every tile, in reading order."""


def tiles(kpi_values: dict, *, per_row: int = 4) -> None:
    """Draw every tile in rows of `per_row`."""
    for start in range(0, len(TILES), per_row):
        columns = st.columns(per_row)
        for column, (key, label, percent, help_text) in zip(
            columns, TILES[start : start + per_row], strict=False
        ):
            tile(
                column,
                label,
                kpi_values[key],
                percent=percent,
                help=help_text,
                inverse=key in LOWER_IS_BETTER,
            )


def tiles_as_of(now: datetime) -> datetime:
    """The moment the tiles describe: the end of `now`'s day (midnight that follows).

    Tile windows are whole calendar days, today included ("last 30 days" = today and the 29
    days before; "this week" = Monday to today), so everything recorded today counts at
    once, and the tiles change only when data changes or a day ends: a refresh with
    unchanged data is a cache hit, not a recomputation.
    """
    return datetime.combine(now.date() + timedelta(days=1), time.min)


def kpis(filters: Filters, now: datetime) -> dict:
    """Tiles as of the end of today, cached per filters × data version × day."""
    return _kpis(database_url(), filters, data.version(), tiles_as_of(now))


def _delta(value: float | None, previous: float | None, *, percent: bool) -> str | None:
    if value is None or previous is None:
        return None
    diff = value - previous
    if percent:
        return f"{diff * 100:+.0f} pts"
    return f"{diff:+.1f}" if isinstance(value, float) else f"{diff:+,.0f}"


def tile(
    column, label: str, kpi: dict, *, percent: bool = False, help: str, inverse: bool = False
) -> None:
    """One st.metric with its delta against the previous period and its denominator."""
    value = kpi["value"]
    delta = _delta(value, kpi["previous"], percent=percent)
    if value is None:
        shown = "—"
    elif percent:
        shown = f"{value:.0%}"
    elif isinstance(value, float):
        shown = f"{value:.1f}"
    else:
        # Analysts see small counts as "<11", without a delta that would give them away.
        shown = redact.count_label(value)
        if shown != f"{value:,}":
            delta = None
    if "denominator" in kpi:
        numerator = redact.count_label(kpi["numerator"])
        help = f"{help} Now: {numerator} of {redact.count_label(kpi['denominator'])}."
    column.metric(
        label,
        shown,
        delta=delta,
        delta_color="inverse" if inverse else "normal",
        help=help,
        border=True,
    )
