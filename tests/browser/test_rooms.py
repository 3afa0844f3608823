"""The wall screen in a real browser: one screen at 1080p and 4K, large type, rotation, a
dark room, and recovery on its own after the connection was lost for a minute."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from kapviz.db import queries
from kapviz.db.engine import make_engine
from kapviz.db.models import Dosing, Session
from kapviz.demo import generate_clinic
from tests.browser.conftest import open_app, start_app, wait_for_app

SHOTS = Path("/tmp/kapviz-rooms")
"""Screenshots of every room test, for looking at them (not compared)."""

IN_VIEW = """() => {
  const W = window.innerWidth, H = window.innerHeight;
  const boxes = sel => [...document.querySelectorAll(sel)].map(e => {
    const r = e.getBoundingClientRect();
    return {top: r.top, left: r.left, bottom: r.bottom, right: r.right, w: r.width, h: r.height};
  });
  const main = document.querySelector('[data-testid="stMain"]');
  const ticks = [...document.querySelectorAll('.xtick text, .ytick text')]
    .map(t => parseFloat(getComputedStyle(t).fontSize));
  return {W, H, tiles: boxes('[data-testid="stMetric"]'),
          charts: boxes('[data-testid="stPlotlyChart"]'),
          scroll: [main.scrollHeight, main.clientHeight,
                   document.documentElement.scrollHeight, document.documentElement.clientHeight],
          ticks};
}"""


TILE_SHOWS = """([label, expected]) => [...document.querySelectorAll('[data-testid="stMetric"]')]
  .some(m => m.innerText.includes(label) &&
       m.querySelector('[data-testid="stMetricValue"]').innerText.trim() === expected)"""


@pytest.fixture(scope="module")
def kiosk_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('rooms') / 'demo.db'}"
    generate_clinic(make_engine(url), patients=200, seed=7)
    return url


@pytest.fixture(scope="module")
def kiosk_url(kiosk_db: str) -> Iterator[str]:
    with start_app(kiosk_db, {"KAPVIZ_REFRESH_SECONDS": "3"}) as base:
        yield base


def _kiosk_page(browser, base: str, query: str = "", *, scale: float = 1):
    context = browser.new_context(
        viewport={"width": 1920, "height": 1080}, device_scale_factor=scale
    )
    page = context.new_page()
    open_app(page, base, "/?kiosk=1" + query, timeout=60000)
    page.locator('[data-testid="stPlotlyChart"] .main-svg').nth(2).wait_for(timeout=60000)
    wait_for_app(page)
    return context, page


def _assert_one_screen(layout: dict) -> None:
    width, height = layout["W"], layout["H"]
    assert len(layout["tiles"]) == 8
    assert len(layout["charts"]) == 3
    for box in layout["tiles"] + layout["charts"]:
        assert box["top"] >= 0 and box["left"] >= 0, box
        assert box["bottom"] <= height and box["right"] <= width, box
        assert box["w"] > 150 and box["h"] > 100, box
    main_scroll, main_client, doc_scroll, doc_client = layout["scroll"]
    assert main_scroll <= main_client and doc_scroll <= doc_client  # nothing to scroll to
    assert layout["ticks"] and min(layout["ticks"]) >= 18  # read from three metres


def test_kiosk_fits_one_1080p_screen(browser, kiosk_url):
    """8 tiles and the three charts inside 1920x1080, no scrolling, ticks >= 18 px, and the
    time of the data and of the refresh in large type."""
    context, page = _kiosk_page(browser, kiosk_url)
    try:
        _assert_one_screen(page.evaluate(IN_VIEW))
        header = page.locator(".kiosk-time")
        assert re.search(r"Data as of \d{4}-\d\d-\d\d \d\d:\d\d · refreshed \d\d:\d\d:\d\d",
                         header.inner_text())  # fmt: skip
        assert float(header.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")) >= 24
        assert page.locator('[data-testid="stSidebar"]').is_hidden()
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / "kiosk-1080p.png"))
    finally:
        context.close()


def test_kiosk_at_4k_is_the_same_layout_scaled(browser, kiosk_url):
    """A 3840x2160 screen at 200 %: the same one-screen layout, every pixel doubled."""
    context, page = _kiosk_page(browser, kiosk_url, scale=2)
    try:
        _assert_one_screen(page.evaluate(IN_VIEW))
        SHOTS.mkdir(exist_ok=True)
        shot = SHOTS / "kiosk-4k.png"
        page.screenshot(path=str(shot))
        png = shot.read_bytes()
        assert int.from_bytes(png[16:20], "big") == 3840
        assert int.from_bytes(png[20:24], "big") == 2160
    finally:
        context.close()


def test_kiosk_rotates_and_goes_dark(browser, kiosk_url):
    """`&rotate=3` cycles Overview → Safety summary → Trajectories headline; `&theme=dark`
    paints the screen dark; every view fits the screen."""
    context, page = _kiosk_page(browser, kiosk_url, "&rotate=3&theme=dark")
    try:
        background = page.evaluate(
            "getComputedStyle(document.querySelector('[data-testid=\"stMain\"]')).backgroundColor"
        )
        assert background == "rgb(14, 17, 23)"
        title = page.locator(".kiosk-title")
        title.filter(has_text="Safety: who needs attention").wait_for(timeout=20000)
        page.get_by_text("Alerts worklist: reason").wait_for()
        title.filter(has_text="PHQ-9 outcomes").wait_for(timeout=20000)
        page.locator('[data-testid="stPlotlyChart"] .main-svg').nth(1).wait_for()
        title.filter(has_text="Programme at a glance").wait_for(timeout=20000)
        main = page.locator('[data-testid="stMain"]')
        assert main.evaluate("m => m.scrollHeight <= m.clientHeight")
    finally:
        context.close()


SAFETY_VIEW = '[class*="st-key-kiosk-safety-"]'


def test_kiosk_safety_view_fills_the_screen(browser, kiosk_url):
    """The Safety view: its six tiles, the worklist on the left and the side-effect chart on
    the right half (which was empty), inside 1920x1080 with 18 px ticks, nothing to scroll."""
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    try:
        open_app(page, kiosk_url, "/?kiosk=1&rotate=15", timeout=60000)
        page.locator(f"{SAFETY_VIEW} [data-testid='stPlotlyChart'] .main-svg").first.wait_for(
            timeout=60000
        )
        wait_for_app(page)
        layout = page.evaluate(IN_VIEW)
        assert page.locator(SAFETY_VIEW).count() == 1  # still the Safety view when measured
        width, height = layout["W"], layout["H"]
        assert len(layout["tiles"]) == 6
        (chart,) = layout["charts"]
        assert chart["left"] >= width / 2 - 40 and chart["right"] <= width, chart
        assert chart["bottom"] <= height and chart["h"] > 0.6 * height, chart
        table = page.locator(".kiosk-table").bounding_box()
        assert table["x"] + table["width"] <= chart["left"], table
        main_scroll, main_client, doc_scroll, doc_client = layout["scroll"]
        assert main_scroll <= main_client and doc_scroll <= doc_client
        assert layout["ticks"] and min(layout["ticks"]) >= 18
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / "kiosk-safety.png"))
    finally:
        context.close()


def _this_week(page) -> int:
    tile = page.locator('[data-testid="stMetric"]').filter(has_text="this week").first
    return int(tile.locator('[data-testid="stMetricValue"]').inner_text().strip())


def _refreshed_at(page) -> str:
    return re.search(r"refreshed (\d\d:\d\d:\d\d)", page.locator(".kiosk-time").inner_text())[1]


def test_kiosk_recovers_after_a_minute_without_connection(browser, kiosk_db):
    """The websocket and every request to the server blocked for 60 s (a network drop):
    afterwards the screen reconnects on its own and its tiles show rows written meanwhile."""
    with start_app(kiosk_db, {"KAPVIZ_REFRESH_SECONDS": "2"}) as base:
        context = browser.new_context(viewport={"width": 1920, "height": 1080})
        page = context.new_page()
        outage = {"on": False, "sockets": []}

        def socket(ws) -> None:
            if outage["on"]:
                ws.close()
                return
            server = ws.connect_to_server()
            outage["sockets"].append((ws, server))

        def request(route) -> None:
            if outage["on"]:
                route.abort("internetdisconnected")
            else:
                route.continue_()

        page.route_web_socket(re.compile(r".*/_stcore/stream.*"), socket)
        page.route(re.compile(r".*/_stcore/.*"), request)
        try:
            open_app(page, base, "/?kiosk=1", timeout=60000)
            page.locator('[data-testid="stMetric"]').first.wait_for()
            before = _this_week(page)

            outage["on"] = True
            for ws, server in outage["sockets"]:
                server.close()
                ws.close()
            page.locator('[data-testid="stApp"][data-test-connection-state="CONNECTED"]').wait_for(
                state="detached", timeout=20000
            )
            started = datetime.now()
            _add_dosing_sessions(kiosk_db, 2)
            time.sleep(60)
            assert (
                page.locator(
                    '[data-testid="stApp"][data-test-connection-state="CONNECTED"]'
                ).count()
                == 0
            ), "the outage did not hold"
            outage["on"] = False
            back = datetime.now()

            page.wait_for_function(
                TILE_SHOWS,
                arg=["this week", str(before + 2)],
                timeout=90000,
            )
            refreshed = datetime.combine(back.date(), datetime.strptime(
                _refreshed_at(page), "%H:%M:%S").time())  # fmt: skip
            assert refreshed >= back.replace(microsecond=0) > started
            SHOTS.mkdir(exist_ok=True)
            page.screenshot(path=str(SHOTS / "kiosk-after-outage.png"))
        finally:
            context.close()


def _add_dosing_sessions(url: str, count: int) -> None:
    """Completed dosing sessions of today for the first demo patient, written by 'another
    program' while the screen is cut off."""
    now = datetime.now().replace(microsecond=0) - timedelta(minutes=1)
    engine = make_engine(url)
    with engine.begin() as conn:
        patient, course = conn.exec_driver_sql(
            "SELECT patient_id, course_id FROM sessions LIMIT 1"
        ).one()
        rows = [
            dict(session_id=f"OUTAGE-{i}", patient_id=patient, course_id=course,
                 started_at=now - timedelta(seconds=i), phase="dosing", status="completed")
            for i in range(count)
        ]  # fmt: skip
        conn.execute(insert(Session), rows)
        conn.execute(
            insert(Dosing),
            [dict(session_id=r["session_id"], route="iv", drug="ketamine", dose_mg=35.0)
             for r in rows],
        )  # fmt: skip
    engine.dispose()


