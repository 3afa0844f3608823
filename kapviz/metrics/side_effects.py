"""Side-effect rates (docs/domain.md §4): per effect, per subgroup, and against cumulative dose.

Only records on completed dosing sessions count, and only completed dosing sessions are in a
denominator. A recurring effect counts once per session and once per patient, at its
highest severity (CTCAE grade 3–5 is severe whatever the severity word says).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from kapviz.domain import SEVERITIES, WEIGHT_BASED_ROUTES
from kapviz.metrics.stats import wilson_columns
from kapviz.vocabulary import CTCAE_SEVERITY, LONG_TERM_TERMS, SEVERITY_RANK

GROUPINGS: tuple[str, ...] = ("route", "drug", "dose_band", "session_number", "site")
"""Subgroups `effect_rates_by` splits dosing sessions into."""

DOSE_BAND_EDGES_MG_PER_KG: tuple[float, ...] = (0.5, 0.75, 1.0)
"""Band edges for IV/IM doses (mg/kg): 0.5 is the usual IV dose, 0.75 the top of its range."""

DOSE_BAND_EDGES_MG: tuple[float, ...] = (50, 75, 100, 200, 300)
"""Band edges for fixed doses (mg): esketamine 56/84 mg fall apart, lozenges 25–300 mg."""

CUMULATIVE_DOSE_EDGES_MG: tuple[float, ...] = (250, 500, 1000, 2000, 4000)
"""Band edges of a patient's cumulative dose (mg of drug, all routes, all courses)."""

UNKNOWN_BAND = "unknown"

_SESSION_FRAME = ["session_id", "patient_id", "course_id", "started_at"]


