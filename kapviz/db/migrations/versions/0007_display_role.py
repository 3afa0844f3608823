"""display role: wall-screen accounts that sign in with a token (aggregates only)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 10:50:00

Widens the users.role check to the `display` role (kapviz.auth.display). SQLite cannot
alter a CHECK constraint: the table is copied with the new definition (batch mode).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_ROLES = "role IN ('director', 'supervisor', 'clinician', 'analyst')"
NEW_ROLES = "role IN ('director', 'supervisor', 'clinician', 'analyst', 'display')"


def _users(check: str) -> sa.Table:
    """The users table as 0002 made it, with `check` as its role constraint (batch copy)."""
    return sa.Table(
        "users",
        sa.MetaData(),
        sa.Column("username", sa.String(length=120), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("sites", sa.Text(), nullable=True),
        sa.Column("clinician", sa.String(length=120), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column(
            "failed_attempts", sa.SmallInteger(), server_default=sa.text("0"), nullable=False
        ),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(), server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at", sa.DateTime(), server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint(check, name="ck_users_role"),
        sa.CheckConstraint("failed_attempts >= 0", name="ck_users_failed_attempts"),
        sa.PrimaryKeyConstraint("username", name="pk_users"),
    )  # fmt: skip


def _replace_role_check(check: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("users", copy_from=_users(check), recreate="always"):
            pass
        return
    op.drop_constraint(op.f("ck_users_role"), "users", type_="check")
    op.create_check_constraint(op.f("ck_users_role"), "users", check)


def upgrade() -> None:
    _replace_role_check(NEW_ROLES)


def downgrade() -> None:
    op.execute("DELETE FROM users WHERE role = 'display'")
    _replace_role_check(OLD_ROLES)
