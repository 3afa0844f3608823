"""The rooms in AppTest: `?present=` spellings, the meeting's next case, the kiosk screen."""

import json

import pytest

from kapviz.charts.rooms import KIOSK_TICK_PX
from tests.pages.conftest import run_app


@pytest.mark.parametrize("flag", ["1", "true", "yes", "on", "TRUE"])
def test_present_flag_spellings(run_page, flag):
    """`?present=1` was dropped: every spelling of on now presents the case."""
    at = run_page("pages/case_explorer.py", patient="P1", present=flag)
    assert at.toggle(key="present").value is True
    assert [h.value for h in at.header] == ["Case P1 · course P1-C1"]


@pytest.mark.parametrize("flag", ["0", "no", ""])
def test_present_off_spellings(run_page, flag):
    at = run_page("pages/case_explorer.py", patient="P1", present=flag)
    assert at.toggle(key="present").value is False
    assert not at.header


def test_meeting_next_case(run_page):
    """Presenting a meeting of P2, P1: P2 is case 1 of 2; Next case opens P1."""
    at = run_page("pages/case_explorer.py", patient="P2", present="1", meeting=["P2", "P1"])
    assert any("case 1 of 2" in m.value for m in at.markdown)
    assert at.button(key="meeting-previous").disabled
    at.button(key="meeting-next").click().run()
    assert not at.exception
    assert at.header[0].value.startswith("Case P1 ")
    assert any("case 2 of 2" in m.value for m in at.markdown)
    assert at.button(key="meeting-next").disabled


def test_kiosk_screen(run_page):
    """`?kiosk=1`: the 8 tiles in one row, the kiosk header, no share link or refresh box."""
    at = run_page("pages/overview.py", kiosk="1")
    assert len(at.metric) == 8
    assert any("Data as of" in h.proto.body for h in at.get("html"))
    assert not at.get("popover") and not at.number_input


def test_kiosk_off_is_the_ordinary_page(clinic_url):
    at = run_app("pages/overview.py", kiosk="0")
    assert at.number_input(key="refresh_seconds") is not None


def test_meeting_pack_button(run_page):
    """A meeting of two cases offers the pack; one case does not."""
    at = run_page("pages/case_explorer.py", patient="P1", meeting=["P2", "P1"])
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Meeting pack: 2 cases (PDF)" in labels
    at = run_page("pages/case_explorer.py", patient="P1", meeting=["P1"])
    assert not any("Meeting pack" in b.proto.label for b in at.get("download_button"))


def test_kiosk_safety_view_says_each_window(run_page, monkeypatch):
    """The wall screen's Safety view: every tile names its window as the Safety page does
    (a bare "Serious events" read from across the room passed for this week's), and the
    reasons' table says that a patient with several reasons counts under each."""
    from kapviz.ui import rooms

    monkeypatch.setattr(rooms, "view_at", lambda _now, _rotate: "safety")
    at = run_page("pages/overview.py", kiosk="1", rotate="30")
    labels = [m.label for m in at.metric]
    assert labels == [
        "Patients needing attention (now)",
        "Serious events (all dates)",
        "BP excursions (all dates)",
        "Events per 100 doses (all dates)",
        "Dosing sessions (all dates)",
        "Patients dosed (all dates)",
    ]
    values = {m.label: m.value for m in at.metric}
    assert values["Dosing sessions (all dates)"] == "9"  # as the Safety page's tiles
    assert values["Events per 100 doses (all dates)"] == "44.4"
    html = "\n".join(h.proto.body for h in at.get("html"))
    assert "A patient with several reasons is counted under each." in html


def test_kiosk_safety_view_fills_the_screen(run_page, monkeypatch):
    """Beside the worklist (which left half of the 1080p screen empty): the ten most frequent
    side effects as % of patients dosed, at wall-screen type, its n in the title."""
    from kapviz.ui import rooms

    monkeypatch.setattr(rooms, "view_at", lambda _now, _rotate: "safety")
    at = run_page("pages/overview.py", kiosk="1", rotate="30")
    (chart,) = at.get("plotly_chart")
    fig = json.loads(chart.proto.spec)
    values = {m.label: m.value for m in at.metric}
    dosed = values["Patients dosed (all dates)"]
    assert fig["layout"]["title"]["text"] == (
        f"Top 10 side effects: % of {dosed} patients dosed (95% CI, all dates)"
    )
    bars = fig["data"][0]
    assert bars["orientation"] == "h" and 0 < len(bars["y"]) <= rooms.SAFETY_TOP_EFFECTS
    assert fig["layout"]["yaxis"]["tickfont"]["size"] == KIOSK_TICK_PX
    assert "nticks" not in fig["layout"]["yaxis"]  # every effect named
    assert fig["layout"]["height"] == rooms.KIOSK_SAFETY_CHART_HEIGHT
