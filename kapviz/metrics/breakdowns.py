"""Each course's group in every breakdown dimension (docs/domain.md §4c), one rule.

Pure (no database): the Python API computes the table live from its reads, and the
per-course attribute rollup (kapviz.db.explore_rollups) stores the same table, so that
Explore's measures are grouped in SQL by the same attributes the live path gives.

- site, indication, sex: the patient's ("unknown" when not recorded);
- route, dose_band: of the course's first completed dose;
- clinician: of most of its completed dosing sessions (clinicians.course_clinicians);
- age_band: birth year to the year of the first completed dose (only the year is stored);
- baseline_band: the severity band of the course's baseline of the instrument asked about
  (not stored: it depends on the instrument).
"""

from __future__ import annotations

import pandas as pd

from kapviz import instruments
from kapviz.metrics.clinicians import course_clinicians
from kapviz.metrics.course_attributes import attributes_from_first_doses

DIMENSIONS: tuple[str, ...] = (
    "site",
    "clinician",
    "route",
    "indication",
    "dose_band",
    "sex",
    "age_band",
    "baseline_band",
)
"""Breakdown dimensions, the names `by=` and cohort keywords of kapviz.api take."""

AGE_BANDS: tuple[tuple[str, int, int], ...] = (
    ("18–24", 18, 24),
    ("25–34", 25, 34),
    ("35–44", 35, 44),
    ("45–54", 45, 54),
    ("55–64", 55, 64),
    ("65+", 65, 200),
)
UNKNOWN = "unknown"

STORED_DIMENSIONS: tuple[str, ...] = tuple(d for d in DIMENSIONS if d != "baseline_band")
"""The dimensions a course has whatever the instrument (kept per course by the rollup)."""

ATTRIBUTE_COLUMNS: tuple[str, ...] = (
    "course_id",
    "patient_id",
    *DIMENSIONS,
    "doses",
    "first_dose",
)
"""Columns of `attribute_table` (and of kapviz.api.Clinic.course_attributes)."""


def age_band(age: float) -> str:
    if pd.isna(age):
        return UNKNOWN
    for label, low, high in AGE_BANDS:
        if low <= age <= high:
            return label
    return UNKNOWN


def baseline_bands(outcomes: pd.DataFrame, instrument: str) -> pd.Series:
    """course_id → severity band of the course's baseline of `instrument`."""
    inst = instruments.get(instrument)
    mine = outcomes[(outcomes["instrument"] == inst.id) & outcomes["baseline"].notna()]
    if not inst.bands:
        return pd.Series(dtype=object)
    baselines = mine["baseline"].astype("int64")
    band_of = {b: inst.band(int(b)) for b in pd.unique(baselines)}  # a scale's few values
    bands = baselines.map(band_of).astype(object).to_numpy()
    return pd.Series(bands, index=mine["course_id"].astype(object).to_numpy(), dtype=object)


def band_of_baseline(baseline: object, instrument: str) -> str:
    """The severity band of one baseline score ("unknown" without one)."""
    inst = instruments.get(instrument)
    if baseline is None or pd.isna(baseline) or not inst.bands:
        return UNKNOWN
    band = inst.band(int(baseline))
    return UNKNOWN if band is None else str(band)


def attribute_table(
    first: pd.DataFrame,
    done: pd.DataFrame,
    patients: pd.DataFrame,
    *,
    outcomes: pd.DataFrame | None = None,
    instrument: str | None = None,
) -> pd.DataFrame:
    """ATTRIBUTE_COLUMNS per course of `first` (course_attributes.FIRST_DOSE_COLUMNS), plus
    the courses of `outcomes` it lacks; `done` holds the courses' completed dosing sessions
    (course_id, started_at, clinician, phase, status) and `patients` their patients
    (patient_id, site, indication, sex, birth_year). baseline_band needs `instrument` and
    its `outcomes` ("unknown" otherwise)."""
    table = attributes_from_first_doses(first)
    if outcomes is not None:  # courses with scores but no session in scope
        extra = outcomes.loc[
            ~outcomes["course_id"].isin(table["course_id"]), ["course_id", "patient_id"]
        ]
        extra = extra.drop_duplicates("course_id").astype(object)
        table = pd.concat([table, extra], ignore_index=True)
    people = patients.set_index("patient_id")
    table["site"] = table["patient_id"].map(people["site"])
    table["indication"] = table["patient_id"].map(people["indication"])
    table["clinician"] = table["course_id"].map(course_clinicians(done))
    table["sex"] = table["patient_id"].map(people["sex"])
    first_at = done.groupby("course_id")["started_at"].min()
    first_year = first_at.dt.year
    birth = pd.to_numeric(table["patient_id"].map(people["birth_year"]), errors="coerce")
    age = table["course_id"].map(first_year).astype("float64") - birth.astype("float64")
    table["age_band"] = age.map(age_band)
    table["baseline_band"] = UNKNOWN
    if instrument is not None and outcomes is not None:
        table["baseline_band"] = table["course_id"].map(baseline_bands(outcomes, instrument))
    for dim in DIMENSIONS:
        table[dim] = table[dim].astype(object).where(table[dim].notna(), UNKNOWN)
    counts = done.groupby("course_id").size()
    table["doses"] = table["course_id"].map(counts).fillna(0).astype("int64")
    table["first_dose"] = table["course_id"].map(first_at.dt.date).astype(object)
    return table[list(ATTRIBUTE_COLUMNS)]
