"""A signed-in local account's session token, kept in a browser cookie, so a sign-in outlives
the app process that checked the password: behind a load balancer, the process that takes
over a browser whose process died reads the cookie and continues the session.

The token names the user and the time of their last activity, signed (HMAC-SHA256) with the
secret every app process shares (Streamlit's `server.cookieSecret`). It is refused once it is
`idle_minutes` old (the idle sign-out) and after any change of the account (role, password,
unlock: the account's `updated_at` is part of what is signed).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

VERSION = "v1"
CLOCK_SKEW = timedelta(minutes=2)
"""A token dated this far in the future is still accepted (app servers' clocks differ)."""


@dataclass(frozen=True)
class Token:
    username: str
    active_at: datetime
    mac: str


def _mac(secret: str, username: str, active_at: int, stamp: str) -> str:
    message = f"{VERSION}|{username}|{active_at}|{stamp}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _stamp(updated_at: datetime | None) -> str:
    return updated_at.isoformat() if updated_at is not None else "-"


def issue(username: str, *, active_at: datetime, updated_at: datetime | None, secret: str) -> str:
    """The cookie value for `username`, active at `active_at` (clinic wall-clock time)."""
    if not secret:
        raise ValueError("a session token needs a secret")
    seconds = int(active_at.timestamp())
    name = base64.urlsafe_b64encode(username.encode()).decode().rstrip("=")
    return f"{VERSION}.{name}.{seconds}.{_mac(secret, username, seconds, _stamp(updated_at))}"


def parse(value: str | None) -> Token | None:
    """The token's parts, or None for anything that is not a well-formed token."""
    parts = (value or "").split(".")
    if len(parts) != 4 or parts[0] != VERSION or not parts[2].isdigit():
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        username = base64.urlsafe_b64decode(padded.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if not username:
        return None
    return Token(username, datetime.fromtimestamp(int(parts[2])), parts[3])


def is_valid(
    token: Token,
    *,
    updated_at: datetime | None,
    secret: str,
    now: datetime,
    idle_minutes: int,
) -> bool:
    """True when the signature matches this account as it is now and the token is not idle."""
    if not secret:
        return False
    seconds = int(token.active_at.timestamp())
    expected = _mac(secret, token.username, seconds, _stamp(updated_at))
    if not hmac.compare_digest(expected, token.mac):
        return False
    if token.active_at > now + CLOCK_SKEW:
        return False
    return now - token.active_at < timedelta(minutes=idle_minutes)
