"""Defence: every change to an account made with `python -m kapviz users ...` is audited.

Each changing subcommand (add, add of a display, set-role, set-password, unlock,
display-token, remove) writes one `change_account` row in the same transaction as the change:
who ran it (`cli:<login name>`), the account changed, and what changed (never the password or
token). A refused change writes nothing. Migration 0008 widens the trail's action check on
SQLite and PostgreSQL and leaves the trail append-only; the Audit page names the action.
"""

from __future__ import annotations

import io
import json
from datetime import datetime

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from kapviz.auth import accounts, audit
from kapviz.auth.audit import command_line_user
from kapviz.cli import main
from kapviz.db.engine import make_engine
from kapviz.db.migrate import alembic_config, current_revision, head_revision, upgrade
from tests.pages.auth.conftest import fast_hasher

PW = "a long enough pass"


def _users(monkeypatch, *argv: str, stdin: str | None = None) -> int:
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(["users", *argv])


def _changes(url: str) -> list[tuple[str, str, str, dict]]:
    with make_engine(url).connect() as conn:
        rows = audit.audit_frame(conn).sort_values("id")
    return [(r.username, r.action, r.target, json.loads(r.detail)) for r in rows.itertuples()]


def test_every_users_change_is_audited(db_url, monkeypatch, capsys):
    """add, set-role, set-password, unlock, display add and token, remove: one row each,
    naming the command-line user, the account and the change; `list` and refusals write none."""
    monkeypatch.setattr(accounts, "_HASHER", fast_hasher())
    db = ["--db", db_url]
    add = ["add", "Ana", "--role", "supervisor", "--site", "North", "--allow-new-site"]
    assert _users(monkeypatch, *add, "--password-stdin", *db, stdin=PW + "\n") == 0
    assert _users(monkeypatch, "set-role", "ana", "analyst", *db) == 0
    assert (
        _users(monkeypatch, "set-password", "ANA", "--password-stdin", *db, stdin=PW + "!\n") == 0
    )
    assert _users(monkeypatch, "unlock", "ana", *db) == 0
    assert _users(monkeypatch, "add", "wall1", "--role", "display", *db) == 0
    assert _users(monkeypatch, "display-token", "wall1", *db) == 0
    assert _users(monkeypatch, "list", *db) == 0
    assert _users(monkeypatch, "remove", "ana", *db) == 0
    # Refused: nothing changed, nothing audited.
    assert _users(monkeypatch, "remove", "nobody", *db) == 2
    assert _users(monkeypatch, "unlock", "nobody", *db) == 2
    assert _users(monkeypatch, "add", "wall1", "--role", "display", *db) == 2
    out = capsys.readouterr().out
    me = command_line_user()
    assert _changes(db_url) == [
        (me, "change_account", "ana", {"change": "add", "role": "supervisor", "sites": ["North"]}),
        (me, "change_account", "ana", {"change": "set-role", "role": "analyst"}),
        (me, "change_account", "ana", {"change": "set-password"}),
        (me, "change_account", "ana", {"change": "unlock"}),
        (me, "change_account", "wall1", {"change": "add", "role": "display"}),
        (me, "change_account", "wall1", {"change": "display-token"}),
        (me, "change_account", "ana", {"change": "remove"}),
    ]
    # Neither a password nor a token reaches the trail.
    with make_engine(db_url).connect() as conn:
        details = " ".join(audit.audit_frame(conn)["detail"])
    tokens = [line.strip() for line in out.splitlines() if line.startswith("  ")]
    assert len(tokens) == 2 and not any(t in details for t in tokens)
    assert PW not in details


def test_migration_0008_keeps_rows_indexes_and_append_only(db_url):
    """From 0007 with rows in the trail: 0008 keeps every row, its indexes and the triggers
    that refuse updates and deletes, and accepts the new action (and still no unknown one)."""
    engine = make_engine(db_url)
    command.upgrade(alembic_config(engine), "0007")
    with engine.begin() as conn:
        audit_ids = [
            audit.record(conn, username="sam", action=a, at=datetime(2026, 3, 2, 8, i))
            for i, a in enumerate(("sign_in", "view_case", "export", "import"))
        ]
    with pytest.raises(DBAPIError), engine.begin() as conn:
        conn.execute(
            text("INSERT INTO audit_events (at, username, action) VALUES (:at, 'x', :a)"),
            {"at": datetime(2026, 3, 2), "a": "change_account"},
        )
    assert upgrade(engine) == head_revision() and current_revision(engine) == head_revision()
    with engine.begin() as conn:
        audit_ids.append(
            audit.record(conn, username="cli:x", action=audit.CHANGE_ACCOUNT, target="ana")
        )
        rows = audit.audit_frame(conn).sort_values("id")
    assert rows["id"].tolist() == audit_ids
    assert rows["action"].tolist() == ["sign_in", "view_case", "export", "import", "change_account"]
    indexes = {i["name"] for i in inspect(engine).get_indexes("audit_events")}
    assert {"ix_audit_events_at", "ix_audit_events_username_at"} <= indexes
    for statement in ("UPDATE audit_events SET username = 'eve'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    with pytest.raises(DBAPIError), engine.begin() as conn:
        conn.execute(
            text("INSERT INTO audit_events (at, username, action) VALUES (:at, 'x', 'oops')"),
            {"at": datetime(2026, 3, 2)},
        )
    with engine.connect() as conn:
        assert len(audit.audit_frame(conn)) == 5


def test_downgrade_below_0008_refused_with_account_changes(sqlite_url):
    """Append-only rows of account changes cannot go: the downgrade stops, nothing lost;
    without such rows it goes back to 0007 and up again."""
    engine = make_engine(sqlite_url)
    upgrade(engine)
    command.downgrade(alembic_config(engine), "0007")
    assert current_revision(engine) == "0007"
    upgrade(engine)
    with engine.begin() as conn:
        audit.record(conn, username="cli:x", action=audit.CHANGE_ACCOUNT, target="ana")
    with pytest.raises(RuntimeError, match="cannot downgrade"):
        command.downgrade(alembic_config(engine), "0007")
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        assert audit.audit_frame(conn)["action"].tolist() == ["change_account"]


def test_audit_page_names_account_changes(run_as, auth_url):
    """The Audit page shows the action in words, and its filter offers it."""
    with make_engine(auth_url).begin() as conn:
        audit.record(
            conn,
            username="cli:root",
            action=audit.CHANGE_ACCOUNT,
            target="sam",
            detail={"change": "set-role", "role": "analyst"},
        )
    at = run_as("pages/audit.py", "dora")
    shown = at.dataframe[0].value
    row = shown[shown["target"] == "sam"].iloc[0]
    assert row["action"] == "Changed an account"
    assert row["detail"] == "change set-role · role analyst"
    assert "Changed an account" in at.multiselect(key="audit_actions").options
