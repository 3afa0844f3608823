"""Cached loaders: the frames a page needs for the current filters.

Raw frames are cached as shared resources keyed on (database URL, filters, data version):
they are read-only by convention (metrics never mutate inputs), so a warm rerun costs no
copy. The data version is a cheap fingerprint query asked at most every few seconds, so
rows written by anyone show up without a restart and unchanged data is never reloaded.
"""

from __future__ import annotations

import importlib
import logging
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import date, datetime

import pandas as pd
import streamlit as st
from streamlit.runtime.caching.cache_utils import CachedFunc

from kapviz.charts.partial import StartDay, start_day
from kapviz.db import case_search, queries, rollup_counts, rollups
from kapviz.db.aggregates import cohort
from kapviz.filters import Filters
from kapviz.instruments import OUTCOME_INSTRUMENTS
from kapviz.metrics.outcomes import outcomes_from_scores
from kapviz.metrics.trajectory_axes import instrument_scores, points_from_scores
from kapviz.ui import outage
from kapviz.ui.db import database_url, engine_for, settings

log = logging.getLogger(__name__)

VERSION_TTL_SECONDS = 2
"""The data-version check is asked again after 2 s: every live refresh sees new data."""
FRAME_TTL_SECONDS = 3600
"""Frames are keyed by data version (old versions are dropped, `drop_old_versions`); the
hour lets go of filter sets nobody asks for again."""
MAX_FRAMES = 24
"""Filter sets kept per frame: the sessions of a clinic on one data version."""
MAX_PER_VERSION = 4
"""Caches with one entry per data version (and URL): a few, while a new version is being
read by some sessions and the old one by others."""


@st.cache_data(ttl=VERSION_TTL_SECONDS, max_entries=4, show_spinner=False)
def _version(url: str) -> tuple:
    with engine_for(url).connect() as conn:
        return queries.data_version(conn)


def version() -> tuple:
    """Fingerprint of the data now (refreshed every few seconds); while the database does not
    answer, the last one it gave (kapviz.ui.outage: the cached frames are the last good ones).
    A new version drops everything cached for the old ones (`drop_old_versions`)."""
    url = database_url()
    current = outage.current_version(url, lambda: _version(url))
    with _SEEN_GUARD:
        previous = _SEEN.get(url)
        _SEEN[url] = current
    if previous is not None and previous != current:
        drop_old_versions()
    return current


_SEEN: dict[str, tuple] = {}
_SEEN_GUARD = threading.Lock()
KEPT_CACHES = frozenset({"kapviz.ui.db", "kapviz.ui.oidc"})
"""Modules whose caches hold no data (settings, engines, sign-in activity): kept on a new
data version. Every other cache of kapviz.ui is keyed by the data version."""


def drop_old_versions() -> None:
    """Empty the caches keyed by data version: once the data changed, no page asks for the
    old version's frames and figures again, and keeping them until their time to live or
    their max_entries grew the server by tens of MB with every import. The next run of each
    page fills them for the new version."""
    st.cache_data.clear()
    for name, module in list(sys.modules.items()):
        if not name.startswith("kapviz.ui.") or name in KEPT_CACHES:
            continue
        for value in list(vars(module).values()):
            # Only the caches this module defines: data.py imports engine_for, for one.
            if isinstance(value, CachedFunc) and value._info.func.__module__ == name:
                value.clear()
    log.info("data version changed: cached frames and figures of the old version dropped")


def forget_version() -> None:
    """After a write of this session: the next read asks the database for the version."""
    _version.clear()


def _load(fn, url: str, filters: Filters, **kwargs) -> pd.DataFrame:
    with engine_for(url).connect() as conn:
        return fn(conn, filters, **kwargs)


@st.cache_resource(ttl=FRAME_TTL_SECONDS, max_entries=4 * MAX_FRAMES, show_spinner=False)
def _aggregate(url: str, name: str, filters: Filters, data_version: tuple, kwargs: tuple):
    module, _, function = name.rpartition(".")
    fn = getattr(importlib.import_module(module), function)
    with engine_for(url).connect() as conn:
        return fn(conn, filters, **dict(kwargs))


