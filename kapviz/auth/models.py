"""Tables of access control: local user accounts and the append-only audit trail.

They live in the clinic database (one backup holds everything) on the shared
`kapviz.db.models.Base`, so Alembic sees them; migration 0002 creates them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from kapviz.auth.scope import ROLES
from kapviz.db.models import Base

AUDIT_ACTIONS: tuple[str, ...] = (
    "sign_in",
    "sign_in_failed",
    "view_case",
    "export",
    "import",
    "change_account",
)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


class User(Base):
    """A local account: argon2 password hash only, never the password itself."""

    __tablename__ = "users"
    username: Mapped[str] = mapped_column(String(120), primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    # JSON text list of site names (supervisors); NULL for other roles.
    sites: Mapped[str | None] = mapped_column(Text)
    clinician: Mapped[str | None] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    failed_attempts: Mapped[int] = mapped_column(SmallInteger, default=0, server_default=text("0"))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())
    updated_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())
    __table_args__ = (
        CheckConstraint(_one_of("role", ROLES), name="role"),
        CheckConstraint("failed_attempts >= 0", name="failed_attempts"),
    )


class AuditEvent(Base):
    """One line of the audit trail: who did what to which target, when (clinic-local time)."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    username: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str | None] = mapped_column(String(400))
    detail: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (
        CheckConstraint(_one_of("action", AUDIT_ACTIONS), name="action"),
        Index("ix_audit_events_at", "at"),
        Index("ix_audit_events_username_at", "username", "at"),
    )