def is_member(values: pd.Series, keys: pd.Series) -> np.ndarray:
    """Boolean mask of `values` found in `keys`, by Arrow's hash lookup.

    pandas' isin on Arrow strings converts element by element (0.4 s for 8k session ids).
    """
    value_set = pa.array(keys, from_pandas=True).unique()
    try:
        found = pc.is_in(pa.array(values, from_pandas=True), value_set=value_set)
    except (pa.ArrowTypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # Mixed or empty (null-typed) columns: pandas' own hash lookup.
        return pd.Index(pd.unique(keys)).get_indexer(values) >= 0
    return found.to_numpy(zero_copy_only=False).astype(bool)


def dose_positions(values: pd.Series | pa.ChunkedArray, keys: pd.Series | pa.Array) -> np.ndarray:
    """Position of each of `values` in `keys` (unique), −1 when absent, by Arrow's hash lookup.

    `keys` may be given as an Arrow array already (`key_array`) when it is looked up often.
    """
    if len(values) == 0 or len(keys) == 0:
        return np.full(len(values), -1, dtype="int64")
    wanted = values if isinstance(values, pa.ChunkedArray) else pa.array(values, from_pandas=True)
    known = keys if isinstance(keys, pa.Array) else key_array(keys)
    if known.type != wanted.type:
        known = known.cast(wanted.type)
    found = pc.index_in(wanted, value_set=known)
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype("int64")


def key_array(keys: pd.Series) -> pa.Array:
    """`keys` as one contiguous Arrow array (the value set of `dose_positions`)."""
    known = pa.array(keys, from_pandas=True)
    return known.combine_chunks() if isinstance(known, pa.ChunkedArray) else known


def dose_positions_of(columns: list[pd.Series], keys: pd.Series) -> list[np.ndarray]:
    """`dose_positions` of several columns at once: Arrow builds the hash table of `keys`
    once per lookup, which costs more than looking up a few hundred thousand values."""
    lengths = [len(c) for c in columns]
    if not sum(lengths) or not len(keys):
        return [np.full(n, -1, dtype="int64") for n in lengths]
    text = pa.large_string()
    chunks = []
    for column in columns:
        array = pa.array(column, from_pandas=True)
        if array.type != text:
            array = array.cast(text)
        chunks.extend(array.chunks if isinstance(array, pa.ChunkedArray) else [array])
    found = dose_positions(pa.chunked_array(chunks, type=text), key_array(keys).cast(text))
    return np.split(found, np.cumsum(lengths)[:-1])


def dosing_sessions(
    sessions: pd.DataFrame, *, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """Completed dosing sessions only: the one denominator of every safety rate.

    `columns` picks columns before the rows are taken (copying every Arrow-string column
    of a large clinic costs more than the rest of a metric).
    """
    mask = (sessions["phase"] == "dosing") & (sessions["status"] == "completed")
    picked = sessions.columns if columns is None else list(columns)
    return sessions.loc[mask.to_numpy(), picked].reset_index(drop=True)


def severity_rank(side_effects: pd.DataFrame) -> pd.Series:
    """Rank 1 mild, 2 moderate, 3 severe per record: the higher of word and CTCAE grade."""
    word = side_effects["severity"].map(SEVERITY_RANK).astype("float64").fillna(0)
    grades = pd.to_numeric(side_effects["ctcae_grade"], errors="coerce").astype("float64")
    by_grade = {g: SEVERITY_RANK[s] for g, s in CTCAE_SEVERITY.items()}
    grade = grades.map(by_grade).astype("float64").fillna(0)
    return np.maximum(word, grade).astype("int64")


def session_effects(sessions: pd.DataFrame, side_effects: pd.DataFrame) -> pd.DataFrame:
    """One row per completed dosing session × effect term, at the highest severity.

    Columns: session_id, patient_id, course_id, started_at, term, severity, severity_rank,
    serious (any record serious), records (records merged into the row).
    """
    doses = dosing_sessions(sessions, columns=_SESSION_FRAME)
    records = side_effects[["session_id", "term", "serious"]].copy()
    records["severity_rank"] = severity_rank(side_effects).to_numpy()
    records = records[is_member(records["session_id"], doses["session_id"])]
    grouped = records.groupby(["session_id", "term"], sort=True, as_index=False).agg(
        severity_rank=("severity_rank", "max"),
        serious=("serious", "any"),
        records=("term", "size"),
    )
    return effects_on_doses(doses, grouped)


def effects_on_doses(doses: pd.DataFrame, grouped: pd.DataFrame) -> pd.DataFrame:
    """`session_effects` rows from the doses and per session × term summaries.

    `grouped` has session_id, term, severity_rank (highest), serious (any), records; rows of
    sessions that are not among `doses` are dropped (kapviz.db.aggregates.safety groups the
    records in SQL and hands them over here).
    """
    position = dose_positions(grouped["session_id"], doses["session_id"])
    return effect_rows(doses, grouped, position)[0]


def effect_rows(
    doses: pd.DataFrame, grouped: pd.DataFrame, position: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray]:
    """`effects_on_doses` with each summary's dose position known (−1: not a dose), and the
    dose position of each row returned (rows sorted by session id and term)."""
    names = {rank: name for name, rank in SEVERITY_RANK.items()}
    found = position >= 0
    grouped, position = grouped.loc[found], position[found]
    out = doses[_SESSION_FRAME].take(position).reset_index(drop=True)
    out["term"] = pd.Series(grouped["term"].to_numpy(dtype=object), dtype=object)
    rank = grouped["severity_rank"].to_numpy()
    out["severity"] = pd.Series(rank).map(names).astype(object)
    out["severity_rank"] = rank
    out["serious"] = grouped["serious"].to_numpy(dtype=bool)
    out["records"] = grouped["records"].to_numpy()
    out = out.sort_values(["session_id", "term"], kind="stable")
    return out.reset_index(drop=True), position[out.index.to_numpy()]


def effect_rates(sessions: pd.DataFrame, side_effects: pd.DataFrame) -> pd.DataFrame:
    """Per effect term: session and patient rates (fractions) with 95% Wilson intervals.

    Columns: term, sessions, dosing_sessions, session_rate, session_ci_low, session_ci_high,
    patients, patients_dosed, patient_rate, patient_ci_low, patient_ci_high, severe_sessions,
    mild, moderate, severe (sessions by the effect's highest severity in that session).
    Sorted by sessions with the effect, most common first.
    """
    doses = dosing_sessions(sessions, columns=["patient_id"])
    return rates_of(
        session_effects(sessions, side_effects),
        dosing_sessions=len(doses),
        patients_dosed=int(doses["patient_id"].nunique()),
    )


def rates_of(rows: pd.DataFrame, *, dosing_sessions: int, patients_dosed: int) -> pd.DataFrame:
    """`effect_rates` from `session_effects` rows and the two denominators."""
    if rows.empty:
        return _empty_rates()
    mix = (
        pd.crosstab(rows["term"], rows["severity"])
        .reindex(columns=list(SEVERITIES), fill_value=0)
        .astype("int64")
    )
    mix.columns.name = None
    counts = rows.groupby("term").agg(
        sessions=("session_id", "nunique"), patients=("patient_id", "nunique")
    )
    table = counts.join(mix).reset_index()
    return rates_from_counts(table, dosing_sessions=dosing_sessions, patients_dosed=patients_dosed)


def rates_from_counts(
    counts: pd.DataFrame, *, dosing_sessions: int, patients_dosed: int
) -> pd.DataFrame:
    """`rates_of` from counts per term: term, sessions, patients and one column per severity
    (the sessions whose highest severity it is), in any order."""
    if counts.empty:
        return _empty_rates()
    table = counts.copy()
    table["dosing_sessions"] = dosing_sessions
    table["patients_dosed"] = patients_dosed
    table["severe_sessions"] = table["severe"]
    table = wilson_columns(table, successes="sessions", n="dosing_sessions", prefix="session_")
    table = wilson_columns(table, successes="patients", n="patients_dosed", prefix="patient_")
    table = table.sort_values(["sessions", "term"], ascending=[False, True], kind="stable")
    table["term"] = table["term"].astype(object)
    return table[RATE_COLUMNS].reset_index(drop=True)


RATE_COLUMNS = [
    "term",
    "sessions",
    "dosing_sessions",
    "session_rate",
    "session_ci_low",
    "session_ci_high",
    "patients",
    "patients_dosed",
    "patient_rate",
    "patient_ci_low",
    "patient_ci_high",
    "severe_sessions",
    *SEVERITIES,
]


def _empty_rates() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="int64") for c in RATE_COLUMNS})
    frame["term"] = frame["term"].astype(object)
    for col in [c for c in RATE_COLUMNS if "rate" in c or "_ci_" in c]:
        frame[col] = frame[col].astype("float64")
    return frame


