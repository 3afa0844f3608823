"""Each course's first completed dose kept per course, read for sites and indications.

Why: kapviz.db.aggregates.cohort.course_first_doses finds every course's first completed
dose among all doses at each cold load (route and dose band for the Trajectories page's
groups, its time to response by route and its clinician table): a read that grows with
the doses. Kept per course (registered in kapviz.db.rollups.COURSE_ROLLUPS, so an import
recomputes only the courses it touched) from the same query, it is read back as one row
per course in scope (tests/db/test_first_dose_rollups.py compares both on SQLite and
PostgreSQL, also after an incremental refresh).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from sqlalchemy import Connection, select

from kapviz.db import queries
from kapviz.db.aggregates import cohort
from kapviz.db.models import RollupCourseFirstDose
from kapviz.filters import Filters
from kapviz.metrics.course_attributes import FIRST_DOSE_COLUMNS


def course_rows(conn: Connection, courses: Sequence[str] | None) -> dict[type, pd.DataFrame]:
    """RollupCourseFirstDose's rows for these courses (every course when None)."""
    return {RollupCourseFirstDose: cohort.course_first_doses(conn, Filters(), courses=courses)}


def first_doses(conn: Connection, filters: Filters) -> pd.DataFrame:
    """`cohort.course_first_doses(conn, filters)` from the rollup, for filters of sites and
    indications only (kapviz.db.rollups.serves) while the rollups are current: the same
    rows in the same order."""
    t = RollupCourseFirstDose
    conditions = queries.rollup_conditions(t, filters)
    stmt = (
        select(*[getattr(t, c) for c in FIRST_DOSE_COLUMNS])
        .where(*conditions)
        .order_by(t.course_id)
    )
    frame = queries.read_frame(conn, stmt, FIRST_DOSE_COLUMNS)
    for col in ("dose_mg", "dose_mg_per_kg"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    return frame
