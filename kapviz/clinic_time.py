"""The clinic's clock: its time zone, "now" and "today", and local wall times (DOMAIN §4d).

kapviz stores clinical times as naive wall-clock times *of the clinic's zone*
(`KAPVIZ_TIMEZONE`, default the server's zone) on both backends, so every calendar grouping
(day, Monday-first week, month) in SQL or pandas is already the clinic's calendar. Offsets
in imported values are converted to that zone on the way in (`to_clinic`); local times
without an offset are checked against daylight-saving changes (`check_local`). The one
consequence of wall-time storage is the repeated hour when clocks go back: two instants an
hour apart share one stored time (docs/import-template.md, "Time zone").

Pure: no Streamlit, no database. Pages and metrics ask this module for "now" and "today".
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta, tzinfo
from enum import Enum
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ZONE_VARIABLE = "KAPVIZ_TIMEZONE"


class TimeZoneError(ValueError):
    """KAPVIZ_TIMEZONE names no known IANA time zone."""


@lru_cache(maxsize=32)
def zone_named(name: str) -> ZoneInfo:
    """The IANA zone `name` ("America/Los_Angeles"), or TimeZoneError saying what is accepted."""
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TimeZoneError(
            f"{ZONE_VARIABLE}={name!r} is not an IANA time zone name "
            "(e.g. America/Los_Angeles, Europe/Berlin, UTC)"
        ) from exc


def server_zone() -> tzinfo:
    """The server's own zone: TZ, else /etc/localtime's zone name, else its current offset."""
    for name in (os.environ.get("TZ", "").lstrip(":"), _localtime_name()):
        if name:
            try:
                return zone_named(name)
            except TimeZoneError:
                continue
    return datetime.now().astimezone().tzinfo  # a fixed offset: no DST rules known


def _localtime_name() -> str:
    try:
        target = str(Path("/etc/localtime").resolve())
    except OSError:
        return ""
    return target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else ""


def clinic_zone(name: str | None = None) -> tzinfo:
    """The clinic's zone: `name`, else the `timezone` setting, else the server's zone.

    The setting is read from its variable here directly (Settings.timezone is the same
    variable): importers ask for the zone per column, which must stay cheap.
    """
    name = os.environ.get(ZONE_VARIABLE, "") if name is None else name
    return zone_named(name) if name and name.strip() else _server_zone(os.environ.get("TZ", ""))


@lru_cache(maxsize=8)
def _server_zone(_tz: str) -> tzinfo:
    return server_zone()


def zone_label(zone: tzinfo | None = None) -> str:
    """A zone's name as people read it ("America/Los_Angeles")."""
    zone = zone or clinic_zone()
    return getattr(zone, "key", None) or str(zone)


def now(zone: tzinfo | None = None) -> datetime:
    """The clinic's wall-clock time now (naive, like the stored times)."""
    return datetime.now(zone or clinic_zone()).replace(tzinfo=None)


def today(zone: tzinfo | None = None) -> date:
    """The clinic's calendar day now."""
    return now(zone).date()


def week_start(day: date) -> date:
    """The Monday of `day`'s week (weeks start on Monday, DOMAIN §4d)."""
    return day - timedelta(days=day.weekday())


def month_start(day: date) -> date:
    return day.replace(day=1)


def to_clinic(value: datetime, zone: tzinfo | None = None) -> datetime:
    """An aware instant as the clinic's naive wall time; a naive time is already one."""
    if value.tzinfo is None:
        return value
    return value.astimezone(zone or clinic_zone()).replace(tzinfo=None)


class LocalTime(Enum):
    """What a naive local time is in the clinic's zone."""

    OK = "ok"
    NONEXISTENT = "nonexistent"
    """Skipped by a spring-forward change (02:30 on a night that jumps 02:00 → 03:00)."""
    AMBIGUOUS = "ambiguous"
    """Repeated by a fall-back change (01:30 on a night that goes 02:00 → 01:00)."""


def check_local(value: datetime, zone: tzinfo | None = None) -> LocalTime:
    """Whether a naive wall time exists once, never, or twice in the zone."""
    zone = zone or clinic_zone()
    first = value.replace(tzinfo=zone, fold=0)
    second = value.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return LocalTime.OK
    # A wall time that does not round-trip through UTC does not exist.
    back = first.astimezone(ZoneInfo("UTC")).astimezone(zone).replace(tzinfo=None)
    return LocalTime.NONEXISTENT if back != value else LocalTime.AMBIGUOUS


def instant(value: datetime, zone: tzinfo | None = None) -> datetime:
    """A naive clinic wall time as an aware instant (the earlier one when it is repeated)."""
    return value.replace(tzinfo=zone or clinic_zone(), fold=0)


def seconds_between(start: datetime, end: datetime, zone: tzinfo | None = None) -> float:
    """Elapsed seconds between two clinic wall times (a clock change in between counts as
    the hour it is: 01:50 to 03:10 across spring-forward is 20 minutes, not 80)."""
    zone = zone or clinic_zone()
    utc = ZoneInfo("UTC")
    elapsed = instant(end, zone).astimezone(utc) - instant(start, zone).astimezone(utc)
    return elapsed.total_seconds()


def describe_local(value: datetime, zone: tzinfo | None = None) -> str:
    """'2026-11-01T01:30 America/Los_Angeles' for messages."""
    return f"{value.isoformat(timespec='minutes')} {zone_label(zone)}"
