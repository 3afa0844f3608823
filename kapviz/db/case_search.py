"""Finding cases by id: the Case explorer's pickers and case links, bounded at any size.

Why: a picker that lists every patient sends the whole clinic to the browser on each run and
grows with it. These queries answer "which patients in this scope have an id, or a course
id, beginning with this text" with at most `limit` rows read from the primary-key indexes,
and "which of these ids are in scope" for links, so that a case picker costs the same at
100 and at 100,000 patients. The scope is the one of every other query
(kapviz.db.queries.patient_conditions: sites, indications, a clinician's own patients).
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Connection, exists, func, select

from kapviz.db import queries
from kapviz.db.models import Course, Patient
from kapviz.filters import Filters

LIKE_ESCAPE = "\\"


def _escaped(text: str) -> str:
    """`text` as a literal LIKE prefix (its %, _ and escape characters matched as such)."""
    for special in (LIKE_ESCAPE, "%", "_"):
        text = text.replace(special, LIKE_ESCAPE + special)
    return text


def starts_with(conn: Connection, column, prefix: str) -> list:
    """WHERE conditions for `column` beginning with `prefix`, exactly (case-sensitive), in a
    form the backend answers from the column's index.

    PostgreSQL: LIKE 'prefix%' (its text_pattern_ops index, migration 0014, serves any
    collation). SQLite: the range [prefix, prefix with its last character advanced), which
    holds exactly the strings beginning with prefix in its binary order and walks the
    primary-key index (its LIKE is case-insensitive and indexed only for literals)."""
    if not prefix:
        return []
    if conn.dialect.name == "postgresql":
        return [column.like(_escaped(prefix) + "%", escape=LIKE_ESCAPE)]
    last = ord(prefix[-1])
    if last >= 0x10FFFF:  # nothing follows the last code point: an exact, unindexed check
        return [func.substr(column, 1, len(prefix)) == prefix]
    return [column >= prefix, column < prefix[:-1] + chr(last + 1)]


def find(conn: Connection, filters: Filters, text: str, *, limit: int) -> list[str]:
    """Up to `limit` patient ids in scope whose id or one of whose course ids begins with
    `text` (surrounding blanks ignored), in id order; the first `limit` ids without text."""
    text = text.strip()
    scope = queries.patient_conditions(filters)
    by_patient = (
        select(Patient.patient_id)
        .where(*starts_with(conn, Patient.patient_id, text), *scope)
        .order_by(Patient.patient_id)
        .limit(limit)
    )
    found = set(conn.execute(by_patient).scalars())
    if text:
        by_course = (
            select(Course.patient_id)
            .join(Patient, Patient.patient_id == Course.patient_id)
            .where(*starts_with(conn, Course.course_id, text), *scope)
            .order_by(Course.course_id)
            .limit(limit)
        )
        found.update(conn.execute(by_course).scalars())
    return sorted(found)[:limit]


def known(conn: Connection, filters: Filters, ids: Collection[str]) -> list[str]:
    """Those of `ids` that are patients in scope, in id order (links, chosen cases)."""
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return []
    stmt = (
        select(Patient.patient_id)
        .where(Patient.patient_id.in_(wanted), *queries.patient_conditions(filters))
        .order_by(Patient.patient_id)
    )
    return list(conn.execute(stmt).scalars())


def any_patient(conn: Connection, filters: Filters) -> bool:
    """Whether the scope holds any patient (one index probe, not the list)."""
    stmt = select(exists(select(Patient.patient_id).where(*queries.patient_conditions(filters))))
    return bool(conn.execute(stmt).scalar())
