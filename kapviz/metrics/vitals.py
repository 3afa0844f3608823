"""Blood pressure per dosing session (docs/domain.md §4): pre-dose, peak, rise, excursion flags.

Thresholds come from `Settings` (defaults docs/domain.md): excursion when any reading has systolic
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
    stats = stats.reindex(range(len(ids))).assign(session_id=ids)
    return with_flags(base, stats, settings=settings)


def with_flags(base: pd.DataFrame, stats: pd.DataFrame, *, settings: Settings) -> pd.DataFrame:
    """`session_vitals` rows: the doses of `base` with their per-session `stats` and flags.

    `stats` has one row per session with readings (session_id, readings, pre_*, peak_*,
    last_*, max_* as from `bp_per_session`); doses without readings get readings 0, NaN
    values and False flags.
    """
    position = pd.Index(stats["session_id"]).get_indexer(base["session_id"])
    return flags_of(base, stats, position, settings=settings)


def flags_of(
    base: pd.DataFrame, stats: pd.DataFrame, position: np.ndarray, *, settings: Settings
) -> pd.DataFrame:
    """`with_flags` with each dose's row in `stats` given by position (−1: no readings)."""
    position = np.where(position >= 0, position, len(stats))  # no readings → the NaN slot
    v = {c: np.append(stats[c].to_numpy(dtype="float64"), np.nan)[position] for c in _STAT_COLUMNS}
    v["readings"] = np.nan_to_num(v["readings"], nan=0.0).astype("int64")
    v["rise_systolic"] = v["peak_systolic"] - v["pre_systolic"]
    v["rise_diastolic"] = v["peak_diastolic"] - v["pre_diastolic"]
    s = settings
    with np.errstate(invalid="ignore"):  # NaN compares False: no reading, no flag
        v["is_excursion"] = (v["max_systolic"] >= s.bp_excursion_systolic) | (
            v["max_diastolic"] >= s.bp_excursion_diastolic
        )
        v["is_rise"] = (v["rise_systolic"] > s.bp_rise_systolic) | (
            v["rise_diastolic"] > s.bp_rise_diastolic
        )
        v["needs_predose_review"] = (v["pre_systolic"] >= s.bp_review_systolic) | (
            v["pre_diastolic"] >= s.bp_review_diastolic
        )
    out = base.reset_index(drop=True)
    added = pd.DataFrame({c: v[c] for c in SESSION_VITALS_COLUMNS if c in v}, index=out.index)
    return pd.concat([out, added], axis=1)[SESSION_VITALS_COLUMNS]


_STAT_COLUMNS = [
    "readings",
    "max_systolic",
    "max_diastolic",
    "last_systolic",
    "last_diastolic",
    "pre_systolic",
    "pre_diastolic",
    "peak_systolic",
    "peak_diastolic",
]


def bp_per_session(readings: pd.DataFrame) -> pd.DataFrame:
    """Per session with readings: readings, max, pre, peak and last systolic/diastolic.

    The definitions of `session_vitals`, vectorised (a large clinic has over a million
    readings): pre = the reading at the latest minute ≤ 0, peak = highest after the dose,
    last = the reading at the latest minute, max = highest of all; missing values stay
    missing (a pre-dose reading without systolic gives no pre systolic).
    Columns: session_id, then _STAT_COLUMNS.
    """
    codes, ids = pd.factorize(readings["session_id"])
    stats = bp_stats(
        codes,
        _numbers(readings["minutes_from_dose"]),
        _numbers(readings["systolic"]),
        _numbers(readings["diastolic"]),
    )
    session_id = pd.Series(np.asarray(ids, dtype=object)[stats.pop("code")], dtype=object)
    return pd.DataFrame({"session_id": session_id, **stats})[["session_id", *_STAT_COLUMNS]]


def bp_stats(
    codes: np.ndarray, minutes: np.ndarray, systolic: np.ndarray, diastolic: np.ndarray
) -> dict[str, np.ndarray]:
    """`bp_per_session` over integer session codes (≥ 0): a column array per statistic and
    `code`, one entry per code with readings, in code order. Minutes are unique per code."""
    order = _by_code_and_minute(codes, minutes)
    codes, minutes = codes[order], minutes[order]
    if len(codes) == 0:
        empty = {c: np.array([], dtype="float64") for c in _STAT_COLUMNS}
        return {"code": np.array([], dtype="int64"), **empty, "readings": np.array([], "int64")}
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    ends = np.r_[starts[1:], len(codes)]
    pre_row = np.maximum.reduceat(np.where(minutes <= 0, np.arange(len(codes)), -1), starts)
    out = {"code": codes[starts], "readings": (ends - starts).astype("int64")}
    for measure, values in (("systolic", systolic), ("diastolic", diastolic)):
        v = values[order]
        out[f"max_{measure}"] = np.fmax.reduceat(v, starts)
        out[f"last_{measure}"] = v[ends - 1]
        out[f"pre_{measure}"] = np.where(pre_row >= 0, v[np.maximum(pre_row, 0)], np.nan)
        out[f"peak_{measure}"] = np.fmax.reduceat(np.where(minutes > 0, v, np.nan), starts)
    return out