def _band_labels(edges: tuple[float, ...], unit: str) -> list[str]:
    fmt = [f"{e:g}" for e in edges]
    labels = [f"<{fmt[0]} {unit}"]
    labels += [f"{lo}–<{hi} {unit}" for lo, hi in zip(fmt, fmt[1:], strict=False)]
    return [*labels, f"≥{fmt[-1]} {unit}"]


def _band(values: pd.Series, edges: tuple[float, ...], unit: str) -> pd.Series:
    labels = _band_labels(edges, unit)
    idx = np.searchsorted(np.asarray(edges, dtype=float), values.to_numpy(float), side="right")
    out = pd.Series(np.asarray(labels, dtype=object)[idx], index=values.index, dtype=object)
    return out.where(values.notna(), UNKNOWN_BAND)


def dose_band(sessions: pd.DataFrame) -> pd.Series:
    """Dose band label per session: mg/kg for IV and IM, mg otherwise; "unknown" if missing."""
    weight_based = sessions["route"].isin(WEIGHT_BASED_ROUTES)
    per_kg = pd.to_numeric(sessions["dose_mg_per_kg"], errors="coerce").astype("float64")
    mg = pd.to_numeric(sessions["dose_mg"], errors="coerce").astype("float64")
    by_kg = _band(per_kg, DOSE_BAND_EDGES_MG_PER_KG, "mg/kg")
    by_mg = _band(mg, DOSE_BAND_EDGES_MG, "mg")
    out = by_kg.where(weight_based, by_mg)
    return out.where(sessions["route"].notna() | mg.notna(), UNKNOWN_BAND).rename("dose_band")


def session_numbers(sessions: pd.DataFrame) -> pd.DataFrame:
    """session_id, course_id, session_number: the n-th completed dosing session of its course."""
    return number_doses(
        dosing_sessions(sessions, columns=["session_id", "course_id", "started_at"])
    )


def number_doses(doses: pd.DataFrame) -> pd.DataFrame:
    """`session_numbers` of doses already picked (session_id, course_id, started_at).

    Ordered by start, then session id (a tie at the same minute keeps a stable order).
    """
    doses = doses.loc[doses["course_id"].notna(), ["session_id", "course_id", "started_at"]]
    doses = doses.assign(started_at=pd.to_datetime(doses["started_at"]))
    doses = doses.astype({"course_id": object, "session_id": object})
    doses = doses.sort_values(["course_id", "started_at", "session_id"], kind="stable")
    out = doses[["session_id", "course_id"]].reset_index(drop=True)
    out["session_number"] = (out.groupby("course_id").cumcount() + 1).astype("int64")
    return out


