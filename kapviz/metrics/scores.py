"""Outcome scores in their course context (docs/domain.md §3): outcome and trajectory inputs.

Three frames feed `kapviz.metrics.outcomes` and `kapviz.metrics.trajectory_axes`:

- **scores** (`score_frame`): one row per outcome-instrument score with its course, sorted by
  course, instrument, time and id; ids and instrument as categoricals whose categories are
  sorted, so that their codes sort like the strings.
- **anchors** (`anchor_frame`): per course (index), its patient, first session of any status,
  first and last completed dosing session and last completed integration session.
- **doses** (`number_doses`): completed dosing sessions — course_id, started_at, dose_number.
- **sessions** (SESSION_TIME_COLUMNS): session_id, phase, started_at, from which
  `tied_sessions` gives each score tied to a session that session's phase and start (the
  trajectory axes need them; outcomes do not).

The pandas definitions here derive them from a sessions frame; kapviz.db.aggregates.cohort
reads the same frames grouped in SQL, and tests prove the two equal.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from kapviz import instruments
from kapviz.metrics.courses import assign_courses

DATETIME_DTYPE = "datetime64[us]"
"""One datetime resolution for every frame here, so that as-of lookups line up (pandas 3
infers µs from Python datetimes but ns from some constructors)."""

SCORE_COLUMNS = [
    "id",
    "patient_id",
    "course_id",
    "session_id",
    "instrument",
    "administered_at",
    "total",
]
SESSION_TIME_COLUMNS = ["session_id", "phase", "started_at"]
ANCHOR_COLUMNS = [
    "patient_id",
    "first_session_at",
    "first_dose_at",
    "last_dose_at",
    "last_integration_at",
]


def as_datetime(values: pd.Series) -> pd.Series:
    """`values` as naive clinic-local datetimes at one resolution (DATETIME_DTYPE).

    Stored text (SQLite keeps timestamps as ISO text) goes through Arrow's cast, C++ and
    ~15× faster than pandas' ISO parser on 600k scores; text Arrow does not take (an
    offset, another layout) falls back to pandas.
    """
    if values.dtype.kind != "M" and len(values) and not values.isna().all():
        try:
            parsed = _strings(values).cast(pa.timestamp("us"))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            pass
        else:
            return pd.Series(
                parsed.to_numpy(zero_copy_only=False), index=values.index, name=values.name
            ).astype(DATETIME_DTYPE)
    return pd.to_datetime(values).astype(DATETIME_DTYPE)


def _is_completed(sessions: pd.DataFrame, phase: str) -> pd.Series:
    return (sessions["phase"] == phase) & (sessions["status"] == "completed")


def number_doses(doses: pd.DataFrame) -> pd.DataFrame:
    """Completed dosing sessions (course_id, started_at) numbered 1…n per course by time.

    Sorted by course then time, ties in input order (a stable sort on the course codes).
    """
    doses = doses.loc[doses["course_id"].notna(), ["course_id", "started_at"]]
    course = _categorical(doses["course_id"])
    started = as_datetime(doses["started_at"]).to_numpy()
    order = np.lexsort((started, course.codes))
    codes = course.codes[order]
    first = np.r_[True, codes[1:] != codes[:-1]] if len(codes) else np.zeros(0, dtype=bool)
    position = np.arange(len(codes))
    numbers = position - np.maximum.accumulate(np.where(first, position, 0)) + 1
    return pd.DataFrame(
        {
            "course_id": pd.Series(objects(pd.Series(course))[order], dtype=object),
            "started_at": started[order],
            "dose_number": numbers.astype(np.int64),
        }
    )


def completed_doses(sessions: pd.DataFrame) -> pd.DataFrame:
    """Completed dosing sessions, one row each: course_id, started_at, dose_number (1…n)."""
    return number_doses(sessions.loc[_is_completed(sessions, "dosing")])


def first_doses(sessions: pd.DataFrame) -> pd.Series:
    """First-dose datetime per course_id: start of its first completed dosing session."""
    return completed_doses(sessions).groupby("course_id")["started_at"].min()


def anchor_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Anchors (course_id and ANCHOR_COLUMNS) typed and indexed by course_id, sorted."""
    out = frame.astype({"course_id": object, "patient_id": object}).set_index("course_id")
    for col in ANCHOR_COLUMNS[1:]:
        out[col] = as_datetime(out[col])
    out.index.name = "course_id"
    return out[ANCHOR_COLUMNS].sort_index()


