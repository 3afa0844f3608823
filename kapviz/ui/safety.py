"""Safety page glue: every table and figure of the page, cached per filters × data version.

The narrow reads of `kapviz.db.aggregates.safety` (one row per dose, per dose × effect,
the blood-pressure readings, the scales taken during doses) go straight into
`kapviz.metrics.safety.dose_safety` once per filters × data version × thresholds; the
alerts worklist reads only the recent window, once per day. The raw reads are not kept:
only the tables built from them are cached, so a warm rerun only sends what is already
built. Cached objects are shared and read-only by convention (as in `kapviz.ui.data`).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from enum import StrEnum

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from sqlalchemy import Engine

from kapviz import clinic_time
from kapviz.charts import safety as charts
from kapviz.config import Settings
from kapviz.db import rollups, safety_rollups
from kapviz.db.aggregates import safety as safety_sql
from kapviz.domain import route_label
from kapviz.filters import Filters
from kapviz.metrics import alerts as alert_metrics
from kapviz.metrics import safety
from kapviz.metrics.alerts import alerts_now
from kapviz.metrics.monitoring import cadss_table, u_chart_from_counts
from kapviz.metrics.periods import last_day_shown
from kapviz.ui import background, data, live, redact
from kapviz.ui.db import engine_for, settings
from kapviz.ui.nav import case_url

TTL = 3600
"""An hour: every entry is keyed by the data version and dropped on a new one
(kapviz.ui.data.drop_old_versions); the hour lets go of filter sets nobody asks for again."""

GROUPINGS: dict[str, str] = {
    "Route": "route",
    "Drug": "drug",
    "Dose band": "dose_band",
    "Site": "site",
}
"""Subgroup choices of the rates table (dose number has its own heatmap)."""

EXCURSION_TABLE_MAX = 500


@dataclass(frozen=True)
class Tiles:
    """Headline numbers of the page."""

    dosing_sessions: int
    patients_dosed: int
    events: int
    excursion_sessions: int
    rise_sessions: int
    predose_review_sessions: int
    serious_events: int
    attention_patients: int
    """Active patients on the worklist (the worklist's own count)."""
    inactive_patients: int
    """Patients with alerts the worklist lists apart as inactive."""


@functools.lru_cache(maxsize=8)
def settings_digest(cfg: Settings) -> str:
    """The settings in force as one short string (every cache key carries it: hashed on
    each call of a cached function, a long tuple costs a warm rerun milliseconds)."""
    values = [(f.name, getattr(cfg, f.name)) for f in fields(cfg) if f.name != "database_url"]
    return hashlib.sha256(repr(values).encode()).hexdigest()[:16]


def _key(filters: Filters) -> tuple:
    cfg = settings()
    return (cfg.database_url, filters, data.version(), settings_digest(cfg))


READERS = 3
"""PostgreSQL reads of the page in flight at once (each on its own connection)."""


@st.cache_resource(ttl=TTL, max_entries=16, show_spinner="Computing safety figures…")
def _view(key: tuple) -> safety.DoseSafety:
    url, filters = key[0], key[1]
    cfg = settings()
    engine = engine_for(url)
    if _alerts_alongside(key):
        return _view_side_by_side(engine, filters, cfg)
    # Through the module (not names imported from it): the benchmark times these reads.
    with engine.connect() as conn:
        doses = safety_sql.doses(conn, filters)
        if safety_sql.groups_readings_in_sql(conn):
            stats = safety_sql.bp_summaries(conn, filters)
            counts = safety_sql.bp_value_counts(conn, filters)
            bp = safety.dose_bp_from(doses, stats, counts, settings=cfg)
        else:
            # The million readings are summarised at once and let go before the next read.
            bp = safety.dose_bp(doses, safety_sql.readings(conn, filters), settings=cfg)
        effects = safety_sql.dose_effects(conn, filters)
        scales = safety_sql.scale_scores(conn, filters)
    return safety.dose_safety(doses, effects, scales, bp=bp, settings=cfg)


def _alerts_alongside(key: tuple) -> bool:
    """Start the alerts worklist's reads in the background where the backend reads side by
    side (kapviz.ui.background), so they overlap the page's other reads; True if started."""
    if not background.side_by_side(key[0]):
        return False
    now = today_end(live.now().date())
    background.start(("safety-alerts", key, now), _alerts, key, now)
    return True


def _view_side_by_side(engine: Engine, filters: Filters, cfg: Settings) -> safety.DoseSafety:
    """`_view`'s reads side by side, each on its own connection (kapviz.ui.background): the
    server works on the next while this thread converts and summarises what has arrived."""

    def read(fn: Callable):  # what fn returns
        with engine.connect() as conn:
            return fn(conn, filters)

    # Through the module (not names imported from it): the benchmark times these reads.
    reads = [
        safety_sql.bp_value_counts,
        safety_sql.bp_summaries,
        safety_sql.doses,
        safety_sql.dose_effects,
        safety_sql.scale_scores,
    ]
    with ThreadPoolExecutor(READERS, thread_name_prefix="kapviz-safety") as pool:
        pending = {fn.__name__: pool.submit(read, fn) for fn in reads}
        doses = pending["doses"].result()
        stats, counts = pending["bp_summaries"].result(), pending["bp_value_counts"].result()
        bp = safety.dose_bp_from(doses, stats, counts, settings=cfg)
        effects = pending["dose_effects"].result()
        scales = pending["scale_scores"].result()
    return safety.dose_safety(doses, effects, scales, bp=bp, settings=cfg)


def view(filters: Filters) -> safety.DoseSafety:
    """The page's metric tables for these filters (cached, read-only)."""
    return _view(_key(filters))


def today_end(today: date | None = None) -> datetime:
    """'Now' of the alerts worklist: the end of today, so the window is whole days."""
    return alerts_now(today or clinic_time.today())


@st.cache_resource(ttl=TTL, max_entries=16, show_spinner=False)
def _alerts(key: tuple, now: datetime) -> pd.DataFrame:
    url, filters = key[0], key[1]
    cfg = settings()
    since = now - timedelta(days=cfg.alert_lookback_days)
    with engine_for(url).connect() as conn:
        rows = safety_sql.alert_rows(conn, filters, since=since)
        table = alert_metrics.alerts(
            rows.sessions, rows.side_effects, rows.vitals, rows.phq9, settings=cfg, now=now
        )
        owners = safety_sql.course_owners(conn, table["course_id"].dropna().tolist())
    links = [case_url(p, c) for p, c in zip(table["patient_id"], table["course_id"], strict=True)]
    table = table.assign(link=links).merge(owners, on="course_id", how="left")
    table = table.assign(
        site=table["site"].fillna("not recorded"),
        clinician=table["clinician"].fillna("not recorded"),
        last_contact=rows.last_contact.reindex(table["patient_id"]).to_numpy(),
    )
    return table


def alerts(filters: Filters) -> pd.DataFrame:
    """Alerts worklist as of today (all dates of the data, whatever the date filter)."""
    return _alerts(_key(filters), today_end(live.now().date()))


def split_alerts(filters: Filters) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(active, inactive) alerts now, by the worklist's rule (inactive carry last_contact)."""
    table = alerts(filters)
    return alert_metrics.split_inactive(
        table.drop(columns="last_contact"),
        alert_metrics.contacts_of(table),
        now=today_end(live.now().date()),
        inactive_days=settings().inactive_days,
    )


def window_label(filters: Filters) -> str:
    """The window of the page's counts, for labels: the date range, or "all dates"."""
    if not (filters.start or filters.end):
        return "all dates"
    return f"{filters.start or '…'} to {filters.end or '…'}"


def last_day(filters: Filters) -> date:
    """The last day the u-chart reaches: today, or the date range's end when earlier."""
    return last_day_shown(live.now().date(), filters.end)


@st.cache_resource(ttl=TTL, max_entries=16, show_spinner=False)
def _from_rollups(key: tuple) -> bool:
    """Whether the stored rollups serve these filters and are current (kapviz.db.rollups):
    then the counts per dose (kapviz.db.safety_rollups) answer on either backend."""
    url, filters = key[0], key[1]
    if not rollups.serves(filters):
        return False
    with engine_for(url).connect() as conn:
        return rollups.is_current(conn)


@st.cache_resource(ttl=TTL, max_entries=16, show_spinner=False)
def _bp_flags(key: tuple) -> safety_sql.BpFlags | None:
    """The BP tiles and flagged table with the thresholds in force: from the rollup's row
    per dose, or grouped in SQL where the backend groups readings in SQL (else None: the
    page takes them from the live view)."""
    url, filters = key[0], key[1]
    with engine_for(url).connect() as conn:
        if _from_rollups(key):
            return safety_rollups.bp_flags(
                conn, filters, settings=settings(), limit=EXCURSION_TABLE_MAX
            )
        if not safety_sql.groups_readings_in_sql(conn):
            return None
        return safety_sql.bp_flags(conn, filters, settings=settings(), limit=EXCURSION_TABLE_MAX)


def _bp(key: tuple) -> safety_sql.BpFlags:
    flags = _bp_flags(key)
    if flags is not None:
        return flags
    bp = _view(key).session_vitals
    return safety_sql.BpFlags(
        excursion_sessions=int(bp["is_excursion"].sum()),
        rise_sessions=int(bp["is_rise"].sum()),
        predose_review_sessions=int(bp["needs_predose_review"].sum()),
        flagged=safety_sql.flagged_first(bp, EXCURSION_TABLE_MAX),
    )


class Section(StrEnum):
    """Sections of the page aggregated in SQL per request (kapviz.db.aggregates.safety)."""

    TOTALS = "totals"
    U = "u"
    CADSS = "cadss"
    LONG_TERM = "long_term"


@st.cache_resource(ttl=TTL, max_entries=64, show_spinner=False)
def _section(key: tuple, name: Section):  # the section's table or counts
    url, filters = key[0], key[1]
    # The page's first read: the alerts worklist's reads start alongside, and the long-term
    # chart's window sum over every dose (the page's slowest read of its own, drawn last).
    if name is Section.TOTALS and _alerts_alongside(key):
        background.start(("safety-long-term", key), _section, key, Section.LONG_TERM)
    with engine_for(url).connect() as conn:
        if _from_rollups(key):
            match name:
                case Section.TOTALS:
                    return safety_rollups.dose_totals(conn, filters, settings=settings())
                case Section.U:
                    return u_chart_from_counts(safety_rollups.monthly_events(conn, filters))
                case Section.CADSS:
                    return cadss_table(safety_rollups.cadss_scores(conn, filters))
                case Section.LONG_TERM:
                    return safety_rollups.long_term_counts(conn, filters)
        if not safety_sql.groups_readings_in_sql(conn):
            # Without the rollups the BP tiles need the full dose view on this backend
            # (`_bp`); its own tables answer the sections too, instead of reading the doses
            # a second time in SQL.
            return _section_of_view(_view(key), name)
        match name:
            case Section.TOTALS:
                return safety_sql.dose_totals(conn, filters, settings=settings())
            case Section.U:
                return u_chart_from_counts(safety_sql.monthly_events(conn, filters))
            case Section.CADSS:
                return cadss_table(safety_sql.cadss_scores(conn, filters))
            case Section.LONG_TERM:
                return safety_sql.long_term_counts(conn, filters)
    raise ValueError(f"unknown safety section {name!r}")


def _section_of_view(v: safety.DoseSafety, name: Section):  # as `_section`
    """A section from the live dose view: the tables the SQL sections equal (tests)."""
    match name:
        case Section.TOTALS:
            mon = v.monitoring
            return safety_sql.DoseTotals(
                dosing_sessions=v.dosing_sessions,
                patients_dosed=v.patients_dosed,
                events=int(v.u["events"].sum()) if not v.u.empty else 0,
                serious_events=v.serious_events,
                sedation=v.sedation,
                esketamine_sessions=len(mon),
                short_monitoring=int(mon["is_short"].sum()),
                unrecorded_monitoring=int(mon["is_unrecorded"].sum()),
            )
        case Section.U:
            return v.u
        case Section.CADSS:
            return v.cadss
        case Section.LONG_TERM:
            return v.long_term
    raise ValueError(f"unknown safety section {name!r}")


def totals(filters: Filters) -> safety_sql.DoseTotals:
    """Headline, sedation and monitoring counts, aggregated in SQL (no dose is sent)."""
    return _section(_key(filters), Section.TOTALS)


def u_chart(filters: Filters) -> pd.DataFrame:
    """The u-chart's table (kapviz.metrics.monitoring.u_chart), from counts grouped in SQL."""
    return _section(_key(filters), Section.U)


def cadss(filters: Filters) -> pd.DataFrame:
    """CADSS by dose number (kapviz.metrics.monitoring.cadss_table), only the scores read."""
    return _section(_key(filters), Section.CADSS)


def tiles(filters: Filters) -> Tiles:
    """Headline numbers for these filters."""
    v = totals(filters)
    bp = _bp(_key(filters))
    table = alerts(filters)
    counts = alert_metrics.attention(
        table,
        alert_metrics.contacts_of(table),
        now=today_end(live.now().date()),
        inactive_days=settings().inactive_days,
    )
    return Tiles(
        dosing_sessions=v.dosing_sessions,
        patients_dosed=v.patients_dosed,
        events=v.events,
        excursion_sessions=bp.excursion_sessions,
        rise_sessions=bp.rise_sessions,
        predose_review_sessions=bp.predose_review_sessions,
        serious_events=v.serious_events,
        attention_patients=counts.active,
        inactive_patients=counts.inactive,
    )


def rates_by(filters: Filters, label: str) -> pd.DataFrame:
    """Session rates (%) per effect × subgroup, one column per subgroup with its n."""
    return _rates_by(_key(filters), GROUPINGS[label])


@st.cache_resource(ttl=TTL, max_entries=16, show_spinner=False)
def _counts(key: tuple) -> safety_rollups.SafetyCounts | None:
    """The tables kapviz.db.safety_rollups keeps, when they serve these filters and are
    current (else None: the page computes them live, the same numbers)."""
    url, filters = key[0], key[1]
    if not _from_rollups(key):
        return None
    with engine_for(url).connect() as conn:
        return safety_rollups.safety_counts(conn, filters)


@dataclass(frozen=True)
class _Served:
    """The tables the rollups can serve, from them or from the live view."""

    rates: pd.DataFrame
    by_number: pd.DataFrame
    curve: pd.DataFrame


def rates(filters: Filters) -> pd.DataFrame:
    """Side-effect rates per term (`DoseSafety.rates`), from the rollups when they serve."""
    return _served(_key(filters)).rates


def _served(key: tuple) -> _Served:
    counts = _counts(key)
    if counts is not None:
        return _Served(rates=counts.rates, by_number=counts.by_number, curve=counts.curve)
    v = _view(key)
    return _Served(rates=v.rates, by_number=v.by_number, curve=v.curve)


@st.cache_resource(ttl=TTL, max_entries=32, show_spinner=False)
def _rates_by(key: tuple, by: str) -> pd.DataFrame:
    counts = _counts(key) if by == "route" else None
    table = counts.by_route if counts is not None else _view(key).rates_by(by)
    if table.empty:
        return pd.DataFrame()
    names = table[by].map(lambda g: route_label(g)) if by == "route" else table[by]
    table = table.assign(
        column=[f"{g} (n={n:,})" for g, n in zip(names, table["dosing_sessions"], strict=True)]
    )
    wide = table.pivot(index="term", columns="column", values="rate") * 100
    order = table.groupby("term")["sessions"].sum().sort_values(ascending=False).index
    return wide.reindex(order).rename_axis(index="Side effect", columns=None).reset_index()


def excursions(filters: Filters) -> pd.DataFrame:
    """Flagged dosing sessions (excursion, rise or pre-dose review), newest first, linked."""
    return _excursions(_key(filters))


@st.cache_resource(ttl=TTL, max_entries=16, show_spinner=False)
def _excursions(key: tuple) -> pd.DataFrame:
    flagged = _bp(key).flagged
    links = [
        case_url(p, c) for p, c in zip(flagged["patient_id"], flagged["course_id"], strict=True)
    ]
    return flagged.assign(link=links, route=flagged["route"].map(route_label))


# --- Figures (cached: built once per view) ----------------------------------------------


class Rate(StrEnum):
    """Which rate the side-effect charts draw (the values are charts.safety.RATE_KINDS')."""

    PATIENTS = "patient"
    SESSIONS = "session"


class Figure(StrEnum):
    """The page's figures."""

    FREQUENCY = "frequency"
    SEVERITY = "severity"
    HEATMAP = "heatmap"
    BP = "bp"
    U = "u"
    LONG_TERM = "long_term"


@dataclass(frozen=True)
class FigureChoice:
    """What the viewer chose for a figure: the rate (frequency and severity share its order),
    the label's trial markers (frequency), the last dose number (heatmap), the partial month's
    day (u-chart), the most frequent effects only (`top`, the wall screen). Typed, where the
    first version split a "patient|ref" string."""

    rate: Rate = Rate.PATIENTS
    reference: bool = False
    max_number: int | None = None
    today: date | None = None
    top: int | None = None


@st.cache_resource(ttl=TTL, max_entries=64, show_spinner=False)
def _figure(key: tuple, name: Figure, choice: FigureChoice, small: int | None) -> go.Figure:
    # small: counts from 1 to small − 1 are not drawn (analysts; kapviz.ui.redact.drawable).
    served = _served(key)
    rates = redact.drawable(
        served.rates, ["sessions", "dosing_sessions", "patients", "patients_dosed"], small
    )
    match name:
        case Figure.FREQUENCY:
            return charts.side_effect_frequency(
                rates, kind=choice.rate.value, reference=choice.reference, top=choice.top
            )
        case Figure.SEVERITY:
            drawn = redact.drawable(rates, ["mild", "moderate", "severe"], small)
            return charts.severity_stack(drawn, kind=choice.rate.value)
        case Figure.HEATMAP:
            by_number = redact.drawable(served.by_number, ["sessions", "dosing_sessions"], small)
            return charts.effect_session_heatmap(by_number, max_number=choice.max_number)
        case Figure.BP:
            return charts.bp_curve(redact.drawable(served.curve, ["n"], small), settings=settings())
        case Figure.U:
            u = redact.drawable(_section(key, Section.U), ["events", "dosing_sessions"], small)
            return charts.u_chart(u, today=choice.today, start=data.chart_start(key[1]))
        case Figure.LONG_TERM:
            long_term = _section(key, Section.LONG_TERM)
            long_term = redact.drawable(long_term, ["sessions", "dosing_sessions"], small)
            return charts.long_term_vs_cumulative_dose(long_term)
    raise ValueError(f"unknown safety figure {name!r}")


def figure(filters: Filters, name: Figure, choice: FigureChoice = FigureChoice()) -> go.Figure:
    """A cached figure of the page (for analysts without small counts)."""
    return _figure(_key(filters), Figure(name), choice, redact.small_below())


MIN_SESSIONS_PER_DOSE_NUMBER = 10
"""The heatmap stops at the last dose number with at least this many sessions."""


def heatmap_max_number(filters: Filters) -> int:
    """Last dose number worth a heatmap column (enough sessions to read a rate)."""
    sizes = _served(_key(filters)).by_number.groupby("session_number")["dosing_sessions"].first()
    if sizes.empty:
        return 1
    enough = sizes[sizes >= min(MIN_SESSIONS_PER_DOSE_NUMBER, int(sizes.iloc[0]))]
    return int(enough.index.max())


def lookback_days() -> int:
    """Days back the alerts worklist looks for events (Settings.alert_lookback_days)."""
    return settings().alert_lookback_days


def thresholds() -> pd.DataFrame:
    """The thresholds in force, for the page to show."""
    return alert_metrics.thresholds_in_force(settings())
