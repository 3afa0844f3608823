"""Issue 17's chart rules as figure JSON: partial month marked, nothing after today, one
colour per category value whatever the filter, n on every monthly rate."""

from datetime import date

import pandas as pd
import pytest

from kapviz.charts import partial as charts_partial
from kapviz.charts import program as charts
from kapviz.charts import safety as safety_charts
from kapviz.charts.theme import ROUTE_COLORS, TITLE_ONLY_TOP_PX, category_color

TODAY = date(2026, 12, 7)


def _dosing(routes: list[str]) -> pd.DataFrame:
    rows = [
        {"month": pd.Timestamp(m), "route": r, "sessions": 10 + i}
        for i, r in enumerate(routes)
        for m in ("2026-10-01", "2026-11-01", "2026-12-01")
    ]
    return pd.DataFrame(rows)


def test_route_colours_do_not_move_with_the_filter():
    """Sublingual keeps its colour whether oral is on screen or not (the first version gave
    sublingual oral's colour when a site without oral was chosen)."""
    every = charts.monthly_dosing(_dosing(["iv", "oral", "sublingual"]), today=TODAY)
    some = charts.monthly_dosing(_dosing(["iv", "sublingual"]), today=TODAY)
    colours = {t.name: t.marker.color for t in every.data}
    assert colours == {"IV": "#0072B2", "Oral": "#CC79A7", "Sublingual": "#E69F00"}
    assert {t.name: t.marker.color for t in some.data} == {
        "IV": colours["IV"],
        "Sublingual": colours["Sublingual"],
    }


def test_category_colour_map_is_fixed_by_value():
    assert category_color("route", "sublingual") == ROUTE_COLORS["sublingual"]
    assert category_color("severity", "severe") == "#D7301F"
    assert category_color("phase", "dosing") == "#E69F00"
    assert category_color("instrument", "GAD-7") == "#009E73"
    assert category_color("route", "nasal spray?") == "#8C8C8C"
    # Sites: a function of the name alone, the same in any company.
    assert category_color("site", "Demo Clinic North") == category_color(
        "site", "Demo Clinic North"
    )


def test_dosing_bars_mark_the_partial_month():
    fig = charts.monthly_dosing(_dosing(["iv"]), today=TODAY).to_dict()
    bar = fig["data"][0]
    assert bar["marker"]["opacity"] == [1.0, 1.0, charts.PARTIAL_OPACITY]
    assert bar["marker"]["pattern"]["shape"] == ["", "", "/"]
    assert bar["text"][2] == " (month to date (7 of 31 days))"
    assert [a["text"] for a in fig["layout"]["annotations"]] == ["to date"]


def test_no_x_after_today_and_axis_starts_at_the_data():
    fig = charts.monthly_dosing(_dosing(["iv"]), today=TODAY).to_dict()
    assert max(pd.to_datetime(fig["data"][0]["x"])) <= pd.Timestamp(TODAY)
    start, end = fig["layout"]["xaxis"]["range"]
    assert pd.Timestamp(start) > pd.Timestamp("2026-09-01")  # no empty month before the data
    assert pd.Timestamp(end) < pd.Timestamp("2027-01-01")  # nothing of next year


def _monthly_rates() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "month": pd.to_datetime(["2026-09-01", "2026-10-01", "2026-11-01", "2026-12-01"]),
            "responders": [1, 12, 15, 6],
            "n": [2, 25, 30, 12],
            "rate": [0.5, 0.48, 0.5, 0.5],
            "ci_low": [0.09, 0.30, 0.33, 0.25],
            "ci_high": [0.91, 0.67, 0.67, 0.75],
        }
    )


