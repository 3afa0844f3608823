"""Overview glue: KPI tiles cached per filters × data version × day; chart aggregates."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from kapviz.charts import program as program_charts
from kapviz.charts import safety as safety_charts
from kapviz.charts.program import SameSpanLastMonth
from kapviz.db import rollups
from kapviz.db.aggregates import outcomes as outcome_sql
from kapviz.db.aggregates import program as program_sql
from kapviz.db.aggregates import tiles as tiles_sql
from kapviz.filters import Filters
from kapviz.instruments import PHQ9
from kapviz.metrics import monitoring, periods, program
from kapviz.metrics.trajectory_tables import MIN_COURSES
from kapviz.ui import background, data, redact, rollup_panel, widgets, worklist
from kapviz.ui.db import database_url, settings


@st.cache_data(ttl=3600, max_entries=64, show_spinner=False)
def _kpis(url: str, filters: Filters, data_version: tuple, as_of: datetime) -> dict:
    # Counts in SQL (kapviz.db.aggregates.program.tile_counts); the alerts worklist by the
    # same metric functions as the Safety page, on the rows of the alerts' look-back only
    # (kapviz.db.aggregates.tiles); both once per hour × data version.
    counts, adverse = data.aggregate(program_sql.tile_counts, filters, now=as_of)
    open_alerts = data.aggregate(tiles_sql.open_alerts, filters, now=as_of, settings=settings())
    kpis = program.director_kpis_from(counts, phq9_outcomes(filters), now=as_of)
    return kpis | program.safety_kpis_from(adverse, open_alerts)


def from_rollups(filters: Filters) -> bool:
    """Whether the whole-period counts come from the rollups kept in the database
    (kapviz.db.rollups: current, and filters of sites and indications only) rather than from
    the live queries; both give the same numbers. Asked once per filters × data version."""
    return rollups.serves(filters) and rollup_panel.status().current


def phq9_outcomes(filters: Filters) -> pd.DataFrame:
    """PHQ-9 outcomes per course (all the Overview needs: response and remission by endpoint
    date and site): the rollups' rows when they can answer, else computed live from the
    scores in scope, by the same rule (kapviz.metrics.outcomes.outcomes_from_scores)."""
    window = settings().baseline_window_days
    if from_rollups(filters):
        rows = data.aggregate(
            rollups.course_outcomes, filters, instrument=PHQ9.id, baseline_window_days=window
        )
        if rows is not None:
            return rows
    elif rollup_panel.status().current:  # routes, dates, a clinician: the courses in scope
        rows = data.aggregate(
            rollups.course_outcomes_in_scope,
            filters,
            instrument=PHQ9.id,
            baseline_window_days=window,
        )
        if rows is not None:
            return rows
    return data.aggregate(
        outcome_sql.course_outcomes, filters, instrument=PHQ9.id, baseline_window_days=window
    )


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
    daily = data.aggregate(program_sql.daily_dosing, filters)
    # The date range keeps whole courses (kapviz.filters.Filters); counts over time keep only
    # the days inside it (rollups serve no date range).
    return daily[periods.in_range(daily["day"], filters.start_at, filters.end_before)]


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


def volume_grid(largest: int, *, points: int = 200) -> list[int]:
    """Volumes at which the funnel limits are drawn: every one up to `points`, then about
    `points` spread evenly up to `largest` (the exact limits cost a sum over each volume)."""
    if largest <= points:
        return list(range(1, largest + 1))
    return sorted({int(round(v)) for v in np.linspace(1, largest, points)})


@st.cache_resource(ttl=3600, max_entries=32, show_spinner=False)
def _charts(
    url: str, filters: Filters, data_version: tuple, small_below: int | None, today: date
) -> Charts:
    # small_below: counts from 1 to small_below − 1 are not drawn (analysts, kapviz.privacy).
    def drawable(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
        return redact.drawable(frame, columns, small_below)

    per_course = phq9_outcomes(filters)
    endpoints = per_course[
        periods.in_range(per_course["endpoint_at"], filters.start_at, filters.end_before)
    ]
    monthly = drawable(program.monthly_response(endpoints), "n")
    today = periods.last_day_shown(today, filters.end)
    start = data.chart_start(filters)
    sites, overall = site_response(filters)
    sites = drawable(sites, "n", "responders")
    site_figure = None
    if len(sites) >= 2:
        grid = volume_grid(int(sites["n"].max() * program_charts.SITE_AXIS_ROOM) + 2)
        site_figure = program_charts.site_funnel_plot(
            sites,
            program.funnel_plot_limits(overall, grid),
            overall_rate=overall,
            what="PHQ-9 response rate",
            outer=program.funnel_plot_limits(overall, grid, coverage=0.998),
        )
    steps = funnel(filters)
    return Charts(
        funnel=program_charts.treatment_funnel(steps)
        if len(drawable(steps, "patients")) == len(steps)
        else None,
        volume=program_charts.monthly_dosing(
            drawable(monthly_dosing(filters), "sessions"), today=today, start=start
        ),
        response=None
        if monthly.empty
        else program_charts.monthly_rate(
            monthly,
            title="PHQ-9 response rate by month of endpoint",
            y_title="Responders, % of evaluable courses",
            today=today,
            start=start,
        ),
        u_chart=safety_charts.u_chart(
            drawable(adverse_event_u_chart(filters), "events", "dosing_sessions"),
            today=today,
            start=start,
        ),
        sites=site_figure,
    )


@dataclass(frozen=True)
class RangeNotes:
    """What each Overview element does with the sidebar's date range, said beside it."""

    tiles: str | None
    funnel: str | None
    sites: str | None


