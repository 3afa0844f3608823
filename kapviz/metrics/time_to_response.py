"""Time to first response (docs/domain.md §3): Kaplan–Meier from the first dose.

Per course × outcome instrument, the time from the first completed dose to the first
post-dose score meeting the instrument's response rule against the course's baseline, in
days and in completed dosing sessions started on or before that score. Courses that
never respond are censored at their endpoint (the latest post-dose score). Who is in the
analysis: evaluable courses; for percent-based rules only those with baseline > 0
(points-based rules such as PCL-5's ≥10-point drop: all evaluable courses).

The cohort figure is the Kaplan–Meier estimate S(t) of "not yet responded"; its median
is the first time at which S(t) ≤ 0.5 (none if it never is), with the Brookmeyer–Crowley
95% interval from log–log Greenwood limits of S.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from kapviz import instruments
from kapviz.domain import Z_95
from kapviz.metrics.scores import DATETIME_DTYPE, doses_up_to

RESPONSE_TIME_COLUMNS = [
    "patient_id",
    "course_id",
    "instrument",
    "responded",
    "days",
    "doses",
]
"""One row per course in the analysis: responded (event) or censored at the endpoint;
days since the first dose (float) and completed doses on or before that moment."""

CURVE_COLUMNS = ["time", "at_risk", "events", "censored", "survival", "ci_low", "ci_high"]


class TimeToResponseUnknown(ValueError):
    """An outcomes frame without per-score times to response (an endpoint-only read)."""


def in_analysis(outcomes: pd.DataFrame) -> pd.Series:
    """Courses the time-to-response analysis counts: evaluable, with a defined response
    (a percent rule is undefined at baseline 0, where the registry gives no verdict)."""
    evaluable = outcomes["evaluable"].astype(bool)
    return evaluable & outcomes["is_response"].notna()


def response_times(outcomes: pd.DataFrame, doses: pd.DataFrame) -> pd.DataFrame:
    """RESPONSE_TIME_COLUMNS from `course_outcomes` rows and the completed doses.

    `doses` is `completed_doses` (course_id, started_at, dose_number) of the same courses;
    it gives the dose count at a censored course's endpoint. Raises TimeToResponseUnknown
    when a course responds at its endpoint but has no time to response (the frame was
    built from endpoints only and cannot say when the first response came).
    """
    rows = outcomes[in_analysis(outcomes)]
    days, responded = _days(rows)
    endpoint = rows["endpoint_at"].to_numpy(dtype=DATETIME_DTYPE)
    courses = pd.Index(pd.unique(rows["course_id"].astype(object)))
    codes = courses.get_indexer(rows["course_id"].astype(object))
    censor_doses = doses_up_to(doses, courses, codes, endpoint)
    response_doses = (
        rows["time_to_response_doses"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    )
    return pd.DataFrame(
        {
            "patient_id": rows["patient_id"].astype(object).to_numpy(),
            "course_id": rows["course_id"].astype(object).to_numpy(),
            "instrument": rows["instrument"].astype(object).to_numpy(),
            "responded": responded,
            "days": days,
            "doses": np.where(responded, response_doses, censor_doses.astype(float)),
        }
    )[RESPONSE_TIME_COLUMNS]


def response_days(outcomes: pd.DataFrame) -> pd.DataFrame:
    """course_id, responded, days of `response_times` (the same rows), without the doses:
    what a Kaplan–Meier curve of days needs (the Python API's time to response)."""
    rows = outcomes[in_analysis(outcomes)]
    days, responded = _days(rows)
    return pd.DataFrame(
        {
            "course_id": rows["course_id"].astype(object).to_numpy(),
            "responded": responded,
            "days": days,
        }
    )


def _days(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(days, responded) per row in the analysis: days to the first response, or censored
    at the endpoint; TimeToResponseUnknown as `response_times`."""
    days = rows["time_to_response_days"].astype("float64").to_numpy()
    responded = ~np.isnan(days)
    if bool((rows["is_response"].eq(True).to_numpy(dtype=bool) & ~responded).any()):
        raise TimeToResponseUnknown(
            "these outcomes have no per-score time to response; build them from every score"
        )
    first = rows["first_dose_at"].to_numpy(dtype=DATETIME_DTYPE)
    endpoint = rows["endpoint_at"].to_numpy(dtype=DATETIME_DTYPE)
    censor_days = (endpoint - first) / np.timedelta64(1, "D")
    return np.where(responded, days, censor_days), responded


@dataclass(frozen=True)
class SurvivalCurve:
    """A Kaplan–Meier estimate of "not yet responded" with its median and 95% CIs."""

    table: pd.DataFrame
    """CURVE_COLUMNS, one row per distinct time with an event or a censoring."""
    courses: int
    responders: int
    median: float | None
    """First time with S(t) ≤ 0.5; None when S never falls that low."""
    median_ci: tuple[float | None, float | None]
    """Brookmeyer–Crowley 95% limits; None where the data do not reach them."""

    def survival_at(self, t: float) -> float:
        """S(t): the estimate just after time `t` (1 before the first event)."""
        before = self.table[self.table["time"] <= t]
        return float(before["survival"].iloc[-1]) if len(before) else 1.0


def kaplan_meier(times: Sequence[float], responded: Sequence[bool]) -> SurvivalCurve:
    """Kaplan–Meier estimate from event/censoring times (days or dose numbers).

    A course censored at time t is still at risk at t (events before censorings on ties).
    Greenwood variance, log–log 95% limits of S(t): S^exp(±z·√V / log S).
    """
    t = np.asarray(times, dtype=float)
    e = np.asarray(responded, dtype=bool)
    if len(t) != len(e) or np.isnan(t).any():
        raise ValueError("times and responded must be the same length, with no missing time")
    # Counted per distinct time in one pass (a scan of every course per time grew as the
    # square of the courses): at risk at x = all courses less those that left before x.
    distinct, which = np.unique(t, return_inverse=True)
    events = np.bincount(which[e], minlength=len(distinct)).astype(np.int64)
    censored = np.bincount(which[~e], minlength=len(distinct)).astype(np.int64)
    leaving = events + censored
    at_risk = len(t) - (np.cumsum(leaving) - leaving)
    with np.errstate(divide="ignore", invalid="ignore"):
        survival = np.cumprod(1.0 - events / at_risk)
        greenwood = np.cumsum(np.where(events > 0, events / (at_risk * (at_risk - events)), 0.0))
        log_s = np.log(survival)
        spread = np.exp(Z_95 * np.sqrt(greenwood) / np.abs(log_s))
    inside = (survival > 0) & (survival < 1) & np.isfinite(spread)
    low = np.where(inside, survival**spread, np.nan)
    high = np.where(inside, survival ** (1 / np.where(inside, spread, 1.0)), np.nan)
    low = np.where(survival >= 1, 1.0, np.where(survival <= 0, 0.0, low))
    high = np.where(survival >= 1, 1.0, np.where(survival <= 0, 0.0, high))
    table = pd.DataFrame(
        {
            "time": distinct,
            "at_risk": at_risk,
            "events": events,
            "censored": censored,
            "survival": survival,
            "ci_low": low,
            "ci_high": high,
        }
    )[CURVE_COLUMNS]
    return SurvivalCurve(
        table=table,
        courses=len(t),
        responders=int(e.sum()),
        median=_first_time_at_or_below(distinct, survival),
        # Brookmeyer–Crowley: the times whose S-interval contains 0.5, from the first
        # time the lower limit reaches 0.5 to the first time the upper limit does.
        median_ci=(
            _first_time_at_or_below(distinct, low),
            _first_time_at_or_below(distinct, high),
        ),
    )


def _first_time_at_or_below(times: np.ndarray, values: np.ndarray) -> float | None:
    hit = np.flatnonzero(values <= 0.5)
    return float(times[hit[0]]) if len(hit) else None


def at_risk(times: Sequence[float], ticks: Sequence[float]) -> list[int]:
    """Courses still at risk (not yet responded or censored before) at each tick."""
    t = np.asarray(times, dtype=float)
    return [int((t >= tick).sum()) for tick in ticks]


@dataclass(frozen=True)
class TimeToResponse:
    """One group's curves in days and in dose numbers."""

    group: str
    days: SurvivalCurve
    doses: SurvivalCurve
    times: pd.DataFrame
    """The group's RESPONSE_TIME_COLUMNS rows (for the number at risk)."""


def time_to_response(times: pd.DataFrame, *, group: str = "All courses") -> TimeToResponse:
    """Kaplan–Meier in days and in dose numbers of one group of `response_times` rows."""
    return TimeToResponse(
        group=group,
        days=kaplan_meier(times["days"], times["responded"]),
        doses=kaplan_meier(times["doses"], times["responded"]),
        times=times,
    )


def by_group(
    times: pd.DataFrame, groups: pd.Series, *, min_courses: int = 1
) -> list[TimeToResponse]:
    """One `time_to_response` per value of `groups` (indexed by course_id), largest first.

    Courses without a group value are left out; groups of fewer than `min_courses` too.
    """
    labels = times["course_id"].map(groups)
    out = []
    for label, part in times.groupby(labels, sort=True):
        if len(part) >= min_courses:
            out.append(time_to_response(part, group=str(label)))
    return sorted(out, key=lambda g: -g.days.courses)


def time_to_response_summary(
    outcomes: pd.DataFrame, doses: pd.DataFrame
) -> dict[str, dict[str, Any]]:
    """The `time_to_response` object of `summary --json`, per outcome instrument with
    evaluable courses: courses in the analysis, responders and the KM median in days
    (unrounded float; None when the curve never reaches 0.5)."""
    result: dict[str, dict[str, Any]] = {}
    for instrument_id in instruments.OUTCOME_INSTRUMENTS:
        mine = outcomes[outcomes["instrument"] == instrument_id]
        if not mine["evaluable"].astype(bool).any():
            continue
        curve = kaplan_meier(*_columns(response_times(mine, doses)))
        result[instrument_id] = {
            "courses": curve.courses,
            "responders": curve.responders,
            "median_days": curve.median,
        }
    return result


def _columns(times: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    return times["days"], times["responded"]


def describe_course(row: pd.Series | None, *, doses_at_endpoint: int | None = None) -> str:
    """One line for the Case explorer: "responded at day 18, after dose 4" and the like.

    `row` is the course's `course_outcomes` row of one instrument (None: no scores).
    """
    if row is None:
        return "no scores of this instrument in the course"
    if not bool(row["evaluable"]):
        return f"not evaluable ({row['not_evaluable_reason']})"
    if pd.isna(row["is_response"]):
        return "no percent response at baseline 0"
    days = row["time_to_response_days"]
    if not pd.isna(days):
        return f"responded at day {_day(days)}, {_after_dose(row['time_to_response_doses'])}"
    last = (row["endpoint_at"] - row["first_dose_at"]) / pd.Timedelta(days=1)
    after = "" if doses_at_endpoint is None else f", {_after_dose(doses_at_endpoint)}"
    return f"no response yet (last score day {_day(last)}{after})"


def _day(days: float) -> int:
    """Whole days since the first dose, to the nearest day (half a day rounds up)."""
    return int(math.floor(float(days) + 0.5))


def _after_dose(n: Any) -> str:
    return "dose number unknown" if pd.isna(n) else f"after dose {int(n)}"