def test_monthly_rate_shows_n_and_greys_too_few():
    fig = charts.monthly_rate(
        _monthly_rates(), title="t", y_title="Responders, % of evaluable courses", today=TODAY
    )
    assert len(fig.data[0].y) == 3  # September (n = 2) is not drawn as a rate
    fig = fig.to_plotly_json()
    rate, few = fig["data"]
    assert few["name"] == "Too few (n < 10)" and len(few["x"]) == 1
    # A labelled column over the whole height, not a dash at 0% (read as "no responders").
    assert few["type"] == "bar" and list(few["y"]) == [1.0] and list(few["text"]) == ["too few"]
    assert "n = %{customdata[0]}" in few["hovertemplate"]
    assert list(fig["layout"]["xaxis"]["ticktext"]) == [
        "Sep 2026 · n=2",
        "Oct 2026 · n=25",
        "Nov 2026 · n=30",
        "Dec 2026 · n=12",
    ]
    assert "of %{customdata[0]} evaluable courses" in rate["hovertemplate"]
    assert list(rate["marker"]["opacity"]) == [1.0, 1.0, charts.PARTIAL_OPACITY]
    assert fig["layout"]["yaxis"]["title"]["text"] == "Responders, % of evaluable courses"
    # Room for the plot under ~110 px of vertical "Mon YYYY · n=N" labels.
    assert fig["layout"]["height"] == 420


def test_u_chart_marks_the_partial_month():
    table = pd.DataFrame(
        {
            "month": pd.to_datetime(["2026-11-01", "2026-12-01"]),
            "events": [10, 2],
            "dosing_sessions": [100, 20],
            "rate": [10.0, 10.0],
            "centre": [10.0, 10.0],
            "ucl": [19.5, 31.2],
            "lcl": [0.5, 0.0],
            "is_out": [False, False],
        }
    )
    fig = safety_charts.u_chart(table, today=TODAY).to_dict()
    point = next(t for t in fig["data"] if t["name"] == "Events per 100 sessions")
    assert point["marker"]["symbol"] == ["circle", "circle-open"]
    assert point["text"] == ["", " (month to date (7 of 31 days))"]
    assert pd.Timestamp(fig["layout"]["xaxis"]["range"][1]) < pd.Timestamp("2027-01-01")


@pytest.mark.parametrize(
    ("value", "previous", "percent", "text", "zero"),
    [
        (0.503, 0.5, True, "±0 pts", True),  # +0.3 points: shown as zero, so neutral
        (0.497, 0.5, True, "±0 pts", True),  # "-0 pts" was a red down arrow
        (0.6, 0.5, True, "+10 pts", False),
        (12, 12, False, "±0", True),
        (3, 12, False, "-9", False),
        (4.04, 4.0, False, "±0.0", True),
    ],
)
def test_zero_delta_is_neutral(value, previous, percent, text, zero):
    from kapviz.ui.overview import delta

    shown = delta(value, previous, percent=percent)
    assert (shown.text, shown.is_zero) == (text, zero)


def test_safety_bars_and_severity_share_one_order_and_whiskers_read():
    """The severity chart lists effects in the frequency bars' order (rate drawn, then
    sessions); the bars are light so the dark CI whiskers read across them; the heatmap's
    dose columns carry their n."""
    from kapviz.metrics.side_effects import effect_rates, effect_rates_by
    from tests.metrics.safety_data import EFFECTS, SESSIONS

    rates = effect_rates(SESSIONS, EFFECTS)
    for kind in ("patient", "session"):
        bars = safety_charts.side_effect_frequency(rates, kind=kind, reference=False)
        severity = safety_charts.severity_stack(rates, kind=kind)
        assert list(bars.data[0].y) == list(severity.data[0].y)
    bar = safety_charts.side_effect_frequency(rates).data[0]
    assert bar.marker.color.startswith("rgba(") and bar.error_x.color == "#1F2430"
    heat = safety_charts.effect_session_heatmap(
        effect_rates_by(SESSIONS, EFFECTS, by="session_number")
    )
    assert list(heat.layout.xaxis.ticktext) == ["1<br>n=2", "2<br>n=1"]


