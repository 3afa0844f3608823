"""`python -m kapviz users ...` on both backends: add, list, set-role, set-password, remove."""

from __future__ import annotations

import io
import json
from datetime import datetime

import pytest

from kapviz.auth import commands
from kapviz.auth.accounts import verify_password
from kapviz.cli import main
from kapviz.db.engine import make_engine

PW = "a long enough pass"


def run(capsys, argv, stdin: str | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def users_json(capsys, db_url):
    code, out, _ = run(capsys, ["users", "list", "--json", "--db", db_url])
    assert code == 0
    return json.loads(out)


def test_users_add_list_set_role_remove(db_url, capsys, monkeypatch):
    """The full life of an account through the CLI, with the password from stdin."""
    code, out, _ = run(
        capsys,
        [
            "users",
            "add",
            "Ana",
            "--role",
            "supervisor",
            "--site",
            "North",
            "--site",
            "East",
            "--allow-new-site",  # an empty database: the sites' data come later
            "--name",
            "Ana Díaz",
            "--password-stdin",
            "--db",
            db_url,
        ],
        stdin=PW + "\n",
        monkeypatch=monkeypatch,
    )
    assert (code, out) == (0, "added ana (supervisor)\n")
    assert users_json(capsys, db_url) == [
        {
            "username": "ana",
            "display_name": "Ana Díaz",
            "role": "supervisor",
            "sites": ["East", "North"],
            "clinician": None,
            "status": "active",
        }
    ]
    code, out, _ = run(capsys, ["users", "list", "--db", db_url])
    assert out.splitlines() == [
        "username  role        scope        name      status",
        "ana       supervisor  East, North  Ana Díaz  active",
    ]
    code, out, _ = run(
        capsys, ["users", "set-role", "ana", "clinician", "--clinician", "C9", "--db", db_url]
    )
    assert (code, out) == (0, "ana is now clinician\n")
    (row,) = users_json(capsys, db_url)
    assert (row["role"], row["sites"], row["clinician"]) == ("clinician", [], "C9")
    code, out, _ = run(capsys, ["users", "remove", "ana", "--db", db_url])
    assert (code, out) == (0, "removed ana\n")
    assert users_json(capsys, db_url) == []
    code, _, err = run(capsys, ["users", "remove", "ana", "--db", db_url])
    assert code == 2 and "no user 'ana'" in err


def test_password_from_prompt_typed_twice(sqlite_url, capsys, monkeypatch):
    """Without --password-stdin the password is prompted twice; a mismatch adds nothing."""
    answers = iter([PW, PW + "x"])
    monkeypatch.setattr(commands.getpass, "getpass", lambda prompt: next(answers))
    code, _, err = run(capsys, ["users", "add", "bo", "--role", "analyst", "--db", sqlite_url])
    assert code == 2 and "differ" in err
    assert users_json(capsys, sqlite_url) == []
    monkeypatch.setattr(commands.getpass, "getpass", lambda prompt: PW)
    code, out, _ = run(capsys, ["users", "add", "bo", "--role", "analyst", "--db", sqlite_url])
    assert (code, out) == (0, "added bo (analyst)\n")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--role", "supervisor"], "at least one site"),
        (["--role", "clinician"], "clinician code"),
        (["--role", "analyst", "--site", "North"], "supervisors only"),
    ],
)
def test_add_refuses_bad_scope(sqlite_url, capsys, monkeypatch, argv, message):
    """Scope rules are checked before anything is written; the exit code is 2."""
    code, _, err = run(
        capsys,
        ["users", "add", "cy", *argv, "--password-stdin", "--db", sqlite_url],
        stdin=PW + "\n",
        monkeypatch=monkeypatch,
    )
    assert code == 2 and message in err
    assert users_json(capsys, sqlite_url) == []


def test_short_password_and_duplicates_refused(sqlite_url, capsys, monkeypatch):
    """A too-short password and a second account of the same name are refused."""
    argv = ["users", "add", "di", "--role", "analyst", "--password-stdin", "--db", sqlite_url]
    code, _, err = run(capsys, argv, stdin="short\n", monkeypatch=monkeypatch)
    assert code == 2 and "at least" in err
    assert run(capsys, argv, stdin=PW + "\n", monkeypatch=monkeypatch)[0] == 0
    code, _, err = run(capsys, argv, stdin=PW + "\n", monkeypatch=monkeypatch)
    assert code == 2 and "already exists" in err


def test_password_is_not_an_argument(sqlite_url):
    """There is no --password option: a password on the command line is a usage error."""
    with pytest.raises(SystemExit):
        main(["users", "add", "ed", "--role", "analyst", "--password", PW, "--db", sqlite_url])


def test_set_password_and_unlock(sqlite_url, capsys, monkeypatch):
    """set-password and unlock reach the account; unknown users exit 2."""
    base = ["--db", sqlite_url]
    run(
        capsys,
        ["users", "add", "fay", "--role", "analyst", "--password-stdin", *base],
        stdin=PW + "\n",
        monkeypatch=monkeypatch,
    )
    code, out, _ = run(
        capsys,
        ["users", "set-password", "fay", "--password-stdin", *base],
        stdin="another long one\n",
        monkeypatch=monkeypatch,
    )
    assert (code, out) == (0, "password of fay changed\n")
    with make_engine(sqlite_url).begin() as conn:
        assert verify_password(conn, "fay", "another long one", now=datetime(2026, 1, 1)).ok
    assert run(capsys, ["users", "unlock", "fay", *base])[:2] == (0, "unlocked fay\n")
    assert run(capsys, ["users", "unlock", "nobody", *base])[0] == 2


def test_add_without_password_for_identity_provider(sqlite_url, capsys):
    """`users add <e-mail> --no-password`: no prompt, an account that signs in through the
    identity provider only."""
    code, out, _ = run(
        capsys,
        [
            "users",
            "add",
            "Olga@Clinic.org",
            "--role",
            "director",
            "--no-password",
            "--db",
            sqlite_url,
        ],
    )
    assert (code, out) == (0, "added olga@clinic.org (director)\n")
    with make_engine(sqlite_url).connect() as conn:
        result = verify_password(conn, "olga@clinic.org", "any password at all", now=datetime.now())
    assert not result.ok
