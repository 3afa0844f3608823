"""Program-level figures a clinical director follows: activity, volume and the funnel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from kapviz.config import Settings
from kapviz.instruments import PHQ9
from kapviz.metrics import alerts
from kapviz.metrics.periods import period_spans
from kapviz.metrics.side_effects import is_member
from kapviz.metrics.stats import funnel_limits, wilson_columns

FUNNEL_STEPS = ("Referred", "Intake completed", "Eligible", "First dose", "Course completed")


def completed(sessions: pd.DataFrame) -> pd.DataFrame:
    """Only completed sessions count in any denominator (docs/domain.md §1)."""
    return sessions[sessions["status"] == "completed"]


def funnel_frame(counts: list[int]) -> pd.DataFrame:
    """The funnel table (step, patients, lost) of the patient count at each step."""
    frame = pd.DataFrame({"step": list(FUNNEL_STEPS), "patients": counts})
    previous = frame["patients"].shift(1)
    frame["lost"] = (1 - frame["patients"] / previous).where(previous > 0)
    return frame


def monthly_from_daily(daily: pd.DataFrame, *, value: str = "sessions") -> pd.DataFrame:
    """Sum per-day counts (day, route, `value`) into calendar months: month, route, value."""
    if daily.empty:
        return pd.DataFrame(columns=["month", "route", value])
    month = pd.to_datetime(daily["day"]).dt.to_period("M").dt.to_timestamp()
    return (
        daily.assign(month=month)
        .groupby(["month", "route"], as_index=False)[value]
        .sum()
        .astype({value: "int64"})
    )


def measurement_completion(courses: pd.DataFrame) -> tuple[int, int]:
    """(measured, expected) of per-course counts (kapviz.db.aggregates.program
    .measurement_by_course, or any subset or group of its rows): completed dosing sessions
    with a recent score of the instrument, of all of them (docs/domain.md)."""
    return int(courses["measured"].sum()), int(courses["expected"].sum())


FUNNEL_LEVELS: tuple[float, ...] = (0.95, 0.998)
"""Coverage of a funnel plot's limits: 95% (about 2 SD) and 99.8% (about 3 SD)."""


def funnel_plot_limits(
    overall_rate: float, volumes: pd.Series | list[int], *, coverage: float = 0.95
) -> pd.DataFrame:
    """Exact binomial control limits around the overall rate for each volume (funnel plot).

    DOMAIN §4c: limits from the binomial distribution, not the normal approximation, which
    is too narrow or runs past 0 and 1 for small units. A site outside them differs from the
    program by more than chance at that volume.
    """
    n = pd.Series(volumes, dtype="float64")
    limits = [
        funnel_limits(overall_rate, int(v) if v == v and v > 0 else 0, coverage=coverage)
        for v in n.tolist()
    ]
    return pd.DataFrame(
        {"n": n, "lower": [lo for lo, _ in limits], "upper": [hi for _, hi in limits]}
    )


def period_bounds(now: datetime, *, days: int) -> tuple[datetime, datetime, datetime]:
    """(previous start, current start, now): two consecutive windows of `days` ending now."""
    current_start = now - timedelta(days=days)
    return (current_start - timedelta(days=days), current_start, now)


def _evaluable(outcomes: pd.DataFrame, instrument: str) -> pd.DataFrame:
    rows = outcomes[(outcomes["instrument"] == instrument) & outcomes["evaluable"].astype(bool)]
    return rows


def outcome_window(
    outcomes: pd.DataFrame, *, instrument: str = PHQ9.id, start: datetime, end: datetime
) -> dict[str, int]:
    """Responders and remitters among courses whose endpoint falls in [start, end).

    Denominators follow docs/domain.md §3: response counts evaluable courses with a defined
    response (percent rule: baseline > 0); remission excludes courses whose baseline was
    already in remission.
    """
    rows = _evaluable(outcomes, instrument)
    rows = rows[(rows["endpoint_at"] >= start) & (rows["endpoint_at"] < end)]
    response = rows["is_response"].dropna().astype(bool)
    remission = rows.loc[~rows["baseline_in_remission"].astype(bool), "is_remission"]
    return {
        "responders": int(response.sum()),
        "response_n": int(len(response)),
        "remitters": int(remission.astype(bool).sum()),
        "remission_n": int(len(remission)),
    }


