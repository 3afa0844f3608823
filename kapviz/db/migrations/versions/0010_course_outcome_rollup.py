"""course outcome rollup: every outcome instrument's per-course outcomes, one rule

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 13:30:00

Replaces the PHQ-9 baseline/endpoint candidates (rollup_phq9_endpoints, which the pages
turned into outcomes by a second copy of the rule) with each course's outcome row per
outcome instrument as kapviz.metrics.outcomes.outcomes_from_scores computes it. Derived
data: the old table is dropped and the rollups are marked stale (rollup_state emptied), so
the pages read live until the next rebuild (at start-up, import, demo or `kapviz rollup`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FLAGS = (
    "is_response",
    "is_remission",
    "baseline_in_remission",
    "reliable_improvement",
    "reliable_deterioration",
)


def _groups() -> list[sa.Column]:
    return [
        sa.Column("site", sa.String(120), nullable=False),
        sa.Column("indication", sa.String(80), nullable=True),
    ]


def upgrade() -> None:
    op.execute(sa.text("DELETE FROM rollup_state"))
    op.drop_table("rollup_phq9_endpoints")
    op.create_table(
        "rollup_course_outcomes",
        sa.Column("course_id", sa.String(64), nullable=False),
        sa.Column("instrument", sa.String(32), nullable=False),
        sa.Column("patient_id", sa.String(64), nullable=False),
        *_groups(),
        sa.Column("baseline_window_days", sa.Integer(), nullable=False),
        sa.Column("first_dose_at", sa.DateTime(), nullable=True),
        sa.Column("baseline", sa.Integer(), nullable=True),
        sa.Column("baseline_at", sa.DateTime(), nullable=True),
        sa.Column("endpoint", sa.Integer(), nullable=True),
        sa.Column("endpoint_at", sa.DateTime(), nullable=True),
        sa.Column("change", sa.Integer(), nullable=True),
        sa.Column("pct_change", sa.Float(), nullable=True),
        sa.Column("evaluable", sa.Boolean(), nullable=False),
        sa.Column("not_evaluable_reason", sa.Text(), nullable=True),
        *[sa.Column(flag, sa.Boolean(), nullable=True) for flag in FLAGS],
        sa.Column("time_to_response_days", sa.Float(), nullable=True),
        sa.Column("time_to_response_doses", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("course_id", "instrument", name="pk_rollup_course_outcomes"),
    )
    op.create_index(
        "ix_rollup_course_outcomes_groups",
        "rollup_course_outcomes",
        ["instrument", "site", "indication"],
    )


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM rollup_state"))
    op.drop_index("ix_rollup_course_outcomes_groups", table_name="rollup_course_outcomes")
    op.drop_table("rollup_course_outcomes")
    op.create_table(
        "rollup_phq9_endpoints",
        sa.Column("course_id", sa.String(64), nullable=False),
        sa.Column("patient_id", sa.String(64), nullable=False),
        *_groups(),
        sa.Column("first_dose_at", sa.DateTime(), nullable=True),
        sa.Column("pre_at", sa.DateTime(), nullable=True),
        sa.Column("pre_total", sa.Integer(), nullable=True),
        sa.Column("last_at", sa.DateTime(), nullable=False),
        sa.Column("last_total", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("course_id", name="pk_rollup_phq9_endpoints"),
    )
