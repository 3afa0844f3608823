"""Case summaries and meeting packs: the Case explorer's figures and numbers on A4 paper
(PDF) or as one offline HTML file with static charts.

Pure builder (no streamlit): the page, or the `case-summary` command, hands in the figures
and numbers of each case (kapviz.report.case_content), so paper shows what the meeting saw.
Only the pseudonymous id identifies the patient; no site or clinician names are written.
Every text is escaped (`html.escape`) in this one module.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import pandas as pd
import plotly.graph_objects as go

from kapviz import safe_text
from kapviz.report.a4 import (
    CONTENT_WIDTH_PX,
    PAGE_CSS,
    footer_template,
    header_template,
    margins,
)
from kapviz.report.pdf import CHROMIUM, PrintSession, run_printing


@dataclass(frozen=True)
class InstrumentStatus:
    """Outcome verdicts of one instrument: (label, verdict, rule in words) lines."""

    instrument: str
    lines: list[tuple[str, bool | None, str]]


@dataclass(frozen=True)
class CaseSummary:
    """Everything one case summary shows; tables are plain frames, printed as they are."""

    patient_id: str
    course_id: str
    generated_at: datetime
    facts: list[tuple[str, str]]
    statuses: list[InstrumentStatus]
    figures: list[go.Figure]
    side_effects: pd.DataFrame = field(default_factory=pd.DataFrame)
    vitals: pd.DataFrame = field(default_factory=pd.DataFrame)
    alerts: pd.DataFrame = field(default_factory=pd.DataFrame)


CSS = """
h1 { font-size: 17px; margin: 0 0 2px 0; }
h2 { font-size: 12px; margin: 8px 0 3px 0; border-bottom: 1px solid #ccc; }
.meta { color: #555; margin-bottom: 6px; }
table { border-collapse: collapse; width: 100%; margin: 2px 0; }
td, th { border: 1px solid #ddd; padding: 1px 4px; text-align: left; vertical-align: top;
         font-size: 9px; }
th { background: #f3f4f6; }
.yes { color: #1a7f37; font-weight: bold; }
.no { color: #b42318; font-weight: bold; }
.na { color: #666; font-weight: bold; }
.cols { display: grid; grid-template-columns: 1fr 1fr; gap: 10px; }
ul { margin: 2px 0; padding-left: 16px; }
.agenda td, .agenda th { padding: 4px 6px; font-size: 11px; }
"""


def _e(value: object) -> str:
    return safe_text.html(value)


def _verdict(verdict: bool | None) -> str:
    word, cls = {True: ("yes", "yes"), False: ("no", "no")}.get(verdict, ("—", "na"))
    return f'<span class="{cls}">{word}</span>'


def _table(frame: pd.DataFrame, *, empty: str) -> str:
    if frame is None or frame.empty:
        return f"<p>{_e(empty)}</p>"
    head = "".join(f"<th>{_e(c)}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_e(_cell(v))}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    if isinstance(value, pd.Timestamp | datetime):
        return f"{value:%Y-%m-%d}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


FIGURE_FONT_PX = 11
"""Chart text on paper (A4 at the full printable width)."""


def print_figure(figure: go.Figure) -> dict:
    """A figure's plotly JSON restyled for paper: small type, the printed width, a height
    from its screen height (so 1–2 pages hold a case); the figure itself is not changed."""
    fig = go.Figure(figure)
    fig.update_layout(
        width=CONTENT_WIDTH_PX,
        height=figure_height(figure),
        font={"size": FIGURE_FONT_PX},
        title={"font": {"size": FIGURE_FONT_PX + 3}},
        legend={"font": {"size": FIGURE_FONT_PX - 1}},
    )
    return json.loads(fig.to_json())


def figure_height(figure: go.Figure) -> int:
    """Printed height in CSS px: 80% of the screen height, within 160–360 (a trajectory
    keeps room for its plot under a legend of two rows)."""
    return max(160, min(360, int((figure.layout.height or 360) * 0.8)))


def _image(svg: str, title: str) -> str:
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return f'<img class="figure" alt="{_e(title)}" src="data:image/svg+xml;base64,{data}">'


def case_section(summary: CaseSummary, svgs: Sequence[str], *, new_page: bool = False) -> str:
    """One case: title, facts and verdicts beside the alerts, blood-pressure and side-effect
    tables, then every figure at the full width."""
    facts = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in summary.facts)
    statuses = "".join(
        f"<h2>{_e(s.instrument)}</h2><ul>"
        + "".join(
            f"<li><b>{_e(label)}</b>: {_verdict(verdict)} — {_e(text)}</li>"
            for label, verdict, text in s.lines
        )
        + "</ul>"
        for s in summary.statuses
    )
    titles = [f.layout.title.text or "chart" for f in summary.figures]
    images = "".join(_image(svg, t) for svg, t in zip(svgs, titles, strict=True))
    return f"""<section class="case{" new-page" if new_page else ""}">
<h1>Case {_e(summary.patient_id)} · course {_e(summary.course_id)}</h1>
<div class="meta">Case summary for supervision, printed {summary.generated_at:%Y-%m-%d %H:%M}.
Pseudonymous; confidential.</div>
<div class="cols keep"><div><table>{facts}</table>{statuses or "<p>No symptom scores.</p>"}</div>
<div><h2>Alerts (as of the print date)</h2>
{_table(summary.alerts, empty="No open alerts.")}
<h2>Blood pressure per dosing session (mmHg)</h2>
{_table(summary.vitals, empty="No vital signs recorded.")}
<h2>Side effects (highest severity per dosing session)</h2>
{_table(summary.side_effects, empty="No side effects recorded.")}</div></div>
{images}
</section>"""


def _document(title: str, body: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{_e(title)}</title>
<style>{PAGE_CSS}{CSS}</style></head>
<body>
{body}
</body></html>
"""


def case_title(summary: CaseSummary) -> str:
    """The running header of a one-case print: pseudonymous id and course."""
    return f"Case {summary.patient_id} · course {summary.course_id}"


def case_summary_html(summary: CaseSummary, svgs: Sequence[str]) -> str:
    """One case as a self-contained HTML document (static SVG figures: opens offline)."""
    return _document(case_title(summary), case_section(summary, svgs))


def primary_verdicts(summary: CaseSummary) -> str:
    """The first verdict of each instrument ("PHQ-9 response: yes"), for the agenda."""
    parts = []
    for status in summary.statuses:
        if status.lines:
            label, verdict, _ = status.lines[0]
            word = {True: "yes", False: "no"}.get(verdict, "not evaluable")
            parts.append(f"{status.instrument} {label.lower()}: {word}")
    return "; ".join(parts) or "no symptom scores"


def pack_title(summaries: Sequence[CaseSummary]) -> str:
    """The running header of a meeting pack."""
    return f"Supervision meeting · {len(summaries)} cases"


def meeting_pack_html(
    summaries: Sequence[CaseSummary], svgs: Sequence[Sequence[str]], *, printed_at: datetime
) -> str:
    """Several cases in one document: an agenda page, then each case from a new page."""
    rows = "".join(
        f"<tr><td>{i}</td><td>{_e(s.patient_id)}</td><td>{_e(s.course_id)}</td>"
        f"<td>{_e(primary_verdicts(s))}</td></tr>"
        for i, s in enumerate(summaries, start=1)
    )
    agenda = f"""<section class="agenda-page">
<h1>Supervision meeting: agenda</h1>
<div class="meta">{len(summaries)} cases, printed {printed_at:%Y-%m-%d %H:%M}.
Pseudonymous; confidential. Each case starts on a new page.</div>
<table class="agenda"><tr><th>#</th><th>Case (pseudonymous id)</th><th>Course</th>
<th>Outcome</th></tr>{rows}</table></section>"""
    cases = "".join(
        case_section(s, images, new_page=True) for s, images in zip(summaries, svgs, strict=True)
    )
    return _document(pack_title(summaries), agenda + cases)


def render(
    summaries: Sequence[CaseSummary],
    *,
    fmt: Literal["pdf", "html"],
    printed_at: datetime,
    executable_path: str = CHROMIUM,
) -> bytes:
    """One case (a summary) or several (a meeting pack) as A4 PDF or offline HTML bytes.

    The figures are drawn once to static SVG by plotly.js in the system Chromium, which
    then prints the PDF: no plotly.js in the HTML, and the PDF's charts are vectors.
    """
    if not summaries:
        raise ValueError("no case to print")

    def job(session: PrintSession) -> bytes:
        svgs = []
        for summary in summaries:
            figures = [print_figure(f) for f in summary.figures]
            sizes = [(CONTENT_WIDTH_PX, f["layout"]["height"]) for f in figures]
            svgs.append(session.figure_svgs(figures, sizes))
        if len(summaries) == 1:
            title = case_title(summaries[0])
            document = case_summary_html(summaries[0], svgs[0])
        else:
            title = pack_title(summaries)
            document = meeting_pack_html(summaries, svgs, printed_at=printed_at)
        if fmt == "html":
            return document.encode("utf-8")
        return session.pdf(
            document,
            header_template=header_template(title, printed_at),
            footer_template=footer_template("Confidential · pseudonymous case summary"),
            margin=margins(),
        )

    return run_printing(job, executable_path=executable_path)
