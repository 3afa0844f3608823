"""trajectory rollup: each course's placed scores per point of both time axes

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 17:00:00

A derived table written after the clinic data (kapviz.db.rollups), one set of rows per
course so that an import refreshes only the courses it touched: per course, outcome
instrument, time axis and point, the sum and count of its scores there and the phase of the
first, with the patient's site and indication (the Trajectories page's course values). Empty
until the next demo generation, import or `python -m kapviz rollup`: until then the page
reads live.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rollup_trajectory_values",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(120), nullable=False),
        sa.Column("indication", sa.String(80), nullable=True),
        sa.Column("course_id", sa.String(64), nullable=False),
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.Column("instrument", sa.String(16), nullable=False),
        sa.Column("axis", sa.String(8), nullable=False),
        sa.Column("point_order", sa.Integer(), nullable=False),
        sa.Column("phase", sa.String(16), nullable=True),
        sa.Column("total_sum", sa.Integer(), nullable=False),
        sa.Column("scores", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rollup_trajectory_values"),
    )
    op.create_index("ix_rollup_trajectory_values_course", "rollup_trajectory_values", ["course_id"])
    op.create_index(
        "ix_rollup_trajectory_values_point",
        "rollup_trajectory_values",
        ["instrument", "axis", "point_order"],
    )


def downgrade() -> None:
    op.drop_index("ix_rollup_trajectory_values_point", table_name="rollup_trajectory_values")
    op.drop_index("ix_rollup_trajectory_values_course", table_name="rollup_trajectory_values")
    op.drop_table("rollup_trajectory_values")