def range_notes(filters: Filters) -> RangeNotes:
    """Captions for a date range: the tiles are live and do not follow it; the funnel
    follows the patients referred in it; the site comparison is about courses with a session
    in it. (The monthly charts keep only its days and need no note.) None without a range."""
    if not (filters.start or filters.end):
        return RangeNotes(None, None, None)
    span = f"{filters.start or '…'} to {filters.end or '…'}"
    return RangeNotes(
        tiles=f"The tiles are live (now, this week, the last 30 or 90 days): they do not "
        f"follow the date range {span}.",
        funnel=f"Patients referred (enrolment date, else a first session) from {span}, and "
        "how far they have got since.",
        sites=f"Courses with a session from {span}, each with its whole course's outcome.",
    )


def charts(filters: Filters, today: date, *, now: datetime | None = None) -> Charts:
    """The Overview's figures for these filters and this viewer (shared, read-only), with
    `today`'s month drawn as partial; given `now`, the dosing bars also carry last month's
    count over the same span (the month tile's comparison: same_span_last_month)."""
    figures = _charts(database_url(), filters, data.version(), redact.small_below(), today)
    span = None if now is None else same_span_last_month(filters, now)
    if span is None:
        return figures
    volume = program_charts.with_same_span(figures.volume, span, today=now.date())
    return replace(figures, volume=volume)


def same_span_last_month(filters: Filters, now: datetime) -> SameSpanLastMonth | None:
    """Last month's completed dosing sessions over this month's elapsed span: the month
    tile's own "previous" (kapviz.metrics.periods.period_spans, to the hour), so chart and
    tile agree. None when the bars do not show this month and all of last month's span (a
    date range ending before today or starting after last month's 1st), or when the count
    is one an analyst may not see."""
    spans = periods.period_spans(tiles_as_of(now), "month")
    start, end = spans.previous
    if (filters.end and filters.end < now.date()) or (
        filters.start and filters.start > start.date()
    ):
        return None
    sessions = kpis(filters, now)["dosing_month"]["previous"]
    small = redact.small_below()
    if sessions is None or (small is not None and 0 < sessions < small):
        return None
    return SameSpanLastMonth(int(sessions), start, end)


