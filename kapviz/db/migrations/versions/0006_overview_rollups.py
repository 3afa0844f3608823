"""overview rollups: the Overview's whole-period counts by site and indication

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 10:30:00

Derived tables written after the clinic data (kapviz.db.rollups): dosing sessions and
adverse events per month and route, the treatment funnel, reasons for ineligibility and
each course's PHQ-9 baseline and endpoint candidates, all by the patient's site and
indication, with the data version they were computed from. Empty until the next demo
generation, import or `python -m kapviz rollup`: until then the pages read live.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _groups() -> list[sa.Column]:
    return [
        sa.Column("site", sa.String(120), nullable=False),
        sa.Column("indication", sa.String(80), nullable=True),
    ]


def _id(table: str) -> list:
    return [
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
    ]


def upgrade() -> None:
    op.create_table(
        "rollup_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("data_version", sa.Text(), nullable=False),
        sa.Column("built_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rollup_state"),
    )
    op.create_table(
        "rollup_dosing_months",
        *_id("rollup_dosing_months"),
        *_groups(),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("route", sa.String(32), nullable=False),
        sa.Column("sessions", sa.Integer(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
    )
    op.create_table(
        "rollup_funnel",
        *_id("rollup_funnel"),
        *_groups(),
        *[
            sa.Column(name, sa.Integer(), nullable=False)
            for name in ("patients", "intake", "eligible", "dosed", "finished")
        ],
    )
    op.create_table(
        "rollup_ineligibility",
        *_id("rollup_ineligibility"),
        *_groups(),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("sessions", sa.Integer(), nullable=False),
    )
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


def downgrade() -> None:
    for table in (
        "rollup_phq9_endpoints",
        "rollup_ineligibility",
        "rollup_funnel",
        "rollup_dosing_months",
        "rollup_state",
    ):
        op.drop_table(table)