def monthly_response(outcomes: pd.DataFrame, *, instrument: str = PHQ9.id) -> pd.DataFrame:
    """Response rate by month of the course's endpoint, with 95% Wilson intervals."""
    rows = _evaluable(outcomes, instrument)
    rows = rows[rows["is_response"].notna()]
    columns = ["month", "responders", "n", "rate", "ci_low", "ci_high"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    month = pd.to_datetime(rows["endpoint_at"]).dt.to_period("M").dt.to_timestamp()
    grouped = (
        rows.assign(month=month, responders=rows["is_response"].astype(bool).astype(int))
        .groupby("month", as_index=False)
        .agg(responders=("responders", "sum"), n=("responders", "size"))
    )
    return wilson_columns(grouped, successes="responders", n="n")[columns]


def site_response(
    outcomes: pd.DataFrame, sessions: pd.DataFrame | pd.Series, *, instrument: str = PHQ9.id
) -> tuple[pd.DataFrame, float]:
    """Per-site response rate and volume, plus the program rate (for the funnel plot).

    `sessions` gives each course's site: a sessions frame, or a course_id → site Series.
    """
    rows = _evaluable(outcomes, instrument)
    rows = rows[rows["is_response"].notna()]
    if isinstance(sessions, pd.Series):
        site_of = sessions
    else:
        site_of = sessions.drop_duplicates("course_id").set_index("course_id")["site"]
    rows = rows.assign(site=rows["course_id"].map(site_of), k=rows["is_response"].astype(int))
    sites = rows.groupby("site", as_index=False).agg(responders=("k", "sum"), n=("k", "size"))
    overall = float(sites["responders"].sum() / sites["n"].sum()) if len(sites) else float("nan")
    sites["rate"] = sites["responders"] / sites["n"]
    limits = funnel_plot_limits(overall, sites["n"])
    sites["lower"] = limits["lower"].to_numpy()
    sites["upper"] = limits["upper"].to_numpy()
    return sites, overall


@dataclass(frozen=True)
class TileWindows:
    """The tiles' periods as of `now` (docs/domain.md §1 windows; every range is [start, end)
    but the active-patient ones, which are (start, end])."""

    now: datetime
    cur30: datetime
    prev30: datetime
    cur90: datetime
    prev90: datetime
    week: tuple[datetime, datetime]
    week_before: tuple[datetime, datetime]
    month: tuple[datetime, datetime]
    month_before: tuple[datetime, datetime]


def tile_windows(now: datetime) -> TileWindows:
    """This week / month so far and the same elapsed span of the week / month before
    (kapviz.metrics.periods.period_spans); the last 30 and 90 days and the 30 and 90 before."""
    prev30, cur30, _ = period_bounds(now, days=30)
    prev90, cur90, _ = period_bounds(now, days=90)
    week, month = period_spans(now, "week"), period_spans(now, "month")
    return TileWindows(
        now=now,
        cur30=cur30,
        prev30=prev30,
        cur90=cur90,
        prev90=prev90,
        week=week.current,
        week_before=week.previous,
        month=month.current,
        month_before=month.previous,
    )


@dataclass(frozen=True)
class TileCounts:
    """What the director's tiles count in sessions and scores (counted in SQL by
    kapviz.db.aggregates.program.tile_counts)."""

    active: int
    active_before: int
    dosing_week: int
    dosing_week_before: int
    dosing_month: int
    dosing_month_before: int
    measured: int
    measured_n: int
    measured_before: int
    measured_before_n: int


def _share(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def director_kpis_from(counts: TileCounts, outcomes: pd.DataFrame, *, now: datetime) -> dict:
    """The Overview tiles, each with its value, the previous period's value and a note.

    Periods: active patients — last 30 days vs the 30 before; dosing — this week / month so
    far vs the same span of the previous week / month; response and remission — courses
    whose endpoint fell in the last 90 days vs the 90 before; measurement completion —
    dosing sessions of the last 30 days vs the 30 before.
    """
    w = tile_windows(now)
    kpis: dict[str, dict] = {
        "active_patients": {"value": counts.active, "previous": counts.active_before},
        "dosing_week": {"value": counts.dosing_week, "previous": counts.dosing_week_before},
        "dosing_month": {"value": counts.dosing_month, "previous": counts.dosing_month_before},
    }
    current = outcome_window(outcomes, start=w.cur90, end=now)
    before = outcome_window(outcomes, start=w.prev90, end=w.cur90)
    for key, k, n in (
        ("response", "responders", "response_n"),
        ("remission", "remitters", "remission_n"),
    ):
        kpis[key] = {
            "value": _share(current[k], current[n]),
            "previous": _share(before[k], before[n]),
            "numerator": current[k],
            "denominator": current[n],
            "previous_denominator": before[n],
        }
    kpis["measurement_completion"] = {
        "value": _share(counts.measured, counts.measured_n),
        "previous": _share(counts.measured_before, counts.measured_before_n),
        "numerator": counts.measured,
        "denominator": counts.measured_n,
    }
    return kpis


@dataclass(frozen=True)
class AdverseCounts:
    """Adverse events and completed dosing sessions of the last 30 days and the 30 before
    (counted in SQL by kapviz.db.aggregates.program.tile_counts)."""

    events: int
    doses: int
    events_before: int
    doses_before: int


def open_alert_patients(
    sessions: pd.DataFrame,
    side_effects: pd.DataFrame,
    vitals: pd.DataFrame,
    assessments: pd.DataFrame,
    *,
    settings: Settings,
    now: datetime,
    last_contact: pd.Series,
    last_contact_before: pd.Series,
) -> tuple[alerts.Attention, alerts.Attention]:
    """Patients on the Safety page's alerts worklist now, and as things stood 30 days ago
    (only what had happened by then), active and inactive by the worklist's rule.

    `last_contact` / `last_contact_before`: patient_id → latest completed session, of all
    and of those started by 30 days ago (kapviz.db.aggregates.safety.last_contact); only
    the patients of `open_alert_tables` are looked up.
    """
    open_now, open_before = open_alert_tables(
        sessions, side_effects, vitals, assessments, settings=settings, now=now
    )
    return attention_now_and_before(
        open_now, open_before, last_contact, last_contact_before, settings=settings, now=now
    )


def open_alert_tables(
    sessions: pd.DataFrame,
    side_effects: pd.DataFrame,
    vitals: pd.DataFrame,
    assessments: pd.DataFrame,
    *,
    settings: Settings,
    now: datetime,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The alerts worklist now and as things stood 30 days ago (only what had happened by
    then), before the inactive patients are set apart."""
    open_now = alerts.alerts(
        sessions, side_effects, vitals, assessments, settings=settings, now=now
    )
    cur30 = tile_windows(now).cur30
    past = sessions[sessions["started_at"] <= cur30]
    open_before = alerts.alerts(
        past,
        side_effects[is_member(side_effects["session_id"], past["session_id"])],
        vitals[is_member(vitals["session_id"], past["session_id"])],
        assessments[assessments["administered_at"] <= cur30],
        settings=settings,
        now=cur30,
    )
    return open_now, open_before


def attention_now_and_before(
    open_now: pd.DataFrame,
    open_before: pd.DataFrame,
    last_contact: pd.Series,
    last_contact_before: pd.Series,
    *,
    settings: Settings,
    now: datetime,
) -> tuple[alerts.Attention, alerts.Attention]:
    """`open_alert_tables`' patients, active and inactive by the worklist's rule, now and
    30 days ago (each against the last contacts as of then)."""
    days = settings.inactive_days
    cur30 = tile_windows(now).cur30
    return (
        alerts.attention(open_now, last_contact, now=now, inactive_days=days),
        alerts.attention(open_before, last_contact_before, now=cur30, inactive_days=days),
    )


def safety_kpis_from(
    adverse: AdverseCounts, open_alerts: tuple[alerts.Attention, alerts.Attention]
) -> dict[str, dict]:
    """Adverse events per 100 dosing sessions (last 30 days vs the 30 before) and the
    active patients on the Safety page's alerts worklist (now vs 30 days ago), with the
    inactive ones the worklist lists apart."""
    return {
        "adverse_events": {
            "value": 100 * adverse.events / adverse.doses if adverse.doses else None,
            "previous": (
                100 * adverse.events_before / adverse.doses_before if adverse.doses_before else None
            ),
            "numerator": adverse.events,
            "denominator": adverse.doses,
        },
        "open_alerts": {
            "value": open_alerts[0].active,
            "previous": open_alerts[1].active,
            "inactive": open_alerts[0].inactive,
        },
    }
