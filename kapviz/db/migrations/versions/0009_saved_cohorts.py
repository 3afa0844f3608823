"""saved cohorts: Explore views saved by name, per user

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 13:30:00

One row per (owner, name): the Explore page's URL parameters as JSON text
(kapviz.db.saved_cohorts), kept in the clinic database so they survive a restart.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "saved_cohorts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("owner", sa.String(length=120), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_cohorts")),
        sa.UniqueConstraint("owner", "name", name=op.f("uq_saved_cohorts_owner_name")),
    )


def downgrade() -> None:
    op.drop_table("saved_cohorts")
