"""Overview wording and charts that must not mislead (issue 17), on the hand clinic with the
clock pinned to Saturday 2026-02-21 12:00."""

import json
from datetime import date, datetime

import pytest

from tests.clinic import ANCHOR

CLOCK = datetime(2026, 2, 21, 12, 0)


@pytest.fixture
def clinic_anchor() -> date:
    return ANCHOR


def _figures(at) -> dict[str, dict]:
    figures = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    return {f["layout"]["title"]["text"]: f for f in figures if f["layout"].get("title")}


def test_invalid_from_is_reported(run_page):
    """`?from=2026-13-01` is named in a warning, not silently dropped."""
    at = run_page("pages/overview.py", state={"clock": CLOCK}, **{"from": "2026-13-01"})
    warnings = " ".join(w.value for w in at.sidebar.warning)
    assert "`?from=` `2026-13-01` is not a date (YYYY-MM-DD)" in warnings


def test_date_range_captions_and_funnel(run_page):
    """With a date range, the funnel counts the patients referred in it and says so; the
    live tiles say they do not follow it."""
    at = run_page(
        "pages/overview.py", state={"clock": CLOCK}, **{"from": "2026-01-01", "to": "2026-01-31"}
    )
    captions = " ".join(c.value for c in at.caption)
    assert "they do not follow the date range 2026-01-01 to 2026-01-31" in captions
    assert "Patients referred (enrolment date, else a first session) from 2026-01-01" in captions
    funnel = next(f for f in _figures(at).values() if f["data"][0]["type"] == "funnel")
    assert list(funnel["data"][0]["x"]) == [5, 4, 3, 3, 2]
    # February has nobody referred: the funnel says so and the page goes on.
    at = run_page(
        "pages/overview.py", state={"clock": CLOCK}, **{"from": "2026-02-01", "to": "2026-02-28"}
    )
    assert any("Nobody was referred in the date range" in i.value for i in at.info)
    assert "Dosing sessions per month, by route" in _figures(at)


def test_monthly_charts_end_at_today_and_mark_february(run_page):
    """The dosing bars and the u-chart stop at February 2026 (the clock's month), which is
    lighter and labelled "to date"; the monthly response has axis units and n."""
    at = run_page("pages/overview.py", state={"clock": CLOCK})
    figures = _figures(at)
    volume = figures["Dosing sessions per month, by route"]
    assert volume["layout"]["xaxis"]["range"][1] <= "2026-02-16"
    # The programme's first session was on 5 January: January is marked partial too.
    assert [a["text"] for a in volume["layout"]["annotations"]] == ["to date", "from 5 Jan"]
    bars = [t for t in volume["data"] if t["type"] == "bar"]
    january = [
        (shape, text)
        for t in bars
        for x, shape, text in zip(t["x"], t["marker"]["pattern"]["shape"], t["text"], strict=True)
        if x.startswith("2026-01")
    ]
    assert january and set(january) == {
        ("/", " (programme start: month from 5 Jan (27 of 31 days))")
    }
    colours = {t["name"]: t["marker"]["color"] for t in bars}
    assert colours == {"IM": "#009E73", "IV": "#0072B2", "Sublingual": "#E69F00"}
    # The month tile's comparison on the chart: 6 sessions from 1 Jan to 21 Jan 12:00
    # (the tile reads 2, "-4"), as a tick on February's partial bar.
    tick = next(t for t in volume["data"] if t["name"] == "Same span last month")
    assert tick["x"][1] == "2026-02-01T00:00:00" and list(tick["y"]) == [6, 6, 6]
    assert "Last month, same span (1–21 Jan, to 12:00): 6 sessions" in tick["hovertemplate"]
    assert "This month to date: 2 sessions" in tick["hovertemplate"]
    u = figures["Adverse events per 100 dosing sessions (u-chart, 3σ limits)"]
    assert u["layout"]["xaxis"]["range"][1] <= "2026-02-16"
    assert [a["text"] for a in u["layout"]["annotations"]] == ["to date", "from 5 Jan"]
    response = figures["PHQ-9 response rate by month of endpoint"]
    assert response["layout"]["yaxis"]["title"]["text"] == "Responders, % of evaluable courses"
    assert any(t["name"] == "Too few (n < 10)" for t in response["data"])


def test_share_link_is_a_full_url_in_app_test(run_page):
    """Without a browser (no st.context.url) the link is at least rooted: "/?site=North"."""
    at = run_page("pages/overview.py", state={"clock": CLOCK}, site="North")
    codes = [c.value for c in at.code]
    assert "/?site=North" in codes


def test_a_range_starting_mid_month_marks_its_first_month(run_page):
    """`?from=2026-01-20`: January holds only its last 12 days of counts, said as such."""
    at = run_page("pages/overview.py", state={"clock": CLOCK}, **{"from": "2026-01-20"})
    volume = _figures(at)["Dosing sessions per month, by route"]
    assert "from 20 Jan" in [a["text"] for a in volume["layout"]["annotations"]]
    bar = next(t for t in volume["data"] if t["type"] == "bar")
    assert bar["text"][0] == " (date range start: month from 20 Jan (12 of 31 days))"
