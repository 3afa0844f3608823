"""covering index for course timelines: doses and phases per course from the index alone

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 05:10:00

The Case explorer places every outcome score on the session axis (docs/domain.md §3): a
dosing-phase score sits at dose k, the number of completed dosing sessions of its course
started on or before it, and an untied score takes its phase from the course's first and
last completed dose and last completed integration session. With course, phase, status and
start in one index, both are answered from the index alone: the count of doses up to a
moment is a range count, the per-course dates an index scan (kapviz.db.aggregates.case).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ["course_id", "phase", "status", "started_at"]


def upgrade() -> None:
    op.create_index("ix_sessions_course_timeline", "sessions", COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_sessions_course_timeline", table_name="sessions")
