"""First view of each page in headless Chromium, each after a fresh server start.

    python benchmarks/bench_browser.py --db sqlite:////tmp/demo20k.db
    python benchmarks/bench_browser.py --db sqlite:////tmp/demo20k.db --payload
    python benchmarks/bench_pages.py --patients 20000 --backend sqlite --browser

"First view" is measured the same way on every page: from navigation start (the page's
performance clock) to the first moment that the script run has finished, the app is
connected, no "Running…" status shows, the page's title is drawn and every plotly chart the
server sent (counted on the websocket) has drawn its SVG, and that stays so for `STABLE_MS`
(a later rerun would reset it). Each page gets a new server (empty caches, as after a
restart) and a new browser context; a second visit of the same page in a new tab gives the
warm figure. Also reported:
the bytes the websocket brought until the first view and the number of charts. `--payload`
prints instead the figure JSON each page sends (`st.plotly_chart`'s spec, from AppTest):
bytes, traces and the largest figure. Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAGES = {
    "Overview": "/",
    "Trajectories": "/trajectories",
    "Safety": "/safety",
    "Case explorer": "/case_explorer?patient={patient}",
    "Data": "/data",
    "Audit": "/audit",
}
TARGET_SECONDS = 3.0
STABLE_MS = 1000
log = logging.getLogger("bench_browser")

# Installed before any page script: polls the page every 50 ms and keeps in
# window.__kapvizView the performance time since when the page has looked finished.
WATCH = """
(() => {
  const STATE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
    + '[data-test-connection-state="CONNECTED"]';
  window.__kapvizView = {since: null, charts: 0};
  const done = () => {
    if (!document.querySelector(STATE)) return false;
    if (!document.querySelector('[data-testid="stMain"] h1')) return false;
    const status = document.querySelector('[data-testid="stStatusWidget"]');
    if (status && /Running/.test(status.innerText || '')) return false;
    const charts = document.querySelectorAll('[data-testid="stPlotlyChart"]');
    if (charts.length < (window.__kapvizExpect || 0)) return false;
    for (const chart of charts) {
      if (!chart.querySelector('.main-svg')) return false;
    }
    window.__kapvizView.charts = charts.length;
    return true;
  };
  setInterval(() => {
    const view = window.__kapvizView;
    if (done()) { if (view.since === null) view.since = performance.now(); }
    else view.since = null;
  }, 50);
})();
"""


EXPECT = "n => { window.__kapvizExpect = n; return [window.__kapvizView, performance.now()]; }"
"""Tell the page how many charts the server has sent; read its state and clock."""


def plotly_paths(payload: bytes) -> list[tuple[int, ...]]:
    """The delta paths of the plotly charts in one websocket message: the charts the page
    must draw. Without them a page whose plotly bundle was still loading looked finished
    (its charts are not in the page until the bundle is there)."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    try:
        msg = ForwardMsg.FromString(payload)
    except Exception:  # noqa: BLE001 - not a ForwardMsg
        return []
    if msg.WhichOneof("type") != "delta" or msg.delta.WhichOneof("type") != "new_element":
        return []
    if msg.delta.new_element.WhichOneof("type") != "plotly_chart":
        return []
    return [tuple(msg.metadata.delta_path)]


def first_view(browser, url: str, timeout: float = 300.0) -> dict:  # noqa: ANN001
    """Open url in a new context; seconds from navigation start to the stable first view."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page = context.new_page()
        received = {"bytes": 0}
        charts: set[tuple[int, ...]] = set()

        def on_frame(payload: bytes | str) -> None:
            received["bytes"] += len(payload)
            if isinstance(payload, bytes):
                charts.update(plotly_paths(payload))

        page.on("websocket", lambda ws: ws.on("framereceived", on_frame))
        page.add_init_script(WATCH)
        page.goto(url, timeout=timeout * 1000)
        deadline = time.monotonic() + timeout
        while True:
            view = page.evaluate(EXPECT, len(charts))
            state, now = view
            if state["since"] is not None and now - state["since"] >= STABLE_MS:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url}: no stable first view within {timeout:.0f} s")
            page.wait_for_timeout(50)
        errors = page.locator('[data-testid="stException"]').count()
        return {
            "seconds": state["since"] / 1000,
            "charts": state["charts"],
            "ws_bytes": received["bytes"],
            "errors": errors,
        }
    finally:
        context.close()


def first_patient(url: str) -> str:
    from benchmarks.bench_pages import first_patient as pick

    return pick(url)


def measure(url: str, pages: dict[str, str] | None = None, timeout: float = 300) -> list[dict]:
    """Each page's cold first view (new server) and warm one (same server, new tab)."""
    from tests.browser.conftest import chromium_session, start_app

    patient = first_patient(url)
    rows = []
    env = {"KAPVIZ_AUTH_MODE": "none"}
    with chromium_session() as browser:
        for name, path in (pages or PAGES).items():
            with start_app(url, env, timeout=timeout) as base:
                target = base + path.format(patient=patient)
                try:
                    cold = first_view(browser, target, timeout)
                    warm = first_view(browser, target, timeout)
                except RuntimeError as exc:  # a page that never settles: said, not fatal
                    log.warning("%s", exc)
                    missed = {"seconds": float("inf"), "charts": 0, "ws_bytes": 0, "errors": 1}
                    cold = warm = missed
            rows.append({"page": name, "cold": cold, "warm": warm})
    return rows