def _by_code_and_minute(codes: np.ndarray, minutes: np.ndarray) -> np.ndarray:
    """Order of the readings by session code, then minute (ties keep their order).

    Whole minutes within ±2³¹ (always, from the database) are packed with the code into one
    integer: one stable sort, fast when the readings arrive nearly in order, instead of a
    two-key lexsort.
    """
    with np.errstate(invalid="ignore"):  # a missing minute fails the test below
        inside = len(minutes) == 0 or (minutes.min() > -(2**31) and minutes.max() < 2**31)
        whole = inside and np.array_equal(minutes.astype("int64"), minutes)
    if not whole or (len(codes) and codes.min() < 0):
        return np.lexsort((minutes, codes))
    key = (codes.astype("int64") << 32) | (minutes.astype("int64") + 2**31)
    return np.argsort(key, kind="stable")


def bp_counts(readings: pd.DataFrame, *, bin_minutes: int = 10) -> pd.DataFrame:
    """Readings per time bin × measure × value: minute (bin start), measure, value, readings.

    Bins start at multiples of `bin_minutes` (a reading at −5 falls in the bin starting at
    −10); missing values are not counted. `bp_curve_from_counts` reads these counts.
    """
    if bin_minutes <= 0:
        raise ValueError(f"bin_minutes must be positive, not {bin_minutes}")
    bins = np.floor(_numbers(readings["minutes_from_dose"]) / bin_minutes) * bin_minutes
    parts = [
        _value_counts(bins, _numbers(readings[m])).assign(measure=m)
        for m in ("systolic", "diastolic")
    ]
    out = pd.concat(parts, ignore_index=True)
    out = out.astype({"minute": "int64", "value": "float64", "readings": "int64"})
    out["measure"] = out["measure"].astype(object)
    return out[["minute", "measure", "value", "readings"]]


_SMALL = 1 << 12
"""Readings are whole mmHg below this (the schema's checks stop at 300): counted by bincount."""

_MAX_KEYS = 1 << 24
"""Largest bincount array (bins × values) worth allocating; beyond it pairs are hashed."""


def _value_counts(bins: np.ndarray, values: np.ndarray) -> pd.DataFrame:
    """Counts per (bin, value) pair of the rows where both are known: minute, value, readings."""
    ok = ~np.isnan(bins) & ~np.isnan(values)
    bins, values = bins[ok], values[ok]
    if values.size and values.min() >= 0 and values.max() < _SMALL:
        whole = np.array_equal(values.astype("int64"), values)
    else:
        whole = False
    if whole:
        codes, uniques = pd.factorize(bins)
        if len(uniques) * _SMALL <= _MAX_KEYS:
            # Small integer keys: one bincount instead of hashing a million pairs.
            counts = np.bincount(codes * _SMALL + values.astype("int64"))
            found = np.flatnonzero(counts)
            return pd.DataFrame(
                {
                    "minute": np.asarray(uniques)[found // _SMALL],
                    "value": (found % _SMALL).astype("float64"),
                    "readings": counts[found],
                }
            )
    frame = pd.DataFrame({"minute": bins, "value": values})
    return frame.value_counts(sort=False).rename("readings").reset_index()


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


def bp_curve_from_counts(counts: pd.DataFrame) -> pd.DataFrame:
    """`bp_curve` from counts of readings per bin × measure × value (`bp_counts`).

    Exact: a quantile interpolates linearly between two order statistics (pandas' default,
    as in `bp_curve`), and each order statistic is found in the cumulative counts.
    """
    parts = []
    for measure in ("systolic", "diastolic"):
        mine = counts[(counts["measure"] == measure) & (counts["readings"] > 0)]
        for minute, group in mine.sort_values(["minute", "value"]).groupby("minute", sort=True):
            values = group["value"].to_numpy(dtype="float64")
            upto = np.cumsum(group["readings"].to_numpy())
            stats = [_quantile(values, upto, q) for q in (0.5, 0.25, 0.75)]
            parts.append((minute, measure, int(upto[-1]), *stats))
    out = pd.DataFrame(parts, columns=["minute", "measure", "n", "median", "q1", "q3"])
    out = out.astype({"minute": "int64", "n": "int64"})
    out = out.astype({c: "float64" for c in ("median", "q1", "q3")})
    out["measure"] = out["measure"].astype(object)
    return out


def _quantile(values: np.ndarray, upto: np.ndarray, q: float) -> float:
    """Quantile q of sorted distinct `values` seen cumulatively `upto` times (linear)."""
    n = int(upto[-1])
    h = (n - 1) * q
    lo = int(np.floor(h))
    low = values[np.searchsorted(upto, lo, side="right")]
    high = values[np.searchsorted(upto, min(lo + 1, n - 1), side="right")]
    return float(low + (high - low) * (h - lo))
