"""Local accounts: argon2 hashing, role rules, lock-out after failures, idle sign-out."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from kapviz.auth import accounts
from kapviz.auth.accounts import (
    LOCKED,
    OK,
    UNKNOWN_USER,
    WRONG_PASSWORD,
    add_user,
    check_password,
    get_account,
    hash_password,
    is_idle,
    list_users,
    remove_user,
    set_password,
    set_role,
    sign_in,
    unlock,
    verify_password,
)
from kapviz.auth.audit import audit_frame
from kapviz.auth.models import User
from kapviz.auth.scope import Viewer

T0 = datetime(2026, 3, 2, 9, 0)
PW = "correct horse battery"


def test_hash_is_not_the_password():
    """The stored hash is argon2id, salted (two hashes differ) and never contains the password."""
    first, second = hash_password(PW), hash_password(PW)
    assert first.startswith("$argon2id$")
    assert first != second
    assert PW not in first
    assert check_password(first, PW) and check_password(second, PW)
    assert not check_password(first, PW + "x")
    assert not check_password("not-a-hash", PW)


def test_production_hasher_parameters():
    """The real hasher is argon2id with at least OWASP's minimum cost (t=2, m=19 MiB)."""
    hasher = accounts.PRODUCTION_HASHER
    assert hasher.time_cost >= 2 and hasher.memory_cost >= 19 * 1024
    hashed = hasher.hash(PW)
    assert hashed.startswith("$argon2id$") and hasher.verify(hashed, PW)


def test_short_password_refused():
    """Passwords shorter than the minimum are refused before hashing."""
    with pytest.raises(ValueError, match="at least"):
        hash_password("short")


def test_add_list_and_verify(engine):
    """An added user signs in with the password only; the table holds a hash, not the password."""
    with engine.begin() as conn:
        name = add_user(conn, " Ana@Clinic.org ", PW, role="director", display_name="Ana", now=T0)
    assert name == "ana@clinic.org"
    with engine.begin() as conn:
        stored = conn.execute(select(User.password_hash)).scalar_one()
        ok = verify_password(conn, "ANA@clinic.org", PW, now=T0)
        bad = verify_password(conn, name, "wrong password", now=T0)
    assert PW not in stored
    assert ok.ok and ok.reason == OK and ok.viewer == Viewer(name, "director")
    assert not bad.ok and bad.reason == WRONG_PASSWORD and bad.failed_attempts == 1
    assert bad.message == "Wrong username or password."
    (account,) = list_users(engine.connect())
    assert (account.username, account.display_name, account.role) == (name, "Ana", "director")
    assert account.failed_attempts == 1 and account.created_at == T0
    assert not hasattr(account, "password_hash")


def test_unknown_user_looks_like_a_wrong_password(engine):
    """An unknown username fails with the same message as a wrong password."""
    with engine.begin() as conn:
        result = verify_password(conn, "nobody", PW, now=T0)
    assert (result.ok, result.reason) == (False, UNKNOWN_USER)
    assert result.message == "Wrong username or password."


def test_lockout_after_five_failures_and_release_after_15_minutes(engine):
    """Five wrong passwords lock the account for 15 min, even against the right password."""
    with engine.begin() as conn:
        add_user(conn, "bo", PW, role="analyst", now=T0)
    with engine.begin() as conn:
        results = [
            verify_password(conn, "bo", "wrong password", now=T0 + timedelta(minutes=i))
            for i in range(5)
        ]
    assert [r.reason for r in results] == [WRONG_PASSWORD] * 4 + [LOCKED]
    assert results[-1].locked_until == T0 + timedelta(minutes=4 + 15)
    assert "locked until 09:19" in results[-1].message
    unlock_at = T0 + timedelta(minutes=19)
    with engine.begin() as conn:
        still = verify_password(conn, "bo", PW, now=unlock_at - timedelta(seconds=1))
        released = verify_password(conn, "bo", PW, now=unlock_at)
    assert (still.ok, still.reason) == (False, LOCKED)
    assert released.ok
    account = get_account(engine.connect(), "bo")
    assert account is not None and account.failed_attempts == 0 and account.locked_until is None


def test_lock_ran_out_gives_a_fresh_count(engine):
    """After a lock runs out, one more wrong password does not lock again at once."""
    with engine.begin() as conn:
        add_user(conn, "cy", PW, role="analyst", now=T0)
        for _ in range(3):
            verify_password(conn, "cy", "x" * 9, now=T0, max_failures=3, lock_minutes=10)
        after = verify_password(
            conn, "cy", "x" * 9, now=T0 + timedelta(minutes=10), max_failures=3, lock_minutes=10
        )
    assert (after.reason, after.failed_attempts, after.locked_until) == (WRONG_PASSWORD, 1, None)


def test_success_resets_the_count(engine):
    """A right password clears earlier failures, so five are needed again to lock."""
    with engine.begin() as conn:
        add_user(conn, "di", PW, role="analyst", now=T0)
        for _ in range(4):
            verify_password(conn, "di", "wrong password", now=T0)
        assert verify_password(conn, "di", PW, now=T0).ok
        again = verify_password(conn, "di", "wrong password", now=T0)
    assert again.failed_attempts == 1 and again.reason == WRONG_PASSWORD


