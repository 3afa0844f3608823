"""HTML to PDF with the system Chromium through Playwright (works offline, no kaleido)."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

CHROMIUM = os.environ.get("KAPVIZ_CHROMIUM", "/usr/bin/chromium")
"""Chromium binary used to print (the system one; override with KAPVIZ_CHROMIUM)."""

CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)

PLOTS_READY = """n => {
  const plots = [...document.querySelectorAll('.js-plotly-plot')];
  return plots.length >= n && plots.every(p => p._fullLayout && p.querySelector('.main-svg'));
}"""
"""True once `n` plotly charts have been laid out and drawn."""


def html_to_pdf(
    document: str, *, figures: int = 0, executable_path: str = CHROMIUM, timeout_s: float = 60
) -> bytes:
    """Print `document` to A4 PDF bytes once its `figures` plotly charts have drawn.

    Playwright's sync API refuses to run in a thread with a running asyncio loop (as under
    some servers and test runners), so in that case the printing runs in its own thread.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _print(document, figures, executable_path, timeout_s)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_print, document, figures, executable_path, timeout_s).result()


def _print(document: str, figures: int, executable_path: str, timeout_s: float) -> bytes:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable_path, args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page()
            page.set_content(document, wait_until="load", timeout=timeout_s * 1000)
            if figures:
                page.wait_for_function(PLOTS_READY, arg=figures, timeout=timeout_s * 1000)
            page.emulate_media(media="print")
            return page.pdf(
                format="A4",
                print_background=True,
                margin={"top": "10mm", "bottom": "10mm", "left": "10mm", "right": "10mm"},
            )
        finally:
            browser.close()