def course_anchors(sessions: pd.DataFrame) -> pd.DataFrame:
    """Per course of `sessions`: patient (of its first row), first session, first and last
    completed dose, last completed integration session (NaT where there is none)."""
    sessions = sessions[sessions["course_id"].notna()]
    by_course = sessions.groupby("course_id")["started_at"]
    doses = completed_doses(sessions).groupby("course_id")["started_at"]
    integration = sessions.loc[_is_completed(sessions, "integration")]
    frame = pd.DataFrame(
        {
            "patient_id": sessions.drop_duplicates("course_id").set_index("course_id")[
                "patient_id"
            ],
            "first_session_at": by_course.min(),
        }
    )
    frame["first_dose_at"] = doses.min()
    frame["last_dose_at"] = doses.max()
    frame["last_integration_at"] = integration.groupby("course_id")["started_at"].max()
    return anchor_frame(frame.rename_axis("course_id").reset_index())


def score_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Scores with a course (SCORE_COLUMNS) in the compact, sorted contract of this module."""
    out = frame.loc[frame["course_id"].notna(), SCORE_COLUMNS].reset_index(drop=True)
    for col in ("patient_id", "course_id", "instrument"):
        # Sorted categories: codes order like the strings (the sort below relies on it).
        out[col] = _categorical(out[col])
    # Session ids stay strings: only the trajectory axes look them up (`tied_sessions`).
    out["session_id"] = out["session_id"].astype("str")
    out["administered_at"] = as_datetime(out["administered_at"])
    out["total"] = out["total"].astype("int64")
    out["id"] = out["id"].astype("int64")
    group = out["course_id"].cat.codes.to_numpy(dtype=np.int64) * len(
        out["instrument"].cat.categories
    ) + out["instrument"].cat.codes.to_numpy(dtype=np.int64)
    order = np.lexsort((out["id"].to_numpy(), out["administered_at"].to_numpy(), group))
    return out.iloc[order].reset_index(drop=True)


def course_scores(assessments: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    """Outcome-instrument scores with a course: stored course_id, else docs/domain.md §3 by session
    or date (`score_frame` contract).

    Instrument names are normalised to registry ids; non-outcome scales (CADSS, MOAA/S)
    and unknown names are left out. Returns a new frame.
    """
    cols = ["id", "patient_id", "course_id", "session_id", "instrument", "administered_at"]
    scores = assessments[[*cols, "total"]].copy()
    # Normalise each distinct spelling once, not once per row (300k rows on a big clinic).
    names = {name: instruments.normalize(name) for name in scores["instrument"].unique()}
    scores["instrument"] = scores["instrument"].map(names).astype(object)
    scores = scores[scores["instrument"].isin(instruments.OUTCOME_INSTRUMENTS)]
    scores["course_id"] = scores["course_id"].astype(object)
    missing = scores["course_id"].isna()
    if missing.any() and not sessions.empty:
        scores.loc[missing, "course_id"] = assign_courses(scores.loc[missing], sessions)
    return score_frame(scores)


def _categorical(values: pd.Series) -> pd.Categorical:
    """Strings as a categorical with sorted categories (codes sort like the strings),
    through Arrow's dictionary encoding: no per-row Python objects."""
    encoded = pc.dictionary_encode(_strings(values))
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)
    categories = encoded.dictionary
    if len(categories):
        order = pc.array_sort_indices(categories).to_numpy()
        rank = np.empty(len(order), dtype=np.int32)
        rank[order] = np.arange(len(order), dtype=np.int32)
        codes = np.where(codes >= 0, rank[codes], -1).astype(np.int32)
        categories = categories.take(pa.array(order))
    labels = pd.Index(categories.to_pandas(), dtype="str")
    return pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(labels))


