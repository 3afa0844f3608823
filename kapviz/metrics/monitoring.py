"""Sedation, dissociation and monitoring time during dosing, and the monthly adverse-event
u-chart (docs/domain.md §4).

An *adverse event* here is one effect term recorded on one completed dosing session, counted
once however many records repeat it. Thresholds come from `Settings` (defaults docs/domain.md).
kapviz.metrics.safety re-exports every public name.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from kapviz import instruments
from kapviz.config import Settings
from kapviz.metrics.side_effects import dosing_sessions, session_effects, session_numbers
from kapviz.metrics.stats import mean_ci

SIGMA_LIMITS = 3
"""Shewhart control limits at ±3 sigma (u-chart: ū ± 3·√(ū/nᵢ))."""

PER_SESSIONS = 100
"""The u-chart shows adverse events per 100 completed dosing sessions."""


def instrument_rows(assessments: pd.DataFrame, instrument: str) -> pd.DataFrame:
    """Rows of one registry instrument, whatever spelling the source used."""
    names = {name: instruments.normalize(name) for name in assessments["instrument"].unique()}
    mask = assessments["instrument"].map(names) == instrument
    return assessments.loc[mask.fillna(False).astype(bool)]


# --- Sedation, dissociation, monitoring ---------------------------------------------------


def sedation_flags(assessments: pd.DataFrame, *, settings: Settings) -> pd.DataFrame:
    """MOAA/S scores (5 alert … 0 unresponsive) with the sedation and consciousness flags.

    Columns: id, patient_id, course_id, session_id, administered_at, moaas, is_sedation
    (≤ settings.sedation_moaas_max), is_loss_of_consciousness (MOAA/S 0).
    """
    rows = instrument_rows(assessments, "MOAA/S")
    cols = ["id", "patient_id", "course_id", "session_id", "administered_at"]
    out = rows[cols].copy()
    out["moaas"] = rows["total"].astype("int64")
    out["is_sedation"] = out["moaas"] <= settings.sedation_moaas_max
    out["is_loss_of_consciousness"] = out["moaas"] == instruments.LOSS_OF_CONSCIOUSNESS_MOAAS
    return out.reset_index(drop=True)


def cadss_by_session_number(sessions: pd.DataFrame, assessments: pd.DataFrame) -> pd.DataFrame:
    """CADSS dissociation (0–92, higher = more) per dose number: n, mean with 95% CI, median.

    Only CADSS scores tied to a completed dosing session count (dissociation during dosing).
    """
    rows = instrument_rows(assessments, "CADSS")
    numbers = session_numbers(sessions).set_index("session_id")["session_number"]
    return cadss_table(rows.assign(session_number=rows["session_id"].map(numbers)))


def cadss_table(scores: pd.DataFrame) -> pd.DataFrame:
    """`cadss_by_session_number` of CADSS scores (total) with their dose's session_number.

    Scores without a dose number are left out; within a dose number the scores are taken in
    ascending order, which fixes the last bits of the standard deviation whatever order
    they were read in (the live scores or the rollup's counts, kapviz.db.safety_rollups).
    """
    scores = scores.dropna(subset=["session_number"])
    out = []
    for number, group in scores.groupby("session_number", sort=True):
        mean, low, high = mean_ci(group["total"].sort_values(kind="stable"))
        median = float(group["total"].median())
        out.append((int(number), len(group), mean, low, high, median))
    columns = ["session_number", "n", "mean", "ci_low", "ci_high", "median"]
    frame = pd.DataFrame(out, columns=columns)
    return frame.astype({"session_number": "int64", "n": "int64"})


def monitoring_flags(sessions: pd.DataFrame, *, settings: Settings) -> pd.DataFrame:
    """Completed esketamine dosing sessions and whether observation met the REMS minimum.

    Columns: session_id, patient_id, course_id, started_at, monitoring_min, is_short
    (recorded and < settings.esketamine_min_monitoring_min), is_unrecorded.
    """
    cols = ["session_id", "patient_id", "course_id", "started_at", "monitoring_min", "drug"]
    return monitoring_of(dosing_sessions(sessions, columns=cols), settings=settings)


def monitoring_of(doses: pd.DataFrame, *, settings: Settings) -> pd.DataFrame:
    """`monitoring_flags` of doses already picked (with drug and monitoring_min)."""
    cols = ["session_id", "patient_id", "course_id", "started_at", "monitoring_min"]
    out = doses.loc[(doses["drug"] == "esketamine").to_numpy(), cols]
    minutes = out["monitoring_min"].astype("float64")
    out["is_short"] = (minutes < settings.esketamine_min_monitoring_min).fillna(False)
    out["is_unrecorded"] = minutes.isna()
    return out.astype({"is_short": bool, "is_unrecorded": bool}).reset_index(drop=True)


# --- Adverse events over time -------------------------------------------------------------


def adverse_event_rate(
    sessions: pd.DataFrame, side_effects: pd.DataFrame, *, start: datetime, end: datetime
) -> tuple[int, int]:
    """(adverse events, completed dosing sessions) for sessions started in [start, end)."""
    cols = ["session_id", "patient_id", "course_id", "started_at", "phase", "status"]
    doses = dosing_sessions(sessions, columns=cols)
    started = pd.to_datetime(doses["started_at"])
    in_window = doses.loc[(started >= pd.Timestamp(start)) & (started < pd.Timestamp(end))]
    events = session_effects(in_window, side_effects)
    return int(len(events)), int(len(in_window))


U_CHART_COLUMNS = ["month", "events", "dosing_sessions", "rate", "centre", "ucl", "lcl", "is_out"]


def u_chart(sessions: pd.DataFrame, side_effects: pd.DataFrame) -> pd.DataFrame:
    """Monthly adverse events per 100 completed dosing sessions with 3-sigma u-chart limits.

    u_i = events_i / n_i; centre ū = Σ events / Σ n; limits ū ± 3·√(ū / n_i) (lower floored
    at 0); rate, centre, ucl and lcl are then ×100. is_out marks months outside the limits.
    """
    doses = dosing_sessions(sessions, columns=["session_id", "started_at"])
    return u_chart_from_counts(monthly_events(doses, session_effects(sessions, side_effects)))


def monthly_events(doses: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """Adverse events and doses per calendar month of the dose: month, events, dosing_sessions.

    `doses` are completed dosing sessions (session_id, started_at); `rows` their
    `session_effects` rows (one event each). Months without doses are absent.
    """
    if doses.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in U_CHART_COLUMNS[:3]})
    month = pd.to_datetime(doses["started_at"]).dt.to_period("M").dt.to_timestamp()
    sizes = month.groupby(month).size().rename("dosing_sessions")
    event_month = rows["session_id"].map(pd.Series(month.to_numpy(), index=doses["session_id"]))
    counts = event_month.groupby(event_month).size().reindex(sizes.index, fill_value=0)
    out = pd.DataFrame({"events": counts.astype("int64"), "dosing_sessions": sizes})
    out.index.name = "month"
    return out.reset_index()


def u_chart_from_counts(monthly: pd.DataFrame) -> pd.DataFrame:
    """The u-chart of monthly counts (month, events, dosing_sessions), as u_chart defines it.

    For callers that count in SQL (the Overview reads per-day counts, not every record).
    """
    if monthly.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in U_CHART_COLUMNS})
    out = monthly[["month", "events", "dosing_sessions"]].reset_index(drop=True)
    n = out["dosing_sessions"].to_numpy(float)
    u = out["events"].to_numpy(float) / n
    u_bar = out["events"].sum() / n.sum()
    half = SIGMA_LIMITS * np.sqrt(u_bar / n)
    out["rate"] = u * PER_SESSIONS
    out["centre"] = u_bar * PER_SESSIONS
    out["ucl"] = (u_bar + half) * PER_SESSIONS
    out["lcl"] = np.maximum(0.0, u_bar - half) * PER_SESSIONS
    out["is_out"] = (out["rate"] > out["ucl"]) | (out["rate"] < out["lcl"])
    return out[U_CHART_COLUMNS]
