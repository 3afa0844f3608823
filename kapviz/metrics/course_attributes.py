"""Course attributes for comparing trajectories: site, indication, route and dose band of
each course's first completed dose (the small multiples' groups)."""

from __future__ import annotations

import math

import pandas as pd

from kapviz.domain import ROUTE_LABELS, WEIGHT_BASED_ROUTES

DOSE_BANDS_MG_PER_KG = (0.5, 0.75)
"""IV/IM display bands: < 0.5, 0.5–<0.75, ≥ 0.75 mg/kg (0.5 mg/kg is the usual IV dose)."""
DOSE_BANDS_MG = (56.0, 84.0, 200.0)
"""Fixed-dose display bands (mg): esketamine 56/84 mg, lozenges up to ~300 mg."""


def _band(value: float, edges: tuple[float, ...], unit: str) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if value < edges[0]:
        return f"< {edges[0]:g} {unit}"
    for low, high in zip(edges, edges[1:], strict=False):
        if value < high:
            return f"{low:g}–<{high:g} {unit}"
    return f"≥ {edges[-1]:g} {unit}"


FIRST_DOSE_COLUMNS = [
    "course_id",
    "patient_id",
    "site",
    "indication",
    "route",
    "dose_mg",
    "dose_mg_per_kg",
]
"""Per course: its patient's site and indication, route and dose of its first completed
dose (kapviz.db.aggregates.cohort.course_first_doses reads the same in SQL)."""


def course_first_doses(sessions: pd.DataFrame) -> pd.DataFrame:
    """FIRST_DOSE_COLUMNS per course of `sessions` (route and dose NaN without a dose)."""
    done = sessions[(sessions["phase"] == "dosing") & (sessions["status"] == "completed")]
    first = done.sort_values("started_at", kind="stable").drop_duplicates("course_id")
    base = sessions.drop_duplicates("course_id")[["course_id", "patient_id", "site", "indication"]]
    return base.merge(
        first[["course_id", "route", "dose_mg", "dose_mg_per_kg"]], on="course_id", how="left"
    )


def course_attributes(sessions: pd.DataFrame) -> pd.DataFrame:
    """Per course: site, indication, route and dose band of its first completed dose."""
    return attributes_from_first_doses(course_first_doses(sessions))


def _dose_band(weighted: bool, value: float) -> str | None:
    if pd.isna(value):
        return None
    if weighted:
        return _band(float(value), DOSE_BANDS_MG_PER_KG, "mg/kg")
    return _band(float(value), DOSE_BANDS_MG, "mg")


def attributes_from_first_doses(first_doses: pd.DataFrame) -> pd.DataFrame:
    """Course attributes (site, indication, route label, dose band) from FIRST_DOSE_COLUMNS,
    sorted by course."""
    out = first_doses.sort_values("course_id", kind="stable").reset_index(drop=True)
    # A band per distinct (weight-based route, dose), not per course: a clinic's courses
    # share a few doses, and 100,000 calls of _band took a second.
    weighted = out["route"].isin(WEIGHT_BASED_ROUTES) & out["dose_mg_per_kg"].notna()
    keys = pd.DataFrame(
        {
            "weighted": weighted.to_numpy(),
            "value": out["dose_mg_per_kg"].where(weighted, out["dose_mg"]).to_numpy(),
        }
    )
    codes, distinct = pd.factorize(pd.MultiIndex.from_frame(keys))
    bands_of = [_dose_band(bool(w), v) for w, v in distinct]
    out["dose_band"] = pd.Series(
        [bands_of[c] if c >= 0 else None for c in codes], index=out.index, dtype=object
    )
    out["route"] = out["route"].map(lambda r: ROUTE_LABELS.get(r, r) if isinstance(r, str) else r)
    cols = ["course_id", "patient_id", "site", "indication", "route", "dose_band"]
    return out[cols].astype(object).reset_index(drop=True)
