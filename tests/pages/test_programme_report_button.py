"""The Overview's programme report buttons (built only when clicked)."""

from __future__ import annotations

import io

import openpyxl

from kapviz.filters import Filters
from kapviz.ui import programme_report


def test_overview_offers_pdf_and_excel(run_page):
    at = run_page("pages/overview.py")
    buttons = at.get("download_button")
    labels = [b.proto.label for b in buttons]
    assert "PDF" in labels and "Excel" in labels
    assert any("Programme report" in m.value for m in at.markdown)


def test_no_buttons_in_kiosk_mode(run_page):
    at = run_page("pages/overview.py", kiosk="1")
    assert not [b for b in at.get("download_button") if b.proto.label in ("PDF", "Excel")]


def test_producer_builds_the_report_of_these_filters(clinic_url):
    """The workbook of ?site=South holds the South patients only (P3, P4, P5)."""
    produce = programme_report._producer(Filters(sites=("South",)), ".xlsx", False)
    book = openpyxl.load_workbook(io.BytesIO(produce()))
    volume = dict(
        tuple(r) for r in book["Volume"].iter_rows(min_row=2, max_row=8, values_only=True)
    )
    assert volume["Patients (referred)"] == 3