def aggregate(fn: Callable, filters: Filters, **kwargs):  # whatever fn returns
    """`fn(conn, filters, **kwargs)` — a SQL-side aggregate query — cached like the frames.

    For the grouped queries of kapviz.db.aggregates: keyed on the function's dotted name,
    the filters, the data version and the keyword arguments (which must be hashable), so a
    page asks for exactly the aggregate it draws and a rerun with unchanged data is a hit.
    Results are shared and read-only.
    """
    name = f"{fn.__module__}.{fn.__qualname__}"
    return _aggregate(database_url(), name, filters, version(), tuple(sorted(kwargs.items())))


@st.cache_resource(ttl=FRAME_TTL_SECONDS, max_entries=MAX_FRAMES, show_spinner=False)
def _sessions(url: str, filters: Filters, data_version: tuple, patient_id: str | None):
    return _load(queries.sessions, url, filters, patient_id=patient_id)


@st.cache_resource(ttl=FRAME_TTL_SECONDS, max_entries=MAX_FRAMES, show_spinner=False)
def _assessments(
    url: str,
    filters: Filters,
    data_version: tuple,
    patient_id: str | None,
    with_items: bool,
    instruments: tuple[str, ...] | None,
):
    return _load(
        queries.assessments,
        url,
        filters,
        patient_id=patient_id,
        with_items=with_items,
        instruments=instruments,
    )


@st.cache_resource(ttl=FRAME_TTL_SECONDS, max_entries=MAX_FRAMES, show_spinner=False)
def _side_effects(url: str, filters: Filters, data_version: tuple, patient_id: str | None):
    return _load(queries.side_effects, url, filters, patient_id=patient_id)


@st.cache_resource(ttl=FRAME_TTL_SECONDS, max_entries=MAX_FRAMES, show_spinner=False)
def _vitals(url: str, filters: Filters, data_version: tuple, patient_id: str | None):
    return _load(queries.vitals, url, filters, patient_id=patient_id)


@st.cache_resource(ttl=FRAME_TTL_SECONDS, max_entries=MAX_FRAMES, show_spinner=False)
def _patients(url: str, filters: Filters, data_version: tuple):
    with engine_for(url).connect() as conn:
        return queries.patients(conn, filters)


def sessions(filters: Filters, *, patient_id: str | None = None) -> pd.DataFrame:
    """Sessions in scope (read-only)."""
    return _sessions(database_url(), filters, version(), patient_id)


def assessments(
    filters: Filters,
    *,
    instruments: Sequence[str] | None = None,
    patient_id: str | None = None,
    with_items: bool = False,
) -> pd.DataFrame:
    """Assessments in scope (read-only); item lists only when asked for."""
    wanted = tuple(instruments) if instruments else None
    url, data_version = database_url(), version()
    if wanted and patient_id is None and not with_items and set(wanted) < set(OUTCOME_INSTRUMENTS):
        return _subset(url, filters, data_version, wanted)
    return _assessments(url, filters, data_version, patient_id, with_items, wanted)


@st.cache_resource(ttl=FRAME_TTL_SECONDS, max_entries=MAX_FRAMES, show_spinner=False)
def _subset(url: str, filters: Filters, data_version: tuple, wanted: tuple[str, ...]):
    # Rows of the (shared, cached) outcome-instrument frame, in the same order as the
    # query would return them: one fewer large query on pages that also show outcomes.
    frame = _outcome_assessments(url, filters, data_version)
    return frame[frame["instrument"].isin(wanted)].reset_index(drop=True)


def side_effects(filters: Filters, *, patient_id: str | None = None) -> pd.DataFrame:
    """Side-effect records in scope (read-only)."""
    return _side_effects(database_url(), filters, version(), patient_id)


def vitals(filters: Filters, *, patient_id: str | None = None) -> pd.DataFrame:
    """Vital signs in scope (read-only)."""
    return _vitals(database_url(), filters, version(), patient_id)


def patients(filters: Filters) -> pd.DataFrame:
    """Patient records matching the site/indication filters (read-only)."""
    return _patients(database_url(), filters, version())


@st.cache_data(ttl=FRAME_TTL_SECONDS, max_entries=MAX_PER_VERSION, show_spinner=False)
def _filter_options(url: str, data_version: tuple) -> dict[str, list[str]]:
    with engine_for(url).connect() as conn:
        return queries.filter_options(conn)


def filter_options() -> dict[str, list[str]]:
    return _filter_options(database_url(), version())


