"""session window: a covering index of sessions by start time

Revision ID: 0020
Revises: 0018
Create Date: 2026-12-07 21:05:00

The Overview's alerts tile reads the sessions of its look-back (45 days by default) four
times: beside the side effects, beside the high readings, and the sessions with either.
At 100,000 patients the look-back holds about a tenth of all sessions, and with the index on
start time alone PostgreSQL fetched each of them from the table (tens of thousands of
pages per read). With the session's id, course, patient, phase and status in the index,
each read is an index-only range scan of the window.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_sessions_window",
        "sessions",
        ["started_at", "session_id", "course_id", "patient_id", "phase", "status"],
    )


def downgrade() -> None:
    op.drop_index("ix_sessions_window", table_name="sessions")
