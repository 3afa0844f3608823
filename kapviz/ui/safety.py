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
from kapviz.auth import audit
from kapviz.charts import safety as charts
from kapviz.config import Settings
from kapviz.db.aggregates import safety as safety_sql
from kapviz.domain import route_label
from kapviz.filters import Filters
from kapviz.metrics import alerts as alert_metrics
from kapviz.metrics import safety
from kapviz.metrics.alerts import alert_groups, alerts_now, mark_new, page_of, split_inactive
from kapviz.metrics.periods import last_day_shown
from kapviz.ui import auth, background, data, live, redact
from kapviz.ui.db import engine_for, settings
from kapviz.ui.nav import case_url

TTL = 3600

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
    if background.side_by_side(url):
        # The alerts worklist's reads too, in the background (kapviz.ui.background).
        now = today_end(live.now().date())
        background.start(("safety-alerts", key, now), _alerts, key, now)
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


WORKLIST_PAGE_SIZE = 25
"""Alerts per page of the worklist (instead of a ten-row scroll box)."""


@dataclass(frozen=True)
class Worklist:
    """The alerts worklist as the page shows it: active patients' alerts (DOMAIN §4 order,
    `is_new` since the viewer's previous visit), inactive patients' apart, and the counts
    per site and clinician."""

    active: pd.DataFrame
    inactive: pd.DataFrame
    groups: pd.DataFrame
    previous_visit: datetime | None


def worklist(filters: Filters) -> Worklist:
    """The worklist for this viewer now (all dates, whatever the date filter)."""
    table = alerts(filters)
    previous = previous_visit()
    table = mark_new(table, previous)
    contact = table.drop_duplicates("patient_id").set_index("patient_id")["last_contact"]
    active, inactive = split_inactive(
        table.drop(columns="last_contact"),
        contact,
        now=today_end(live.now().date()),
        inactive_days=settings().inactive_days,
    )
    return Worklist(active, inactive, alert_groups(active), previous)


def previous_visit() -> datetime | None:
    """The signed-in viewer's sign-in before this one (None with sign-in off or the first)."""
    if not auth.is_on():
        return None
    with engine_for(settings().database_url).connect() as conn:
        return audit.previous_sign_in(conn, auth.username())


def window_label(filters: Filters) -> str:
    """The window of the page's counts, for labels: the date range, or "all dates"."""
    if not (filters.start or filters.end):
        return "all dates"
    return f"{filters.start or '…'} to {filters.end or '…'}"


def last_day(filters: Filters) -> date:
    """The last day the u-chart reaches: today, or the date range's end when earlier."""
    return last_day_shown(live.now().date(), filters.end)


def inactive_days() -> int:
    """Days without a completed session after which a patient is inactive (setting)."""
    return settings().inactive_days


def new_since_note(previous: datetime | None) -> str:
    """What "new" means on the worklist for this viewer."""
    if previous is None:
        return (
            "New alerts are marked once you have signed in before: since your previous sign-in."
            if auth.is_on()
            else "With sign-in off, nothing is marked new (no previous visit is known)."
        )
    return f"Marked new: alerts dated after your previous sign-in ({previous:%Y-%m-%d %H:%M})."


ALL_GROUPS = "All sites and clinicians"


def _group_label(row) -> str:  # noqa: ANN001 - a row of alert_groups
    new = f", {row.new} new" if row.new else ""
    return f"{row.site} · {row.clinician} ({row.patients} patients{new})"