def _grouping(sessions: pd.DataFrame, by: str) -> pd.Series:
    if by == "dose_band":
        cols = ["session_id", "route", "dose_mg", "dose_mg_per_kg"]
    elif by == "session_number":
        cols = ["session_id", "course_id", "started_at"]
    else:
        cols = ["session_id", by]
    return dose_groups(dosing_sessions(sessions, columns=cols), by)


def dose_groups(doses: pd.DataFrame, by: str, *, numbers: pd.DataFrame | None = None) -> pd.Series:
    """The subgroup of each dose (index session_id), for `rates_by_group`.

    `doses` holds the grouping's columns (route, dose_mg and dose_mg_per_kg for dose_band;
    course_id and started_at for session_number, unless `numbers` from number_doses is given).
    """
    if by == "dose_band":
        return pd.Series(dose_band(doses).to_numpy(), index=doses["session_id"], name=by)
    if by == "session_number":
        numbers = number_doses(doses) if numbers is None else numbers
        numbered = numbers.set_index("session_id")["session_number"]
        return numbered.reindex(doses["session_id"]).rename(by)
    return pd.Series(doses[by].to_numpy(), index=doses["session_id"], name=by)


def effect_rates_by(sessions: pd.DataFrame, side_effects: pd.DataFrame, *, by: str) -> pd.DataFrame:
    """Session rate of each effect within each subgroup of completed dosing sessions.

    `by` is one of GROUPINGS. Every subgroup × observed term appears (zero counts too).
    Columns: <by>, term, sessions, dosing_sessions, rate, ci_low, ci_high.
    """
    if by not in GROUPINGS:
        raise ValueError(f"cannot split side-effect rates by {by!r}; use one of {GROUPINGS}")
    group = _grouping(sessions, by)
    return rates_by_group(group, session_effects(sessions, side_effects), by=by)


def rates_by_group(group: pd.Series, rows: pd.DataFrame, *, by: str) -> pd.DataFrame:
    """`effect_rates_by` from each dose's subgroup (`dose_groups`) and `session_effects` rows."""
    return rates_by_labels(group, rows, rows["session_id"].map(group), by=by)


def rates_by_labels(
    group: pd.Series, rows: pd.DataFrame, row_groups: pd.Series | np.ndarray, *, by: str
) -> pd.DataFrame:
    """`rates_by_group` with each row's subgroup already looked up (`row_groups`, aligned
    with `rows`: the subgroup of the row's dose)."""
    group = group.dropna()
    sizes = group.groupby(group).size().rename("dosing_sessions")
    labels = (
        row_groups if isinstance(row_groups, pd.Series) else pd.Series(row_groups, index=rows.index)
    )
    rows = rows.assign(**{by: labels}).dropna(subset=[by])
    hits = rows.groupby([by, "term"]).size().rename("sessions")
    return rates_from_group_counts(sizes, hits, by=by)


def rates_from_group_counts(sizes: pd.Series, hits: pd.Series, *, by: str) -> pd.DataFrame:
    """`rates_by_labels` from counts: `sizes` the doses per subgroup (index named `by`),
    `hits` the doses with each term per subgroup (index `by`, term); no missing subgroups."""
    terms = sorted(hits.index.get_level_values("term").unique())
    grid = pd.MultiIndex.from_product([sizes.index, terms], names=[by, "term"])
    table = hits.reindex(grid, fill_value=0).astype("int64").reset_index()
    table = table.merge(sizes.reset_index(), on=by, how="left")
    table = wilson_columns(table, successes="sessions", n="dosing_sessions")
    table["term"] = table["term"].astype(object)
    cols = [by, "term", "sessions", "dosing_sessions", "rate", "ci_low", "ci_high"]
    return table[cols].reset_index(drop=True)


def cumulative_doses(sessions: pd.DataFrame) -> pd.DataFrame:
    """Per completed dosing session: the patient's cumulative dose (mg) including it.

    Cumulative over all the patient's courses, in mg of drug as recorded (no correction for
    bioavailability); a session without a recorded dose adds nothing.
    Columns: session_id, patient_id, started_at, dose_mg, cumulative_mg.
    """
    cols = ["session_id", "patient_id", "started_at", "dose_mg"]
    return cumulative_of(dosing_sessions(sessions, columns=cols))


