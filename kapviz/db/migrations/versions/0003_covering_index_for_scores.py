"""indexes for page reads: a covering index for scores, start-time indexes for recent windows

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 03:50:00

The assessments table carries item scores as JSON text, so scanning it to read the totals
touches every wide row. With the columns the pages read in one index (instrument first,
as every page asks for a set of instruments, then patient and time, so that "each
patient's latest PHQ-9" is read in index order too), SQLite answers from the index alone:
600k outcome scores of the 20,000-patient demo clinic in 1.1 s instead of 4.1 s.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = [
    "instrument",
    "patient_id",
    "administered_at",
    "course_id",
    "total",
    "suicide_item",
    "session_id",
]

WIDENED = [
    (
        "assessments",
        "ix_assessments_instrument_at",
        [
            "instrument",
            "administered_at",
            "patient_id",
            "course_id",
            "total",
            "suicide_item",
            "session_id",
        ],
    ),
    (
        "sessions",
        "ix_sessions_phase_status_started",
        ["phase", "status", "started_at", "patient_id", "course_id", "session_id"],
    ),
]
NARROW = [
    ("assessments", "ix_assessments_instrument_at", ["instrument", "administered_at"]),
    ("sessions", "ix_sessions_phase_status_started", ["phase", "status", "started_at"]),
]


def upgrade() -> None:
    op.create_index("ix_assessments_scores", "assessments", COLUMNS)
    # "Data as of" (the newest session or score) and the live tiles' recent windows read
    # by time alone: without these, max(started_at) scans 356k sessions (1.8 s at 20k).
    op.create_index("ix_sessions_started_at", "sessions", ["started_at"])
    op.create_index("ix_assessments_administered_at", "assessments", ["administered_at"])
    # Same leading columns as before, now covering: recent windows and per-phase counts
    # never touch the wide rows.
    for table, name, columns in WIDENED:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns)


def downgrade() -> None:
    for table, name, columns in NARROW:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns)
    op.drop_index("ix_assessments_administered_at", table_name="assessments")
    op.drop_index("ix_sessions_started_at", table_name="sessions")
    op.drop_index("ix_assessments_scores", table_name="assessments")