def worklist_table(work: Worklist) -> None:
    """The active worklist: a site × clinician choice with counts, then one page of rows."""
    groups = work.groups
    labels = {ALL_GROUPS: None} | {
        _group_label(row): (row.site, row.clinician) for row in groups.itertuples()
    }
    total = work.active["patient_id"].nunique()
    new = int(work.active["is_new"].sum())
    left, right = st.columns([3, 1])
    choice = left.selectbox(
        f"Site and clinician ({len(groups):,} with alerts; {total:,} patients"
        + (f", {new:,} alerts new" if new else "")
        + ")",
        list(labels),
        key="safety_worklist_group",
        help="Each alert's course: its site, and the clinician of most of its dosing "
        "sessions. Groups with the most patients first.",
    )
    rows = work.active
    if labels[choice] is not None:
        site, clinician = labels[choice]
        rows = rows[(rows["site"] == site) & (rows["clinician"] == clinician)]
    pages = max(1, -(-len(rows) // WORKLIST_PAGE_SIZE))
    page_number = right.number_input(
        f"Page (of {pages})", min_value=1, max_value=pages, value=1, key="safety_worklist_page"
    )
    shown = page_of(rows, int(page_number), size=WORKLIST_PAGE_SIZE)
    st.dataframe(
        redact.deidentify(shown),
        hide_index=True,
        key="safety_alerts",
        column_order=[
            "is_new",
            "reason",
            "patient_id",
            "date",
            "site",
            "clinician",
            "link",
            "detail",
            "course_id",
        ],
        column_config={
            "is_new": st.column_config.CheckboxColumn("New", help="Since your previous visit"),
            "reason": st.column_config.TextColumn("Reason"),
            "patient_id": st.column_config.TextColumn("Patient"),
            "course_id": st.column_config.TextColumn("Course"),
            "date": st.column_config.DatetimeColumn("Date", format="YYYY-MM-DD"),
            "detail": st.column_config.TextColumn("Detail", width="large"),
            "site": st.column_config.TextColumn("Site"),
            "clinician": st.column_config.TextColumn("Clinician"),
            "link": st.column_config.LinkColumn("Case", display_text="open case"),
        },
    )
    first = (int(page_number) - 1) * WORKLIST_PAGE_SIZE + 1 if len(rows) else 0
    st.caption(f"Alerts {first:,}–{first + len(shown) - 1:,} of {len(rows):,}.")
    with st.expander("Patients needing attention per site and clinician"):
        st.dataframe(
            groups,
            hide_index=True,
            key="safety_worklist_groups",
            column_config={
                "site": "Site",
                "clinician": "Clinician",
                "patients": st.column_config.NumberColumn("Patients"),
                "alerts": st.column_config.NumberColumn("Alerts"),
                "new": st.column_config.NumberColumn("New"),
            },
        )


def inactive_table(inactive: pd.DataFrame) -> None:
    """Inactive patients' alerts with the date of their last contact, newest contact first."""
    rows = inactive.sort_values("last_contact", ascending=False, kind="stable", na_position="last")
    st.dataframe(
        redact.deidentify(rows),
        hide_index=True,
        key="safety_inactive",
        column_order=["last_contact", "reason", "patient_id", "date", "site", "link", "detail"],
        column_config={
            "last_contact": st.column_config.DatetimeColumn("Last contact", format="YYYY-MM-DD"),
            "reason": st.column_config.TextColumn("Reason"),
            "patient_id": st.column_config.TextColumn("Patient"),
            "date": st.column_config.DatetimeColumn("Alert date", format="YYYY-MM-DD"),
            "detail": st.column_config.TextColumn("Detail", width="large"),
            "site": st.column_config.TextColumn("Site"),
            "link": st.column_config.LinkColumn("Case", display_text="open case"),
        },
    )


def tiles(filters: Filters) -> Tiles:
    """Headline numbers for these filters."""
    v = view(filters)
    bp = v.session_vitals
    return Tiles(
        dosing_sessions=v.dosing_sessions,
        patients_dosed=v.patients_dosed,
        events=int(v.u["events"].sum()) if not v.u.empty else 0,
        excursion_sessions=int(bp["is_excursion"].sum()),
        rise_sessions=int(bp["is_rise"].sum()),
        predose_review_sessions=int(bp["needs_predose_review"].sum()),
        serious_events=v.serious_events,
        attention_patients=int(alerts(filters)["patient_id"].nunique()),
    )


def rates_by(filters: Filters, label: str) -> pd.DataFrame:
    """Session rates (%) per effect × subgroup, one column per subgroup with its n."""
    return _rates_by(_key(filters), GROUPINGS[label])


@st.cache_resource(ttl=TTL, max_entries=32, show_spinner=False)
def _rates_by(key: tuple, by: str) -> pd.DataFrame:
    table = _view(key).rates_by(by)
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
    bp = _view(key).session_vitals
    flagged = bp[bp["is_excursion"] | bp["is_rise"] | bp["needs_predose_review"]]
    flagged = flagged.sort_values(
        ["is_excursion", "is_rise", "started_at"], ascending=False, kind="stable"
    ).head(EXCURSION_TABLE_MAX)
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
    day (u-chart). Typed, where the first version split a "patient|ref" string."""

    rate: Rate = Rate.PATIENTS
    reference: bool = False
    max_number: int | None = None
    today: date | None = None


@st.cache_resource(ttl=TTL, max_entries=64, show_spinner=False)
def _figure(key: tuple, name: Figure, choice: FigureChoice, small: int | None) -> go.Figure:
    # small: counts from 1 to small − 1 are not drawn (analysts; kapviz.ui.redact.drawable).
    v = _view(key)
    rates = redact.drawable(
        v.rates, ["sessions", "dosing_sessions", "patients", "patients_dosed"], small
    )
    match name:
        case Figure.FREQUENCY:
            return charts.side_effect_frequency(
                rates, kind=choice.rate.value, reference=choice.reference
            )
        case Figure.SEVERITY:
            drawn = redact.drawable(rates, ["mild", "moderate", "severe"], small)
            return charts.severity_stack(drawn, kind=choice.rate.value)
        case Figure.HEATMAP:
            by_number = redact.drawable(v.by_number, ["sessions", "dosing_sessions"], small)
            return charts.effect_session_heatmap(by_number, max_number=choice.max_number)
        case Figure.BP:
            return charts.bp_curve(redact.drawable(v.curve, ["n"], small), settings=settings())
        case Figure.U:
            u = redact.drawable(v.u, ["events", "dosing_sessions"], small)
            return charts.u_chart(u, today=choice.today)
        case Figure.LONG_TERM:
            long_term = redact.drawable(v.long_term, ["sessions", "dosing_sessions"], small)
            return charts.long_term_vs_cumulative_dose(long_term)
    raise ValueError(f"unknown safety figure {name!r}")


def figure(filters: Filters, name: Figure, choice: FigureChoice = FigureChoice()) -> go.Figure:
    """A cached figure of the page (for analysts without small counts)."""
    return _figure(_key(filters), Figure(name), choice, redact.small_below())


MIN_SESSIONS_PER_DOSE_NUMBER = 10
"""The heatmap stops at the last dose number with at least this many sessions."""


def heatmap_max_number(filters: Filters) -> int:
    """Last dose number worth a heatmap column (enough sessions to read a rate)."""
    sizes = view(filters).by_number.groupby("session_number")["dosing_sessions"].first()
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