CUT_TEXT = """() => {
  const sel = ['[data-testid="stMetricLabel"] p', '[data-testid="stWidgetLabel"] p',
    'h1', 'h2', 'h3', '[data-testid="stExpander"] summary p', 'button[data-baseweb="tab"] p',
    '[data-testid="stCaptionContainer"] p'];
  return [...document.querySelectorAll(sel.join(','))]
    .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1)
    .map(e => e.innerText);
}"""

TICKS_OVERLAP = r"""() => {
  // Neighbouring x tick labels must not overprint: side by side when level; when rotated by
  // an angle a, parallel lines whose distance (dx * |sin a|) is at least the font size.
  const clashes = [];
  for (const plot of document.querySelectorAll('.js-plotly-plot')) {
    const labels = [...plot.querySelectorAll('.xtick text')].filter(t => t.getBBox().width > 0);
    for (let i = 1; i < labels.length; i++) {
      const [p, q] = [labels[i - 1], labels[i]];
      const a = p.getBoundingClientRect(), b = q.getBoundingClientRect();
      const turn = /rotate\((-?[\d.]+)/.exec(q.getAttribute('transform') || '');
      const angle = turn ? Math.abs(parseFloat(turn[1])) * Math.PI / 180 : 0;
      const size = parseFloat(getComputedStyle(q).fontSize);
      const dx = Math.abs((b.left + b.right) / 2 - (a.left + a.right) / 2);
      const clash = angle ? dx * Math.sin(angle) < 0.9 * size
                          : Math.min(a.right, b.right) - Math.max(a.left, b.left) > 1;
      if (clash) clashes.push((plot.querySelector('.gtitle')?.textContent || 'chart') +
                              ': ' + p.textContent + ' / ' + q.textContent);
    }
  }
  return clashes;
}"""