def start_charts(filters: Filters, today: date, *, now: datetime | None = None) -> None:
    """Begin building the figures in a thread while the tiles are computed (PostgreSQL:
    kapviz.ui.background); `charts()` then takes them from the cache, waiting for the
    computation under way rather than starting a second. Given `now`, the tiles' two
    slowest reads (their counts, the alerts) start in threads of their own too, so that
    the database answers them side by side. On SQLite this does nothing."""
    url = database_url()
    if background.side_by_side(url):
        version, small = data.version(), redact.small_below()
        key = ("overview-charts", url, filters, version, small, today)
        background.start(key, _charts, url, filters, version, small, today)
        if now is not None:
            as_of = tiles_as_of(now)
            for name, fn, kwargs in (
                ("overview-tile-counts", program_sql.tile_counts, {"now": as_of}),
                (
                    "overview-alerts",
                    tiles_sql.open_alerts,
                    {"now": as_of, "settings": settings()},
                ),
            ):
                key = (name, url, filters, version, as_of)
                background.start(key, data.aggregate, fn, filters, **kwargs)


TILES: tuple[tuple[str, str, bool, str], ...] = (
    (
        "active_patients",
        "Active patients (30 days)",
        False,
        "Patients with a completed session in the last 30 days, up to now; delta vs the 30 "
        "days before. Live tiles do not follow the sidebar's date range: they are about now.",
    ),
    (
        "dosing_week",
        "Dosing sessions this week (to date)",
        False,
        "Completed dosing sessions since Monday 00:00, up to now; delta vs the same elapsed "
        "span of last week (Monday to the same weekday and hour), never the whole week.",
    ),
    (
        "dosing_month",
        "Dosing sessions this month (to date)",
        False,
        "Completed dosing sessions since the 1st, up to now; delta vs the same elapsed span of "
        "last month (never more than the whole of last month), never the whole month.",
    ),
    (
        "response",
        "PHQ-9 response, % of evaluable courses (90 days)",
        True,
        "Courses whose endpoint fell in the last 90 days with a ≥50% PHQ-9 fall from "
        "baseline; delta vs the 90 days before.",
    ),
    (
        "remission",
        "PHQ-9 remission, % of evaluable courses (90 days)",
        True,
        "Endpoint PHQ-9 below 5, among courses not already in remission at baseline; "
        "endpoints in the last 90 days, delta vs the 90 days before.",
    ),
    (
        "measurement_completion",
        "Doses with a PHQ-9 in the 7 days before, % (30 days)",
        True,
        "Measurement completion: completed dosing sessions in the last 30 days with a PHQ-9 "
        "in the 7 days before; delta vs the 30 days before.",
    ),
    (
        "adverse_events",
        "Adverse events per 100 dosing sessions (30 days)",
        False,
        "Adverse events per 100 completed dosing sessions in the last 30 days (a side-effect "
        "term counts once per session); delta vs the 30 days before. Lower is better.",
    ),
    (
        "open_alerts",
        "Patients needing attention (now)",
        False,
        "Active patients on the Safety page's alerts worklist now (a serious event, item 9 > 0 "
        "on the latest PHQ-9 with item answers, a BP excursion, a severe, urinary or cognitive "
        "effect in the last 14 days); delta vs 30 days ago. Inactive patients (no completed "
        "session for KAPVIZ_INACTIVE_DAYS days) are not counted: the Safety page lists them "
        "apart.",
    ),
)
LOWER_IS_BETTER = {"adverse_events", "open_alerts"}
"""(kpi key, label, shown as percent, help) of every tile, in reading order."""

DELTA_DESCRIPTIONS = {
    "active_patients": "vs 30 days before",
    "dosing_week": "vs same span last week",
    "dosing_month": "vs same span last month",
    "response": "vs 90 days before",
    "remission": "vs 90 days before",
    "measurement_completion": "vs 30 days before",
    "adverse_events": "vs 30 days before",
    "open_alerts": "vs 30 days ago",
}
"""What each tile's delta compares with, shown beside it."""


def tiles(kpi_values: dict, *, per_row: int = 4, as_of: date | None = None) -> None:
    """Draw every tile in rows of `per_row`; `as_of`: the newest data's day when it is older
    than today, named in every tile."""
    widgets.wrap_metric_labels()
    for start in range(0, len(TILES), per_row):
        columns = st.columns(per_row)
        for column, (key, label, percent, help_text) in zip(
            columns, TILES[start : start + per_row], strict=False
        ):
            tile(
                column,
                stale_label(label, as_of),
                kpi_values[key],
                percent=percent,
                help=help_text,
                inverse=key in LOWER_IS_BETTER,
                compared_with=DELTA_DESCRIPTIONS[key],
            )


