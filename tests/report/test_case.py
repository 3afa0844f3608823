"""Case summary export: self-contained HTML with the figures, and a 1–2 page A4 PDF."""

from __future__ import annotations

import io
import os
from datetime import datetime

import pandas as pd
import pytest
from pypdf import PdfReader

from kapviz import instruments
from kapviz.charts import case as charts
from kapviz.report.case import CaseSummary, InstrumentStatus, case_summary_html
from kapviz.report.pdf import CHROMIUM, html_to_pdf
from tests.conftest import missing_requirement

PATIENT = "DEMO-00042"


def _summary() -> CaseSummary:
    sessions = pd.DataFrame(
        {
            "course_id": ["DEMO-00042-C1"] * 3,
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
        patient_id=PATIENT,
        course_id="DEMO-00042-C1",
        generated_at=datetime(2026, 2, 1, 9, 30),
        facts=[("Sessions", "2 completed, 1 cancelled or no-show")],
        statuses=[
            InstrumentStatus(
                "PHQ-9",
                [("Response", True, "Rule: a fall of at least 50% from baseline. 18 → 9.")],
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


def test_html_is_self_contained_with_every_figure():
    """One div per figure, plotly.js inlined once, the id and verdict in the text."""
    document = case_summary_html(_summary())
    for i in range(3):
        assert f'id="case-figure-{i}"' in document
    assert document.count("Plotly.newPlot") == 3
    assert "<script src=" not in document  # nothing fetched from a CDN: works offline
    assert len(document) > 1_000_000  # plotly.min.js is ~4.5 MB
    assert f"Case {PATIENT}" in document
    assert '<b>Response</b>: <span class="yes">yes</span>' in document
    assert "highest 182/95 mmHg" in document


@pytest.mark.parametrize("name", ["North", "South", "CL-N1", "clinician", "site"])
def test_html_names_no_site_or_clinician(name):
    """Nothing beyond the pseudonymous id: no site or clinician name anywhere in the text."""
    document = case_summary_html(_summary())
    body = document.split("<body>", 1)[1]
    visible = body.split("<script", 1)[0] + "".join(
        part.split("</script>", 1)[1] for part in body.split("<script")[1:]
    )
    assert name not in visible


def test_pdf_has_one_or_two_pages_with_the_case():
    """Printed by the system Chromium: A4, 1–2 pages, id, instrument and verdict readable."""
    if not os.path.exists(CHROMIUM):
        missing_requirement(f"no Chromium at {CHROMIUM}")
    pdf = html_to_pdf(case_summary_html(_summary()), figures=3)
    reader = PdfReader(io.BytesIO(pdf))
    assert 1 <= len(reader.pages) <= 2
    width, height = (float(v) for v in reader.pages[0].mediabox.upper_right)
    assert abs(width - 595) < 2 and abs(height - 842) < 2  # A4 in points
    text = " ".join(page.extract_text() for page in reader.pages)
    assert PATIENT in text
    assert "PHQ-9" in text
    assert "Response" in text and "yes" in text
    assert "Course timeline" in text  # a figure's title: the charts were drawn before printing


def test_pdf_inside_a_running_event_loop():
    """Printing works from code that runs inside an asyncio loop (it moves to a thread).

    The loop runs in a thread of its own, because the browser tests' Playwright may
    already run one in this worker's main thread.
    """
    import asyncio
    import threading

    from kapviz.report.pdf import html_to_pdf

    async def inside() -> bytes:
        return html_to_pdf("<html><body><p>kapviz</p></body></html>")

    result: dict[str, bytes] = {}
    worker = threading.Thread(target=lambda: result.update(pdf=asyncio.run(inside())))
    worker.start()
    worker.join(timeout=120)
    assert result["pdf"].startswith(b"%PDF")