@pytest.mark.parametrize("path", ["/", "/safety", "/trajectories"])
def test_laptop_1024_nothing_cut(browser, kiosk_url, path):
    """At 1024x768: no tile label, widget label, heading or tab cut off (the two "Dosing
    sessions this …" tiles read in full), and no month labels printed over each other."""
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    page = context.new_page()
    try:
        open_app(page, kiosk_url, path, timeout=60000)
        page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=60000)
        wait_for_app(page)
        assert page.evaluate(CUT_TEXT) == []
        assert page.evaluate(TICKS_OVERLAP) == []
        if path == "/":
            labels = page.locator('[data-testid="stMetricLabel"]').all_inner_texts()
            # Week and month told apart, each label whole (unit and window stated).
            assert any(label.startswith("Dosing sessions this week") for label in labels)
            assert any(label.startswith("Dosing sessions this month") for label in labels)
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / f"laptop-{path.strip('/') or 'overview'}.png"))
    finally:
        context.close()


def test_overview_at_1440_month_ticks_apart(browser, kiosk_db, kiosk_url):
    """At 1440x900 the half-width dosing chart printed every month upright, crowded: its
    ticks (and every chart's) stand apart, with the programme's first month marked."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    try:
        open_app(page, kiosk_url, "/", timeout=60000)
        page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=60000)
        wait_for_app(page)
        assert page.evaluate(TICKS_OVERLAP) == []
        assert page.evaluate(CUT_TEXT) == []
        notes = page.evaluate(
            "[...document.querySelectorAll('.js-plotly-plot .annotation-text')]"
            ".map(e => e.textContent)"
        )
        with make_engine(kiosk_db).connect() as conn:
            first = queries.first_session_on(conn)
        # The demo is generated back from today: its first day is a 1st about one run in 30.
        assert any(n.startswith("from ") for n in notes) == (first.day > 1), notes
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / "overview-1440.png"))
    finally:
        context.close()


CHART_BOXES = """() => [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
  .filter(e => e.offsetParent).map(e => e.getBoundingClientRect().toJSON())"""


CHART_TEXT_SIZES = """() => {
  const sizes = sel => [...document.querySelectorAll(sel)]
    .filter(t => t.textContent.trim()).map(t => parseFloat(getComputedStyle(t).fontSize));
  return {ticks: sizes('.xtick text, .ytick text'), titles: sizes('.gtitle'),
          legend: sizes('.legendtext')};
}"""


@pytest.mark.parametrize(("width", "height"), [(1280, 720), (1920, 1080)])
def test_presentation_fills_the_screen(browser, kiosk_url, width, height):
    """`?present=1`: no sidebar, the case's charts at (nearly) the full width, nothing
    clipped at the right edge; Page Down goes to the meeting's next case."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    query = "?patient=DEMO-00003&present=1&meeting=DEMO-00003&meeting=DEMO-00005"
    try:
        open_app(page, kiosk_url, "/case_explorer" + query, timeout=60000)
        page.locator(".js-plotly-plot").first.wait_for(timeout=60000)
        assert page.locator('[data-testid="stSidebar"]').is_hidden()
        charts = page.evaluate(CHART_BOXES)
        assert charts
        for box in charts:
            assert box["width"] >= 0.9 * width and box["right"] <= width, box
        assert page.evaluate(CUT_TEXT) == []
        # Chart text read from the back of the room (kapviz.charts.rooms.for_presentation).
        sizes = page.evaluate(CHART_TEXT_SIZES)
        assert sizes["ticks"] and min(sizes["ticks"]) >= 18, sizes
        assert sizes["titles"] and min(sizes["titles"]) >= 26, sizes
        assert sizes["legend"] and min(sizes["legend"]) >= 18, sizes
        page.get_by_text("case 1 of 2").wait_for()
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / f"present-{width}.png"))
        page.keyboard.press("PageDown")
        page.get_by_role("heading", name="Case DEMO-00005").wait_for(timeout=30000)
        page.get_by_text("case 2 of 2").wait_for()
        assert "patient=DEMO-00005" in page.url and "present=1" in page.url
    finally:
        context.close()