def _strings(values: pd.Series | pd.Index) -> pa.Array:
    """Strings as one Arrow array (zero-copy for Arrow-backed str columns)."""
    array = pa.array(values)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array.cast(pa.large_string())


def tied_sessions(scores: pd.DataFrame, sessions: pd.DataFrame) -> np.ndarray:
    """Row in `sessions` of each score's session (−1: untied, or not among `sessions`).

    An Arrow hash lookup of the session ids (no per-row Python objects).
    """
    if not (len(scores) and len(sessions)):
        return np.full(len(scores), -1, dtype=np.int64)
    found = pc.index_in(_strings(scores["session_id"]), value_set=_strings(sessions["session_id"]))
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def categorical(values: pd.Series) -> pd.Categorical:
    """Strings as a categorical with sorted categories (see `_categorical`)."""
    return _categorical(values)


def objects(values: pd.Series) -> np.ndarray:
    """A categorical's values as an object array sharing one str per category (None: NA).

    Cheaper than `to_numpy(dtype=object)`, which makes a new str object per row.
    """
    names = np.append(np.asarray(values.cat.categories, dtype=object), None)
    return names[values.cat.codes.to_numpy()]


_BEFORE_ALL = np.iinfo(np.int64).min // 4
"""Sort key of a missing time (NaT): before every dose, so no dose counts."""


def doses_up_to(
    doses: pd.DataFrame, courses: pd.Index, codes: np.ndarray, at: np.ndarray
) -> np.ndarray:
    """Completed doses of course `courses[codes[i]]` started at or before `at[i]`, per i.

    Exact and vectorised. `doses` is sorted by course and time (`number_doses`), so one key
    (course position, time) per dose sorts like the doses; each moment is looked up by
    binary search. Should that key not fit in 64 bits (a very long span × very many
    courses), doses and moments are sorted together instead.
    """
    if len(doses) and len(courses):
        found = pc.index_in(_strings(doses["course_id"]), value_set=_strings(courses))
        dose_codes = found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    else:
        dose_codes = np.zeros(0, dtype=np.int64)
    known = dose_codes >= 0
    dose_codes = dose_codes[known].astype(np.int64)
    dose_times = doses["started_at"].to_numpy(dtype=DATETIME_DTYPE)[known].view("i8")
    codes = np.asarray(codes, dtype=np.int64)
    at = np.asarray(at, dtype=DATETIME_DTYPE)
    missing = np.isnat(at)
    times = at.view("i8")
    if not len(dose_codes):
        return np.zeros(len(codes), dtype=np.int64)
    low, high = int(dose_times.min()), int(dose_times.max())
    span = high - low + 2  # moments clipped to [low − 1, high]: same counts
    if (len(courses) + 1) * span >= 2**62:
        return _doses_up_to_sorted(dose_codes, dose_times, codes, times, missing)
    dose_keys = dose_codes * span + (dose_times - low + 1)
    if np.any(dose_keys[1:] < dose_keys[:-1]):  # not in course order: only counts matter
        dose_keys = np.sort(dose_keys)
    keys = codes * span + np.where(missing, 0, np.clip(times, low - 1, high) - low + 1)
    before = np.searchsorted(dose_keys, codes * span, side="left")
    return np.searchsorted(dose_keys, keys, side="right") - before


def _doses_up_to_sorted(
    dose_codes: np.ndarray,
    dose_times: np.ndarray,
    codes: np.ndarray,
    times: np.ndarray,
    missing: np.ndarray,
) -> np.ndarray:
    """`doses_up_to` by sorting doses and moments together (a dose first on equal times)."""
    n_doses = len(dose_codes)
    all_codes = np.concatenate([dose_codes, codes])
    all_times = np.concatenate([dose_times, np.where(missing, _BEFORE_ALL, times)])
    is_moment = np.arange(len(all_codes)) >= n_doses
    order = np.lexsort((is_moment, all_times, all_codes))
    counts = np.empty(len(all_codes), dtype=np.int64)
    counts[order] = np.cumsum(~is_moment[order])
    # Doses of earlier courses come before this course's block in the order.
    return counts[n_doses:] - np.searchsorted(np.sort(dose_codes), codes, side="left")
