"""The programme report (python -m kapviz report) on the hand clinic (tests/clinic.py).

PHQ-9: P1 18 → 8, P2 10 → 4 (response 2 of 2, remission 1 of 2); the same rates as
`summary --json`. The PDF (printed by the system Chromium) and the workbook hold the same
tables; the command is audited as an export.
"""

from __future__ import annotations

import io
import json
import unicodedata

import openpyxl
import pypdf
import pytest
from openpyxl import Workbook

from kapviz.auth.audit import audit_frame
from kapviz.cli import main
from kapviz.db.engine import make_engine
from kapviz.report.programme import _append
from tests.clinic import build_clinic


@pytest.fixture
def clinic(sqlite_url):
    build_clinic(make_engine(sqlite_url))
    return sqlite_url


def _summary(url, capsys) -> dict:
    assert main(["summary", "--db", url, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _sheet(book, name) -> list[tuple]:
    return [tuple(row) for row in book[name].iter_rows(values_only=True)]


def test_pdf_pages_and_rates_equal_the_summary(clinic, tmp_path, capsys):
    out = tmp_path / "report.pdf"
    assert main(["report", "--db", clinic, "--out", str(out)]) == 0
    reader = pypdf.PdfReader(io.BytesIO(out.read_bytes()))
    assert len(reader.pages) == 4
    # NFKC: the PDF's "fi" ligatures read as two letters again.
    text = unicodedata.normalize("NFKC", " ".join(p.extract_text() for p in reader.pages))
    assert "Programme report" in text and "Methods" in text
    assert "Time to first response" in text and "Measurement completion" in text
    summary = _summary(clinic, capsys)
    checked = 0
    for instrument, o in summary["outcomes"].items():
        if o["response_rate"] is not None:
            assert f"{instrument} response {100 * o['response_rate']:.1f}%" in text
            checked += 1
        if o["remission_rate"] is not None:
            assert f"remission {100 * o['remission_rate']:.1f}%" in text
    assert checked == 3  # PHQ-9, GAD-7, PCL-5
    assert "PHQ-9 response 100.0%, remission 50.0%" in text
    events = audit_frame(make_engine(clinic).connect())
    row = events.iloc[0]
    assert row["action"] == "export" and row["target"] == "report.pdf"
    assert row["username"].startswith("cli")
    assert json.loads(row["detail"])["suppressed"] is False


def test_workbook_sheets_and_numbers(db_url, tmp_path):
    build_clinic(make_engine(db_url))
    out = tmp_path / "report.xlsx"
    assert main(["report", "--db", db_url, "--out", str(out)]) == 0
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == [
        "About",
        "Volume",
        "Dosing sessions by route",
        "Treatment funnel (patients)",
        "Evaluable courses",
        "Outcome rates",
        "Beside published figures",
        "Time to first response",
        "Safety summary",
        "Adverse events by month",
        "Long-term complaints",
        "Measurement completion",
    ]
    volume = dict(_sheet(book, "Volume")[1:8])
    assert volume["Patients (referred)"] == 5 and volume["Dosing"] == 9
    rates = {(r[0], r[1]): r for r in _sheet(book, "Outcome rates")[1:] if r[0]}
    assert rates[("PHQ-9", "response")][2:5] == (2, 2, 1.0)
    assert rates[("PHQ-9", "remission")][2:5] == (1, 2, 0.5)
    rate_cell = book["Outcome rates"]["E2"]
    assert rate_cell.value == 1 and rate_cell.number_format == "0.0%"
    ttr = _sheet(book, "Time to first response")
    assert ttr[1][:4] == ("PHQ-9", 2, 2, 23.0)  # KM median 23 days (tests/test_summary_…)
    safety = dict(_sheet(book, "Safety summary")[1:9])
    assert safety["Completed dosing sessions"] == 9
    assert safety["Sessions with a BP excursion"] == 1
    about = _sheet(book, "About")
    assert about[4] == ("Small cells suppressed", "no")


def test_suppressed_workbook(clinic, tmp_path):
    """--suppress: counts 1–10 as "<11" and the rates of those rows left out."""
    out = tmp_path / "report.xlsx"
    assert main(["report", "--db", clinic, "--out", str(out), "--suppress"]) == 0
    book = openpyxl.load_workbook(out)
    volume = dict(_sheet(book, "Volume")[1:8])
    assert volume["Patients (referred)"] == "<11"
    rates = {(r[0], r[1]): r for r in _sheet(book, "Outcome rates")[1:] if r[0]}
    assert rates[("PHQ-9", "response")][2:5] == ("<11", "<11", None)


def test_site_and_dates_narrow_the_scope(clinic, tmp_path):
    out = tmp_path / "south.xlsx"
    assert main(["report", "--db", clinic, "--out", str(out), "--site", "South"]) == 0
    volume = dict(_sheet(openpyxl.load_workbook(out), "Volume")[1:8])
    assert volume["Patients (referred)"] == 3  # P3, P4, P5


def test_bad_suffix_refused(clinic, tmp_path):
    assert main(["report", "--db", clinic, "--out", str(tmp_path / "r.docx")]) == 2


def test_text_that_looks_like_a_formula_stays_text():
    sheet = Workbook().active
    _append(sheet, ["=HYPERLINK(1)", 3, 0.5], percent={2})
    assert sheet["A1"].data_type == "s" and sheet["A1"].value == "=HYPERLINK(1)"
    assert sheet["B1"].value == 3 and sheet["C1"].number_format == "0.0%"


def test_date_range_is_stated(clinic, tmp_path):
    """--from/--to narrow to courses with a session in the range and are named in the scope."""
    out = tmp_path / "range.xlsx"
    args = [
        "report",
        "--db",
        clinic,
        "--out",
        str(out),
        "--from",
        "2026-01-01",
        "--to",
        "2026-01-02",
    ]
    assert main(args) == 0
    about = dict(r[:2] for r in _sheet(openpyxl.load_workbook(out), "About") if r and r[0])
    assert "dates: 2026-01-01 to 2026-01-02" in about["Scope"]


def test_bad_date_refused(clinic, tmp_path):
    with pytest.raises(SystemExit):
        main(["report", "--db", clinic, "--out", str(tmp_path / "r.pdf"), "--from", "May"])


def test_means_hidden_only_when_the_evaluable_count_is_small():
    import pandas as pd

    from kapviz.report.programme import Table, shown

    table = Table(
        "Evaluable courses",
        pd.DataFrame({"evaluable": [292, 5], "no baseline": [3, 0], "mean change": [-7.3, -2.0]}),
        counts=("evaluable", "no baseline"),
        blank=("mean change",),
        blank_when=("evaluable",),
    )
    out = shown(table, suppress=True, threshold=11)
    assert list(out["no baseline"]) == ["<11", 0]
    assert list(out["evaluable"]) == [292, "<11"]
    assert list(out["mean change"]) == [-7.3, None]
