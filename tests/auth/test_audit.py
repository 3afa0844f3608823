"""The audit trail: rows written and read back with filters; append-only by construction."""

from __future__ import annotations

import ast
import inspect
from datetime import date, datetime

import pytest
from sqlalchemy import inspect as db_inspect
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from kapviz.auth import audit
from kapviz.auth.audit import AuditFilters, audit_frame, record

T = datetime(2026, 3, 2, 9, 0)


def fill(engine) -> None:
    with engine.begin() as conn:
        record(conn, username="ana", action="sign_in", at=T)
        record(conn, username="ana", action="view_case", target="P-001", at=T.replace(hour=10))
        record(
            conn,
            username="bo",
            action="export",
            target="safety.csv",
            detail={"rows": 12, "filters": "all"},
            at=datetime(2026, 3, 3, 8, 0),
        )
        record(conn, username="bo", action="import", target="clinic.xlsx", at=datetime(2026, 3, 4))


def test_rows_written_and_read_newest_first(engine):
    """Every recorded event comes back, newest first, with its columns and types."""
    fill(engine)
    with engine.connect() as conn:
        frame = audit_frame(conn)
    assert list(frame.columns) == ["id", "at", "username", "action", "target", "detail"]
    assert frame["action"].tolist() == ["import", "export", "view_case", "sign_in"]
    assert frame["at"].iloc[-1] == T
    assert frame.loc[frame["action"] == "export", "detail"].item() == (
        '{"filters": "all", "rows": 12}'
    )
    assert str(frame["at"].dtype).startswith("datetime64")
    assert frame["id"].is_unique


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (AuditFilters(), ["import", "export", "view_case", "sign_in"]),
        (AuditFilters(usernames=("ana",)), ["view_case", "sign_in"]),
        (AuditFilters(actions=("export", "import")), ["import", "export"]),
        (AuditFilters(start=date(2026, 3, 3)), ["import", "export"]),
        (AuditFilters(end=date(2026, 3, 3)), ["export", "view_case", "sign_in"]),
        (AuditFilters(start=date(2026, 3, 3), end=date(2026, 3, 3)), ["export"]),
        (AuditFilters(target="P-0"), ["view_case"]),
        (AuditFilters(target="%"), []),
        (AuditFilters(usernames=("zed",)), []),
    ],
    ids=["all", "user", "actions", "start", "end", "one-day", "target", "wildcard-literal", "none"],
)
def test_audit_filters(engine, filters, expected):
    """Users, actions, an inclusive date range and a target substring narrow the rows."""
    fill(engine)
    with engine.connect() as conn:
        assert audit_frame(conn, filters)["action"].tolist() == expected


def test_usernames_for_the_filter(engine):
    """Every username in the trail once, sorted: the Audit page's user filter."""
    fill(engine)
    with engine.begin() as conn:
        record(conn, username="ana", action="sign_in_failed", detail="wrong_password", at=T)
        assert audit.usernames(conn) == ["ana", "bo"]


def test_unknown_action_refused(engine):
    """Only the five audit actions exist, in the module and in the database."""
    with pytest.raises(ValueError, match="unknown audit action"), engine.begin() as conn:
        record(conn, username="ana", action="delete")
    from kapviz.auth.models import AuditEvent

    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(AuditEvent.__table__.insert(), [{"at": T, "username": "a", "action": "x"}])


def test_long_target_shortened(engine):
    """A target longer than the column is cut with an ellipsis instead of failing."""
    with engine.begin() as conn:
        record(conn, username="ana", action="export", target="x" * 1000, at=T)
        (target,) = audit_frame(conn)["target"]
    assert len(target) == audit.MAX_TARGET_LENGTH and target.endswith("…")


def test_module_offers_no_update_or_delete():
    """Append-only: the public API writes (record) and reads (audit_frame, usernames,
    previous_sign_in, readable_detail), and no SQL update/delete exists."""
    public = {
        name
        for name, obj in vars(audit).items()
        if not name.startswith("_")
        and callable(obj)
        and getattr(obj, "__module__", None) == audit.__name__
    }
    assert public == {
        "record",
        "audit_frame",
        "usernames",
        "AuditFilters",
        "previous_sign_in",
        "readable_detail",
    }
    tree = ast.parse(inspect.getsource(audit))
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert not imported & {"update", "delete"}
    words = ("update", "delete", "remove", "purge", "truncate", "clear", "drop")
    assert not [n for n in dir(audit) if any(w in n.lower() for w in words)]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET username = 'someone else'",
        "DELETE FROM audit_events",
    ],
    ids=["update", "delete"],
)
def test_database_refuses_changes(engine, statement):
    """Triggers make the table append-only in the database too, whoever runs the SQL."""
    fill(engine)
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text(statement))
    with engine.connect() as conn:
        assert len(audit_frame(conn)) == 4


def test_downgrade_and_upgrade_again(engine):
    """The migration can be undone (tables, triggers, function) and redone."""
    from alembic import command

    from kapviz.db.migrate import alembic_config, current_revision, upgrade

    command.downgrade(alembic_config(engine), "0001")
    assert "audit_events" not in db_inspect(engine).get_table_names()
    upgrade(engine)
    fill(engine)
    assert current_revision(engine) is not None
    with pytest.raises(DBAPIError), engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events"))


def test_previous_sign_in(db_url):
    """The sign-in before the latest one: "new since your last visit" on the worklist."""
    from datetime import datetime

    from kapviz.db.engine import make_engine
    from kapviz.db.migrate import upgrade

    engine = make_engine(db_url)
    upgrade(engine)
    with engine.begin() as conn:
        assert audit.previous_sign_in(conn, "sam") is None
        audit.record(conn, username="sam", action="sign_in", at=datetime(2026, 3, 1, 8))
        assert audit.previous_sign_in(conn, "sam") is None  # first visit
        audit.record(conn, username="sam", action="view_case", at=datetime(2026, 3, 1, 9))
        audit.record(conn, username="sam", action="sign_in", at=datetime(2026, 3, 5, 8))
        audit.record(conn, username="eve", action="sign_in", at=datetime(2026, 3, 6, 8))
        assert audit.previous_sign_in(conn, "sam") == datetime(2026, 3, 1, 8)
    engine.dispose()
