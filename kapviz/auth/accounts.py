"""Local accounts for clinics without an identity provider: argon2 hashes, lock-out, idle sign-out.

Passwords are never stored, logged or returned: only argon2id hashes (argon2-cffi's
maintained defaults) live in the `users` table. Usernames are compared case-insensitively
(stored stripped and lower-case). After `max_failures` wrong passwords in a row an account is
locked for `lock_minutes`; while locked, no password is even checked. Times are naive
clinic-local datetimes like the rest of the database, passed in as `now` so tests control them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, delete, insert, select, update

from kapviz.auth import audit
from kapviz.auth.models import User
from kapviz.auth.scope import CLINICIAN, DISPLAY, ROLES, SUPERVISOR, Viewer

log = logging.getLogger(__name__)

MAX_FAILURES = 5
LOCK_MINUTES = 15
IDLE_MINUTES = 30
MIN_PASSWORD_LENGTH = 8
MAX_USERNAME_LENGTH = 120

OK = "ok"
UNKNOWN_USER = "unknown_user"
WRONG_PASSWORD = "wrong_password"
LOCKED = "locked"

# Accounts for OpenID Connect sign-in only (`users add --no-password`): a marker that is no
# argon2 hash, so no password can ever match it (check_password treats it as damaged).
NO_PASSWORD_HASH = "!no-password"

# argon2-cffi's defaults (RFC 9106 low-memory profile: argon2id, t=3, m=64 MiB, p=4).
PRODUCTION_HASHER = PasswordHasher()
_HASHER = PRODUCTION_HASHER


@dataclass(frozen=True)
class Account:
    """What `list_users` shows of an account: everything but the password hash."""

    username: str
    display_name: str | None
    role: str
    sites: tuple[str, ...]
    clinician: str | None
    failed_attempts: int
    locked_until: datetime | None
    created_at: datetime | None
    updated_at: datetime | None

    @property
    def viewer(self) -> Viewer:
        return Viewer(self.username, self.role, sites=self.sites, clinician=self.clinician)


@dataclass(frozen=True)
class SignInResult:
    """The outcome of one sign-in attempt; `reason` is for the audit trail, not the screen."""

    ok: bool
    username: str
    reason: str
    viewer: Viewer | None = None
    failed_attempts: int = 0
    locked_until: datetime | None = None

    @property
    def message(self) -> str:
        """What the sign-in form says: never whether the username exists."""
        if self.ok:
            return "Signed in."
        if self.reason == LOCKED and self.locked_until is not None:
            return (
                "Too many failed attempts: sign-in is locked until "
                f"{self.locked_until:%H:%M}. Try again later or ask a director."
            )
        return "Wrong username or password."


def normalize_username(username: str) -> str:
    """Usernames (often e-mail addresses) compare case-insensitively and without spaces."""
    name = username.strip().lower()
    if not name:
        raise ValueError("username must not be empty")
    if len(name) > MAX_USERNAME_LENGTH:
        raise ValueError(f"username longer than {MAX_USERNAME_LENGTH} characters")
    if any(ch.isspace() or not ch.isprintable() for ch in name):
        raise ValueError("username must not contain spaces or control characters")
    return name


def hash_password(password: str) -> str:
    """An argon2id hash of the password (salted: the same password hashes differently)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    return _HASHER.hash(password)


