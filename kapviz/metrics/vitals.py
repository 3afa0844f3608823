"""Blood pressure per dosing session (DOMAIN.md §4): pre-dose, peak, rise, excursion flags.

Thresholds come from `Settings` (defaults DOMAIN.md): excursion when any reading has systolic
≥ 180 or diastolic ≥ 110; a rise over pre-dose of more than 40 systolic or 25 diastolic;
pre-dose review at ≥ 140/90. Units are mmHg and minutes from the dose.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kapviz.config import Settings
from kapviz.metrics.side_effects import dosing_sessions, is_member

SESSION_VITALS_COLUMNS = [
    "session_id",
    "patient_id",
    "course_id",
    "started_at",
    "route",
    "drug",
    "readings",
    "pre_systolic",
    "pre_diastolic",
    "peak_systolic",
    "peak_diastolic",
    "last_systolic",
    "last_diastolic",
    "max_systolic",
    "max_diastolic",
    "rise_systolic",
    "rise_diastolic",
    "is_excursion",
    "is_rise",
    "needs_predose_review",
]


def _numbers(values: pd.Series) -> np.ndarray:
    """A nullable numeric column as float64 with NaN for missing."""
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _readings(vitals: pd.DataFrame) -> tuple[pd.DataFrame, pd.Index]:
    """Readings with an integer session code, sorted by session and minute; the code's ids.

    Sorting and grouping on integer codes rather than Arrow strings: a large clinic has
    over a million readings.
    """
    codes, ids = pd.factorize(vitals["session_id"])
    minutes = _numbers(vitals["minutes_from_dose"])
    order = np.lexsort((minutes, codes))
    frame = pd.DataFrame(
        {
            "code": codes[order],
            "minutes_from_dose": minutes[order],
            "systolic": _numbers(vitals["systolic"])[order],
            "diastolic": _numbers(vitals["diastolic"])[order],
        }
    )
    return frame, pd.Index(ids)


def session_vitals(
    sessions: pd.DataFrame, vitals: pd.DataFrame, *, settings: Settings
) -> pd.DataFrame:
    """One row per completed dosing session with its BP summary and flags (mmHg).

    pre = latest reading at minutes_from_dose ≤ 0; peak = highest reading after the dose
    (minutes > 0); last = latest reading; max = highest of all readings; rise = peak − pre.
    is_excursion: any reading at or above the excursion thresholds; is_rise: a rise above
    the rise thresholds; needs_predose_review: pre-dose at or above the review thresholds.
    Sessions without readings have readings 0, NaN values and False flags.
    """
    cols = ["session_id", "patient_id", "course_id", "started_at", "route", "drug"]
    base = dosing_sessions(sessions, columns=cols)
    readings, ids = _readings(vitals[is_member(vitals["session_id"], base["session_id"])])
    by_session = readings.groupby("code", sort=True)
    stats = pd.DataFrame(
        {
            "readings": by_session.size(),
            "max_systolic": by_session["systolic"].max(),
            "max_diastolic": by_session["diastolic"].max(),
        }
    )
    last = readings.drop_duplicates("code", keep="last").set_index("code")
    stats["last_systolic"] = last["systolic"]
    stats["last_diastolic"] = last["diastolic"]
    pre = readings[readings["minutes_from_dose"] <= 0].drop_duplicates("code", keep="last")
    pre = pre.set_index("code")
    stats["pre_systolic"] = pre["systolic"]
    stats["pre_diastolic"] = pre["diastolic"]
    post = readings[readings["minutes_from_dose"] > 0].groupby("code")
    stats["peak_systolic"] = post["systolic"].max()
    stats["peak_diastolic"] = post["diastolic"].max()
    stats = stats.reindex(range(len(ids)))
    position = ids.get_indexer(base["session_id"])
    position = np.where(position >= 0, position, len(ids))  # no readings → the NaN slot
    out = base.copy()
    for col in stats.columns:
        out[col] = np.append(stats[col].to_numpy(dtype="float64"), np.nan)[position]
    out["readings"] = out["readings"].fillna(0).astype("int64")
    out["rise_systolic"] = out["peak_systolic"] - out["pre_systolic"]
    out["rise_diastolic"] = out["peak_diastolic"] - out["pre_diastolic"]
    s = settings
    out["is_excursion"] = (out["max_systolic"] >= s.bp_excursion_systolic) | (
        out["max_diastolic"] >= s.bp_excursion_diastolic
    )
    out["is_rise"] = (out["rise_systolic"] > s.bp_rise_systolic) | (
        out["rise_diastolic"] > s.bp_rise_diastolic
    )
    out["needs_predose_review"] = (out["pre_systolic"] >= s.bp_review_systolic) | (
        out["pre_diastolic"] >= s.bp_review_diastolic
    )
    for col in ("is_excursion", "is_rise", "needs_predose_review"):
        out[col] = out[col].fillna(False).astype(bool)
    return out[SESSION_VITALS_COLUMNS].reset_index(drop=True)


def bp_curve(
    vitals: pd.DataFrame, *, sessions: pd.DataFrame | None = None, bin_minutes: int = 10
) -> pd.DataFrame:
    """Median and interquartile range of systolic and diastolic BP per bin of minutes.

    With `sessions`, only readings of completed dosing sessions count. Bins start at
    multiples of `bin_minutes` (a reading at −5 falls in the bin starting at −10).
    Long format: minute (bin start), measure ("systolic"/"diastolic"), n, median, q1, q3.
    """
    if bin_minutes <= 0:
        raise ValueError(f"bin_minutes must be positive, not {bin_minutes}")
    if sessions is not None:
        doses = dosing_sessions(sessions, columns=["session_id"])["session_id"]
        vitals = vitals[is_member(vitals["session_id"], doses)]
    bins = np.floor(_numbers(vitals["minutes_from_dose"]) / bin_minutes) * bin_minutes
    parts = []
    for measure in ("systolic", "diastolic"):
        values = _numbers(vitals[measure])
        ok = ~np.isnan(bins) & ~np.isnan(values)
        grouped = pd.Series(values[ok]).groupby(bins[ok], sort=True)
        part = pd.DataFrame(
            {
                "n": grouped.size(),
                "median": grouped.median(),
                "q1": grouped.quantile(0.25),
                "q3": grouped.quantile(0.75),
            }
        )
        parts.append(part.rename_axis("minute").reset_index().assign(measure=measure))
    out = pd.concat(parts, ignore_index=True)
    out["minute"] = out["minute"].astype("int64")
    out["n"] = out["n"].astype("int64")
    out["measure"] = out["measure"].astype(object)
    return out[["minute", "measure", "n", "median", "q1", "q3"]]