@st.cache_data(ttl=FRAME_TTL_SECONDS, max_entries=4 * MAX_FRAMES, show_spinner=False)
def _patient_ids(url: str, filters: Filters, data_version: tuple) -> list[str]:
    with engine_for(url).connect() as conn:
        return queries.patient_ids(conn, filters)


def patient_ids(filters: Filters) -> list[str]:
    return _patient_ids(database_url(), filters, version())


MAX_SEARCHES = 64
"""Case searches kept per data version: the texts typed in a clinic's open Case explorers."""


@st.cache_data(ttl=FRAME_TTL_SECONDS, max_entries=MAX_SEARCHES, show_spinner=False)
def _find_patients(
    url: str, filters: Filters, data_version: tuple, text: str, limit: int
) -> list[str]:
    with engine_for(url).connect() as conn:
        return case_search.find(conn, filters, text, limit=limit)


def find_patients(filters: Filters, text: str, *, limit: int) -> list[str]:
    """Up to `limit` patient ids in scope whose id or a course id begins with `text`
    (kapviz.db.case_search.find; cached per data version)."""
    return _find_patients(database_url(), filters, version(), text.strip(), limit)


@st.cache_data(ttl=FRAME_TTL_SECONDS, max_entries=MAX_SEARCHES, show_spinner=False)
def _known_patients(
    url: str, filters: Filters, data_version: tuple, ids: tuple[str, ...]
) -> list[str]:
    with engine_for(url).connect() as conn:
        return case_search.known(conn, filters, ids)


def known_patients(filters: Filters, ids: Sequence[str]) -> list[str]:
    """Those of `ids` that are patients in scope, in id order (links and chosen cases)."""
    wanted = tuple(sorted({i for i in ids if i}))
    return _known_patients(database_url(), filters, version(), wanted) if wanted else []


@st.cache_data(ttl=FRAME_TTL_SECONDS, max_entries=4 * MAX_FRAMES, show_spinner=False)
def _has_patients(url: str, filters: Filters, data_version: tuple) -> bool:
    with engine_for(url).connect() as conn:
        return case_search.any_patient(conn, filters)


def has_patients(filters: Filters) -> bool:
    """Whether any patient is in scope (one index probe; cached per data version)."""
    return _has_patients(database_url(), filters, version())


@st.cache_data(ttl=FRAME_TTL_SECONDS, max_entries=MAX_PER_VERSION, show_spinner=False)
def _is_demo(url: str, data_version: tuple) -> bool:
    with engine_for(url).connect() as conn:
        return queries.is_demo_data(conn)


@st.cache_data(ttl=FRAME_TTL_SECONDS, max_entries=MAX_PER_VERSION, show_spinner=False)
def _newest_record_at(url: str, data_version: tuple) -> datetime | None:
    with engine_for(url).connect() as conn:
        return queries.newest_record_at(conn)


@st.cache_data(ttl=FRAME_TTL_SECONDS, max_entries=MAX_PER_VERSION, show_spinner=False)
def _table_counts(url: str, data_version: tuple) -> dict[str, int]:
    # Counting a million vital signs takes a while: summed from the per-course counts
    # kept with the rollups while they are current (the same numbers), else counted.
    with engine_for(url).connect() as conn:
        if rollups.is_current(conn):
            return rollup_counts.table_counts(conn)
        return queries.table_counts(conn)


@st.cache_data(ttl=FRAME_TTL_SECONDS, max_entries=MAX_PER_VERSION, show_spinner=False)
def _has_imported_clinic_data(url: str, data_version: tuple) -> bool:
    with engine_for(url).connect() as conn:
        return queries.has_imported_clinic_data(conn)


def has_imported_clinic_data() -> bool:
    """True once clinic data (not the synthetic demo) have been imported into this database."""
    return _has_imported_clinic_data(database_url(), version())


def is_demo() -> bool:
    """True while the synthetic demo clinic is the data shown."""
    return _is_demo(database_url(), version())


def newest_record_at() -> datetime | None:
    return _newest_record_at(database_url(), version())


def table_counts() -> dict[str, int]:
    return _table_counts(database_url(), version())


# Derived frames shared by several pages (Overview, Trajectories, Case explorer): computed
# once per filters × data version, cached like the raw frames (read-only).


def _outcome_assessments(url: str, filters: Filters, data_version: tuple) -> pd.DataFrame:
    return _assessments(url, filters, data_version, None, False, tuple(OUTCOME_INSTRUMENTS))