def test_dosing_bars_mark_last_months_same_span():
    """On 7 December the partial bar (IV 10 + Sublingual 11 = 21 to date) gets a tick at the
    height of last month's count over the same span (1–7 Nov, to 14:00: 31), in the legend,
    with a hover that says which span it is; "to date" moves above the taller of the two."""
    from datetime import datetime

    bars = charts.monthly_dosing(_dosing(["iv", "sublingual"]), today=TODAY)
    span = charts.SameSpanLastMonth(31, datetime(2026, 11, 1), datetime(2026, 11, 7, 14))
    fig = charts.with_same_span(bars, span, today=TODAY).to_dict()
    tick = fig["data"][-1]
    assert tick["type"] == "scatter" and tick["name"] == "Same span last month"
    # A level across December's bar (13 days either side of the month's start).
    assert list(pd.to_datetime(tick["x"])) == [
        pd.Timestamp("2026-11-18"),
        pd.Timestamp("2026-12-01"),
        pd.Timestamp("2026-12-14"),
    ]
    assert list(tick["y"]) == [31, 31, 31] and tick["mode"] == "lines"
    assert tick["hovertemplate"].startswith(
        "Last month, same span (1–7 Nov, to 14:00): 31 sessions<br>This month to date: 21"
    )
    assert [a["y"] for a in fig["layout"]["annotations"] if a["text"] == "to date"] == [31]
    assert len(bars.data) == 2  # the cached figure is not changed
    midnight = charts.SameSpanLastMonth(5, datetime(2026, 11, 1), datetime(2026, 11, 8))
    assert charts.same_span_text(midnight) == "1–7 Nov"


PROGRAMME_START = charts_partial.StartDay(date(2026, 10, 13), is_programme_start=True)
"""A programme whose first session was on 13 October: October holds 19 of its 31 days."""


def test_start_day_is_the_later_of_the_first_record_and_the_range_start():
    """A first month begun after its 1st is partial, whether the programme or the date range
    began then; a first day on the 1st leaves the month whole."""
    assert charts_partial.start_day(date(2026, 10, 13), None) == PROGRAMME_START
    assert charts_partial.start_day(date(2026, 10, 1), None) is None
    assert charts_partial.start_day(None, None) is None
    by_range = charts_partial.start_day(date(2026, 10, 13), date(2026, 11, 5))
    assert by_range == charts_partial.StartDay(date(2026, 11, 5), is_programme_start=False)
    assert charts_partial.start_day(date(2026, 10, 13), date(2026, 11, 1)) is None
    assert charts_partial.start_day(date(2026, 10, 13), date(2026, 9, 1)) == PROGRAMME_START
    assert PROGRAMME_START.note() == "programme start: month from 13 Oct (19 of 31 days)"
    assert by_range.note() == "date range start: month from 5 Nov (26 of 30 days)"


def test_dosing_bars_mark_the_programme_start_month():
    """The start-up stub (October, from the 13th) is lighter, hatched and labelled "from 13
    Oct" over its bar, like the month to date; November is a whole month."""
    fig = charts.monthly_dosing(_dosing(["iv"]), today=TODAY, start=PROGRAMME_START).to_dict()
    bar = fig["data"][0]
    assert bar["marker"]["opacity"] == [charts.PARTIAL_OPACITY, 1.0, charts.PARTIAL_OPACITY]
    assert bar["marker"]["pattern"]["shape"] == ["/", "", "/"]
    assert bar["text"][0] == " (programme start: month from 13 Oct (19 of 31 days))"
    assert bar["text"][1] == ""
    notes = {a["text"]: (a["x"], a["y"]) for a in fig["layout"]["annotations"]}
    assert notes["from 13 Oct"] == (pd.Timestamp("2026-10-01"), 10.0)
    assert "to date" in notes


def test_programme_started_this_month_is_one_label():
    start = charts_partial.StartDay(date(2026, 12, 3), is_programme_start=True)
    rows = pd.DataFrame({"month": [pd.Timestamp("2026-12-01")], "route": ["iv"], "sessions": [4]})
    fig = charts.monthly_dosing(rows, today=TODAY, start=start).to_dict()
    assert [a["text"] for a in fig["layout"]["annotations"]] == ["from 3 Dec, to date"]
    assert fig["data"][0]["text"] == [
        " (programme start: month from 3 Dec (29 of 31 days)) (month to date (7 of 31 days))"
    ]


