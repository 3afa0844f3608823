"""A4 portrait print layout shared by kapviz's printed reports: page margins, the width a
full-width figure gets, and the running header and footer Chromium prints on every page
(title on the left, print date on the right; "Confidential" and page X of Y below)."""

from __future__ import annotations

import html
from datetime import datetime

MARGIN_MM = {"top": 16, "bottom": 15, "left": 14, "right": 14}
"""Page margins; the header and footer are printed inside the top and bottom ones."""

CSS_PX_PER_MM = 96 / 25.4

CONTENT_WIDTH_PX = int((210 - MARGIN_MM["left"] - MARGIN_MM["right"]) * CSS_PX_PER_MM)
"""Width of the printable area in CSS px: a full-width figure is drawn at this width."""

CONTENT_HEIGHT_PX = int((297 - MARGIN_MM["top"] - MARGIN_MM["bottom"]) * CSS_PX_PER_MM)
"""Height of the printable area of one page in CSS px."""

PAGE_CSS = """
@page { size: A4 portrait; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 10px; color: #222; margin: 0; }
.new-page { break-before: page; }
.keep { break-inside: avoid; }
img.figure { display: block; width: 100%; height: auto; margin: 2px 0 6px 0; }
"""
"""Base print style: A4, page breaks on request, figures at the full width."""

_RUNNING = "font-family: 'DejaVu Sans', Arial, sans-serif; font-size: 8px; color: #555;"


def margins() -> dict[str, str]:
    """The page margins as Chromium's print options take them."""
    return {side: f"{mm}mm" for side, mm in MARGIN_MM.items()}


def header_template(title: str, printed_at: datetime) -> str:
    """Running header: the report's title (e.g. the pseudonymous id and course) on the left,
    the print date on the right."""
    return (
        f'<div style="{_RUNNING} width: 100%; margin: 0 {MARGIN_MM["left"]}mm; display: flex;'
        f' justify-content: space-between;"><span>{html.escape(title)}</span>'
        f"<span>Printed {printed_at:%Y-%m-%d %H:%M}</span></div>"
    )


def footer_template(note: str = "Confidential") -> str:
    """Running footer: the confidentiality note on the left, page X of Y on the right."""
    return (
        f'<div style="{_RUNNING} width: 100%; margin: 0 {MARGIN_MM["left"]}mm; display: flex;'
        f' justify-content: space-between;"><span>{html.escape(note)}</span>'
        '<span>Page <span class="pageNumber"></span> of <span class="totalPages"></span>'
        "</span></div>"
    )