def stale_label(label: str, as_of: date | None) -> str:
    """The tile's label, with "data as of <day>" when the newest data is older than today."""
    return label if as_of is None else f"{label} · data as of {as_of:%a %-d %b %Y}"


def data_as_of(newest: datetime | None, today: date) -> date | None:
    """The newest data's day when it is before `today` (the tiles say so), else None."""
    if newest is None or newest.date() >= today:
        return None
    return newest.date()


def tiles_as_of(now: datetime) -> datetime:
    """The moment the tiles describe: `now` rounded up to the next whole hour.

    The current week and month are compared with the same elapsed span of the previous one
    (DOMAIN §3 periods), so the span must end near now, not at midnight: on a Monday morning
    the week so far is set against last Monday up to the same hour, not all of it. Rounded
    to the hour, a refresh with unchanged data is a cache hit, not a recomputation.
    """
    hour = now.replace(minute=0, second=0, microsecond=0)
    return hour if hour == now else hour + timedelta(hours=1)


def kpis(filters: Filters, now: datetime) -> dict:
    """Tiles as of now (to the hour), cached per filters × data version × hour."""
    return _kpis(database_url(), filters, data.version(), tiles_as_of(now))


@dataclass(frozen=True)
class Delta:
    """A tile's change against its comparison period, as shown: text and whether it is zero
    at the precision shown (a zero change gets no arrow and no colour)."""

    text: str
    is_zero: bool


def delta(value: float | None, previous: float | None, *, percent: bool) -> Delta | None:
    """The change shown on a tile; None when either period has no value."""
    if value is None or previous is None:
        return None
    diff = value - previous
    if percent:
        shown = round(diff * 100)
        return Delta("±0 pts" if shown == 0 else f"{shown:+d} pts", shown == 0)
    if isinstance(value, float) or isinstance(previous, float):
        shown = round(diff, 1)
        return Delta("±0.0" if shown == 0 else f"{shown:+.1f}", shown == 0)
    return Delta("±0" if diff == 0 else f"{diff:+,.0f}", diff == 0)


def tile(
    column,
    label: str,
    kpi: dict,
    *,
    percent: bool = False,
    help: str,
    inverse: bool = False,
    compared_with: str | None = None,
) -> None:
    """One st.metric with its delta against the previous period and its denominator."""
    value = kpi["value"]
    change = delta(value, kpi["previous"], percent=percent)
    too_few = too_few_to_compare(kpi)
    if too_few:
        change = None
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
            change = None
    if "denominator" in kpi:
        numerator = redact.count_label(kpi["numerator"])
        help = f"{help} Now: {numerator} of {redact.count_label(kpi['denominator'])}."
    neutral = change is not None and change.is_zero
    column.metric(
        label,
        shown,
        delta=None if change is None else change.text,
        delta_color="off" if neutral else ("inverse" if inverse else "normal"),
        delta_arrow="off" if neutral else "auto",
        delta_description=compared_with if change is not None else None,
        help=help,
        border=True,
    )
    # The inactive patients the count leaves out, in words under the tile (as on the Safety
    # page): a line of its own, not squeezed into the delta.
    note = worklist.inactive_note(kpi.get("inactive", 0)) or too_few
    if note:
        column.caption(note)


def too_few_to_compare(kpi: dict) -> str | None:
    """Why a rate tile shows no change: either period has fewer evaluable courses than a
    rate needs to be read (as for monthly rates and trajectory points), so a swing such as
    100% of 1 course to 36% of 11 is not drawn as "-64 pts". None when both have enough."""
    if "previous_denominator" not in kpi or kpi["previous"] is None or kpi["value"] is None:
        return None
    now, before = kpi["denominator"], kpi["previous_denominator"]
    if min(now, before) >= MIN_COURSES:
        return None
    return (
        f"No change shown: {redact.count_label(now)} courses now, "
        f"{redact.count_label(before)} before (fewer than {MIN_COURSES} in a period)"
    )
