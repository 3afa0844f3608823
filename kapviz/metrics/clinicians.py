"""Outcomes and safety per clinician, with case-mix and funnel limits (docs/domain.md §4c).

A course belongs to the clinician of its completed dosing sessions (when several, the one
with most; a tie goes to the first code in sort order). Each clinician's outcome rates
come from `outcome_rates` on their courses (the same denominators as everywhere);
safety counts adverse events (`session_effects` rows) and BP excursions over the
completed dosing sessions of their courses. Response is compared with the programme on a
funnel plot: exact binomial 95% and 99.8% limits around the programme rate at each
clinician's denominator (kapviz.metrics.stats.funnel_limits).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from kapviz import instruments
from kapviz.domain import ROUTE_LABELS
from kapviz.metrics.outcomes import outcome_rates, rates_by
from kapviz.metrics.stats import funnel_limits

PER_SESSIONS = 100
CLINICIAN_COLUMNS = [
    "clinician",
    "courses",
    "evaluable",
    "response_n",
    "response_denominator",
    "response_rate",
    "remission_n",
    "remission_denominator",
    "remission_rate",
    "reliable_improvement_n",
    "reliable_improvement_denominator",
    "reliable_improvement_rate",
    "mean_change",
    "baseline_mean",
    "baseline_top_band_share",
    "route_mix",
    "dosing_sessions",
    "adverse_events",
    "ae_per_100",
    "excursion_sessions",
    "funnel95_low",
    "funnel95_high",
    "funnel998_low",
    "funnel998_high",
    "outside",
]


def course_clinicians(sessions: pd.DataFrame) -> pd.Series:
    """course_id → clinician of most of its completed dosing sessions (ties: first code)."""
    done = sessions[
        (sessions["phase"] == "dosing")
        & (sessions["status"] == "completed")
        & sessions["clinician"].notna()
        & sessions["course_id"].notna()
    ]
    counts = done.groupby(["course_id", "clinician"]).size().rename("n").reset_index()
    counts = counts.sort_values(["course_id", "n", "clinician"], ascending=[True, False, True])
    first = counts.drop_duplicates("course_id")
    return pd.Series(
        first["clinician"].astype(object).to_numpy(),
        index=pd.Index(first["course_id"].astype(object), name="course_id"),
        name="clinician",
    )


def _route_label(route: object) -> object:
    return ROUTE_LABELS.get(route, route)


def _route_mixes(clinicians: pd.Series, labels: pd.Series) -> dict[object, str]:
    """Per clinician, the shares of the routes (labelled by `_route_label`) of their
    courses, most first (a tie in the order the routes first appear among their courses),
    counted for every clinician in one pass."""
    rows = pd.DataFrame(
        {
            "clinician": clinicians.to_numpy(dtype=object),
            "route": labels.to_numpy(dtype=object),
            "position": np.arange(len(labels)),
        }
    )
    rows = rows[labels.notna().to_numpy()]
    grouped = rows.groupby(["clinician", "route"], sort=False)["position"]
    counts = pd.DataFrame({"n": grouped.size(), "first": grouped.min()}).reset_index()
    counts = counts.sort_values(
        ["clinician", "n", "first"], ascending=[True, False, True], kind="stable"
    )
    totals = counts.groupby("clinician", sort=False)["n"].transform("sum")
    counts["text"] = [
        f"{name} {n / total:.0%}"
        for name, n, total in zip(counts["route"], counts["n"], totals, strict=True)
    ]
    return counts.groupby("clinician", sort=False)["text"].agg(" · ".join).to_dict()


def _top_band_shares(
    clinicians: pd.Series, baselines: pd.Series, instrument: str
) -> dict[object, float]:
    """Per clinician, the share of the baselines given (their evaluable courses') in the
    instrument's top severity band; absent where they have none."""
    inst = instruments.get(instrument)
    kept = baselines.notna().to_numpy()
    if not inst.bands or not kept.any():
        return {}
    values = baselines[kept].astype(int)
    top = inst.bands[-1]
    in_top = values.map({v: top.contains(v) for v in values.unique()}).astype(bool)
    # A mean of booleans: the count in the band over the count, as Series.mean divides.
    return in_top.groupby(clinicians[kept].to_numpy(dtype=object), sort=False).mean().to_dict()


COUNT_COLUMNS = ["clinician", "dosing_sessions", "adverse_events", "excursion_sessions"]
"""Safety counts per clinician: doses of their courses, adverse events (session × term) on
them, doses with a BP excursion."""


def safety_counts(
    clinician_of: pd.Series,
    *,
    doses: pd.DataFrame,
    effects: pd.DataFrame,
    session_vitals: pd.DataFrame,
) -> pd.DataFrame:
    """COUNT_COLUMNS per clinician with at least one dose, sorted by code (the SQL twin:
    kapviz.db.aggregates.clinicians.clinician_counts).

    `doses` are completed dosing sessions (session_id, course_id); `effects` their
    `session_effects` rows (session_id); `session_vitals` has session_id and is_excursion.
    """
    dose_clinician = doses["course_id"].map(clinician_of)
    session_clinician = pd.Series(dose_clinician.to_numpy(), index=doses["session_id"])
    sessions = dose_clinician.value_counts()
    events = effects["session_id"].map(session_clinician).value_counts()
    excursion_ids = session_vitals.loc[session_vitals["is_excursion"].astype(bool), "session_id"]
    excursions = excursion_ids.map(session_clinician).value_counts()
    codes = sorted(sessions.index)
    return pd.DataFrame(
        {
            "clinician": pd.Series(codes, dtype=object),
            "dosing_sessions": [int(sessions.get(c, 0)) for c in codes],
            "adverse_events": [int(events.get(c, 0)) for c in codes],
            "excursion_sessions": [int(excursions.get(c, 0)) for c in codes],
        },
        columns=COUNT_COLUMNS,
    ).astype({c: "int64" for c in COUNT_COLUMNS[1:]})


def clinician_table(
    outcomes: pd.DataFrame,
    clinician_of: pd.Series,
    *,
    instrument: str,
    doses: pd.DataFrame,
    effects: pd.DataFrame,
    session_vitals: pd.DataFrame,
    first_routes: pd.Series,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """`clinician_table_from_counts` with the safety counts taken from the Safety view's
    tables (`safety_counts`)."""
    counts = safety_counts(
        clinician_of, doses=doses, effects=effects, session_vitals=session_vitals
    )
    return clinician_table_from_counts(
        outcomes, clinician_of, counts, instrument=instrument, first_routes=first_routes
    )


def clinician_table_from_counts(
    outcomes: pd.DataFrame,
    clinician_of: pd.Series,
    counts: pd.DataFrame,
    *,
    instrument: str,
    first_routes: pd.Series,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """CLINICIAN_COLUMNS per clinician (largest response denominator first) and the
    programme's figures (rates of all courses with a clinician).

    `outcomes` are `course_outcomes` rows; `clinician_of` maps course_id → clinician;
    `counts` COUNT_COLUMNS per clinician with doses; `first_routes` maps course_id → route
    code of the first dose.
    """
    mine = outcomes[outcomes["instrument"] == instrument]
    mine = mine.assign(
        clinician=mine["course_id"].map(clinician_of),
        first_route=mine["course_id"]
        .map(first_routes)
        .map(_route_label),  # once, not per clinician
    )
    mine = mine[mine["clinician"].notna()]
    by_code = counts.set_index("clinician")
    sessions = by_code["dosing_sessions"]
    events = by_code["adverse_events"]
    excursions = by_code["excursion_sessions"]
    programme = outcome_rates(mine)
    overall = programme.iloc[0] if len(programme) else None
    target = float(overall["response_rate"]) if overall is not None else math.nan
    rows = []
    clinicians = sorted(set(mine["clinician"]) | set(sessions.index))
    # Counted for every clinician at once (a pass per clinician over its rows took
    # seconds at 100,000 courses).
    by_clinician = rates_by(mine, mine["clinician"])
    course_counts = mine.groupby("clinician", sort=False)["course_id"].nunique().to_dict()
    is_evaluable = mine["evaluable"].astype(bool)
    evaluable_counts = is_evaluable.groupby(mine["clinician"], sort=False).sum().to_dict()
    evaluable_rows = mine[is_evaluable]
    top_shares = _top_band_shares(
        evaluable_rows["clinician"], evaluable_rows["baseline"], instrument
    )
    route_mixes = _route_mixes(mine["clinician"], mine["first_route"])
    for code in clinicians:
        r = by_clinician.get(code)
        n = int(r["response_denominator"]) if r is not None else 0
        l95 = funnel_limits(target, n) if not math.isnan(target) else (math.nan, math.nan)
        l998 = (
            funnel_limits(target, n, coverage=0.998)
            if not math.isnan(target)
            else (math.nan, math.nan)
        )
        rate = float(r["response_rate"]) if r is not None else math.nan
        n_sessions = int(sessions.get(code, 0))
        n_events = int(events.get(code, 0))
        rows.append(
            {
                "clinician": code,
                "courses": int(course_counts.get(code, 0)),
                "evaluable": int(evaluable_counts.get(code, 0)),
                **{
                    f"{m}_{suffix}": (r[f"{m}_{suffix}"] if r is not None else math.nan)
                    for m in ("response", "remission", "reliable_improvement")
                    for suffix in ("n", "denominator", "rate")
                },
                "mean_change": float(r["mean_change"]) if r is not None else math.nan,
                "baseline_mean": float(r["baseline_mean"]) if r is not None else math.nan,
                "baseline_top_band_share": float(top_shares.get(code, math.nan)),
                "route_mix": route_mixes.get(code, "—"),
                "dosing_sessions": n_sessions,
                "adverse_events": n_events,
                "ae_per_100": PER_SESSIONS * n_events / n_sessions if n_sessions else math.nan,
                "excursion_sessions": int(excursions.get(code, 0)),
                "funnel95_low": l95[0],
                "funnel95_high": l95[1],
                "funnel998_low": l998[0],
                "funnel998_high": l998[1],
                "outside": bool(n and not l95[0] <= rate <= l95[1]),
            }
        )
    table = pd.DataFrame(rows, columns=CLINICIAN_COLUMNS)
    for m in ("response", "remission", "reliable_improvement"):
        for suffix in ("n", "denominator"):
            table[f"{m}_{suffix}"] = table[f"{m}_{suffix}"].fillna(0).astype("int64")
    table = table.sort_values(
        ["response_denominator", "clinician"], ascending=[False, True], kind="stable"
    ).reset_index(drop=True)
    total_sessions = int(sessions.sum())
    summary = {
        "response_rate": target,
        "response_denominator": int(overall["response_denominator"]) if overall is not None else 0,
        "ae_per_100": PER_SESSIONS * int(events.sum()) / total_sessions
        if total_sessions
        else math.nan,
    }
    return table, summary


def pseudonymise(table: pd.DataFrame) -> pd.DataFrame:
    """Clinician codes replaced by "Clinician 1…n" in the table's order (analysts)."""
    return table.assign(clinician=[f"Clinician {i}" for i in range(1, len(table) + 1)])


def funnel_curve(target: float, n_max: int, *, points: int = 60) -> pd.DataFrame:
    """The funnel's limit lines: n, low95, high95, low998, high998 for n from 1 to n_max."""
    ns = sorted({max(1, round(n_max * (i / points) ** 2)) for i in range(points + 1)})
    rows = []
    for n in ns:
        l95, h95 = funnel_limits(target, n)
        l998, h998 = funnel_limits(target, n, coverage=0.998)
        rows.append((n, l95, h95, l998, h998))
    return pd.DataFrame(rows, columns=["n", "low95", "high95", "low998", "high998"])
