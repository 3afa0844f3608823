"""The audit trail: who signed in (or failed to), opened which case, exported or imported what.

Append-only by design: this module writes rows and reads them, and offers no way to change or
delete one (a test checks that it never grows one). Times are naive clinic-local datetimes.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import pandas as pd
from sqlalchemy import Connection, insert, select

from kapviz.auth.models import AUDIT_ACTIONS, AuditEvent

SIGN_IN = "sign_in"
SIGN_IN_FAILED = "sign_in_failed"
VIEW_CASE = "view_case"
EXPORT = "export"
IMPORT = "import"
CHANGE_ACCOUNT = "change_account"
"""A `users` command changed an account: target the account, detail what changed."""
ACTIONS = AUDIT_ACTIONS
MAX_TARGET_LENGTH = 400

COLUMNS = ["id", "at", "username", "action", "target", "detail"]


@dataclass(frozen=True)
class AuditFilters:
    """Which audit rows the Audit page shows: empty tuples and None dates mean all."""

    usernames: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    start: date | None = None
    end: date | None = None
    target: str | None = None


def command_line_user() -> str:
    """Who ran a command, for the audit trail: `cli:<login name>`."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return "cli"


def record(
    conn: Connection,
    *,
    username: str,
    action: str,
    target: str | None = None,
    detail: str | Mapping[str, object] | None = None,
    at: datetime | None = None,
) -> int:
    """Append one audit row; returns its id. A mapping `detail` is stored as sorted JSON."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}; expected one of {', '.join(ACTIONS)}")
    if isinstance(detail, Mapping):
        detail = json.dumps(dict(detail), sort_keys=True, default=str)
    if target is not None and len(target) > MAX_TARGET_LENGTH:
        target = target[: MAX_TARGET_LENGTH - 1] + "…"
    result = conn.execute(
        insert(AuditEvent)
        .values(
            at=at if at is not None else datetime.now(),
            username=username,
            action=action,
            target=target,
            detail=detail,
        )
        .returning(AuditEvent.id)
    )
    return int(result.scalar_one())


def previous_sign_in(conn: Connection, username: str) -> datetime | None:
    """When `username` signed in before the current sign-in (the second-latest sign-in row):
    "new since your last visit" on the worklist. None for a first visit or with sign-in off."""
    query = (
        select(AuditEvent.at)
        .where(AuditEvent.username == username, AuditEvent.action == SIGN_IN)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(2)
    )
    times = list(conn.execute(query).scalars())
    return times[1] if len(times) == 2 else None


DETAIL_LABELS = {
    "course": "course",
    "rows": "rows",
    "what": "what",
    "patient": "patient",
    "kind": "kind",
    "added": "added",
    "updated": "updated",
}


def readable_detail(detail: object) -> str:
    """An audit row's detail as words ("course P1-C1 · rows 4"), not raw JSON; plain text
    stays as it is, a missing one (None, NaN) is empty."""
    if not isinstance(detail, str) or not detail:
        return ""
    try:
        parsed = json.loads(detail)
    except ValueError:
        return detail
    if not isinstance(parsed, dict):
        return str(parsed)
    parts = []
    for key, value in parsed.items():
        label = DETAIL_LABELS.get(key, key.replace("_", " "))
        if isinstance(value, list | tuple):
            value = ", ".join(str(v) for v in value)
        parts.append(f"{label} {value}")
    return " · ".join(parts)


def usernames(conn: Connection) -> list[str]:
    """Every username in the audit trail (failed sign-ins included), sorted: the page's filter."""
    query = select(AuditEvent.username).distinct().order_by(AuditEvent.username)
    return list(conn.execute(query).scalars().all())


def audit_frame(conn: Connection, filters: AuditFilters = AuditFilters()) -> pd.DataFrame:
    """Audit rows matching the filters, newest first: id, at, username, action, target, detail."""
    query = select(*(AuditEvent.__table__.c[c] for c in COLUMNS))
    if filters.usernames:
        query = query.where(AuditEvent.username.in_(filters.usernames))
    if filters.actions:
        query = query.where(AuditEvent.action.in_(filters.actions))
    if filters.start is not None:
        query = query.where(AuditEvent.at >= datetime.combine(filters.start, time.min))
    if filters.end is not None:
        end_before = datetime.combine(filters.end + timedelta(days=1), time.min)
        query = query.where(AuditEvent.at < end_before)
    if filters.target:
        query = query.where(AuditEvent.target.contains(filters.target, autoescape=True))
    query = query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    rows = conn.execute(query).all()
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.astype({"id": "int64", "at": "datetime64[us]"})