def check_password(password_hash: str, password: str) -> bool:
    """True when the password matches the hash; a damaged hash never matches."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@cache
def _dummy_hash() -> str:
    return _HASHER.hash("kapviz-no-such-user")


def _check_role(role: str, sites: tuple[str, ...], clinician: str | None) -> None:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    if role == SUPERVISOR and not sites:
        raise ValueError("a supervisor needs at least one site (--site)")
    if role != SUPERVISOR and sites:
        raise ValueError("sites are assigned to supervisors only")
    if role == CLINICIAN and not clinician:
        raise ValueError("a clinician needs their clinician code (--clinician)")
    if role != CLINICIAN and clinician:
        raise ValueError("a clinician code is for clinicians only")


def _sites_text(sites: tuple[str, ...]) -> str | None:
    return json.dumps(sorted(set(sites))) if sites else None


def _sites_tuple(text: str | None) -> tuple[str, ...]:
    return tuple(json.loads(text)) if text else ()


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now()


def add_user(
    conn: Connection,
    username: str,
    password: str | None,
    *,
    role: str,
    display_name: str | None = None,
    sites: tuple[str, ...] = (),
    clinician: str | None = None,
    now: datetime | None = None,
) -> str:
    """Create an account; returns the stored (normalised) username. Refuses duplicates.

    `password` None makes an account without a password, for sign-in through an identity
    provider only (its username is the identity's e-mail address).
    """
    name = normalize_username(username)
    sites = tuple(s.strip() for s in sites if s.strip())
    clinician = clinician.strip() if clinician else None
    _check_role(role, sites, clinician)
    if _row(conn, name) is not None:
        raise ValueError(f"user {name!r} already exists")
    at = _now(now)
    conn.execute(
        insert(User).values(
            username=name,
            display_name=display_name,
            role=role,
            sites=_sites_text(sites),
            clinician=clinician,
            password_hash=NO_PASSWORD_HASH if password is None else hash_password(password),
            failed_attempts=0,
            created_at=at,
            updated_at=at,
        )
    )
    log.info("added user %s (%s)", name, role)
    return name


def remove_user(conn: Connection, username: str) -> bool:
    """Delete an account (its audit rows stay); False when there was none."""
    name = normalize_username(username)
    removed = conn.execute(delete(User).where(User.username == name)).rowcount
    if removed:
        log.info("removed user %s", name)
    return bool(removed)


def set_role(
    conn: Connection,
    username: str,
    role: str,
    *,
    sites: tuple[str, ...] = (),
    clinician: str | None = None,
    now: datetime | None = None,
) -> None:
    """Give an account a new role, replacing its sites and clinician code."""
    name = normalize_username(username)
    sites = tuple(s.strip() for s in sites if s.strip())
    clinician = clinician.strip() if clinician else None
    _check_role(role, sites, clinician)
    if role == DISPLAY:
        raise ValueError(
            "a display account signs in with a token: create one with "
            "`users add NAME --role display` instead of changing a person's role"
        )
    changed = conn.execute(
        update(User)
        .where(User.username == name)
        .values(role=role, sites=_sites_text(sites), clinician=clinician, updated_at=_now(now))
    ).rowcount
    if not changed:
        raise LookupError(f"no user {name!r}")
    log.info("user %s is now %s", name, role)


def set_password(
    conn: Connection, username: str, password: str, *, now: datetime | None = None
) -> None:
    """Replace an account's password; also lifts any lock-out. Not for display accounts,
    which sign in with a token only (kapviz.auth.display)."""
    name = normalize_username(username)
    row = _row(conn, name)
    if row is not None and row["role"] == DISPLAY:
        raise ValueError(f"{name} is a display account: it has a token, not a password")
    changed = conn.execute(
        update(User)
        .where(User.username == name)
        .values(
            password_hash=hash_password(password),
            failed_attempts=0,
            locked_until=None,
            updated_at=_now(now),
        )
    ).rowcount
    if not changed:
        raise LookupError(f"no user {name!r}")


def unlock(conn: Connection, username: str, *, now: datetime | None = None) -> None:
    """Lift a lock-out before it runs out (a director's decision)."""
    name = normalize_username(username)
    changed = conn.execute(
        update(User)
        .where(User.username == name)
        .values(failed_attempts=0, locked_until=None, updated_at=_now(now))
    ).rowcount
    if not changed:
        raise LookupError(f"no user {name!r}")


def _row(conn: Connection, name: str):
    return conn.execute(select(User.__table__).where(User.username == name)).mappings().first()


def _account(row) -> Account:
    return Account(
        username=row["username"],
        display_name=row["display_name"],
        role=row["role"],
        sites=_sites_tuple(row["sites"]),
        clinician=row["clinician"],
        failed_attempts=int(row["failed_attempts"]),
        locked_until=row["locked_until"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def list_users(conn: Connection) -> list[Account]:
    """Every account, by username, without password hashes."""
    rows = conn.execute(select(User.__table__).order_by(User.username)).mappings().all()
    return [_account(row) for row in rows]


def get_account(conn: Connection, username: str) -> Account | None:
    """One account (None when unknown): its role and scope, for the session of a signed-in user."""
    try:
        name = normalize_username(username)
    except ValueError:
        return None
    row = _row(conn, name)
    return None if row is None else _account(row)


def verify_password(
    conn: Connection,
    username: str,
    password: str,
    *,
    now: datetime,
    max_failures: int = MAX_FAILURES,
    lock_minutes: int = LOCK_MINUTES,
) -> SignInResult:
    """Check a sign-in; counts failures and locks the account after `max_failures` in a row."""
    try:
        name = normalize_username(username)
    except ValueError:
        name = ""
    row = _row(conn, name) if name else None
    if row is None:
        check_password(_dummy_hash(), password)  # same work as a real check: no timing hint
        return SignInResult(False, name or username.strip(), UNKNOWN_USER)
    locked_until = row["locked_until"]
    failures = int(row["failed_attempts"])
    if locked_until is not None and now < locked_until:
        return SignInResult(
            False, name, LOCKED, failed_attempts=failures, locked_until=locked_until
        )
    if locked_until is not None:  # the lock ran out: a fresh count
        failures = 0
    if check_password(row["password_hash"], password):
        values: dict[str, object] = {"failed_attempts": 0, "locked_until": None}
        if _HASHER.check_needs_rehash(row["password_hash"]):
            values["password_hash"] = _HASHER.hash(password)
        if failures or locked_until is not None or "password_hash" in values:
            conn.execute(update(User).where(User.username == name).values(**values))
        account = _account(row)
        return SignInResult(True, name, OK, viewer=account.viewer)
    failures += 1
    lock = now + timedelta(minutes=lock_minutes) if failures >= max_failures else None
    conn.execute(
        update(User)
        .where(User.username == name)
        .values(failed_attempts=failures, locked_until=lock)
    )
    if lock is not None:
        log.warning("user %s locked until %s after %d failed sign-ins", name, lock, failures)
        return SignInResult(False, name, LOCKED, failed_attempts=failures, locked_until=lock)
    return SignInResult(False, name, WRONG_PASSWORD, failed_attempts=failures)


def sign_in(
    conn: Connection,
    username: str,
    password: str,
    *,
    now: datetime,
    max_failures: int = MAX_FAILURES,
    lock_minutes: int = LOCK_MINUTES,
) -> SignInResult:
    """`verify_password` plus its audit row (sign_in or sign_in_failed with the reason)."""
    result = verify_password(
        conn, username, password, now=now, max_failures=max_failures, lock_minutes=lock_minutes
    )
    audit.record(
        conn,
        # What was typed may be anything: stored no longer than a username can be.
        username=result.username[:MAX_USERNAME_LENGTH],
        action=audit.SIGN_IN if result.ok else audit.SIGN_IN_FAILED,
        detail=None if result.ok else result.reason,
        at=now,
    )
    return result


def is_idle(last_seen: datetime | None, now: datetime, *, idle_minutes: int = IDLE_MINUTES) -> bool:
    """True when the session has been idle at least `idle_minutes` (or was never seen)."""
    if last_seen is None:
        return True
    return now - last_seen >= timedelta(minutes=idle_minutes)
