"""One case against the cohort: similar-baseline band, outcome status in words, dose strip."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from kapviz import instruments
from kapviz.config import Settings
from kapviz.domain import ROUTE_LABELS
from kapviz.metrics.alerts import alerts
from kapviz.metrics.monitoring import sedation_flags
from kapviz.metrics.side_effects import dosing_sessions, session_numbers
from kapviz.metrics.stats import mean_ci
from kapviz.metrics.trajectory_axes import POINT_COLUMNS, session_points
from kapviz.metrics.trajectory_tables import TABLE_COLUMNS, trajectory_table
from kapviz.metrics.vitals import session_vitals
from kapviz.vocabulary import SEVERITY_RANK

SIMILAR_BASELINE_POINTS = 3
"""Courses whose baseline is within ± this many points form the comparison cohort."""


def similar_courses(
    outcomes: pd.DataFrame,
    *,
    instrument: str,
    baseline: float,
    tolerance: float = SIMILAR_BASELINE_POINTS,
    exclude_course: str | None = None,
) -> pd.Index:
    """Course ids with a baseline of `instrument` within ± `tolerance` of `baseline`."""
    rows = outcomes[(outcomes["instrument"] == instrument) & outcomes["baseline"].notna()]
    rows = rows[(rows["baseline"] - baseline).abs() <= tolerance]
    if exclude_course is not None:
        rows = rows[rows["course_id"] != exclude_course]
    return pd.Index(rows["course_id"].unique())


def cohort_band(
    points: pd.DataFrame,
    outcomes: pd.DataFrame,
    *,
    instrument: str,
    baseline: float,
    exclude_course: str | None = None,
    tolerance: float = SIMILAR_BASELINE_POINTS,
) -> tuple[pd.DataFrame, int]:
    """Median and IQR per session-axis point of courses with a similar baseline.

    Returns the trajectory table of those courses (point, order, median, q1, q3, courses)
    and how many courses it is made of.
    """
    ids = similar_courses(
        outcomes,
        instrument=instrument,
        baseline=baseline,
        tolerance=tolerance,
        exclude_course=exclude_course,
    )
    cohort = points[(points["instrument"] == instrument) & points["course_id"].isin(ids)]
    if cohort.empty:
        return trajectory_table(cohort), 0
    return trajectory_table(cohort, axis="session"), len(ids)


def course_point_values(points: pd.DataFrame) -> pd.DataFrame:
    """One course's value per instrument and session-axis point, as sums and counts.

    `points` are one course's placed scores (instrument, point_order, total, baseline);
    returns instrument, baseline, order, total_sum, scores — the course value at the point
    is total_sum / scores (the mean of its scores there, as course_values takes it).
    """
    placed = points[points["point_order"].notna()]
    columns = ["instrument", "baseline", "order", "total_sum", "scores"]
    if placed.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    grouped = placed.groupby(["instrument", "point_order"], sort=True).agg(
        baseline=("baseline", "first"), total_sum=("total", "sum"), scores=("total", "size")
    )
    out = grouped.reset_index().rename(columns={"point_order": "order"})
    out["order"] = out["order"].astype("int64")
    return out[columns]


def empty_band() -> pd.DataFrame:
    """The band of a course without similar courses (a trajectory table with no rows)."""
    return trajectory_table(pd.DataFrame(columns=POINT_COLUMNS))


def band_from_summary(
    values: pd.DataFrame,
    baselines: pd.DataFrame,
    own: pd.DataFrame,
    *,
    instrument: str,
    baseline: float,
    tolerance: float = SIMILAR_BASELINE_POINTS,
) -> tuple[pd.DataFrame, int]:
    """`cohort_band` from counted course values (kapviz.db.aggregates.case.CohortSummary).

    `values` and `baselines` are the cohort summary; `own` is the case's own course as
    `course_point_values` gives it (left out of its band, as `exclude_course` does). The
    median and quartiles are those of the same multiset of course values, so they equal the
    pandas band exactly; the mean and its CI agree to rounding (summation order).
    """

    def near(frame: pd.DataFrame) -> pd.Series:
        close = (frame["baseline"] - baseline).abs() <= tolerance
        return (frame["instrument"] == instrument) & close

    rows = values.loc[near(values), ["order", "total_sum", "scores", "courses"]]
    keys = ["order", "total_sum", "scores"]
    rows = rows.groupby(keys, as_index=False)["courses"].sum()
    mine = own[near(own)]
    if len(mine):
        less = mine[keys].astype("int64").assign(_own=1)
        rows = rows.merge(less, on=keys, how="left")
        rows["courses"] = rows["courses"] - rows["_own"].fillna(0).astype("int64")
        rows = rows[rows["courses"] > 0].drop(columns="_own")
    n = int(baselines.loc[near(baselines), "courses"].sum()) - int(len(mine) > 0)
    if n <= 0 or rows.empty:
        return empty_band(), 0
    axis = session_points()
    records = []
    for order, part in rows.groupby("order", sort=True):
        totals = pd.Series(
            np.repeat(
                (part["total_sum"] / part["scores"]).to_numpy(dtype="float64"),
                part["courses"].to_numpy(),
            )
        )
        mean, low, high = mean_ci(totals)
        records.append(
            {
                "instrument": instrument,
                "point": axis["label"].iloc[int(order)],
                "order": int(order),
                "x": float(order),
                "phase": axis["phase"].iloc[int(order)],
                "courses": int(totals.size),
                "mean": mean,
                "ci_low": low,
                "ci_high": high,
                "median": float(totals.median()),
                "q1": float(totals.quantile(0.25)),
                "q3": float(totals.quantile(0.75)),
            }
        )
    return pd.DataFrame.from_records(records, columns=TABLE_COLUMNS), n


def _fmt(value: float) -> str:
    return f"{value:g}"


def status_lines(outcome: pd.Series, *, sd: float | None = None, r: float | None = None) -> list:
    """Response, remission and reliable change of one course, each with its rule in words.

    `outcome` is one row of `course_outcomes`. Returns (label, verdict, explanation) tuples;
    verdict is True, False or None (not evaluable / undefined).
    """
    inst = instruments.get(outcome["instrument"])
    if not bool(outcome["evaluable"]):
        reason = outcome["not_evaluable_reason"] or "not evaluable"
        return [("Outcome", None, f"Not evaluable: {reason}.")]
    base, end, change = outcome["baseline"], outcome["endpoint"], outcome["change"]
    lines = []
    if inst.response_kind == "percent":
        rule = f"a fall of at least {inst.response_threshold:.0%} from baseline"
        if pd.isna(outcome["pct_change"]):
            detail = "undefined: the baseline was 0"
        else:
            detail = f"{_fmt(base)} → {_fmt(end)} ({outcome['pct_change']:+.1%})"
    else:
        rule = f"a fall of at least {_fmt(inst.response_threshold)} points"
        detail = f"{_fmt(base)} → {_fmt(end)} ({_fmt(change):s} points)"
    verdict = None if pd.isna(outcome["is_response"]) else bool(outcome["is_response"])
    lines.append(("Response", verdict, f"Rule: {rule}. {detail}."))
    if bool(outcome["baseline_in_remission"]):
        remission_detail = "the baseline was already in remission range"
        remission = None
    else:
        remission_detail = f"endpoint {_fmt(end)}"
        remission = bool(outcome["is_remission"])
    lines.append(
        (
            "Remission",
            remission,
            f"Rule: endpoint ≤ {inst.remission_max}. {remission_detail.capitalize()}.",
        )
    )
    threshold = inst.reliable_change_threshold(sd=sd, r=r)
    if threshold is None:
        lines.append(("Reliable change", None, "No reliability figures for this instrument."))
    else:
        used_sd = sd if sd is not None else inst.reliable_sd
        used_r = r if r is not None else inst.reliable_r
        rule = f"|change| ≥ {threshold:.2f} (Jacobson–Truax, SD {_fmt(used_sd)}, r {_fmt(used_r)})"
        if bool(outcome["reliable_improvement"]):
            label, verdict = "Reliable improvement", True
        elif bool(outcome["reliable_deterioration"]):
            label, verdict = "Reliable deterioration", True
        else:
            label, verdict = "Reliable change", False
        lines.append((label, verdict, f"Rule: {rule}. Change {_fmt(change)}."))
    return lines


def dose_side_effects(sessions: pd.DataFrame, side_effects: pd.DataFrame) -> pd.DataFrame:
    """Per completed dosing session and effect: the highest severity, with the dose number."""
    # Dose numbers come from the Safety metrics' numbering, so both pages agree.
    doses = session_numbers(sessions).rename(columns={"session_number": "dose_number"})
    rows = side_effects.merge(doses, on="session_id")
    columns = ["course_id", "dose_number", "term", "severity"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    rows = rows.assign(rank=rows["severity"].map(SEVERITY_RANK))
    top = rows.sort_values("rank").groupby(["course_id", "dose_number", "term"]).tail(1)
    return top.sort_values(["course_id", "dose_number", "term"])[columns].reset_index(drop=True)


def phq9_item_rows(assessments: pd.DataFrame) -> pd.DataFrame:
    """Item-level PHQ-9 administrations as columns item_1 … item_9, oldest first."""
    rows = assessments[
        (assessments["instrument"] == instruments.PHQ9.id)
        & assessments["items"].map(lambda v: isinstance(v, list) and len(v) == 9)
    ]
    columns = ["administered_at", *[f"item_{i}" for i in range(1, 10)]]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    items = pd.DataFrame(rows["items"].tolist(), index=rows.index, columns=columns[1:])
    out = pd.concat([rows[["administered_at"]], items], axis=1)
    return out.sort_values("administered_at").reset_index(drop=True)


def _dose_numbers(sessions: pd.DataFrame) -> pd.DataFrame:
    """session_id → dose_number (n-th completed dosing session of its course)."""
    numbers = session_numbers(sessions)
    return numbers.rename(columns={"session_number": "dose_number"})[["session_id", "dose_number"]]


DOSE_VITALS_COLUMNS = [
    "course_id",
    "session_id",
    "started_at",
    "dose_number",
    "readings",
    "pre_systolic",
    "pre_diastolic",
    "peak_systolic",
    "peak_diastolic",
    "last_systolic",
    "last_diastolic",
    "is_excursion",
    "is_rise",
    "needs_predose_review",
]


def dose_vitals(
    sessions: pd.DataFrame, vitals: pd.DataFrame, *, settings: Settings
) -> pd.DataFrame:
    """Blood pressure (mmHg) per completed dosing session: pre-dose, peak, last, with flags."""
    if dosing_sessions(sessions).empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in DOSE_VITALS_COLUMNS})
    table = session_vitals(sessions, vitals, settings=settings)
    out = table.merge(_dose_numbers(sessions), on="session_id", how="inner")
    out = out.sort_values(["course_id", "dose_number"], kind="stable")
    return out[DOSE_VITALS_COLUMNS].reset_index(drop=True)


def dose_sedation(
    sessions: pd.DataFrame, assessments: pd.DataFrame, *, settings: Settings
) -> pd.DataFrame:
    """Per completed dosing session: lowest MOAA/S (0–5) with its sedation flag, highest CADSS.

    Columns: course_id, session_id, started_at, dose_number, moaas, is_sedation, cadss.
    Sessions without a score have NaN there (and is_sedation False).
    """
    doses = dosing_sessions(sessions)[["session_id", "course_id", "started_at"]]
    doses = doses.merge(_dose_numbers(sessions), on="session_id", how="inner")
    moaas = sedation_flags(assessments, settings=settings)
    lowest = moaas.groupby("session_id")["moaas"].min().rename("moaas")
    names = {n: instruments.normalize(n) for n in assessments["instrument"].unique()}
    cadss_rows = assessments[assessments["instrument"].map(names) == "CADSS"]
    highest = cadss_rows.groupby("session_id")["total"].max().rename("cadss")
    out = doses.join(lowest, on="session_id").join(highest, on="session_id")
    out["moaas"] = out["moaas"].astype("float64")
    out["cadss"] = out["cadss"].astype("float64")
    out["is_sedation"] = (out["moaas"] <= settings.sedation_moaas_max).fillna(False).astype(bool)
    out = out.sort_values(["course_id", "dose_number"], kind="stable").reset_index(drop=True)
    cols = ["course_id", "session_id", "started_at", "dose_number", "moaas", "is_sedation"]
    return out[[*cols, "cadss"]]


def case_alerts(
    sessions: pd.DataFrame,
    side_effects: pd.DataFrame,
    vitals: pd.DataFrame,
    assessments: pd.DataFrame,
    *,
    patient_id: str,
    settings: Settings,
    now: datetime,
) -> pd.DataFrame:
    """This patient's rows of the alerts worklist as of `now` (reason, detail, date, course)."""
    table = alerts(
        sessions[sessions["patient_id"] == patient_id],
        side_effects,
        vitals,
        assessments[assessments["patient_id"] == patient_id],
        settings=settings,
        now=now,
    )
    mine = table[table["patient_id"] == patient_id]
    return mine[["course_id", "reason", "detail", "date"]].reset_index(drop=True)


