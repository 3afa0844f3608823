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


SVG_OF_FIGURE = """async ([figure, width, height]) => {
  const url = await Plotly.toImage(figure, {format: 'svg', width, height});
  return decodeURIComponent(url.slice(url.indexOf(',') + 1));
}"""
"""A plotly figure drawn by plotly.js as SVG text (fonts and layout exactly as on screen)."""


class PrintSession:
    """One headless system Chromium for a whole print job: figures drawn to static SVG by
    plotly.js, then documents printed to PDF, without launching a browser per step.

    Use inside `run_printing` (it keeps Playwright's sync API out of running event loops).
    """

    def __init__(self, *, executable_path: str = CHROMIUM, timeout_s: float = 60) -> None:
        self.executable_path = executable_path
        self.timeout_ms = timeout_s * 1000
        self._plotly_page = None

    def __enter__(self) -> PrintSession:
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        try:
            self._browser = self._pw.chromium.launch(
                executable_path=self.executable_path, args=list(CHROMIUM_ARGS)
            )
        except Exception:
            self._pw.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._browser.close()
        finally:
            self._pw.stop()

    def figure_svgs(self, figures: list[dict], sizes: list[tuple[int, int]]) -> list[str]:
        """Each figure (plotly JSON dicts) as SVG text at its (width, height) in CSS px."""
        if not figures:
            return []
        if self._plotly_page is None:
            from plotly.offline import get_plotlyjs

            self._plotly_page = self._browser.new_page()
            self._plotly_page.set_content(
                f"<html><head><meta charset='utf-8'><script>{get_plotlyjs()}</script>"
                "</head><body></body></html>",
                wait_until="load",
                timeout=self.timeout_ms,
            )
        return [
            self._plotly_page.evaluate(SVG_OF_FIGURE, [figure, width, height])
            for figure, (width, height) in zip(figures, sizes, strict=True)
        ]

    def pdf(
        self,
        document: str,
        *,
        header_template: str | None = None,
        footer_template: str | None = None,
        margin: dict[str, str] | None = None,
    ) -> bytes:
        """`document` printed on A4 portrait; header and footer templates, when given, on
        every page (Chromium fills `pageNumber`, `totalPages`, `date` spans)."""
        page = self._browser.new_page()
        try:
            page.set_content(document, wait_until="load", timeout=self.timeout_ms)
            page.emulate_media(media="print")
            with_templates = header_template is not None or footer_template is not None
            return page.pdf(
                format="A4",
                print_background=True,
                display_header_footer=with_templates,
                header_template=header_template or "<span></span>",
                footer_template=footer_template or "<span></span>",
                margin=margin or {"top": "10mm", "bottom": "10mm", "left": "10mm", "right": "10mm"},
            )
        finally:
            page.close()


def run_printing(job, *, executable_path: str = CHROMIUM, timeout_s: float = 60):  # noqa: ANN201 - whatever job returns
    """`job(session)` with a PrintSession, in its own thread when an asyncio loop is running
    here (Playwright's sync API refuses to run inside one)."""

    def run():  # noqa: ANN202
        with PrintSession(executable_path=executable_path, timeout_s=timeout_s) as session:
            return job(session)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return run()
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()