def test_unlock_and_set_password(engine):
    """A director can lift a lock; a new password replaces the old one and lifts it too."""
    with engine.begin() as conn:
        add_user(conn, "ed", PW, role="analyst", now=T0)
        for _ in range(5):
            verify_password(conn, "ed", "wrong password", now=T0)
        unlock(conn, "ed", now=T0)
        assert verify_password(conn, "ed", PW, now=T0).ok
        for _ in range(5):
            verify_password(conn, "ed", "wrong password", now=T0)
        set_password(conn, "ed", "new password 2", now=T0)
        assert not verify_password(conn, "ed", PW, now=T0).ok
        assert verify_password(conn, "ed", "new password 2", now=T0).ok


@pytest.mark.parametrize(
    ("role", "sites", "clinician", "error"),
    [
        ("supervisor", (), None, "at least one site"),
        ("clinician", (), None, "clinician code"),
        ("analyst", ("North",), None, "supervisors only"),
        ("director", (), "C1", "clinicians only"),
        ("admin", (), None, "unknown role"),
    ],
)
def test_role_rules(engine, role, sites, clinician, error):
    """Supervisors need sites, clinicians a code, and nobody else gets either."""
    with pytest.raises(ValueError, match=error), engine.begin() as conn:
        add_user(conn, "fay", PW, role=role, sites=sites, clinician=clinician)


def test_set_role_duplicate_and_remove(engine):
    """set_role replaces role and scope; duplicates are refused; remove deletes once."""
    with engine.begin() as conn:
        add_user(conn, "gus", PW, role="clinician", clinician="C7", now=T0)
        with pytest.raises(ValueError, match="already exists"):
            add_user(conn, "GUS", PW, role="analyst")
        set_role(conn, "gus", "supervisor", sites=("South", "North", "South"), now=T0)
        account = get_account(conn, "gus")
        assert account is not None
        assert account.viewer == Viewer("gus", "supervisor", sites=("North", "South"))
        with pytest.raises(LookupError):
            set_role(conn, "nobody", "analyst")
        assert remove_user(conn, "gus") is True
        assert remove_user(conn, "gus") is False
        assert list_users(conn) == []


def test_sign_in_writes_audit_rows(engine):
    """sign_in records sign_in on success and sign_in_failed with the reason otherwise."""
    with engine.begin() as conn:
        add_user(conn, "hal", PW, role="analyst", now=T0)
        sign_in(conn, "hal", PW, now=T0)
        sign_in(conn, "hal", "wrong password", now=T0 + timedelta(seconds=1))
        sign_in(conn, "ghost", PW, now=T0 + timedelta(seconds=2))
        frame = audit_frame(conn)
    assert frame[["username", "action", "detail"]].fillna("-").values.tolist() == [
        ["ghost", "sign_in_failed", "unknown_user"],
        ["hal", "sign_in_failed", "wrong_password"],
        ["hal", "sign_in", "-"],
    ]
    assert PW not in frame.to_csv()


@pytest.mark.parametrize(
    ("idle", "minutes", "expected"),
    [(0, 30, False), (29.99, 30, False), (30, 30, True), (31, 30, True), (5, 5, True)],
)
def test_is_idle(idle, minutes, expected):
    """A session idle for at least idle_minutes is signed out."""
    now = T0 + timedelta(hours=1)
    assert is_idle(now - timedelta(minutes=idle), now, idle_minutes=minutes) is expected


def test_never_seen_is_idle():
    """A session with no last activity counts as idle (must sign in)."""
    assert is_idle(None, T0)


def test_passwords_never_logged(engine, caplog):
    """Nothing the module logs contains a password, right or wrong."""
    caplog.set_level("DEBUG", logger=accounts.__name__)
    with engine.begin() as conn:
        add_user(conn, "ivy", PW, role="analyst", now=T0)
        for _ in range(5):
            verify_password(conn, "ivy", "wrong password", now=T0)
    assert caplog.records
    assert all(
        PW not in r.getMessage() and "wrong password" not in r.getMessage() for r in caplog.records
    )


def test_account_without_password(engine):
    """`password=None` (identity-provider accounts): stored without a hash, and no password,
    not even the marker itself, signs in with it."""
    with engine.begin() as conn:
        add_user(conn, "Olga@Clinic.org", None, role="director", now=T0)
        stored = conn.execute(select(User.password_hash)).scalar_one()
        assert stored == accounts.NO_PASSWORD_HASH and not stored.startswith("$argon2")
        for attempt in ("", accounts.NO_PASSWORD_HASH, "correct horse battery"):
            assert (
                verify_password(conn, "olga@clinic.org", attempt, now=T0).reason == WRONG_PASSWORD
            )
        assert get_account(conn, "OLGA@clinic.org").viewer == Viewer("olga@clinic.org", "director")


def test_overlong_typed_username_audited_within_the_column(engine):
    """Whatever is typed as a username, the failure's audit row fits its column."""
    with engine.begin() as conn:
        result = sign_in(conn, "x" * 500, PW, now=T0)
        (name,) = audit_frame(conn)["username"]
    assert result.reason == UNKNOWN_USER
    assert len(name) == accounts.MAX_USERNAME_LENGTH
