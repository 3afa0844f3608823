"""dose safety rollups: a row per dose for the Safety page's counts, CADSS score counts

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 20:10:00

rollup_dose_safety keeps, per completed dosing session (rebuilt per course by
kapviz.db.safety_rollups), its dose, side-effect events, serious records, long-term terms,
MOAA/S scores by value, esketamine monitoring minutes and blood-pressure summary (pre-dose,
peak, last, max): the Safety page's headline, sedation, monitoring, long-term and
blood-pressure counts and its flagged sessions are read from it instead of every record.
rollup_course_cadss and rollup_cadss_counts keep the CADSS scores taken during doses per
dose number and score, per course and summed per site and indication.
ix_assessments_item9_positive (partial) finds the few patients with a PHQ-9 item 9 above 0,
the alerts worklist's candidates, without reading every PHQ-9. The stored rollups are marked
stale (rollup_state emptied): the new tables are empty until the next build, which start-up
runs for stale rollups (kapviz.db.rollups.rebuild_if_stale); until then the page reads live.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTS = (
    "events",
    "serious_events",
    "urinary_symptoms",
    "cognitive_impairment",
    "moaas_scores",
    *[f"moaas_{v}" for v in range(6)],
)
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
        sa.Column("dose_mg", sa.Float(), nullable=True),
        *[sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS],
        sa.Column("readings", sa.Integer(), nullable=False),
        *[sa.Column(name, sa.SmallInteger(), nullable=True) for name in BP],
        sa.PrimaryKeyConstraint("id", name="pk_rollup_dose_safety"),
    )
    op.create_index("ix_rollup_dose_safety_course_id", "rollup_dose_safety", ["course_id"])
    for name, course in (("rollup_course_cadss", True), ("rollup_cadss_counts", False)):
        op.create_table(
            name,
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("site", sa.String(120), nullable=False),
            sa.Column("indication", sa.String(80), nullable=True),
            *([sa.Column("course_id", sa.String(64), nullable=False)] if course else []),
            sa.Column("session_number", sa.Integer(), nullable=False),
            sa.Column("value", sa.Integer(), nullable=False),
            sa.Column("scores", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("id", name=f"pk_{name}"),
        )
    op.create_index("ix_rollup_course_cadss_course_id", "rollup_course_cadss", ["course_id"])
    op.execute("DELETE FROM rollup_state")
    item9 = sa.text("instrument = 'PHQ-9' AND suicide_item > 0")
    op.create_index(
        "ix_assessments_item9_positive",
        "assessments",
        ["patient_id"],
        postgresql_where=item9,
        sqlite_where=item9,
    )


def downgrade() -> None:
    op.drop_index("ix_assessments_item9_positive", table_name="assessments")
    op.drop_index("ix_rollup_course_cadss_course_id", table_name="rollup_course_cadss")
    op.drop_table("rollup_cadss_counts")
    op.drop_table("rollup_course_cadss")
    op.drop_index("ix_rollup_dose_safety_course_id", table_name="rollup_dose_safety")
    op.drop_table("rollup_dose_safety")
