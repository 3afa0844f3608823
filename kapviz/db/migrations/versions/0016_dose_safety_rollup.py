"""dose safety rollup: one row per completed dosing session for the Safety page's counts

Revision ID: 0016
Revises: 0014
Create Date: 2026-12-07 20:10:00

rollup_dose_safety keeps, per completed dosing session (rebuilt per course by
kapviz.db.safety_rollups), its side-effect events, serious records, MOAA/S scores by value,
esketamine monitoring minutes and blood-pressure summary (pre-dose, peak, last, max): the
Safety page's headline, sedation, monitoring and blood-pressure counts and its flagged
sessions are read from it instead of every record. The stored rollups are marked stale
(rollup_state emptied): the new table is empty until the next build, which start-up runs for
stale rollups (kapviz.db.rollups.rebuild_if_stale); until then the page reads live.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTS = ("events", "serious_events", "moaas_scores", *[f"moaas_{v}" for v in range(6)])
BP = (
    "max_systolic",
    "max_diastolic",
    "last_systolic",
    "last_diastolic",
    "pre_systolic",
    "pre_diastolic",
    "peak_systolic",
    "peak_diastolic",
)


def upgrade() -> None:
    op.create_table(
        "rollup_dose_safety",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(120), nullable=False),
        sa.Column("indication", sa.String(80), nullable=True),
        sa.Column("course_id", sa.String(64), nullable=False),
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("route", sa.String(32), nullable=True),
        sa.Column("drug", sa.String(32), nullable=True),
        sa.Column("monitoring_min", sa.Integer(), nullable=True),
        *[sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS],
        sa.Column("readings", sa.Integer(), nullable=False),
        *[sa.Column(name, sa.SmallInteger(), nullable=True) for name in BP],
        sa.PrimaryKeyConstraint("id", name="pk_rollup_dose_safety"),
    )
    op.create_index("ix_rollup_dose_safety_course_id", "rollup_dose_safety", ["course_id"])
    op.execute("DELETE FROM rollup_state")


def downgrade() -> None:
    op.drop_index("ix_rollup_dose_safety_course_id", table_name="rollup_dose_safety")
    op.drop_table("rollup_dose_safety")