def print_rows(rows: list[dict], label: str = "") -> None:
    header = f"{'page':<16}{'first view s':>13}{'warm s':>8}{'charts':>7}{'ws KB':>8}  ok"
    print(f"\nbrowser first view (headless Chromium, server started per page){label}")
    print(header)
    print("-" * len(header))
    for row in rows:
        cold, warm = row["cold"], row["warm"]
        ok = cold["seconds"] <= TARGET_SECONDS and not cold["errors"]
        print(
            f"{row['page']:<16}{cold['seconds']:>13.2f}{warm['seconds']:>8.2f}"
            f"{cold['charts']:>7}{cold['ws_bytes'] / 1024:>8.0f}  {'yes' if ok else 'NO'}"
        )
    print(
        f"first view: navigation start → run finished, no Running…, every plotly chart drawn "
        f"(stable {STABLE_MS} ms); target ≤ {TARGET_SECONDS:.0f} s"
    )


PAGE_FILES = {
    "Overview": "pages/overview.py",
    "Trajectories": "pages/trajectories.py",
    "Safety": "pages/safety.py",
    "Case explorer": "pages/case_explorer.py",
    "Data": "pages/data.py",
    "Audit": "pages/audit.py",
}


def figure_payloads(url: str, pages: dict[str, str] | None = None) -> list[dict]:
    """The figure JSON each page hands to the browser (AppTest, default filters)."""
    import logging
    import os

    from streamlit.testing.v1 import AppTest

    os.environ["KAPVIZ_DATABASE_URL"] = url
    os.environ["KAPVIZ_AUTH_MODE"] = "none"
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    patient = first_patient(url)
    rows = []
    for name in pages or PAGES:
        at = AppTest.from_file(str(ROOT / PAGE_FILES[name]), default_timeout=600)
        if name == "Case explorer":
            at.query_params["patient"] = patient
        at.run()
        specs = [chart.proto.spec for chart in at.get("plotly_chart")]
        sizes = [len(spec.encode()) for spec in specs]
        traces = sum(len(json.loads(spec).get("data", [])) for spec in specs)
        largest = max(sizes, default=0)
        title = ""
        if largest:
            layout = json.loads(specs[sizes.index(largest)]).get("layout", {})
            title = str(layout.get("title", {}).get("text", ""))[:40]
        rows.append(
            {"page": name, "charts": len(specs), "traces": traces, "bytes": sum(sizes),
             "largest": largest, "largest_title": title}
        )  # fmt: skip
    return rows


def print_payloads(rows: list[dict]) -> None:
    header = f"{'page':<16}{'charts':>7}{'traces':>7}{'figure KB':>10}{'largest KB':>11}  largest"
    print("\nfigure JSON per page (st.plotly_chart specs, default filters)")
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['page']:<16}{row['charts']:>7}{row['traces']:>7}{row['bytes'] / 1024:>10.1f}"
            f"{row['largest'] / 1024:>11.1f}  {row['largest_title']}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="a demo database URL")
    parser.add_argument("--pages", nargs="*", choices=list(PAGES), help="default: all")
    parser.add_argument("--payload", action="store_true", help="figure JSON sizes instead")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per page view")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args()
    pages = {name: PAGES[name] for name in args.pages} if args.pages else None
    if args.payload:
        rows = figure_payloads(args.db, pages)
        print_payloads(rows)
    else:
        rows = measure(args.db, pages, args.timeout)
        print_rows(rows)
    if args.json:
        print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
