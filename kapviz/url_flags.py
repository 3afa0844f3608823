"""On/off flags in URLs (`?kiosk=1`, `?present=yes`): one reading for every page.

People type these by hand or paste them from a meeting invite, so every usual spelling of
"on" counts, in any case; anything else (absent, empty, "0", "off", a typo) is off.
"""

from __future__ import annotations

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
"""Spellings of "on", compared after trimming and lower-casing."""


def is_on(value: str | list[str] | None) -> bool:
    """Whether a query-parameter value means "on" (a repeated parameter: its last value)."""
    if isinstance(value, list):
        value = value[-1] if value else None
    return value is not None and value.strip().lower() in TRUE_WORDS


def positive_int(value: str | None, *, default: int | None = None) -> int | None:
    """A whole number of seconds or items from a URL (`?rotate=30`); `default` when absent,
    not a number, or not above zero."""
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default
