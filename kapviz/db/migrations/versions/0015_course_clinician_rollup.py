"""course clinician and first-dose rollups, trajectory courses index

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 20:15:00

rollup_course_clinicians keeps, per course with a dosing clinician, that clinician and the
course's doses, adverse events and BP-excursion doses (at the thresholds stored with the
row), so that the Trajectories page's "By clinician" table sums one row per course instead
of reading every dose (kapviz.db.clinician_rollups). The stored rollups are marked stale
(rollup_state emptied): the new table is empty until the next build, which start-up runs
for stale rollups (kapviz.db.rollups.rebuild_if_stale); until then the pages read live.
rollup_course_first_doses keeps each course's first completed dose (route and dose, with
the patient's site and indication) for the Trajectories page's groups by route and dose
band (kapviz.db.first_dose_rollups) instead of finding it among every dose.
ix_rollup_trajectory_values_courses lets the Trajectories page list the courses with values
of one instrument on one axis (its course lines' sampling frame) from the index alone, and
ix_rollup_trajectory_values_counts count its cohort table's values from the index alone.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rollup_course_clinicians",
        sa.Column("course_id", sa.String(64), nullable=False),
        sa.Column("site", sa.String(120), nullable=False),
        sa.Column("indication", sa.String(80), nullable=True),
        sa.Column("clinician", sa.String(120), nullable=False),
        sa.Column("dosing_sessions", sa.Integer(), nullable=False),
        sa.Column("adverse_events", sa.Integer(), nullable=False),
        sa.Column("excursion_sessions", sa.Integer(), nullable=False),
        sa.Column("systolic", sa.Float(), nullable=False),
        sa.Column("diastolic", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("course_id", name="pk_rollup_course_clinicians"),
    )
    op.create_table(
        "rollup_course_first_doses",
        sa.Column("course_id", sa.String(64), nullable=False),
        sa.Column("site", sa.String(120), nullable=False),
        sa.Column("indication", sa.String(80), nullable=True),
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.Column("route", sa.String(32), nullable=True),
        sa.Column("dose_mg", sa.Float(), nullable=True),
        sa.Column("dose_mg_per_kg", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("course_id", name="pk_rollup_course_first_doses"),
    )
    op.execute("DELETE FROM rollup_state")
    op.create_index(
        "ix_rollup_trajectory_values_courses",
        "rollup_trajectory_values",
        ["instrument", "axis", "patient_id", "course_id"],
    )
    op.create_index(
        "ix_rollup_trajectory_values_counts",
        "rollup_trajectory_values",
        ["instrument", "axis", "point_order", "total_sum", "scores"],
    )


def downgrade() -> None:
    op.drop_index("ix_rollup_trajectory_values_counts", table_name="rollup_trajectory_values")
    op.drop_index("ix_rollup_trajectory_values_courses", table_name="rollup_trajectory_values")
    op.drop_table("rollup_course_first_doses")
    op.drop_table("rollup_course_clinicians")