@st.cache_resource(ttl=FRAME_TTL_SECONDS, max_entries=MAX_FRAMES, show_spinner=False)
def _scores(url: str, filters: Filters, data_version: tuple) -> tuple[pd.DataFrame, ...]:
    # The inputs of outcomes and trajectory points, read narrow (scores from their covering
    # index, per-course anchors and dose times grouped in SQL) instead of the whole
    # sessions frame; shared by outcomes() and trajectory_points().
    with engine_for(url).connect() as conn:
        return (
            cohort.outcome_scores(conn, filters),
            cohort.course_anchors(conn, filters),
            cohort.completed_doses(conn, filters),
        )


@st.cache_resource(ttl=FRAME_TTL_SECONDS, max_entries=MAX_FRAMES, show_spinner=False)
def _outcomes(url: str, filters: Filters, data_version: tuple, window_days: int) -> pd.DataFrame:
    scores, anchors, doses = _scores(url, filters, data_version)
    return outcomes_from_scores(scores, anchors, doses, baseline_window_days=window_days)


def outcomes(filters: Filters) -> pd.DataFrame:
    """Per course × outcome instrument: baseline, endpoint and verdicts (read-only): the
    rollups' rows when they can answer (kapviz.db.rollups.course_outcomes, the same rows),
    else computed from the scores in scope."""
    from kapviz.ui import rollup_panel  # it reads this module's version()

    window = settings().baseline_window_days
    if rollups.serves(filters) and rollup_panel.status().current:
        rows = aggregate(rollups.course_outcomes, filters, baseline_window_days=window)
        if rows is not None:
            return rows
    return _outcomes(database_url(), filters, version(), window)


@st.cache_resource(ttl=FRAME_TTL_SECONDS, max_entries=MAX_FRAMES, show_spinner=False)
def _points(
    url: str, filters: Filters, data_version: tuple, window_days: int, instrument: str | None
) -> pd.DataFrame:
    scores, anchors, doses = _scores(url, filters, data_version)
    if instrument is not None:  # a score's place depends on its course alone
        scores = instrument_scores(scores, instrument)
    with engine_for(url).connect() as conn:
        sessions = cohort.session_times(conn, filters)  # tied scores' phase and start
    points = points_from_scores(
        scores, anchors, doses, sessions, baseline_window_days=window_days, compact=True
    )
    del sessions, scores
    cohort.release_memory()  # the temporaries of 600k points, before the page goes on
    return points


def trajectory_points(filters: Filters, *, instrument: str | None = None) -> pd.DataFrame:
    """Every outcome score (of `instrument` only, when given) placed on both time axes
    (read-only; ids, phase and axis labels as categoricals)."""
    window = settings().baseline_window_days
    return _points(database_url(), filters, version(), window, instrument)


@st.cache_data(ttl=FRAME_TTL_SECONDS, max_entries=MAX_PER_VERSION, show_spinner=False)
def _import_history(url: str, data_version: tuple) -> pd.DataFrame:
    with engine_for(url).connect() as conn:
        return queries.import_history(conn)


def import_history() -> pd.DataFrame:
    """The latest imports, newest first."""
    return _import_history(database_url(), version())


@st.cache_data(ttl=FRAME_TTL_SECONDS, max_entries=MAX_PER_VERSION, show_spinner=False)
def _first_session_on(url: str, data_version: tuple) -> date | None:
    with engine_for(url).connect() as conn:
        return queries.first_session_on(conn)


def chart_start(filters: Filters) -> StartDay | None:
    """The partial first month of the monthly charts under these filters: the programme's
    first session, or the date range's start when later (None: the first month is whole)."""
    return start_day(_first_session_on(database_url(), version()), filters.start)


def first_doses(filters: Filters) -> pd.DataFrame:
    """`cohort.course_first_doses` of the filters (read-only): the rollup's rows when it
    can answer (kapviz.db.first_dose_rollups, the same rows), else found among the doses."""
    from kapviz.db import first_dose_rollups
    from kapviz.ui import rollup_panel  # it reads this module's version()

    if rollups.serves(filters) and rollup_panel.status().current:
        return aggregate(first_dose_rollups.first_doses, filters)
    return aggregate(cohort.course_first_doses, filters)
