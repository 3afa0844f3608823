"""Exports say values as the pages do ("IV", "Follow-up"), except the import template,
which keeps the codes it defines (docs/import-template.md) so that it round-trips."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import datetime

import openpyxl
import pandas as pd
import pytest

from kapviz.cli import main
from kapviz.db.engine import make_engine
from kapviz.domain import PHASES, ROUTES, STATUSES
from kapviz.io import bundle
from tests.clinic import ANCHOR, build_clinic
from tests.pages.conftest import run_app

CODES = {*ROUTES, *PHASES, *STATUSES} - {"dosing"}  # "Dosing" is also plain English
"""Stored values no person should read in a report or page table."""


@pytest.fixture
def clinic_db(tmp_path) -> str:
    """The hand clinic (tests/clinic.py): P1 IV, P2 IM, P4 sublingual."""
    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    engine = make_engine(url)
    build_clinic(engine, ANCHOR)
    engine.dispose()
    return url


def _codes_in(values) -> set[str]:
    return {v for v in values if isinstance(v, str) and v.strip() in CODES}


def test_programme_workbook_uses_display_names(clinic_db, tmp_path):
    """Every cell of the programme report workbook: "IV", "IM", "Sublingual", no code."""
    out = tmp_path / "report.xlsx"
    assert main(["report", "--db", clinic_db, "--out", str(out)]) == 0
    book = openpyxl.load_workbook(out)
    cells = [c.value for ws in book.worksheets for row in ws.iter_rows() for c in row]
    assert _codes_in(cells) == set()
    routes = [c.value for c in book["Dosing sessions by route"]["A"]][1:]
    assert sorted(routes) == ["IM", "IV", "Sublingual"]


def test_case_summary_uses_display_names(clinic_db, tmp_path):
    """The case summary names P1's route "IV", never the code."""
    out = tmp_path / "p1.html"
    assert main(["case-summary", "P1", "--db", clinic_db, "--out", str(out)]) == 0
    text = re.sub(r"<[^>]+>", " ", out.read_text(encoding="utf-8"))
    assert re.search(r"\bIV\b", text)
    assert not re.search(r"\b(iv|im|sublingual|follow_up|no_show)\b", text)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_template_export_keeps_the_template_codes(clinic_db, tmp_path, fmt):
    """`python -m kapviz export` and the Data page's full export write the template's codes
    (route "iv", phase "integration"): what the template defines and re-imports."""
    out = tmp_path / ("export.xlsx" if fmt == "xlsx" else "export")
    assert main(["export", "--db", clinic_db, "--format", fmt, str(out)]) == 0
    if fmt == "xlsx":
        sessions = pd.read_excel(out, sheet_name="sessions")
    else:
        sessions = pd.read_csv(out / "sessions.csv")
    assert set(sessions["route"].dropna()) == {"iv", "im", "sublingual"}
    assert "follow_up" in set(sessions["phase"]) or "integration" in set(sessions["phase"])
    archive = zipfile.ZipFile(io.BytesIO(bundle.export_zip(make_engine(clinic_db))))
    name = next(n for n in archive.namelist() if n.endswith("sessions.csv"))
    assert set(pd.read_csv(archive.open(name))["route"].dropna()) == {"iv", "im", "sublingual"}


def test_trajectory_points_table_names_phases(clinic_db, monkeypatch):
    """The Trajectories page's points table (and so its CSV download) says "Intake",
    "Follow-up": display names, not the stored phase codes."""
    import streamlit as st

    monkeypatch.setenv("KAPVIZ_DATABASE_URL", clinic_db)
    st.cache_data.clear()
    st.cache_resource.clear()
    at = run_app("pages/trajectories.py", state={"clock": datetime(2026, 2, 21, 12, 0)})
    tables = [d.value for d in at.dataframe if "phase" in d.value.columns]
    assert tables
    for table in tables:
        phases = set(table["phase"].dropna())
        assert phases and _codes_in(phases) == set(), phases
        assert phases <= {"Intake", "Preparation", "Dosing", "Integration", "Follow-up"}
    st.cache_resource.clear()