def _span(values: pd.Series, unit: str, *, fmt: str = "g") -> str:
    """'; 35 mg each' or '; 35–70 mg' ('' when unknown)."""
    values = values.dropna()
    if values.empty:
        return ""
    low, high = format(values.min(), fmt), format(values.max(), fmt)
    return f"; {low} {unit} each" if low == high else f"; {low}–{high} {unit}"


def course_facts(sessions: pd.DataFrame, *, course_id: str) -> list[tuple[str, str]]:
    """Headline facts of one course in words (no site or clinician): sessions, doses, dates."""
    rows = sessions[sessions["course_id"] == course_id].sort_values("started_at")
    done = rows[rows["status"] == "completed"]
    missed = rows["status"].ne("completed").sum()
    doses = done[done["phase"] == "dosing"]
    facts = [
        (
            "Sessions",
            f"{len(done)} completed"
            + (f", {missed} cancelled or no-show" if missed else "")
            + f" ({rows['started_at'].min():%Y-%m-%d} to {rows['started_at'].max():%Y-%m-%d})",
        )
    ]
    if doses.empty:
        facts.append(("Dosing sessions", "none completed"))
        return facts
    routes = ", ".join(
        sorted({ROUTE_LABELS.get(r, str(r)) for r in doses["route"].dropna().unique()})
    )
    detail = _span(doses["dose_mg"], "mg") + _span(doses["dose_mg_per_kg"], "mg/kg", fmt=".2g")
    facts.append(("Dosing sessions", f"{len(doses)} completed, {routes}{detail}"))
    return facts


