"""The Data page's quality checks, counted in SQL rather than over whole tables.

Dosing sessions without a pre-dose score are found by an indexed NOT EXISTS probe per
session (kapviz.db.aggregates.program.pre_dose_measured, the one definition), and only the
count and the newest rows the page lists leave the database; side-effect wordings arrive
grouped, one row per wording and term. tests/db/test_aggregates_quality.py compares them
with the plain reference (tests/reference/quality.py) and kapviz.metrics.quality.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Connection, func, select

from kapviz.db import queries
from kapviz.db.aggregates.program import pre_dose_measured
from kapviz.db.models import Patient, Session, SideEffect
from kapviz.filters import Filters
from kapviz.instruments import PHQ9
from kapviz.metrics import quality


@dataclass(frozen=True)
class MissingPreDose:
    """How many completed dosing sessions lack a pre-dose score, and the newest of them
    (quality.MISSING_COLUMNS, newest first as quality.newest_first orders them)."""

    count: int
    newest: pd.DataFrame


def _missing(filters: Filters, instrument: str, window_days: int) -> list:
    """WHERE conditions of a completed dosing session in scope without a score of
    `instrument` in the `window_days` before it (an indexed NOT EXISTS probe)."""
    scope = queries.course_scope(filters)
    measured = pre_dose_measured(filters, instrument=instrument, window_days=window_days)
    missing = [Session.phase == "dosing", Session.status == "completed", ~measured]
    if scope is not None:
        missing.append(Session.course_id.in_(scope))
    return missing


def missing_predose_rows(conn: Connection, courses: Sequence[str] | None) -> pd.DataFrame:
    """Every completed dosing session of these courses (all when None) without a PHQ-9 in
    the default window before it (quality.MISSING_COLUMNS, unordered), whatever the
    filters: the rows the rollups keep per course (kapviz.db.rollups)."""
    conditions = _missing(Filters(), PHQ9.id, quality.PRE_DOSE_WINDOW_DAYS)
    if courses is not None:
        conditions.append(Session.course_id.in_(list(courses)))
    stmt = (
        select(Session.session_id, Session.patient_id, Session.course_id, Patient.site)
        .add_columns(Session.started_at)
        .join(Patient, Patient.patient_id == Session.patient_id)
        .where(*conditions)
    )
    rows = queries.read_frame(conn, stmt, quality.MISSING_COLUMNS)
    rows["started_at"] = pd.to_datetime(rows["started_at"])
    return rows


def dosing_without_predose(
    conn: Connection,
    filters: Filters,
    *,
    instrument: str = PHQ9.id,
    window_days: int = quality.PRE_DOSE_WINDOW_DAYS,
    limit: int = 200,
) -> MissingPreDose:
    """`quality.dosing_without_predose` of the sessions and scores in scope: its row count
    and its first `limit` rows."""
    missing = _missing(filters, instrument, window_days)
    # Every session started at or after the limit-th newest start (ties included), with
    # the total riding along; the exact order and cut are quality.newest_first's.
    ranked = (
        select(
            Session.session_id,
            Session.patient_id,
            Session.course_id,
            Patient.site,
            Session.started_at,
            func.rank().over(order_by=Session.started_at.desc()).label("newness"),
            func.count().over().label("total"),
        )
        .join(Patient, Patient.patient_id == Session.patient_id)
        .where(*missing)
        .subquery("missing")
    )
    columns = [*quality.MISSING_COLUMNS, "total"]
    stmt = select(*[ranked.c[c] for c in columns]).where(ranked.c.newness <= limit)
    rows = queries.read_frame(conn, stmt, columns)
    count = int(rows["total"].iloc[0]) if len(rows) else 0
    rows["started_at"] = pd.to_datetime(rows["started_at"])
    newest = quality.newest_first(rows.drop(columns="total")).head(limit)
    return MissingPreDose(count=count, newest=newest)


def term_mapping(conn: Connection, filters: Filters) -> pd.DataFrame:
    """`quality.term_mapping` of the side-effect records in scope, from grouped counts."""
    stmt = (
        select(SideEffect.verbatim, SideEffect.term, func.count())
        .where(SideEffect.verbatim.is_not(None))
        .group_by(SideEffect.verbatim, SideEffect.term)
    )
    scope = queries.course_scope(filters)
    if scope is not None:
        stmt = stmt.join(Session, Session.session_id == SideEffect.session_id).where(
            Session.course_id.in_(scope)
        )
    counts = queries.read_frame(conn, stmt, ["verbatim", "term", "records"])
    counts["records"] = pd.to_numeric(counts["records"]).astype("int64")
    return quality.mapping_from_counts(counts)