def cumulative_of(doses: pd.DataFrame) -> pd.DataFrame:
    """`cumulative_doses` of doses already picked (session_id, patient_id, started_at, dose_mg)."""
    doses = doses[["session_id", "patient_id", "started_at", "dose_mg"]]
    doses = doses.sort_values(["patient_id", "started_at", "session_id"], kind="stable")
    doses = doses.astype({"dose_mg": "float64"})
    doses["cumulative_mg"] = doses["dose_mg"].fillna(0.0).groupby(doses["patient_id"]).cumsum()
    return doses.reset_index(drop=True)


def cumulative_dose_order() -> list[str]:
    """Cumulative dose band labels in display order."""
    return _band_labels(CUMULATIVE_DOSE_EDGES_MG, "mg")


def long_term_vs_cumulative_dose(
    sessions: pd.DataFrame, side_effects: pd.DataFrame
) -> pd.DataFrame:
    """Session rate of urinary and cognitive complaints by the patient's cumulative dose band.

    Columns: cumulative_band (ordered like `cumulative_dose_order()`), term, sessions,
    dosing_sessions, rate, ci_low, ci_high. Every band with dosing sessions × long-term term.
    """
    return long_term_of(cumulative_doses(sessions), session_effects(sessions, side_effects))


def long_term_of(cumulative: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """`long_term_vs_cumulative_dose` from `cumulative_doses` and `session_effects` rows."""
    bands = cumulative_bands(cumulative["cumulative_mg"])
    band_of = pd.Series(bands.to_numpy(), index=cumulative["session_id"])
    return long_term_by_band(bands, rows, rows["session_id"].map(band_of))


def cumulative_bands(cumulative_mg: pd.Series) -> pd.Series:
    """Cumulative dose band label of each cumulative dose (mg)."""
    return _band(cumulative_mg, CUMULATIVE_DOSE_EDGES_MG, "mg")


def long_term_by_band(
    bands: pd.Series, rows: pd.DataFrame, row_bands: pd.Series | np.ndarray
) -> pd.DataFrame:
    """`long_term_of` from each dose's cumulative band and each row's (its dose's) band."""
    bands = pd.DataFrame({"cumulative_band": bands.astype(object)})
    sizes = bands.groupby("cumulative_band").size().rename("dosing_sessions")
    labels = (
        row_bands if isinstance(row_bands, pd.Series) else pd.Series(row_bands, index=rows.index)
    )
    keep = rows["term"].isin(LONG_TERM_TERMS)
    rows = rows.loc[keep].assign(cumulative_band=labels.loc[keep])
    hits = rows.groupby(["cumulative_band", "term"]).size().rename("sessions")
    return long_term_from_counts(sizes, hits)


def long_term_from_counts(sizes: pd.Series, hits: pd.Series) -> pd.DataFrame:
    """`long_term_by_band` from counts: `sizes` the doses per cumulative band (index
    cumulative_band), `hits` the doses with each LONG_TERM_TERMS term per band (index
    cumulative_band, term)."""
    order = [b for b in cumulative_dose_order() if b in sizes.index]
    names = ["cumulative_band", "term"]
    grid = pd.MultiIndex.from_product([order, list(LONG_TERM_TERMS)], names=names)
    table = hits.reindex(grid, fill_value=0).astype("int64").reset_index()
    table = table.merge(sizes.reset_index(), on="cumulative_band", how="left")
    table = wilson_columns(table, successes="sessions", n="dosing_sessions")
    table = table.astype({"cumulative_band": object, "term": object})
    cols = ["cumulative_band", "term", "sessions", "dosing_sessions", "rate", "ci_low", "ci_high"]
    return table[cols]


def _number(value: Any) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


def side_effects_summary(sessions: pd.DataFrame, side_effects: pd.DataFrame) -> dict:
    """The `side_effects` object of `summary --json`: counts and unrounded 0–1 rates per term."""
    doses = dosing_sessions(sessions, columns=["patient_id"])
    rates = effect_rates(sessions, side_effects)
    return {
        "dosing_sessions": int(len(doses)),
        "patients_dosed": int(doses["patient_id"].nunique()),
        "effects": {
            row.term: {
                "sessions": int(row.sessions),
                "session_rate": _number(row.session_rate),
                "patients": int(row.patients),
                "patient_rate": _number(row.patient_rate),
                "severe_sessions": int(row.severe_sessions),
            }
            for row in rates.itertuples(index=False)
        },
    }
