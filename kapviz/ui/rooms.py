"""The wall screen (`?kiosk=1` on the Overview): one screen, no scrolling, large type.

Layout and type only: the numbers are the Overview's, the Safety page's and the
Trajectories page's own (their cached loaders), restyled for a screen read from three
metres (kapviz.charts.rooms). `&rotate=SECONDS` cycles the views; `&theme=dark` for a dark
room. Everything of the screen is one live fragment, so it refreshes on its own, and after a
lost connection Streamlit reconnects and reruns it (streamlit issue 11660).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

from kapviz.charts import rooms as room_charts
from kapviz.filters import Filters
from kapviz.instruments import PHQ9
from kapviz.metrics.alerts import patients_per_reason
from kapviz.ui import auth, data, live, overview, redact, replica
from kapviz.ui import safety as safety_ui
from kapviz.ui import trajectories as trajectories_ui
from kapviz.url_flags import positive_int

CSS_FILE = Path(__file__).with_name("rooms.css")
KIOSK_CHART_HEIGHT = 730
"""Height of the kiosk's charts at 1080p (below the header and the tiles)."""
KIOSK_HALF_HEIGHT = 700
"""Height of the two charts of the Trajectories view (below its tiles and their counts)."""

KIOSK_SAFETY_CHART_HEIGHT = 820
"""Height of the Safety view's side-effect chart (beside the worklist, below the tiles)."""
SAFETY_TOP_EFFECTS = 10
"""Side effects on the Safety view's chart: ten bars keep 18 px labels apart at 820 px."""

VIEWS: tuple[str, ...] = ("overview", "safety", "trajectories")
"""The kiosk's views in rotation order (`&rotate=SECONDS`)."""

OVERVIEW_CHARTS: dict[str, str] = {
    "volume": "Dosing sessions per month",
    "response": "PHQ-9 response by month of endpoint",
    "u_chart": "Adverse events per 100 doses",
}
"""The three Overview charts of the wall screen: is the programme busy (dosing volume), is
it working (PHQ-9 response by month), is it safe (adverse events per 100 doses, u-chart).
The funnel and the site comparison change slowly and need reading up close."""


def is_dark() -> bool:
    """`&theme=dark`: a dark screen for a dark room."""
    return str(st.query_params.get("theme", "")).strip().lower() == "dark"


def rotate_seconds() -> int | None:
    """`&rotate=SECONDS`: cycle the views every so many seconds (None: the Overview only)."""
    return positive_int(st.query_params.get("rotate"))


