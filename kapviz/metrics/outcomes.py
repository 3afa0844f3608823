"""Per-course outcomes of each symptom scale, exactly as docs/domain.md §3 defines them.

One row per course × outcome instrument with at least one score of that instrument in the
course. Rules (docs/domain.md §3):

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

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from kapviz import instruments
from kapviz.metrics.scores import (
    DATETIME_DTYPE,
    completed_doses,
    course_anchors,
    course_scores,
    doses_up_to,
    objects,
)
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
"""The four cohort rates, each with its own denominator (docs/domain.md §3)."""

_FLAG_OF_MEASURE = {
    "response": "is_response",
    "remission": "is_remission",
    "reliable_improvement": "reliable_improvement",
    "reliable_deterioration": "reliable_deterioration",
}

ReliableParams = Mapping[str, tuple[float, float]]


def _pair_flags(pairs: pd.DataFrame, reliable_params: ReliableParams | None) -> pd.DataFrame:
    """Registry verdicts for each distinct (instrument, baseline, endpoint)."""
    records = []
    registry = _registry(pairs["instrument"])
    for instrument_id, baseline, endpoint in pairs.itertuples(index=False):
        inst = registry[instrument_id]
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


def _registry(names: pd.Series) -> dict[str, instruments.Instrument]:
    """The registry entry of each distinct instrument id (looked up once, not per row)."""
    return {name: instruments.get(name) for name in pd.unique(names)}


def _last_of_group(group: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(groups, row positions) of the last row of each group among the rows in `mask`.

    Rows are sorted by group then time and id, so the last masked row is the latest score.
    """
    rows = np.flatnonzero(mask)
    g = group[rows]
    last = np.r_[g[1:] != g[:-1], True] if len(g) else np.zeros(0, dtype=bool)
    return g[last], rows[last]


