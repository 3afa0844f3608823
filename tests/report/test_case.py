"""Case summary export: offline HTML with static charts, and a 1–2 page A4 PDF with a running
header and footer; meeting packs with an agenda."""

from __future__ import annotations

import io
import os
import re
import unicodedata
from datetime import datetime

import pandas as pd
import pytest
from pypdf import PdfReader

from kapviz import instruments
from kapviz.charts import case as charts
from kapviz.report.case import (
    CaseSummary,
    InstrumentStatus,
    case_summary_html,
    figure_height,
    primary_verdicts,
    print_figure,
    render,
)
from kapviz.report.pdf import CHROMIUM, html_to_pdf
from tests.conftest import missing_requirement

PATIENT = "DEMO-00042"
PRINTED = datetime(2026, 2, 1, 9, 30)


def _summary(patient: str = PATIENT, verdict: bool | None = True) -> CaseSummary:
    sessions = pd.DataFrame(
        {
            "course_id": [f"{patient}-C1"] * 3,
            "started_at": pd.to_datetime(["2026-01-01", "2026-01-08", "2026-01-12"]),
            "phase": ["intake", "dosing", "dosing"],
            "status": ["completed", "completed", "no_show"],
            "route": [None, "iv", "iv"],
            "dose_mg": [None, 35.0, 35.0],
        }
    )
    effects = pd.DataFrame({"dose_number": [1], "term": ["dissociation"], "severity": ["moderate"]})
    phq9 = instruments.get("PHQ-9")
    points = pd.DataFrame(
        {
            "point_order": [1, 2],
            "point": ["Preparation", "Dose 1"],
            "phase": ["preparation", "dosing"],
            "administered_at": pd.to_datetime(["2026-01-01", "2026-01-08"]),
            "total": [18, 9],
        }
    )
    band = pd.DataFrame(columns=["order", "point", "phase", "median", "q1", "q3", "courses"])
    return CaseSummary(
        patient_id=patient,
        course_id=f"{patient}-C1",
        generated_at=PRINTED,
        facts=[("Sessions", "2 completed, 1 cancelled or no-show")],
        statuses=[
            InstrumentStatus(
                "PHQ-9",
                [("Response", verdict, "Rule: a fall of at least 50% from baseline. 18 → 9.")],
            )
        ],
        figures=[
            charts.course_timeline(sessions),
            charts.patient_trajectory(points, band, instrument=phq9),
            charts.side_effect_strip(effects),
        ],
        side_effects=effects,
        alerts=pd.DataFrame(
            {"Reason": ["BP excursion"], "Detail": ["highest 182/95 mmHg"], "Date": ["2026-01-08"]}
        ),
    )


def _text(page) -> str:
    """A PDF page's text with ligatures undone ("ﬁ" → "fi")."""
    return unicodedata.normalize("NFKC", page.extract_text())


def _chromium() -> None:
    if not os.path.exists(CHROMIUM):
        missing_requirement(f"no Chromium at {CHROMIUM}")


def test_print_figure_full_width_small_type():
    """Printed figures: the full A4 width, 11 px type, heights from the screen's."""
    figure = _summary().figures[1]
    printed = print_figure(figure)
    assert printed["layout"]["width"] == 687  # (210 − 28 mm) at 96 dpi
    assert printed["layout"]["font"]["size"] == 11
    assert printed["layout"]["height"] == figure_height(figure) == 360  # 470 × 0.8, capped
    assert figure.layout.width is None  # the page's figure is untouched


def test_primary_verdicts():
    assert primary_verdicts(_summary()) == "PHQ-9 response: yes"
    assert primary_verdicts(_summary(verdict=None)) == "PHQ-9 response: not evaluable"


