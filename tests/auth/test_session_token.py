"""The local sign-in's cookie token (kapviz.auth.session_token): signed, idle-bounded, and
void after any change of the account."""

from __future__ import annotations

from datetime import datetime, timedelta

from kapviz.auth import session_token

SECRET = "shared-by-every-app-process"
AT = datetime(2026, 3, 1, 9, 0, 0)
UPDATED = datetime(2026, 2, 1, 8, 0, 0)


def _valid(value: str, *, now: datetime = AT, updated=UPDATED, secret=SECRET, idle=30) -> bool:
    token = session_token.parse(value)
    assert token is not None
    return session_token.is_valid(
        token, updated_at=updated, secret=secret, now=now, idle_minutes=idle
    )


def test_a_token_names_its_user_and_time():
    value = session_token.issue("dora.m@clinic.example", active_at=AT, updated_at=UPDATED,
                                secret=SECRET)  # fmt: skip
    token = session_token.parse(value)
    assert token.username == "dora.m@clinic.example"
    assert token.active_at == AT
    assert _valid(value)
    assert "dora" not in value, "the name is encoded, not a readable cookie part"


def test_idle_minutes_bound_the_token():
    value = session_token.issue("dora", active_at=AT, updated_at=UPDATED, secret=SECRET)
    assert _valid(value, now=AT + timedelta(minutes=29, seconds=59))
    assert not _valid(value, now=AT + timedelta(minutes=30))
    assert _valid(value, now=AT - timedelta(minutes=1)), "another server's clock, a bit behind"
    assert not _valid(value, now=AT - timedelta(minutes=3)), "dated in the future"


def test_another_secret_or_a_changed_account_refuses_the_token():
    value = session_token.issue("dora", active_at=AT, updated_at=UPDATED, secret=SECRET)
    assert not _valid(value, secret="another process's own secret")
    assert not _valid(value, secret="")
    assert not _valid(value, updated=UPDATED + timedelta(seconds=1)), "password reset, role"
    assert not _valid(value, updated=None)


def test_a_forged_token_is_refused():
    value = session_token.issue("ana", active_at=AT, updated_at=UPDATED, secret=SECRET)
    version, name, seconds, mac = value.split(".")
    dora = session_token.issue("dora", active_at=AT, updated_at=UPDATED, secret=SECRET)
    swapped = ".".join([version, dora.split(".")[1], seconds, mac])
    assert not _valid(swapped)
    later = ".".join([version, name, str(int(seconds) + 600), mac])
    assert not _valid(later, now=AT + timedelta(minutes=10))


def test_malformed_values_are_not_tokens():
    for value in (None, "", "v1", "v1.x.y.z", "v2.ZG9yYQ.1.abc", "v1..1.abc", "v1.%%%.1.a",
                  "v1.ZG9yYQ.-5.abc", "v1.gA.1.abc"):  # fmt: skip
        assert session_token.parse(value) is None, value
