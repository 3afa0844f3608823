"""The clinic's clock (kapviz.clinic_time): zone setting, DST gaps and folds, now/today."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from kapviz import clinic_time
from kapviz.clinic_time import LocalTime, check_local, to_clinic
from kapviz.config import load_settings

LA = clinic_time.zone_named("America/Los_Angeles")


def test_setting_keeps_the_iana_spelling_and_rejects_unknown_zones():
    assert load_settings({"KAPVIZ_TIMEZONE": " America/Los_Angeles "}).timezone == (
        "America/Los_Angeles"
    )
    with pytest.raises(ValueError, match="KAPVIZ_TIMEZONE='Mars/Olympus'.*IANA"):
        load_settings({"KAPVIZ_TIMEZONE": "Mars/Olympus"})


def test_default_zone_is_the_servers(monkeypatch):
    monkeypatch.delenv("KAPVIZ_TIMEZONE", raising=False)
    monkeypatch.setenv("TZ", "UTC")
    assert clinic_time.zone_label(clinic_time.clinic_zone()) == "UTC"
    monkeypatch.setenv("KAPVIZ_TIMEZONE", "America/Los_Angeles")
    assert clinic_time.zone_label(clinic_time.clinic_zone()) == "America/Los_Angeles"


def test_offsets_convert_to_clinic_wall_time_across_spring_forward():
    # 2026-03-08: Los Angeles goes from 02:00 PST straight to 03:00 PDT.
    utc = UTC
    assert to_clinic(datetime(2026, 3, 8, 9, 30, tzinfo=utc), LA) == datetime(2026, 3, 8, 1, 30)
    assert to_clinic(datetime(2026, 3, 8, 10, 30, tzinfo=utc), LA) == datetime(2026, 3, 8, 3, 30)


def test_gaps_and_folds():
    assert check_local(datetime(2026, 3, 8, 2, 30), LA) is LocalTime.NONEXISTENT
    assert check_local(datetime(2026, 11, 1, 1, 30), LA) is LocalTime.AMBIGUOUS
    assert check_local(datetime(2026, 11, 1, 2, 30), LA) is LocalTime.OK
    assert check_local(datetime(2026, 3, 8, 3, 30), LA) is LocalTime.OK
    earlier = clinic_time.instant(datetime(2026, 11, 1, 1, 30), LA)
    assert earlier.astimezone(UTC) == datetime(2026, 11, 1, 8, 30, tzinfo=UTC)


def test_today_is_the_clinics_day(monkeypatch):
    # 03:00 UTC on 1 April is still 31 March in Los Angeles.
    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2026, 4, 1, 3, 0, tzinfo=UTC).astimezone(tz)

    monkeypatch.setattr(clinic_time, "datetime", Frozen)
    assert clinic_time.today(LA) == date(2026, 3, 31)
    assert clinic_time.today(clinic_time.zone_named("UTC")) == date(2026, 4, 1)
    assert clinic_time.week_start(date(2026, 3, 31)) == date(2026, 3, 30)  # a Monday
