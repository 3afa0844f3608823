"""The Audit page: a director's view of the trail with filters and a CSV export."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from kapviz.auth import audit
from kapviz.db.engine import make_engine


@pytest.fixture
def trail(auth_url):
    """Five rows by three users over three days."""
    with make_engine(auth_url).begin() as conn:
        audit.record(conn, username="sam", action="sign_in", at=datetime(2026, 3, 2, 8, 0))
        audit.record(
            conn, username="sam", action="view_case", target="P1", at=datetime(2026, 3, 2, 8, 5)
        )
        audit.record(
            conn,
            username="sam",
            action="export",
            target="case-P1-P1-C1.pdf",
            detail={"patient": "P1"},
            at=datetime(2026, 3, 2, 8, 6),
        )
        audit.record(
            conn,
            username="eve",
            action="sign_in_failed",
            detail="wrong_password",
            at=datetime(2026, 3, 3, 23, 59),
        )
        audit.record(
            conn, username="dora", action="import", target="clinic.xlsx", at=datetime(2026, 3, 4)
        )
    return auth_url


def _targets(at) -> list:
    """The actions shown, as stored (the page shows them in words: ACTION_LABELS)."""
    from kapviz.ui.audit_trail import ACTION_LABELS

    stored = {label: action for action, label in ACTION_LABELS.items()}
    return [stored[a] for a in at.dataframe[0].value["action"]]


def test_all_rows_newest_first(run_as, trail):
    at = run_as("pages/audit.py", "dora")
    assert _targets(at) == ["import", "sign_in_failed", "export", "view_case", "sign_in"]
    assert at.multiselect(key="audit_users").options == ["dora", "eve", "sam"]
    assert any("5 rows match" in c.value for c in at.caption)
    assert [b.proto.label for b in at.get("download_button")] == ["Download these rows (CSV)"]


def test_filters(run_as, trail):
    """Users, actions, dates and a target search narrow the rows (and the export)."""
    at = run_as("pages/audit.py", "dora")
    at.multiselect(key="audit_users").select("sam").run()
    assert _targets(at) == ["export", "view_case", "sign_in"]
    at.multiselect(key="audit_actions").select("view_case").select("export").run()
    assert _targets(at) == ["export", "view_case"]
    at.text_input(key="audit_target").input("pdf").run()
    assert _targets(at) == ["export"]
    at.multiselect(key="audit_users").unselect("sam").run()
    at.multiselect(key="audit_actions").unselect("view_case").unselect("export").run()
    at.text_input(key="audit_target").input("").run()
    at.date_input(key="audit_from").set_value(date(2026, 3, 3)).run()
    at.date_input(key="audit_to").set_value(date(2026, 3, 3)).run()
    assert _targets(at) == ["sign_in_failed"]


def test_no_rows(run_as, auth_url):
    at = run_as("pages/audit.py", "dora")
    assert any("The audit trail has no rows yet" in i.value for i in at.info)


def test_rows_read_as_words(run_as, trail):
    """Details in words, not JSON; actions named; newest first with no filter set."""
    at = run_as("pages/audit.py", "dora")
    shown = at.dataframe[0].value
    assert shown["action"].tolist()[0] == "Imported"
    export = shown[shown["action"] == "Exported"].iloc[0]
    assert export["detail"] == "patient P1"
    assert shown[shown["action"] == "Sign-in failed"]["detail"].tolist() == ["wrong_password"]


def test_demo_viewer_named():
    """The viewer of a run without sign-in is stored as "anonymous" and shown as the demo."""
    from kapviz.ui.audit_trail import viewer_label

    assert viewer_label("anonymous") == "demo (no sign-in)"
    assert viewer_label("sam") == "sam"
    assert audit.readable_detail('{"course": "P1-C1", "rows": 4}') == "course P1-C1 · rows 4"
    assert audit.readable_detail(None) == ""
