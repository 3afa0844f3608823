"""Display accounts: wall screens that sign in with a token, see aggregates only, never idle out.

Why: a director's kiosk signed itself out after KAPVIZ_IDLE_MINUTES and then showed a
sign-in form, which invited someone to sign in on it with a personal (clinician) account.
A display account has the analyst's view (kapviz.auth.scope.AGGREGATE_ONLY_ROLES), is
created by `python -m kapviz users add wall1 --role display`, which prints a random token
once; the screen opens `/?display_token=TOKEN&kiosk=1`. Only a SHA-256 of the token is
stored (it has 256 random bits, so a slow password hash adds nothing), in the account's
password field behind a marker no password hash can have, so no password signs a display
in. `users display-token wall1` issues a new token (the old one stops working at the next
refresh of the screen); `users remove wall1` revokes the display. Token sign-ins are in the
audit trail like any sign-in.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from sqlalchemy import Connection, select, update

from kapviz.auth import accounts, audit
from kapviz.auth.models import User
from kapviz.auth.scope import DISPLAY

TOKEN_MARKER = "!display-token:"
TOKEN_BYTES = 32
QUERY_PARAMETER = "display_token"


def new_token() -> str:
    """A fresh random token (URL-safe text, 43 characters)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """What is stored of a token."""
    return TOKEN_MARKER + hashlib.sha256(token.encode("utf-8")).hexdigest()


def add_display(
    conn: Connection, username: str, *, display_name: str | None = None, now: datetime | None = None
) -> tuple[str, str]:
    """Create a display account; returns (stored username, its token, shown only now)."""
    name = accounts.add_user(conn, username, None, role=DISPLAY, display_name=display_name, now=now)
    return name, issue_token(conn, name, now=now)


def issue_token(conn: Connection, username: str, *, now: datetime | None = None) -> str:
    """A new token for a display account; the previous one no longer signs in."""
    name = accounts.normalize_username(username)
    token = new_token()
    changed = conn.execute(
        update(User)
        .where(User.username == name, User.role == DISPLAY)
        .values(password_hash=token_hash(token), updated_at=now or datetime.now())
    ).rowcount
    if not changed:
        raise LookupError(f"no display account {name!r}")
    return token


def account_for_token(conn: Connection, token: str) -> accounts.Account | None:
    """The display account this token signs in, or None (unknown, revoked or replaced)."""
    if not token or len(token) > 200:
        return None
    wanted = token_hash(token)
    rows = conn.execute(select(User.username, User.password_hash).where(User.role == DISPLAY)).all()
    for row in rows:
        if hmac.compare_digest(row.password_hash, wanted):
            return accounts.get_account(conn, row.username)
    return None


def holds_token(conn: Connection, username: str, token: str) -> bool:
    """Whether `token` is still the token of display account `username` (checked every run)."""
    account = account_for_token(conn, token)
    return account is not None and account.username == username


def sign_in(conn: Connection, token: str, *, now: datetime) -> accounts.Account | None:
    """The display account of `token` with its audit row (sign_in, or sign_in_failed)."""
    account = account_for_token(conn, token)
    audit.record(
        conn,
        username=account.username if account else "(display token)",
        action=audit.SIGN_IN if account else audit.SIGN_IN_FAILED,
        detail="display token" if account else "display token not valid",
        at=now,
    )
    return account