def _first_of_group(group: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Positions in `rows` (sorted by group) of the first row of each group."""
    g = group[rows]
    return np.flatnonzero(np.r_[True, g[1:] != g[:-1]]) if len(g) else np.zeros(0, dtype=int)


def _responds(
    instrument: np.ndarray, names: pd.Index, baseline: np.ndarray, total: np.ndarray
) -> np.ndarray:
    """Registry response verdict (True only) for each (instrument code, baseline, score).

    The registry is asked once per distinct triple (one integer key each), then the
    verdicts are looked up.
    """
    b_low, t_low = int(baseline.min()), int(total.min())
    b_span, t_span = int(baseline.max()) - b_low + 1, int(total.max()) - t_low + 1
    keys = (instrument * b_span + (baseline - b_low)) * t_span + (total - t_low)
    distinct, inverse = np.unique(keys, return_inverse=True)
    registry = [instruments.get(name) for name in names]
    verdicts = np.array(
        [
            registry[k // (b_span * t_span)].is_response(
                k // t_span % b_span + b_low, k % t_span + t_low
            )
            is True
            for k in distinct.tolist()
        ],
        dtype=bool,
    )
    return verdicts[inverse]


def outcomes_from_scores(
    scores: pd.DataFrame,
    anchors: pd.DataFrame,
    doses: pd.DataFrame,
    *,
    baseline_window_days: int = 30,
    reliable_params: ReliableParams | None = None,
) -> pd.DataFrame:
    """`course_outcomes` from its three inputs (kapviz.metrics.scores contracts).

    `scores` is a `course_scores` frame (sorted by course, instrument, time, id), `anchors`
    and `doses` come from `course_anchors` / `completed_doses` of the sessions or from the
    SQL aggregates of kapviz.db.aggregates.cohort. Vectorised over the scores: the latest
    pre-dose score in the window and the latest post-dose score of each course × instrument.
    """
    courses = scores["course_id"].cat.categories
    course = scores["course_id"].cat.codes.to_numpy(dtype=np.int64)
    inst = scores["instrument"].cat.codes.to_numpy(dtype=np.int64)
    at = scores["administered_at"].to_numpy(dtype=DATETIME_DTYPE)
    total = scores["total"].to_numpy(dtype=np.int64)
    known = anchors.reindex(courses.astype(object))
    dose = known["first_dose_at"].to_numpy(dtype=DATETIME_DTYPE)[course]

    key = course * max(len(scores["instrument"].cat.categories), 1) + inst
    starts = np.r_[True, key[1:] != key[:-1]] if len(key) else np.zeros(0, dtype=bool)
    group = np.cumsum(starts) - 1
    first_rows = np.flatnonzero(starts)
    n = len(first_rows)

    window = np.timedelta64(int(baseline_window_days) * 86_400_000_000, "us")
    pre = (at <= dose) & (at >= dose - window)
    post = at > dose
    baseline, endpoint = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    has_baseline, has_endpoint = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    baseline_at = np.full(n, np.datetime64("NaT"), dtype=DATETIME_DTYPE)
    endpoint_at = baseline_at.copy()
    g, r = _last_of_group(group, pre)
    baseline[g], baseline_at[g], has_baseline[g] = total[r], at[r], True
    g, r = _last_of_group(group, post)
    endpoint[g], endpoint_at[g], has_endpoint[g] = total[r], at[r], True

    patient = objects(scores["patient_id"])[first_rows]
    course_patient = known["patient_id"].to_numpy(dtype=object)[course[first_rows]]
    rows = pd.DataFrame(
        {
            "patient_id": pd.Series(
                np.where(pd.isna(course_patient), patient, course_patient), dtype=object
            ),
            "course_id": pd.Series(objects(scores["course_id"])[first_rows], dtype=object),
            "instrument": pd.Series(objects(scores["instrument"])[first_rows], dtype=object),
            "first_dose_at": dose[first_rows],
            "baseline": pd.arrays.IntegerArray(baseline, ~has_baseline),
            "baseline_at": baseline_at,
            "endpoint": pd.arrays.IntegerArray(endpoint, ~has_endpoint),
            "endpoint_at": endpoint_at,
        }
    )
    rows = _verdicts(rows, baseline_window_days, reliable_params)
    ttr = _time_to_response(
        scores,
        group,
        post & has_baseline[group],
        baseline,
        doses,
        courses=courses,
        course=course,
        at=at,
        dose=dose,
    )
    rows["time_to_response_days"] = ttr[0]
    rows["time_to_response_doses"] = ttr[1]
    return ordered(rows)


def ordered(rows: pd.DataFrame) -> pd.DataFrame:
    """Outcome rows in their one order: instrument (registry order), patient, course."""
    order = {name: i for i, name in enumerate(instruments.OUTCOME_INSTRUMENTS)}
    rows = rows.assign(_order=rows["instrument"].map(order)).sort_values(
        ["_order", "patient_id", "course_id"], kind="stable"
    )
    return rows[OUTCOME_COLUMNS].reset_index(drop=True)


OUTCOME_DTYPES = {
    "patient_id": object,
    "course_id": object,
    "instrument": object,
    "first_dose_at": DATETIME_DTYPE,
    "baseline": "Int64",
    "baseline_at": DATETIME_DTYPE,
    "endpoint": "Int64",
    "endpoint_at": DATETIME_DTYPE,
    "change": "Int64",
    "pct_change": "float64",
    "evaluable": bool,
    "not_evaluable_reason": object,
    "is_response": "boolean",
    "is_remission": "boolean",
    "baseline_in_remission": "boolean",
    "reliable_improvement": "boolean",
    "reliable_deterioration": "boolean",
    "time_to_response_days": "float64",
    "time_to_response_doses": "Int64",
}
"""The types `outcomes_from_scores` returns, to restore from stored rows (`outcome_frame`)."""


def outcome_frame(stored: pd.DataFrame) -> pd.DataFrame:
    """Outcome rows read back from the database (kapviz.db.rollups) with the types and
    order `outcomes_from_scores` gives them: the same frame, not a look-alike."""
    out = stored[OUTCOME_COLUMNS].copy()
    for col, dtype in OUTCOME_DTYPES.items():
        if dtype == DATETIME_DTYPE:
            out[col] = pd.to_datetime(out[col], format="ISO8601").astype(DATETIME_DTYPE)
        elif dtype is object:
            out[col] = out[col].astype(object).where(out[col].notna(), None)
        else:
            out[col] = out[col].astype(dtype)
    return ordered(out)


def _verdicts(
    rows: pd.DataFrame, baseline_window_days: int, reliable_params: ReliableParams | None
) -> pd.DataFrame:
    """Evaluability with its reason, change, percent change and the registry's verdicts."""
    rows["evaluable"] = (rows["baseline"].notna() & rows["endpoint"].notna()).astype(bool)
    reason = np.select(
        [
            rows["first_dose_at"].isna(),
            rows["baseline"].isna(),
            rows["endpoint"].isna(),
        ],
        [REASON_NO_DOSE, reason_no_baseline(baseline_window_days), REASON_NO_ENDPOINT],
        default="",
    ).astype(object)
    reason[rows["evaluable"].to_numpy() | (reason == "")] = None
    rows["not_evaluable_reason"] = pd.Series(reason, dtype=object)
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
        registry = _registry(rows.loc[has_base, "instrument"])
        rows.loc[has_base, "baseline_in_remission"] = [
            registry[i].is_remission(int(b))
            for i, b in zip(
                rows.loc[has_base, "instrument"], rows.loc[has_base, "baseline"], strict=True
            )
        ]
    return rows


def _time_to_response(
    scores: pd.DataFrame,
    group: np.ndarray,
    candidates: np.ndarray,
    baseline: np.ndarray,
    doses: pd.DataFrame,
    *,
    courses: pd.Index,
    course: np.ndarray,
    at: np.ndarray,
    dose: np.ndarray,
) -> tuple[np.ndarray, pd.arrays.IntegerArray]:
    """Days and completed doses from first dose to the first responding score per group.

    `candidates` marks the post-dose scores of groups with a baseline.
    """
    n = len(baseline)
    days = np.full(n, np.nan)
    counts = np.zeros(n, dtype=np.int64)
    unknown = np.ones(n, dtype=bool)
    rows = np.flatnonzero(candidates)
    if len(rows):
        instrument = scores["instrument"].cat.codes.to_numpy(dtype=np.int64)[rows]
        names = scores["instrument"].cat.categories
        total = scores["total"].to_numpy(dtype=np.int64)[rows]
        rows = rows[_responds(instrument, names, baseline[group[rows]], total)]
    if len(rows):
        first = rows[_first_of_group(group, rows)]
        g = group[first]
        days[g] = (at[first] - dose[first]) / np.timedelta64(1, "D")
        counts[g] = doses_up_to(doses, courses, course[first], at[first])
        unknown[g] = counts[g] == 0  # no completed dose on or before it: unknown, as before
    return days, pd.arrays.IntegerArray(counts, unknown)


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
    scores = course_scores(assessments, sessions) if scores is None else scores
    return outcomes_from_scores(
        scores,
        course_anchors(sessions),
        completed_doses(sessions),
        baseline_window_days=baseline_window_days,
        reliable_params=reliable_params,
    )


def _denominators(outcomes: pd.DataFrame) -> dict[str, pd.Series]:
    """Per-row booleans: which courses count in each rate's denominator (docs/domain.md §3)."""
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
    by_instrument = rates_by(outcomes, outcomes["instrument"])
    records = [
        {"instrument": instrument_id, **by_instrument[instrument_id]}
        for instrument_id in instruments.OUTCOME_INSTRUMENTS
        if instrument_id in by_instrument
    ]
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


def rates_by(outcomes: pd.DataFrame, groups: pd.Series) -> dict[Any, dict[str, Any]]:
    """`outcome_rates`' figures (all but the instrument) per value of `groups` (aligned
    with `outcomes`' rows; rows without one are left out), counted for every group in one
    pass over the rows: per instrument for `outcome_rates`, per clinician for
    kapviz.metrics.clinicians. Means are of whole-number scores, so the sums are exact."""
    codes, keys = pd.factorize(pd.Series(groups).to_numpy(dtype=object), sort=False)
    size = len(keys)
    if not size:
        return {}

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(codes[np.asarray(mask, dtype=bool) & (codes >= 0)], minlength=size)

    def mean(values: pd.Series, mask: np.ndarray) -> np.ndarray:
        x = values.astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
        kept = mask & ~np.isnan(x) & (codes >= 0)
        n = np.bincount(codes[kept], minlength=size)
        total = np.bincount(codes[kept], weights=x[kept], minlength=size)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(n > 0, total / np.where(n > 0, n, 1), np.nan)

    def median(values: np.ndarray) -> np.ndarray:
        kept = ~np.isnan(values) & (codes >= 0)
        c, v = codes[kept], values[kept]
        order = np.lexsort((v, c))
        c, v = c[order], v[order]
        n = np.bincount(c, minlength=size)
        first = np.cumsum(n) - n
        out = np.full(size, np.nan)
        has = n > 0
        low = first[has] + (n[has] - 1) // 2
        high = first[has] + n[has] // 2
        out[has] = (v[low] + v[high]) / 2
        return out

    def flag(column: str) -> pd.Series:
        return outcomes[column]

    ev = outcomes["evaluable"].astype(bool).to_numpy()
    reasons = outcomes["not_evaluable_reason"].fillna("")
    days = outcomes["time_to_response_days"].astype("float64").to_numpy()
    doses = outcomes["time_to_response_doses"].astype("Float64").astype("float64").to_numpy()
    courses = count(np.ones(len(outcomes), dtype=bool))
    evaluable = count(ev)
    figures = {
        "courses": courses,
        "evaluable": evaluable,
        "not_evaluable": courses - evaluable,
        "not_evaluable_no_dose": count(reasons.eq(REASON_NO_DOSE).to_numpy()),
        "not_evaluable_no_baseline": count(reasons.str.startswith("no baseline").to_numpy()),
        "not_evaluable_no_endpoint": count(reasons.eq(REASON_NO_ENDPOINT).to_numpy()),
        "baseline_mean": mean(outcomes["baseline"], ev),
        "endpoint_mean": mean(outcomes["endpoint"], ev),
        "mean_change": mean(outcomes["change"], ev),
        "response_undefined": count(ev & flag("is_response").isna().to_numpy()),
        "remission_excluded": count(
            ev & flag("baseline_in_remission").eq(True).fillna(False).to_numpy(dtype=bool)
        ),
        "responded_ever": count(~np.isnan(days)),
        "median_days_to_response": median(days),
        "median_doses_to_response": median(doses),
    }
    measures = {}
    for measure, in_denominator in _denominators(outcomes).items():
        den = in_denominator.to_numpy(dtype=bool)
        yes = flag(_FLAG_OF_MEASURE[measure]).eq(True).fillna(False).to_numpy(dtype=bool)
        measures[measure] = (count(den & yes), count(den))
    result: dict[Any, dict[str, Any]] = {}
    for i, key in enumerate(keys):
        record: dict[str, Any] = {
            name: (int(values[i]) if values.dtype.kind in "iu" else float(values[i]))
            for name, values in figures.items()
        }
        for measure, (ks, ns) in measures.items():
            k, n = int(ks[i]), int(ns[i])
            low, high = wilson_interval(k, n)
            record[f"{measure}_n"] = k
            record[f"{measure}_denominator"] = n
            record[f"{measure}_rate"] = k / n if n else float("nan")
            record[f"{measure}_ci_low"] = low
            record[f"{measure}_ci_high"] = high
        result[key] = record
    return result


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
