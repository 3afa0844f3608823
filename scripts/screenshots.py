"""Screenshots of every page in headless Chromium, for the README and for looking at pages.

    python scripts/screenshots.py --db sqlite:///data/kapviz.db --out docs/screenshots
    python scripts/screenshots.py --db URL --out /tmp/shots /safety "/case_explorer?patient=X"

Starts `streamlit run app.py` on a free port with KAPVIZ_DATABASE_URL, opens each path,
waits for the script run to finish and saves `<page>.png`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, start_app, wait_for_app  # noqa: E402

DEFAULT_PATHS = ["/", "/trajectories", "/safety", "/case_explorer", "/data"]


CHARTS_DRAWN = """() => [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
    .every(chart => chart.querySelector('.main-svg'))"""
"""True once every plotly chart on the page has drawn (they draw after the script run ends,
and again after the viewport grows for --full)."""


def wait_for_charts(page, timeout: float = 60000) -> None:
    """Wait for the page's charts to draw, then a moment for their fonts and transitions."""
    page.wait_for_function(CHARTS_DRAWN, timeout=timeout)
    time.sleep(1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="database URL the app shows")
    parser.add_argument("--out", default="docs/screenshots", help="folder for the PNG files")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1000)
    parser.add_argument("--full", action="store_true", help="capture the whole scrolled page")
    parser.add_argument("paths", nargs="*", default=DEFAULT_PATHS)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with start_app(args.db) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        height = args.height
        page = browser.new_page(viewport={"width": args.width, "height": height})
        for path in args.paths:
            page.goto(base + path, timeout=120000)
            wait_for_app(page, timeout=120000)
            wait_for_charts(page)
            if args.full:
                full = page.evaluate(
                    "document.querySelector('[data-testid=\"stMain\"]')?.scrollHeight || 1000"
                )
                page.set_viewport_size({"width": args.width, "height": int(full) + 50})
                wait_for_app(page)
                wait_for_charts(page)
            name = path.strip("/").split("?")[0] or "overview"
            page.screenshot(path=str(out / f"{name}.png"))
            page.set_viewport_size({"width": args.width, "height": height})
            print(out / f"{name}.png")
        browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
