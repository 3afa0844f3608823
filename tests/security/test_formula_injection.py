"""Defended: formula (CSV) injection in every file kapviz hands out.

Text that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab or carriage return
first, OWASP) is written with one leading apostrophe, by one neutraliser
(`kapviz.privacy.neutralise_text`), in the template CSV and workbook (CLI `export` and the
Data page's full export), the page downloads, the audit CSV and the rejection report. Numbers,
negative ones included, stay numbers. Workbook text is stored as strings, never formulas. The
template importer takes the apostrophe off again, so export → import → export is identical.
"""

from __future__ import annotations

import csv
import io
import zipfile

import openpyxl
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from kapviz.cli import main
from kapviz.db.engine import make_engine
from kapviz.db.models import Patient, Session
from kapviz.io.bundle import export_zip
from kapviz.io.export import export_template
from kapviz.io.rejections import Rejection, write_rejections
from kapviz.privacy import FORMULA_PREFIXES, neutralise_text, restore_formula_text
from kapviz.ui.exports import csv_bytes
from tests.security.hostile import FORMULAS, write_clinic


def runs_as_formula(cell: str) -> bool:
    """What a spreadsheet would do with the cell: run it, unless it is a plain number."""
    if not cell.startswith(FORMULA_PREFIXES):
        return False
    try:
        float(cell)
    except ValueError:
        return True
    return False


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+cmd", "'+cmd"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("'=x", "''=x"),
        ("-10", "-10"),
        ("+3.5", "+3.5"),
        ("-1e5", "-1e5"),
        ("'abc", "'abc"),
        ("a=b", "a=b"),
        ("", ""),
    ],
    ids=[
        "equals",
        "plus",
        "minus-formula",
        "at",
        "tab",
        "cr",
        "quoted",
        "negative-number",
        "plus-number",
        "exponent",
        "apostrophe-text",
        "inner-equals",
        "empty",
    ],  # fmt: skip
)
def test_one_neutraliser(text, written):
    """Formula-like text gets one apostrophe; numbers and ordinary text are unchanged; the
    importer's inverse gives the text back."""
    assert neutralise_text(text) == written
    assert restore_formula_text(pd.Series([written], dtype="str")).tolist() == [text]


@given(st.text(alphabet=st.sampled_from("'=+-@\t\r1.eE ax"), max_size=8))
def test_restore_undoes_neutralise(text):
    """For any text: import(export(text)) == text, and the export never runs as a formula."""
    written = neutralise_text(text)
    assert not runs_as_formula(written)
    assert restore_formula_text(pd.Series([written], dtype="str")).tolist() == [text]


def cells(folder) -> dict[str, list[list[str]]]:
    return {
        p.stem: list(csv.reader(p.open(newline="", encoding="utf-8")))
        for p in sorted(folder.glob("*.csv"))
    }


