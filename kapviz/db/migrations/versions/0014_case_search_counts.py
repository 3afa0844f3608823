"""case search and row counts: per-course row counts, id pattern indexes

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 16:40:00

rollup_course_counts keeps each course's rows per clinic table (the Data page's counts are
their sums, kapviz.db.rollup_counts). The stored rollups are marked stale (rollup_state
emptied): the new table is empty until the next build, which start-up runs for stale
rollups (kapviz.db.rollups.rebuild_if_stale); until then the pages read live.
On PostgreSQL, text_pattern_ops indexes on patients.patient_id and courses.course_id serve
the Case explorer's search by the start of an id (LIKE 'prefix%') in any collation.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rollup_course_counts",
        sa.Column("course_id", sa.String(64), nullable=False),
        sa.Column("sessions", sa.Integer(), nullable=False),
        sa.Column("dosings", sa.Integer(), nullable=False),
        sa.Column("assessments", sa.Integer(), nullable=False),
        sa.Column("side_effects", sa.Integer(), nullable=False),
        sa.Column("vitals", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("course_id", name="pk_rollup_course_counts"),
    )
    op.execute("DELETE FROM rollup_state")
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            "ix_patients_id_pattern",
            "patients",
            ["patient_id"],
            postgresql_ops={"patient_id": "text_pattern_ops"},
        )
        op.create_index(
            "ix_courses_id_pattern",
            "courses",
            ["course_id"],
            postgresql_ops={"course_id": "text_pattern_ops"},
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_courses_id_pattern", table_name="courses")
        op.drop_index("ix_patients_id_pattern", table_name="patients")
    op.drop_table("rollup_course_counts")