def test_html_is_static_small_and_offline():
    """Static SVG images (no plotly.js, no outside address), the id and verdict, < 1.5 MB."""
    _chromium()
    document = render([_summary()], fmt="html", printed_at=PRINTED).decode("utf-8")
    assert document.count('<img class="figure"') == 3
    assert "Plotly.newPlot" not in document and "<script" not in document
    assert not re.search(r"(src|href)=\"https?://", document)
    assert len(document.encode("utf-8")) < 1_500_000
    assert f"Case {PATIENT}" in document
    assert '<b>Response</b>: <span class="yes">yes</span>' in document
    assert "highest 182/95 mmHg" in document


@pytest.mark.parametrize("name", ["North", "South", "CL-N1", "clinician", "site"])
def test_html_names_no_site_or_clinician(name):
    """Nothing beyond the pseudonymous id: no site or clinician name anywhere in the text."""
    document = case_summary_html(_summary(), ["<svg></svg>"] * 3)
    assert name not in document.split("<body>", 1)[1]


def test_html_escapes_text():
    """Imported text is escaped (html.escape) wherever it is printed."""
    summary = _summary()
    hostile = CaseSummary(**{**summary.__dict__, "facts": [("Note", "<script>alert(1)</script>")]})
    document = case_summary_html(hostile, ["<svg></svg>"] * 3)
    assert "<script>" not in document and "&lt;script&gt;" in document


def test_pdf_one_case_a4_with_header_and_footer():
    """A4 portrait, 1–2 pages, the id and verdict, header (id, course, print date) and footer
    (confidential, page X of Y) on every page, the charts drawn."""
    _chromium()
    pdf = render([_summary()], fmt="pdf", printed_at=PRINTED)
    reader = PdfReader(io.BytesIO(pdf))
    assert 1 <= len(reader.pages) <= 2
    for number, page in enumerate(reader.pages, start=1):
        width, height = (float(v) for v in page.mediabox.upper_right)
        assert abs(width - 595) < 2 and abs(height - 842) < 2  # A4 portrait in points
        text = _text(page)
        assert f"Case {PATIENT} · course {PATIENT}-C1" in text
        assert "Printed 2026-02-01 09:30" in text
        assert "Confidential" in text and f"Page {number} of {len(reader.pages)}" in text
    text = " ".join(_text(page) for page in reader.pages)
    assert "Response: yes" in text
    assert "Course timeline" in text and "PHQ-9 through the course" in text  # vector charts


def test_meeting_pack_three_cases_with_agenda():
    """Three cases: an agenda page listing them with their verdicts, each case from a new
    page, in the order given."""
    _chromium()
    cases = [_summary("DEMO-00003", True), _summary("DEMO-00001", False), _summary("DEMO-00002")]
    reader = PdfReader(io.BytesIO(render(cases, fmt="pdf", printed_at=PRINTED)))
    pages = [_text(page) for page in reader.pages]
    assert "Supervision meeting: agenda" in pages[0]
    agenda = pages[0]
    positions = [agenda.index(c.patient_id) for c in cases]
    assert positions == sorted(positions)
    assert "PHQ-9 response: yes" in agenda and "PHQ-9 response: no" in agenda
    starts = [
        i for i, text in enumerate(pages) if re.search(r"^Case DEMO-0000\d · course", text, re.M)
    ]
    firsts = {re.search(r"^Case (DEMO-0000\d) · course", pages[i], re.M)[1]: i for i in starts}
    assert list(firsts) == [c.patient_id for c in cases]  # each case's title opens a page
    assert 4 <= len(pages) <= 7
    for page in reader.pages:
        assert abs(float(page.mediabox.upper_right[1]) - 842) < 2


def test_pdf_inside_a_running_event_loop():
    """Printing works from code that runs inside an asyncio loop (it moves to a thread).

    The loop runs in a thread of its own, because the browser tests' Playwright may
    already run one in this worker's main thread.
    """
    import asyncio
    import threading

    async def inside() -> bytes:
        return html_to_pdf("<html><body><p>kapviz</p></body></html>")

    result: dict[str, bytes] = {}
    worker = threading.Thread(target=lambda: result.update(pdf=asyncio.run(inside())))
    worker.start()
    worker.join(timeout=120)
    assert result["pdf"].startswith(b"%PDF")