def test_u_chart_marks_the_programme_start_month():
    """The first month's few sessions give a wild rate: drawn open and labelled, not as a
    month like the others."""
    table = pd.DataFrame(
        {
            "month": pd.to_datetime(["2026-10-01", "2026-11-01", "2026-12-01"]),
            "events": [10, 10, 2],
            "dosing_sessions": [7, 100, 20],
            "rate": [142.9, 10.0, 10.0],
            "centre": [10.0, 10.0, 10.0],
            "ucl": [45.0, 19.5, 31.2],
            "lcl": [0.0, 0.5, 0.0],
            "is_out": [True, False, False],
        }
    )
    fig = safety_charts.u_chart(table, today=TODAY, start=PROGRAMME_START).to_dict()
    point = next(t for t in fig["data"] if t["name"] == "Events per 100 sessions")
    assert point["marker"]["symbol"] == ["circle-open", "circle", "circle-open"]
    assert point["text"][0] == " (programme start: month from 13 Oct (19 of 31 days))"
    notes = {a["text"]: a["y"] for a in fig["layout"]["annotations"]}
    assert notes["from 13 Oct"] == 142.9  # above the point, which is above its limit


@pytest.mark.parametrize(
    ("months", "step", "ticks"),
    [(3, "M1", 3), (8, "M1", 8), (9, "M2", 5), (19, "M3", 7), (24, "M3", 8), (30, "M6", 5)],
)
def test_month_ticks_at_most_eight(months, step, ticks):
    """19 months of "Jun 2025" labels crowded a half-width chart at 1440 px: at most
    MAX_MONTH_TICKS ticks, on whole steps (1, 2, 3, 6, 12 months), two lines each."""
    rows = pd.DataFrame(
        {
            "month": pd.date_range("2025-06-01", periods=months, freq="MS"),
            "route": "iv",
            "sessions": 5,
        }
    )
    fig = charts.monthly_dosing(rows, today=rows["month"].max().date()).to_dict()
    axis = fig["layout"]["xaxis"]
    assert axis["dtick"] == step
    assert (months - 1) // int(step[1:]) + 1 == ticks <= charts_partial.MAX_MONTH_TICKS
    assert axis["tickformat"] == "%b<br>%Y" and axis["tickangle"] == 0


def test_heatmap_colour_bar_title_clear_of_its_ticks():
    """The colour bar's title runs up its side: above the bar it touched the top tick."""
    table = pd.DataFrame(
        {
            "term": ["nausea", "nausea"],
            "session_number": [1, 2],
            "rate": [0.1, 0.2],
            "sessions": [1, 2],
            "dosing_sessions": [10, 10],
        }
    )
    fig = safety_charts.effect_session_heatmap(table).to_dict()
    assert fig["data"][0]["colorbar"]["title"] == {"text": "% of sessions", "side": "right"}
    assert fig["layout"]["margin"]["t"] == TITLE_ONLY_TOP_PX  # no legend to hold


def test_funnel_prints_whole_counts():
    """17,535 patients read "17.535k" (and 20,000 "20k") with plotly's default labels."""
    steps = pd.DataFrame(
        {"step": ["Referred", "Eligible"], "patients": [20000, 17535], "lost": [None, 0.12]}
    )
    trace = charts.treatment_funnel(steps).to_dict()["data"][0]
    assert trace["texttemplate"] == "%{value:,}<br>%{percentInitial:.0%}"
    assert "textinfo" not in trace
    assert "%{x:,} patients" in trace["hovertemplate"]


def test_heatmap_dose_labels_upright_or_one_line():
    """Up to 10 doses: "1<br>n=10" upright; more: "1 · n=10" read upwards (two-line labels
    turned on their side printed each n above its dose number)."""

    def heatmap(doses: int) -> dict:
        table = pd.DataFrame(
            {
                "term": "nausea",
                "session_number": range(1, doses + 1),
                "rate": 0.1,
                "sessions": 1,
                "dosing_sessions": 10_000,
            }
        )
        return safety_charts.effect_session_heatmap(table).to_dict()["layout"]["xaxis"]

    few, many = heatmap(10), heatmap(11)
    assert few["ticktext"][0] == "1<br>n=10,000" and few["tickangle"] == 0
    assert many["ticktext"][0] == "1 · n=10,000" and many["tickangle"] == -90