def view_at(epoch_seconds: float, rotate: int | None) -> str:
    """The view on screen at this moment: the clock decides, so every screen with the same
    link shows the same view, and a reconnect resumes the cycle where it would be."""
    if not rotate:
        return VIEWS[0]
    return VIEWS[int(epoch_seconds // rotate) % len(VIEWS)]


def css(*, dark: bool) -> str:
    """The kiosk's style sheet (and its dark colours)."""
    text = CSS_FILE.read_text(encoding="utf-8")
    return f"<style>{text}</style>" + ('<style id="kiosk-dark"></style>' if dark else "")


def kiosk(filters: Filters) -> None:
    """Draw the wall screen (the page stops after it)."""
    dark = is_dark()
    st.html(css(dark=dark))
    rotate = rotate_seconds()
    every = min(live.refresh_seconds(), rotate) if rotate else live.refresh_seconds()
    st.fragment(_screen, run_every=every)(filters, dark, rotate)


def _screen(filters: Filters, dark: bool, rotate: int | None) -> None:
    auth.check_idle()
    view = view_at(time.time(), rotate)
    classes = "kiosk-dark" if dark else "kiosk-light"
    with st.container(key=f"kiosk-{view}-{classes}"):
        _header(view, rotate)
        DRAW[view](filters, dark)


TITLES = {
    "overview": "Programme at a glance",
    "safety": "Safety: who needs attention",
    "trajectories": "PHQ-9 outcomes",
}


def _header(view: str, rotate: int | None) -> None:
    newest = auth.newest_record_at()
    newest_text = newest.strftime("%Y-%m-%d %H:%M") if newest else "no records yet"
    demo = ' <span class="kiosk-demo">synthetic demo data</span>' if data.is_demo() else ""
    cycle = f" · view {VIEWS.index(view) + 1} of {len(VIEWS)}" if rotate else ""
    st.html(
        f'<div class="kiosk-header"><span class="kiosk-title">{TITLES[view]}{demo}</span>'
        f'<span class="kiosk-time">Data as of <b>{newest_text}</b> · refreshed '
        f"<b>{live.now():%H:%M:%S}</b>{_replica_lag()}{cycle}</span></div>"
    )


def _replica_lag() -> str:
    """The replica's lag on the wall screen; over the limit, named as stale in bold."""
    lag = replica.lag_seconds()
    if not replica.is_behind(lag):
        return replica.lag_text(lag)
    return (
        f' · <b class="kiosk-stale">read replica {replica.replica_name()} {lag:,.0f} s '
        "behind: not the latest data</b>"
    )


def _overview(filters: Filters, dark: bool) -> None:
    overview.start_charts(filters, live.now().date(), now=live.now())  # PostgreSQL: threads
    funnel = overview.funnel(filters)
    overview.tiles(overview.kpis(filters, live.now()), per_row=len(overview.TILES))
    if funnel["patients"].iloc[0] == 0:
        st.info("No patients match these filters.")
        return
    figures = overview.charts(filters, live.now().date(), now=live.now())
    for column, (name, title) in zip(st.columns(3), OVERVIEW_CHARTS.items(), strict=True):
        figure = getattr(figures, name)
        with column:
            if figure is None:
                st.info("No evaluable PHQ-9 courses yet for a monthly response rate.")
            else:
                _chart(figure, dark, key=f"kiosk-{name}", title=title)


def _safety(filters: Filters, dark: bool) -> None:
    v = safety_ui.view(filters)
    if v.dosing_sessions == 0:
        st.info("No completed dosing sessions match these filters.")
        return
    t = safety_ui.tiles(filters)
    per_100 = f"{100 * t.events / t.dosing_sessions:.1f}"
    # Each label says its window, as on the Safety page: "Serious events 7" read from across
    # the room must not pass for this week's.
    shown = [
        ("Patients needing attention (now)", redact.count_label(t.attention_patients)),
        ("Serious events (all dates)", redact.count_label(t.serious_events)),
        ("BP excursions (all dates)", redact.count_label(t.excursion_sessions)),
        ("Events per 100 doses (all dates)", per_100),
        ("Dosing sessions (all dates)", redact.count_label(t.dosing_sessions)),
        ("Patients dosed (all dates)", redact.count_label(t.patients_dosed)),
    ]
    for column, (label, value) in zip(st.columns(len(shown)), shown, strict=True):
        column.metric(label, value, border=True)
    reasons = patients_per_reason(safety_ui.split_alerts(filters)[0])  # active, as counted
    rows = "".join(
        f'<tr><td>{r.reason}</td><td class="n">{redact.count_label(r.patients)}</td></tr>'
        for r in reasons.itertuples()
    )
    # The worklist on the left, the most frequent side effects on the right: the table alone
    # left half of the wall screen empty.
    left, right = st.columns(2)
    left.html(
        '<table class="kiosk-table"><tr><th>Alerts worklist: reason</th>'
        f'<th class="n">Patients</th></tr>{rows}</table>'
        f'<p class="kiosk-note">A patient with several reasons is counted under each. Events '
        f"of the last {safety_ui.lookback_days()} days; item 9 on the latest PHQ-9. Names and "
        "ids stay on the Safety page.</p>"
    )
    choice = safety_ui.FigureChoice(reference=False, top=SAFETY_TOP_EFFECTS)
    with right:
        _chart(
            safety_ui.figure(filters, safety_ui.Figure.FREQUENCY, choice),
            dark,
            key="kiosk-side-effects",
            height=KIOSK_SAFETY_CHART_HEIGHT,
            title=f"Top {SAFETY_TOP_EFFECTS} side effects: % of "
            f"{redact.count_label(t.patients_dosed)} patients dosed (95% CI, all dates)",
        )


def _trajectories(filters: Filters, dark: bool) -> None:
    rates = trajectories_ui.rates(filters)
    phq9 = rates[rates["instrument"] == PHQ9.id]
    if phq9.empty:
        st.info("No PHQ-9 scores match these filters.")
        return
    row = phq9.iloc[0]
    shown = []
    for measure, label in trajectories_ui.TILES:
        n, k = int(row[f"{measure}_denominator"]), int(row[f"{measure}_n"])
        rate = row[f"{measure}_rate"]
        value = "—" if not n else f"{rate:.0%}"
        shown.append((label, value, f"{redact.count_label(k)} of {redact.count_label(n)} courses"))
    for column, (label, value, caption) in zip(st.columns(len(shown)), shown, strict=True):
        column.metric(label, value, border=True)
        column.caption(caption)
    left, right = st.columns(2)
    with left:
        fig = trajectories_ui.trajectory_figure(
            filters, PHQ9.id, "session", show_lines=False, show_model=False
        )
        _chart(
            redact.deidentify_figure(fig),
            dark,
            key="kiosk-trajectory",
            height=KIOSK_HALF_HEIGHT,
            title="PHQ-9 through the course (cohort mean, 95% CI)",
            x_title="",
        )
    with right:
        fig = trajectories_ui.waterfall_figure(filters, PHQ9.id)
        _chart(
            redact.deidentify_figure(fig),
            dark,
            key="kiosk-waterfall",
            height=KIOSK_HALF_HEIGHT,
            title="PHQ-9 change from baseline per course",
        )


DRAW: dict[str, Callable[[Filters, bool], None]] = {
    "overview": _overview,
    "safety": _safety,
    "trajectories": _trajectories,
}


def _chart(  # the restyling options
    fig: go.Figure,
    dark: bool,
    *,
    key: str,
    height: int = KIOSK_CHART_HEIGHT,
    title: str | None = None,
    x_title: str | None = None,
) -> None:
    styled = _styled(fig, dark, height, title, x_title)
    st.plotly_chart(styled, theme=None, key=key, width="stretch", config={"displayModeBar": False})


_STYLED: dict[tuple, tuple[weakref.ref, go.Figure]] = {}
_STYLED_MAX = 32


def _styled(
    fig: go.Figure, dark: bool, height: int, title: str | None, x_title: str | None
) -> go.Figure:
    """The kiosk copy of a cached page figure, made once per figure rather than per refresh
    (keyed by the original's identity, checked through a weak reference)."""
    key = (id(fig), dark, height, title, x_title)
    hit = _STYLED.get(key)
    if hit is not None and hit[0]() is fig:
        return hit[1]
    if len(_STYLED) >= _STYLED_MAX:
        _STYLED.clear()
    styled = room_charts.for_kiosk(fig, height=height, dark=dark, title=title, x_title=x_title)
    _STYLED[key] = (weakref.ref(fig), styled)
    return styled
