"""page rollups: per-course rows of the Case explorer's cohort band

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 13:30:00

Derived tables written after the clinic data (kapviz.db.rollups), one set of rows per
course so that an import refreshes only the courses it touched: each course's value at
each session-axis point with its baseline, and each course's baseline, per outcome
instrument, with the patient's site and indication; and the Data page's dosing sessions
without a pre-dose PHQ-9; and the Overview's dosing counts per course, from which an
import's refresh sums rollup_dosing_months again; and the cohort band inputs counted for the
whole clinic (summed from the per-course rows likewise). Empty until the next demo generation,
import or `python -m kapviz rollup`: until then the pages read live.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _groups() -> list[sa.Column]:
    return [
        sa.Column("site", sa.String(120), nullable=False),
        sa.Column("indication", sa.String(80), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "rollup_course_points",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        *_groups(),
        sa.Column("course_id", sa.String(64), nullable=False),
        sa.Column("instrument", sa.String(16), nullable=False),
        sa.Column("baseline", sa.Integer(), nullable=False),
        sa.Column("point_order", sa.Integer(), nullable=False),
        sa.Column("total_sum", sa.Integer(), nullable=False),
        sa.Column("scores", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rollup_course_points"),
    )
    op.create_index("ix_rollup_course_points_course", "rollup_course_points", ["course_id"])
    op.create_index(
        "ix_rollup_course_points_value",
        "rollup_course_points",
        ["instrument", "baseline", "point_order", "total_sum", "scores", "site", "indication"],
    )
    op.create_table(
        "rollup_course_baselines",
        sa.Column("course_id", sa.String(64), nullable=False),
        sa.Column("instrument", sa.String(16), nullable=False),
        *_groups(),
        sa.Column("baseline", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("course_id", "instrument", name="pk_rollup_course_baselines"),
    )
    op.create_table(
        "rollup_missing_predose",
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.Column("course_id", sa.String(64), nullable=False),
        sa.Column("site", sa.String(120), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", name="pk_rollup_missing_predose"),
    )
    op.create_index("ix_rollup_missing_predose_course_id", "rollup_missing_predose", ["course_id"])
    op.create_index(
        "ix_rollup_missing_predose_started_at", "rollup_missing_predose", ["started_at"]
    )
    op.create_table(
        "rollup_course_dosing",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        *_groups(),
        sa.Column("course_id", sa.String(64), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("route", sa.String(32), nullable=False),
        sa.Column("sessions", sa.Integer(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rollup_course_dosing"),
    )
    op.create_index("ix_rollup_course_dosing_course_id", "rollup_course_dosing", ["course_id"])
    op.create_table(
        "rollup_cohort_values",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("instrument", sa.String(16), nullable=False),
        *[
            sa.Column(name, sa.Integer(), nullable=False)
            for name in ("baseline", "point_order", "total_sum", "scores", "courses")
        ],
        sa.PrimaryKeyConstraint("id", name="pk_rollup_cohort_values"),
    )
    op.create_table(
        "rollup_cohort_baselines",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("instrument", sa.String(16), nullable=False),
        sa.Column("baseline", sa.Integer(), nullable=False),
        sa.Column("courses", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rollup_cohort_baselines"),
    )


def downgrade() -> None:
    op.drop_table("rollup_cohort_baselines")
    op.drop_table("rollup_cohort_values")
    op.drop_table("rollup_course_dosing")
    op.drop_table("rollup_missing_predose")
    op.drop_index("ix_rollup_course_points_value", table_name="rollup_course_points")
    op.drop_index("ix_rollup_course_points_course", table_name="rollup_course_points")
    op.drop_table("rollup_course_baselines")
    op.drop_table("rollup_course_points")