MAX_COMPARE = 4
"""Cases shown side by side at most (small multiples stay readable on one screen)."""


def compare_points(
    points: pd.DataFrame, *, patient_ids: list[str], instrument: str = instruments.PHQ9.id
) -> pd.DataFrame:
    """Scores of each patient's latest course with `instrument` scores, in the given order.

    Returns the trajectory points (patient_id, course_id, point_order, point, phase,
    administered_at, total) of at most MAX_COMPARE patients; patients without scores drop out.
    """
    wanted = list(dict.fromkeys(patient_ids))[:MAX_COMPARE]
    rows = points[(points["instrument"] == instrument) & points["patient_id"].isin(wanted)]
    first = rows.groupby("course_id")["administered_at"].min().rename("course_start")
    rows = rows.join(first, on="course_id")
    latest = rows.sort_values("course_start").groupby("patient_id")["course_id"].last()
    rows = rows[rows["course_id"].isin(latest)]
    rank = {p: i for i, p in enumerate(wanted)}
    rows = rows.assign(rank=rows["patient_id"].map(rank))
    rows = rows.sort_values(["rank", "administered_at"], kind="stable")
    cols = ["patient_id", "course_id", "point_order", "point", "phase", "administered_at", "total"]
    return rows[cols].reset_index(drop=True)
