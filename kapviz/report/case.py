"""One-page case summary: the Case explorer's figures and numbers as self-contained HTML.

Pure builder (no streamlit): the page hands in the figures it already drew and the numbers
it already computed, so the export shows exactly what the meeting saw. Only the
pseudonymous id identifies the patient; no site or clinician names are written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
import plotly.graph_objects as go

from kapviz import safe_text

FIGURE_WIDTH_PX = 360
"""Width of each figure in the two-column print grid (A4 at 96 dpi holds two)."""

FIGURE_HEIGHT_PX = 250
"""Height of each figure: legend (two entries a row), plot and axis titles."""


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
@page { size: A4; margin: 10mm; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 10px; color: #222;
       margin: 0; }
h1 { font-size: 17px; margin: 0 0 2px 0; }
h2 { font-size: 12px; margin: 8px 0 3px 0; border-bottom: 1px solid #ccc; }
.meta { color: #666; margin-bottom: 6px; }
.grid { display: grid; grid-template-columns: repeat(2, 1fr); gap: 4px; }
.figure { break-inside: avoid; }
table { border-collapse: collapse; width: 100%; margin: 2px 0; }
td, th { border: 1px solid #ddd; padding: 1px 4px; text-align: left; vertical-align: top; }
th { background: #f3f4f6; }
.yes { color: #1a7f37; font-weight: bold; }
.no { color: #b42318; font-weight: bold; }
.na { color: #666; font-weight: bold; }
.cols { display: grid; grid-template-columns: 1fr 1fr; gap: 10px; }
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


def figure_divs(figures: Sequence[go.Figure]) -> list[str]:
    """Each figure as a fixed-size static div; plotly.js inlined once (works offline)."""
    divs = []
    for i, figure in enumerate(figures):
        fig = go.Figure(figure)
        fig.update_layout(
            width=FIGURE_WIDTH_PX,
            height=FIGURE_HEIGHT_PX,
            margin={"l": 50, "r": 20, "t": 78, "b": 40},
            title={"font": {"size": 12}},
            font={"size": 9},
            legend={
                "font": {"size": 8},
                "itemsizing": "constant",
                "entrywidth": 0.5,
                "entrywidthmode": "fraction",
            },
        )
        divs.append(
            fig.to_html(
                full_html=False,
                include_plotlyjs=i == 0,
                div_id=f"case-figure-{i}",
                config={"staticPlot": True, "displayModeBar": False},
            )
        )
    return divs


def case_summary_html(summary: CaseSummary) -> str:
    """The summary as one self-contained HTML document (A4 print layout)."""
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
    figures = "".join(f'<div class="figure">{d}</div>' for d in figure_divs(summary.figures))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Case {_e(summary.patient_id)} · course {_e(summary.course_id)}</title>
<style>{CSS}</style></head>
<body>
<h1>Case {_e(summary.patient_id)} · course {_e(summary.course_id)}</h1>
<div class="meta">Case summary for supervision, generated {summary.generated_at:%Y-%m-%d %H:%M}.
Pseudonymous; confidential.</div>
<div class="cols"><div><table>{facts}</table>{statuses or "<p>No symptom scores.</p>"}</div>
<div><h2>Alerts (as of the export date)</h2>
{_table(summary.alerts, empty="No open alerts.")}
<h2>Blood pressure per dosing session (mmHg)</h2>
{_table(summary.vitals, empty="No vital signs recorded.")}
<h2>Side effects (highest severity per dosing session)</h2>
{_table(summary.side_effects, empty="No side effects recorded.")}</div></div>
<div class="grid">{figures}</div>
</body></html>
"""