def clinic_text(url: str) -> list[tuple]:
    """The imported free text as the database holds it."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            patients = conn.execute(
                select(Patient.patient_id, Patient.site, Patient.indication).order_by(
                    Patient.patient_id
                )
            ).all()
            sessions = conn.execute(
                select(Session.session_id, Session.course_id, Session.clinician,
                       Session.ineligible_reason).order_by(Session.session_id)
            ).all()  # fmt: skip
    finally:
        engine.dispose()
    return [tuple(r) for r in patients + sessions]


def test_template_export_neutralised_and_round_trips(db_url, tmp_path, capsys):
    """CLI export of formula text: no cell would run; minutes -10 stay -10; re-importing the
    export changes nothing (the apostrophes come off); a fresh database gets the same text
    and exports byte-identical files (SQLite and PostgreSQL)."""
    source = write_clinic(tmp_path / "in", FORMULAS)
    assert main(["import", str(source), "--db", db_url]) == 0
    before = clinic_text(db_url)
    assert ("P1", '=HYPERLINK("http://evil.example/x","click")', "+cmd|' /C calc'!A0") in before
    first = tmp_path / "first"
    assert main(["export", str(first), "--db", db_url]) == 0
    written = cells(first)
    every = [c for rows in written.values() for row in rows for c in row]
    assert not [c for c in every if runs_as_formula(c)]
    assert '\'=HYPERLINK("http://evil.example/x","click")' in every
    # The importer took one apostrophe off the source's quoted text (as from an export).
    reasons = {row[0]: row[3] for row in before if len(row) == 4}
    assert reasons["R4-0"] == "=already quoted" and reasons["R5-0"] == "'@twice quoted"
    assert "'=already quoted" in every and "''@twice quoted" in every
    assert {row[1] for row in written["vitals"][1:]} == {"-10"}

    capsys.readouterr()
    assert main(["import", str(first), "--db", db_url]) == 0
    out = capsys.readouterr().out
    assert "patients: 0 added, 0 updated" in out and "sessions: 0 added, 0 updated" in out
    assert clinic_text(db_url) == before

    other = f"sqlite:///{tmp_path}/other.db"
    assert main(["import", str(first), "--db", other]) == 0
    assert clinic_text(other) == before
    second = tmp_path / "second"
    assert main(["export", str(second), "--db", other]) == 0
    for path in first.glob("*.csv"):
        assert path.read_bytes() == (second / path.name).read_bytes(), path.name


def test_workbook_text_is_never_a_formula(sqlite_url, tmp_path):
    """The .xlsx export stores every text cell as a string (type 's'), neutralised; importing
    the workbook restores the same text."""
    assert main(["import", str(write_clinic(tmp_path / "in", FORMULAS)), "--db", sqlite_url]) == 0
    book_path = tmp_path / "clinic.xlsx"
    export_template(make_engine(sqlite_url), book_path, format="xlsx")
    book = openpyxl.load_workbook(book_path)
    kinds = {cell.data_type for sheet in book for row in sheet.iter_rows() for cell in row}
    assert "f" not in kinds
    texts = [c.value for sheet in book for row in sheet.iter_rows() for c in row if c.value]
    assert not [t for t in texts if isinstance(t, str) and runs_as_formula(t)]
    assert "'@SUM(1+1)*cmd" in texts
    other = f"sqlite:///{tmp_path}/other.db"
    assert main(["import", str(book_path), "--db", other]) == 0
    assert clinic_text(other) == clinic_text(sqlite_url)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_data_page_full_export_neutralised(sqlite_url, tmp_path, fmt):
    """The Data page's full export (a ZIP of the template) goes through the same neutraliser."""
    assert main(["import", str(write_clinic(tmp_path / "in", FORMULAS)), "--db", sqlite_url]) == 0
    archive = zipfile.ZipFile(io.BytesIO(export_zip(make_engine(sqlite_url), format=fmt)))
    for name in archive.namelist():
        data = archive.read(name)
        if name.endswith(".csv"):
            rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
            assert not [c for row in rows for c in row if runs_as_formula(c)], name
        else:
            book = openpyxl.load_workbook(io.BytesIO(data))
            assert all(c.data_type != "f" for s in book for r in s.iter_rows() for c in r)


def test_page_download_and_rejection_report(tmp_path):
    """A page's CSV download keeps numbers as numbers and neutralises text; so does the
    --rejections report, whose reason quotes the rejected value."""
    frame = pd.DataFrame({"site": ["=1+1", "-3 cmd", "North"], "change": [-3, -1.5, 2]})
    assert csv_bytes(frame).decode().splitlines() == [
        "site,change", "'=1+1,-3.0", "'-3 cmd,-1.5", "North,2.0"
    ]  # fmt: skip
    report = write_rejections(
        tmp_path / "r.csv", [Rejection(3, "sessions", "=S1", "@x: expected a date")]
    )
    assert report.read_text().splitlines()[1] == "3,sessions,'=S1,'@x: expected a date"
