"""Per-course outcomes read live: the scores, anchors and doses in scope, handed to the one
outcome rule, kapviz.metrics.outcomes.outcomes_from_scores.

The Overview reads these rows from the rollups (kapviz.db.rollups, built by the same
functions) when they can answer; otherwise, here, for the scores in scope. The tests
compare both with the plain reference in tests/reference/outcomes.py on SQLite and
PostgreSQL (tests/db/test_aggregates_outcomes.py, tests/db/test_rollups.py).
"""

from __future__ import annotations

from collections.abc import Collection

import pandas as pd
from sqlalchemy import Connection, Select, select

from kapviz.db.aggregates.cohort import completed_doses, course_anchors, outcome_scores
from kapviz.db.models import Course
from kapviz.filters import Filters
from kapviz.instruments import OUTCOME_INSTRUMENTS
from kapviz.metrics import outcomes

CHUNK = 5_000
"""Course ids per bound IN list (well under SQLite's and PostgreSQL's parameter limits)."""

_NO_COURSE = select(Course.course_id).where(Course.course_id.is_(None))


def course_outcomes(
    conn: Connection,
    filters: Filters,
    *,
    instrument: str | None = None,
    baseline_window_days: int = 30,
) -> pd.DataFrame:
    """`outcomes.OUTCOME_COLUMNS` rows per course in scope × outcome instrument (only
    `instrument`'s when given), computed by `outcomes.outcomes_from_scores`."""
    return _outcomes(conn, filters, instrument, baseline_window_days, within=None)


def outcomes_of_courses(
    conn: Connection, course_ids: Collection[str], *, baseline_window_days: int = 30
) -> pd.DataFrame:
    """`outcomes.OUTCOME_COLUMNS` rows of these courses (every outcome instrument), as
    `course_outcomes(Filters())` has them: for a rebuild of some courses' rollup rows.

    Reads every course of their patients, whose scores stored without a course may belong
    to one of these; keeps the rows of the given courses.
    """
    ids = sorted(set(course_ids))
    parts = []
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        patients = select(Course.patient_id).where(Course.course_id.in_(chunk))
        within = select(Course.course_id).where(Course.patient_id.in_(patients))
        rows = _outcomes(conn, Filters(), None, baseline_window_days, within=within)
        parts.append(rows[rows["course_id"].isin(chunk)])
    if not parts:
        return _outcomes(conn, Filters(), None, baseline_window_days, within=_NO_COURSE)
    return outcomes.ordered(pd.concat(parts, ignore_index=True))


def _outcomes(
    conn: Connection,
    filters: Filters,
    instrument: str | None,
    window: int,
    *,
    within: Select | None,
) -> pd.DataFrame:
    kept = list(OUTCOME_INSTRUMENTS) if instrument is None else [instrument]
    scores = outcome_scores(conn, filters, instruments=kept, within=within)
    return outcomes.outcomes_from_scores(
        scores,
        course_anchors(conn, filters, within=within),
        completed_doses(conn, filters, within=within),
        baseline_window_days=window,
    )
