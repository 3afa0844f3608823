"""Failed sign-ins counted by source (the client's address), so guessing is slowed down where
it comes from instead of locking the account it aims at.

Why: with lock-out by account only, anyone could lock the director out with five wrong
passwords, and an unknown username (never locked) answered differently from a real one
after five tries, which told which usernames exist. Now a source that fails
`max_failures` times within `window` is paused for the rest of that window, whatever
usernames it tried, known or not; the account's own lock (kapviz.auth.accounts) needs
ACCOUNT_LOCK_FACTOR times as many failures in a row, so it stops a guesser spread over many
addresses and no single address can trigger it. One process, memory only: a restart forgets
the counts (the account lock in the database does not).
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime, timedelta

ACCOUNT_LOCK_FACTOR = 4
"""The account lock needs this many times the per-source limit of failures in a row."""
MAX_SOURCES = 10_000
"""Sources remembered at most (the oldest forgotten first): memory stays bounded under a
flood of addresses."""
UNKNOWN_SOURCE = "unknown"


class SourceThrottle:
    """Failure times per source within a sliding window."""

    def __init__(self, *, max_failures: int, window: timedelta) -> None:
        self.max_failures = max_failures
        self.window = window
        self._failures: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()

    def _recent(self, source: str, now: datetime) -> deque[datetime]:
        times = self._failures.get(source, deque())
        while times and now - times[0] >= self.window:
            times.popleft()
        return times

    def paused_until(self, source: str, now: datetime) -> datetime | None:
        """When this source may try again, or None when it may try now."""
        with self._lock:
            times = self._recent(source, now)
            if len(times) >= self.max_failures:
                return times[0] + self.window
            return None

    def failed(self, source: str, now: datetime) -> None:
        """Count one failed sign-in from this source."""
        with self._lock:
            times = self._recent(source, now)
            times.append(now)
            self._failures.pop(source, None)
            self._failures[source] = times  # most recent last, for the eviction below
            while len(self._failures) > MAX_SOURCES:
                del self._failures[next(iter(self._failures))]


def failure_message(minutes: int) -> str:
    """The sign-in form's one answer to every failure: a wrong password, an unknown username,
    a paused source and a locked account read the same, so none can be told apart."""
    return (
        "Wrong username or password, or too many failed attempts (sign-in is then paused "
        f"for up to {minutes} minutes). Try again later, or ask a director."
    )
