"""Per-course outcomes of each symptom scale, exactly as DOMAIN.md §3 defines them.

One row per course × outcome instrument with at least one score of that instrument in the
course. Rules (DOMAIN.md §3):

- first dose = start of the course's first *completed* dosing session;
- baseline = latest score with ``first_dose − window ≤ administered_at ≤ first_dose``
  (full datetimes: a score exactly ``window`` days before counts, one minute earlier does
  not; a same-day score before the dose counts);
- endpoint = latest score with ``administered_at > first_dose`` in the course;
- ties on the same timestamp go to the later-recorded score (higher assessment id).

Response, remission and reliable change come from the instrument registry, called once
per distinct (baseline, endpoint) pair so that the registry stays the one source of truth.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from kapviz import instruments
from kapviz.metrics.courses import assign_courses
from kapviz.metrics.stats import wilson_interval

REASON_NO_DOSE = "no completed dosing session"
REASON_NO_ENDPOINT = "no score after first dose"


def reason_no_baseline(window_days: int) -> str:
    """Not-evaluable reason for a course without a baseline in the window."""
    return f"no baseline within {window_days} days before first dose"


OUTCOME_COLUMNS = [
    "patient_id",
    "course_id",
    "instrument",
    "first_dose_at",
    "baseline",
    "baseline_at",
    "endpoint",
    "endpoint_at",
    "change",
    "pct_change",
    "evaluable",
    "not_evaluable_reason",
    "is_response",
    "is_remission",
    "baseline_in_remission",
    "reliable_improvement",
    "reliable_deterioration",
    "time_to_response_days",
    "time_to_response_doses",
]

RATE_MEASURES = ("response", "remission", "reliable_improvement", "reliable_deterioration")
"""The four cohort rates, each with its own denominator (DOMAIN.md §3)."""

_FLAG_OF_MEASURE = {
    "response": "is_response",
    "remission": "is_remission",
    "reliable_improvement": "reliable_improvement",
    "reliable_deterioration": "reliable_deterioration",
}

ReliableParams = Mapping[str, tuple[float, float]]


DATETIME_DTYPE = "datetime64[us]"
"""One datetime resolution for every frame here, so that as-of merges line up (pandas 3
infers µs from Python datetimes but ns from some constructors)."""


def as_datetime(values: pd.Series) -> pd.Series:
    """`values` as naive clinic-local datetimes at one resolution (DATETIME_DTYPE)."""
    return pd.to_datetime(values).astype(DATETIME_DTYPE)


def completed_doses(sessions: pd.DataFrame) -> pd.DataFrame:
    """Completed dosing sessions, one row each: course_id, started_at, dose_number (1…n)."""
    mask = (sessions["phase"] == "dosing") & (sessions["status"] == "completed")
    doses = sessions.loc[mask & sessions["course_id"].notna(), ["course_id", "started_at"]]
    doses = doses.astype({"course_id": object})
    doses["started_at"] = as_datetime(doses["started_at"])
    doses = doses.sort_values(["course_id", "started_at"], kind="stable").reset_index(drop=True)
    doses["dose_number"] = doses.groupby("course_id").cumcount() + 1
    return doses


def first_doses(sessions: pd.DataFrame) -> pd.Series:
    """First-dose datetime per course_id: start of its first completed dosing session."""
    doses = completed_doses(sessions)
    return doses.groupby("course_id")["started_at"].min()


def course_scores(assessments: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    """Outcome-instrument scores with a course: stored course_id, else DOMAIN §3 by date.

    Instrument names are normalised to registry ids; non-outcome scales (CADSS, MOAA/S)
    and unknown names are left out. Returns a new frame sorted by course, instrument, time.
    """
    cols = ["id", "patient_id", "course_id", "session_id", "instrument", "administered_at"]
    scores = assessments[[*cols, "total"]].copy()
    # Normalise each distinct spelling once, not once per row (300k rows on a big clinic).
    names = {name: instruments.normalize(name) for name in scores["instrument"].unique()}
    scores["instrument"] = scores["instrument"].map(names).astype(object)
    scores = scores[scores["instrument"].isin(instruments.OUTCOME_INSTRUMENTS)]
    missing = scores["course_id"].isna()
    if missing.any() and not sessions.empty:
        fallback = assign_courses(scores.loc[missing], sessions)
        scores.loc[missing, "course_id"] = fallback
    scores = scores[scores["course_id"].notna()]
    scores["course_id"] = scores["course_id"].astype(object)
    scores["administered_at"] = as_datetime(scores["administered_at"])
    scores["total"] = scores["total"].astype("int64")
    return scores.sort_values(
        ["course_id", "instrument", "administered_at", "id"], kind="stable"
    ).reset_index(drop=True)


def _pair_flags(pairs: pd.DataFrame, reliable_params: ReliableParams | None) -> pd.DataFrame:
    """Registry verdicts for each distinct (instrument, baseline, endpoint)."""
    records = []
    for instrument_id, baseline, endpoint in pairs.itertuples(index=False):
        inst = instruments.get(instrument_id)
        sd, r = (reliable_params or {}).get(instrument_id, (None, None))
        records.append(
            (
                instrument_id,
                baseline,
                endpoint,
                inst.is_response(baseline, endpoint),
                inst.is_remission(endpoint),
                inst.is_remission(baseline),
                inst.is_reliable_improvement(baseline, endpoint, sd, r),
                inst.is_reliable_deterioration(baseline, endpoint, sd, r),
            )
        )
    flags = pd.DataFrame.from_records(
        records,
        columns=[
            "instrument",
            "baseline",
            "endpoint",
            "is_response",
            "is_remission",
            "baseline_in_remission",
            "reliable_improvement",
            "reliable_deterioration",
        ],
    )
    for col in flags.columns[3:]:
        flags[col] = flags[col].astype("boolean")
    return flags


def _time_to_response(post: pd.DataFrame, rows: pd.DataFrame, doses: pd.DataFrame) -> pd.DataFrame:
    """Days and completed doses from first dose to the first responding score per course."""
    empty = pd.DataFrame(
        {
            "course_id": pd.Series(dtype=object),
            "instrument": pd.Series(dtype=object),
            "time_to_response_days": pd.Series(dtype="float64"),
            "time_to_response_doses": pd.Series(dtype="Int64"),
        }
    )
    base = rows.loc[rows["baseline"].notna(), ["course_id", "instrument", "baseline"]]
    scored = post.merge(base, on=["course_id", "instrument"])
    if scored.empty:
        return empty
    scored["baseline"] = scored["baseline"].astype("int64")
    pairs = scored[["instrument", "baseline", "total"]].drop_duplicates()
    pairs["_responds"] = [
        instruments.get(i).is_response(b, e) is True for i, b, e in pairs.itertuples(index=False)
    ]
    scored = scored.merge(pairs, on=["instrument", "baseline", "total"], how="left")
    scored = scored[scored["_responds"]].sort_values(
        ["course_id", "instrument", "administered_at", "id"], kind="stable"
    )
    if scored.empty:
        return empty
    first = scored.drop_duplicates(["course_id", "instrument"], keep="first")
    first = first.sort_values("administered_at", kind="stable")
    counted = pd.merge_asof(
        first,
        doses.rename(columns={"started_at": "administered_at"}).sort_values("administered_at"),
        on="administered_at",
        by="course_id",
        direction="backward",
    )
    days = (counted["administered_at"] - counted["first_dose_at"]) / pd.Timedelta(days=1)
    return pd.DataFrame(
        {
            "course_id": counted["course_id"].astype(object),
            "instrument": counted["instrument"].astype(object),
            "time_to_response_days": days.astype("float64"),
            "time_to_response_doses": counted["dose_number"].astype("Int64"),
        }
    )


def course_outcomes(
    sessions: pd.DataFrame,
    assessments: pd.DataFrame,
    *,
    baseline_window_days: int = 30,
    reliable_params: ReliableParams | None = None,
    scores: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Baseline, endpoint, change and verdicts per course × outcome instrument.

    `reliable_params` overrides the Jacobson–Truax (SD, r) per instrument id, e.g.
    ``{"PHQ-9": (5.5, 0.89)}``. Time to response counts from the first dose to the first
    post-dose score meeting the response rule (even when the endpoint no longer does), in
    days and in completed dosing sessions started on or before that score. Totals use the
    instrument's own scale (e.g. PHQ-9 0–27, higher is worse). `scores`, when given, is
    `course_scores(assessments, sessions)` computed once by the caller (a cache shares it with
    `trajectory_points`); it is not modified.
    """
    scores = course_scores(assessments, sessions) if scores is None else scores.copy(deep=False)
    doses = completed_doses(sessions)
    first_dose = doses.groupby("course_id")["started_at"].min()
    # reindex, not map: pandas 3 map() fails when no course matches a datetime value.
    scores["first_dose_at"] = first_dose.reindex(scores["course_id"]).to_numpy()

    keys = ["course_id", "instrument"]
    course_patient = sessions.drop_duplicates("course_id").set_index("course_id")["patient_id"]
    rows = scores.drop_duplicates(keys)[[*keys, "first_dose_at", "patient_id"]].copy()
    patient = rows["course_id"].map(course_patient)
    rows["patient_id"] = patient.where(patient.notna(), rows["patient_id"]).astype(object)

    window = pd.Timedelta(days=baseline_window_days)
    at, dose = scores["administered_at"], scores["first_dose_at"]
    pre = scores[(at <= dose) & (at >= dose - window)].drop_duplicates(keys, keep="last")
    post = scores[at > dose]
    last_post = post.drop_duplicates(keys, keep="last")
    pre = pre[[*keys, "total", "administered_at"]].rename(
        columns={"total": "baseline", "administered_at": "baseline_at"}
    )
    last_post = last_post[[*keys, "total", "administered_at"]].rename(
        columns={"total": "endpoint", "administered_at": "endpoint_at"}
    )
    rows = rows.merge(pre, on=keys, how="left").merge(last_post, on=keys, how="left")
    for col in ("baseline", "endpoint"):
        rows[col] = rows[col].astype("Int64")
    rows["evaluable"] = (rows["baseline"].notna() & rows["endpoint"].notna()).astype(bool)
    rows["not_evaluable_reason"] = np.select(
        [
            rows["first_dose_at"].isna(),
            rows["baseline"].isna(),
            rows["endpoint"].isna(),
        ],
        [REASON_NO_DOSE, reason_no_baseline(baseline_window_days), REASON_NO_ENDPOINT],
        default="",
    )
    rows["not_evaluable_reason"] = (
        rows["not_evaluable_reason"].astype(object).where(~rows["evaluable"], None)
    )
    rows.loc[rows["not_evaluable_reason"].eq(""), "not_evaluable_reason"] = None
    rows["change"] = (rows["endpoint"] - rows["baseline"]).astype("Int64")
    base_float = rows["baseline"].astype("float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = rows["change"].astype("float64") / base_float
    rows["pct_change"] = pct.where(base_float > 0).astype("float64")

    evaluable = rows[rows["evaluable"]]
    pairs = evaluable[["instrument", "baseline", "endpoint"]].astype(
        {"baseline": "int64", "endpoint": "int64"}
    )
    flags = _pair_flags(pairs.drop_duplicates(), reliable_params)
    flags = flags.astype({"baseline": "Int64", "endpoint": "Int64"})
    rows = rows.merge(flags, on=["instrument", "baseline", "endpoint"], how="left")
    flag_cols = list(flags.columns[3:])
    rows[flag_cols] = rows[flag_cols].astype("boolean")
    rows.loc[~rows["evaluable"], flag_cols] = pd.NA
    # Baseline already in remission is known whenever the baseline exists.
    has_base = rows["baseline"].notna() & ~rows["evaluable"]
    if has_base.any():
        rows.loc[has_base, "baseline_in_remission"] = [
            instruments.get(i).is_remission(int(b))
            for i, b in zip(
                rows.loc[has_base, "instrument"], rows.loc[has_base, "baseline"], strict=True
            )
        ]

    ttr = _time_to_response(post, rows, doses)
    rows = rows.merge(ttr, on=keys, how="left")
    rows["time_to_response_days"] = rows["time_to_response_days"].astype("float64")
    rows["time_to_response_doses"] = rows["time_to_response_doses"].astype("Int64")
    rows["course_id"] = rows["course_id"].astype(object)
    rows["instrument"] = rows["instrument"].astype(object)
    order = {name: i for i, name in enumerate(instruments.OUTCOME_INSTRUMENTS)}
    rows = rows.assign(_order=rows["instrument"].map(order)).sort_values(
        ["_order", "patient_id", "course_id"], kind="stable"
    )
    return rows[OUTCOME_COLUMNS].reset_index(drop=True)


def _denominators(outcomes: pd.DataFrame) -> dict[str, pd.Series]:
    """Per-row booleans: which courses count in each rate's denominator (DOMAIN.md §3)."""
    ev = outcomes["evaluable"].astype(bool)
    return {
        # Percent-based response is undefined at baseline 0: is_response is NA there.
        "response": ev & outcomes["is_response"].notna(),
        "remission": ev & outcomes["baseline_in_remission"].eq(False).fillna(False),
        # No SD/r known (MADRS, QIDS-SR16, BDI-II by default): no reliable-change rate.
        "reliable_improvement": ev & outcomes["reliable_improvement"].notna(),
        "reliable_deterioration": ev & outcomes["reliable_deterioration"].notna(),
    }


def outcome_rates(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Cohort counts, means and rates with 95% Wilson intervals per instrument.

    Columns: instrument, courses, evaluable, not_evaluable, one `not_evaluable_<reason>`
    count per reason (no_dose, no_baseline, no_endpoint), baseline_mean, endpoint_mean,
    mean_change, response_undefined (evaluable, baseline 0 on a percent rule),
    remission_excluded (baseline already in remission), responded_ever (courses with any
    responding post-dose score) with the median days and doses to that first response
    (among them), and for each of response,
    remission, reliable_improvement, reliable_deterioration: `<m>_n`, `<m>_denominator`,
    `<m>_rate`, `<m>_ci_low`, `<m>_ci_high` (rate and CI NaN when the denominator is 0).
    """
    records = []
    for instrument_id in instruments.OUTCOME_INSTRUMENTS:
        part = outcomes[outcomes["instrument"] == instrument_id]
        if part.empty:
            continue
        records.append(_rates_of(instrument_id, part))
    columns = _rate_columns()
    if not records:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    return pd.DataFrame.from_records(records, columns=columns)


def _rate_columns() -> list[str]:
    cols = [
        "instrument",
        "courses",
        "evaluable",
        "not_evaluable",
        "not_evaluable_no_dose",
        "not_evaluable_no_baseline",
        "not_evaluable_no_endpoint",
        "baseline_mean",
        "endpoint_mean",
        "mean_change",
        "response_undefined",
        "remission_excluded",
        "responded_ever",
        "median_days_to_response",
        "median_doses_to_response",
    ]
    for m in RATE_MEASURES:
        cols += [f"{m}_n", f"{m}_denominator", f"{m}_rate", f"{m}_ci_low", f"{m}_ci_high"]
    return cols


def _mean(values: pd.Series) -> float:
    clean = values.dropna().astype("float64")
    return float(clean.mean()) if len(clean) else float("nan")


def _rates_of(instrument_id: str, part: pd.DataFrame) -> dict[str, Any]:
    ev = part["evaluable"].astype(bool)
    reasons = part["not_evaluable_reason"].fillna("")
    days = part["time_to_response_days"].astype("float64")
    doses = part["time_to_response_doses"].astype("Float64").astype("float64")
    record: dict[str, Any] = {
        "instrument": instrument_id,
        "courses": int(len(part)),
        "evaluable": int(ev.sum()),
        "not_evaluable": int((~ev).sum()),
        "not_evaluable_no_dose": int(reasons.eq(REASON_NO_DOSE).sum()),
        "not_evaluable_no_baseline": int(reasons.str.startswith("no baseline").sum()),
        "not_evaluable_no_endpoint": int(reasons.eq(REASON_NO_ENDPOINT).sum()),
        "baseline_mean": _mean(part.loc[ev, "baseline"]),
        "endpoint_mean": _mean(part.loc[ev, "endpoint"]),
        "mean_change": _mean(part.loc[ev, "change"]),
        "response_undefined": int((ev & part["is_response"].isna()).sum()),
        "remission_excluded": int((ev & part["baseline_in_remission"].eq(True)).sum()),
        "responded_ever": int(days.notna().sum()),
        "median_days_to_response": float(days.median()) if days.notna().any() else math.nan,
        "median_doses_to_response": float(doses.median()) if doses.notna().any() else math.nan,
    }
    for measure, in_denominator in _denominators(part).items():
        flag = part[_FLAG_OF_MEASURE[measure]]
        n = int(in_denominator.sum())
        k = int((in_denominator & flag.eq(True).fillna(False)).sum())
        low, high = wilson_interval(k, n)
        record[f"{measure}_n"] = k
        record[f"{measure}_denominator"] = n
        record[f"{measure}_rate"] = k / n if n else float("nan")
        record[f"{measure}_ci_low"] = low
        record[f"{measure}_ci_high"] = high
    return record


def _json_number(value: float) -> float | None:
    """A float for JSON, or None for NaN (an empty denominator is null, not 0)."""
    return None if pd.isna(value) else float(value)


def outcomes_summary(outcomes: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """The `outcomes` object of `summary --json`: per instrument with scores in the data.

    Rates are fractions 0–1, unrounded; None where the denominator is 0. `not_evaluable`
    counts courses with a score of the instrument but no baseline or no endpoint.
    """
    rates = outcome_rates(outcomes)
    result: dict[str, dict[str, Any]] = {}
    for row in rates.to_dict("records"):
        result[row["instrument"]] = {
            "evaluable": int(row["evaluable"]),
            "not_evaluable": int(row["not_evaluable"]),
            "baseline_mean": _json_number(row["baseline_mean"]),
            "endpoint_mean": _json_number(row["endpoint_mean"]),
            "mean_change": _json_number(row["mean_change"]),
            "response_rate": _json_number(row["response_rate"]),
            "remission_rate": _json_number(row["remission_rate"]),
            "reliable_improvement_rate": _json_number(row["reliable_improvement_rate"]),
            "reliable_deterioration_rate": _json_number(row["reliable_deterioration_rate"]),
        }
    return result
