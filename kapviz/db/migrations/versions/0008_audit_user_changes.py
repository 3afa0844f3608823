"""audit account changes: the `change_account` action of the `users` commands

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 13:30:00

Widens the audit_events.action check to `change_account` (kapviz.auth.commands audits every
`users` command that changes an account). SQLite cannot alter a CHECK constraint: the table is
copied with the new definition (batch mode), which drops its append-only triggers with the old
table, so they are created again on the copy.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_ACTIONS = "action IN ('sign_in', 'sign_in_failed', 'view_case', 'export', 'import')"
NEW_ACTIONS = (
    "action IN ('sign_in', 'sign_in_failed', 'view_case', 'export', 'import', 'change_account')"
)
APPEND_ONLY_SQLITE = [
    """CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END""",
    """CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END""",
]


def _audit_events(check: str) -> sa.Table:
    """The audit_events table as 0002 made it, with `check` as its action constraint."""
    return sa.Table(
        "audit_events",
        sa.MetaData(),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("username", sa.String(length=120), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=400), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.CheckConstraint(check, name="ck_audit_events_action"),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
        sa.Index("ix_audit_events_at", "at"),
        sa.Index("ix_audit_events_username_at", "username", "at"),
    )


def _replace_action_check(check: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table(
            "audit_events", copy_from=_audit_events(check), recreate="always"
        ):
            pass
        for statement in APPEND_ONLY_SQLITE:
            op.execute(statement)
        return
    op.drop_constraint(op.f("ck_audit_events_action"), "audit_events", type_="check")
    op.create_check_constraint(op.f("ck_audit_events_action"), "audit_events", check)


def upgrade() -> None:
    _replace_action_check(NEW_ACTIONS)


def downgrade() -> None:
    # The trail is append-only: rows of account changes cannot be deleted, so with any of them
    # the narrower check cannot hold and the downgrade stops rather than lose them.
    count = op.get_bind().execute(
        sa.text("SELECT COUNT(*) FROM audit_events WHERE action = 'change_account'")
    )
    if count.scalar_one():
        raise RuntimeError(
            "audit_events holds account changes (append-only): cannot downgrade below 0008"
        )
    _replace_action_check(OLD_ACTIONS)
