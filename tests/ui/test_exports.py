"""Audited exports: the file is produced, then its audit row written; CSV without formulas."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from sqlalchemy.exc import OperationalError

from kapviz.auth.audit import audit_frame
from kapviz.db.engine import make_engine
from kapviz.db.migrate import upgrade
from kapviz.ui.exports import audited_export, csv_bytes


@pytest.fixture
def engine(sqlite_url):
    eng = make_engine(sqlite_url)
    upgrade(eng)
    return eng


def test_export_writes_its_audit_row_when_produced(engine):
    """Nothing is written until the download is produced; then one export row with who,
    what and the detail; a callable content is produced only then."""
    produced = []

    def content() -> bytes:
        produced.append(True)
        return b"<html>case</html>"

    download = audited_export(
        content, who="dora", target="case-P1-P1-C1.html", detail={"patient": "P1"}, eng=engine
    )
    with engine.connect() as conn:
        assert audit_frame(conn).empty
    assert produced == []
    assert download() == b"<html>case</html>"
    with engine.connect() as conn:
        rows = audit_frame(conn)
    assert rows[["username", "action", "target"]].values.tolist() == [
        ["dora", "export", "case-P1-P1-C1.html"]
    ]
    assert json.loads(rows["detail"].item()) == {"patient": "P1"}
    download()
    with engine.connect() as conn:
        assert len(audit_frame(conn)) == 2  # every download is an export


def test_no_audit_row_no_file(tmp_path):
    """When the audit row cannot be written the download fails: no unrecorded export."""
    eng = make_engine(f"sqlite:///{tmp_path}/no-tables.db")
    download = audited_export(b"rows", who="dora", target="x.csv", detail=None, eng=eng)
    with pytest.raises(OperationalError):
        download()


def test_csv_bytes_neutralise_formulas():
    """CSV downloads open safely in a spreadsheet: formula cells start with an apostrophe."""
    frame = pd.DataFrame({"target": ['=HYPERLINK("x")', "P1", "@SUM(A1)"], "n": [-1, 2, 3]})
    text = csv_bytes(frame).decode()
    assert text.splitlines() == [
        "target,n",
        '"\'=HYPERLINK(""x"")",-1',  # quoted by the CSV writer; -1 is a number, left alone
        "P1,2",
        "'@SUM(A1),3",
    ]
