"""Trajectories page on the hand-written clinic (tests/clinic.py): tiles, captions, charts.

Hand-computed from the clinic's docstring: PHQ-9 courses P1 (18 → 8), P2 (10 → 4) are
evaluable, P4 has no baseline within 30 days; PCL-5 only P2 (50 → 41).
"""

from __future__ import annotations

import json
from datetime import date

import pytest

from tests.charts.test_trajectories import values
from tests.clinic import ANCHOR


@pytest.fixture
def clinic_anchor() -> date:
    return ANCHOR


@pytest.fixture(params=["sqlite", "postgresql"])
def run_page(request):
    """The page tests on both backends."""
    return request.getfixturevalue(
        "run_page" if request.param == "sqlite" else "run_page_on_postgresql"
    )


def _tiles(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _course_table(at):
    """The per-course outcome table (the clinician view's table follows it on the page)."""
    return next(d.value for d in at.dataframe if "first_dose_at" in d.value.columns)


def _captions(at) -> str:
    return "\n".join(c.value for c in at.caption)


def test_phq9_tiles_denominators_and_reasons(run_page):
    """PHQ-9: response 2/2, remission 1/2, reliable 2/2 and 0/2; P4 not evaluable, why."""
    at = run_page("pages/trajectories.py")
    tiles = _tiles(at)
    assert tiles == {
        "PHQ-9 response": "100%",
        "PHQ-9 remission": "50%",
        "PHQ-9 reliable improvement": "100%",
        "PHQ-9 reliable deterioration": "0%",
    }
    captions = _captions(at)
    assert "2 of 2 courses · 95% CI 34%–100%" in captions
    assert "1 of 2 courses · 95% CI 9%–91%" in captions
    assert "0 of 2 courses · 95% CI 0%–66%" in captions
    assert (
        "**2** evaluable of 3 courses with scores. Not evaluable: 1 "
        "(1 no baseline within 30 days before first dose)." in captions
    )
    assert "No model-based trajectory: too little data — 3 patients" in captions
    # P1 responded at day 46 (39 days, 4 doses), P2 at day 30 (23 days, 3 doses): the one
    # time-to-response figure is the Kaplan–Meier median (tests/pages/test_time_to_response).
    markdown = "\n".join(m.value for m in at.markdown)
    assert "Half of the courses responded by day **23** (95% CI 23–39)" in markdown
    assert "median 31 days" not in captions


def test_instrument_choice_from_url(run_page):
    """?traj_instrument=PCL-5: P2 only, 9 points is no response but reliable improvement."""
    at = run_page("pages/trajectories.py", traj_instrument="PCL-5")
    tiles = _tiles(at)
    assert tiles["PCL-5 response"] == "0%"
    assert tiles["PCL-5 reliable improvement"] == "100%"
    assert "PHQ-9 response" not in tiles
    assert "**1** evaluable of 1 courses with scores." in _captions(at)


def test_trajectory_chart_on_phase_axis(run_page):
    """Default: the paired change from baseline of the 2 courses with a baseline (P4 has
    none), on the "when taken" axis, with n under every point, all "too few" (< 10)."""
    at = run_page("pages/trajectories.py")
    assert at.radio(key="traj_measure").value.startswith("Change from baseline")
    assert at.radio(key="traj_measure").options == [
        "Change from baseline (the same courses at every point)",
        "All available scores (the courses change from point to point)",
    ]
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    names = [t.get("name") for t in fig["data"]]
    assert names[0] == "Individual courses (2)"
    assert "Mean change from baseline, same courses (95% CI)" in names
    assert "Too few courses (< 10): not a result" in names
    assert fig["layout"]["yaxis"]["title"]["text"] == (
        "PHQ-9 change from baseline, points (< 0 = better)"
    )
    # P1 (baseline 18): intake 20 → +2, preparation 0, dose 3 12 → −6, follow-up 8 → −10;
    # P2 (baseline 10): preparation 0, follow-up 4 → −6. Means +2, 0, −6, −8.
    few = next(t for t in fig["data"] if t["name"].startswith("Too few"))
    assert [c[0] for c in few["customdata"]] == ["Intake", "Preparation", "Dose 3", "Follow-up"]
    assert values(few["y"]) == [2.0, 0.0, -6.0, -8.0]
    assert [int(c[1]) for c in few["customdata"]] == [1, 2, 1, 2]
    n_row = [a["text"] for a in fig["layout"]["annotations"] if a.get("yref") == "y domain"]
    assert n_row[-5:] == ["n", "1", "2", "1", "2"]
    captions = _captions(at)
    assert "Mean change from each course's own baseline" in captions
    assert "points of fewer than 10 courses are grey (too few to read)" in captions


def test_all_available_scores_view(run_page):
    """The raw means, labelled as such: all 3 PHQ-9 courses, on the 0–27 scale."""
    at = run_page(
        "pages/trajectories.py",
        state={"traj_measure": "All available scores (the courses change from point to point)"},
    )
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    names = [t.get("name") for t in fig["data"]]
    assert names[0] == "Individual courses (3)"
    assert "Mean of all available scores (95% CI)" in names
    assert fig["layout"]["yaxis"]["title"]["text"] == "PHQ-9 total (0–27, higher = worse)"
    assert fig["layout"]["xaxis"]["ticktext"] == [
        "Intake",
        "Preparation",
        "Dose 2",
        "Dose 3",
        "Follow-up",
    ]
    assert "the courses behind it change from point to point" in _captions(at)


def test_days_axis_and_small_multiples(run_page):
    """Days axis from the URL; comparing by site draws one panel per site with scores."""
    at = run_page("pages/trajectories.py", traj_axis="Days since first dose")
    at.segmented_control(key="traj_by_PHQ-9").set_value("Site").run()
    assert not at.exception
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert charts[0]["layout"]["xaxis"]["title"]["text"].startswith("Days since first dose")
    panels = [a["text"] for a in charts[1]["layout"]["annotations"] if a["text"][:1] == "S"]
    # The paired view: South's only PHQ-9 course (P4) has no baseline, so no panel.
    assert panels == ["Site: North (2 courses)"]
    at.radio(key="traj_measure").set_value(
        "All available scores (the courses change from point to point)"
    ).run()
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    panels = [a["text"] for a in charts[1]["layout"]["annotations"] if a["text"][:1] == "S"]
    assert panels == ["Site: North (2 courses)", "Site: South (1 course)"]


def test_waterfall_and_course_table(run_page):
    """The waterfall has the two evaluable courses; the table lists all three PHQ-9 courses."""
    at = run_page("pages/trajectories.py")
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    waterfall = next(c for c in charts if c["data"] and c["data"][0].get("type") == "bar")
    assert (
        "n = 2 evaluable courses of 3 with scores (1 not evaluable not shown)"
        in waterfall["layout"]["title"]["subtitle"]["text"]
    )
    table = _course_table(at)
    assert sorted(table["course_id"]) == ["P1-C1", "P2-C1", "P4-C1"]
    # The same n, and the reason for the difference, under the waterfall.
    assert (
        "Showing 3 of 3 courses with scores; the waterfall's n = 2 are the evaluable ones "
        "with a percent change (1 not evaluable)." in _captions(at)
    )
    # Whole percent, as on the waterfall: P1 −55.6% → −56, P2 −60%.
    pct = table.set_index("course_id")["pct_change"]
    assert pct["P1-C1"] == -56 and pct["P2-C1"] == -60
    # The not-evaluable course's empty cells read "—" (Streamlit printed "None"); the
    # outcomes come before the dates, so "Reliable deterioration" fits at 1440 px.
    (frame,) = [d for d in at.dataframe if "course_id" in d.value.columns]
    assert frame.proto.placeholder == "—"
    order = list(frame.proto.column_order)
    assert order.index("reliable_deterioration") < order.index("first_dose_at")


def test_site_filter_without_scores(run_page):
    """?site=South keeps only P4 (not evaluable): rates show a dash, reason named."""
    at = run_page("pages/trajectories.py", site="South")
    tiles = _tiles(at)
    assert tiles["PHQ-9 response"] == "—"
    assert "0 of 0 courses · no denominator" in _captions(at)


def test_waterfall_selection_filters_course_table(run_page):
    """Selecting P1's bar (responders trace, first bar: −55.6%) leaves only P1 in the table."""
    selection = {"points": [{"curve_number": 1, "point_index": 0}], "box": [], "lasso": []}
    at = run_page("pages/trajectories.py", state={"traj_waterfall_PHQ-9": {"selection": selection}})
    assert list(_course_table(at)["course_id"]) == ["P1-C1"]
    assert "1 course selected on the waterfall" in _captions(at)


def test_points_table_numbers(run_page):
    """The table behind the chart (all scores): n per point, "too few" ticked, the
    retained share in whole percent (P1 and P4 have intake scores: 2 of 3 courses, 67)."""
    at = run_page(
        "pages/trajectories.py",
        state={"traj_measure": "All available scores (the courses change from point to point)"},
    )
    table = next(d.value for d in at.dataframe if "too_few" in d.value.columns)
    rows = table.set_index("point")
    assert rows.loc["Intake", "courses"] == 2
    assert rows.loc["Intake", "share"] == 67
    assert rows["too_few"].all()


def test_course_counts_are_chained_under_the_chart(run_page):
    """The tiles (2), the lines (2 with a baseline) and the table (3 with scores) count
    different courses: the page says how they follow from each other (hand clinic: 3 with
    PHQ-9 scores, all dosed, P4 without a baseline, so 2 evaluable)."""
    at = run_page("pages/trajectories.py")
    assert (
        "Course counts on this page: 3 courses have a PHQ-9 score (the course table); 3 of "
        "them had a completed dosing session; 2 of those have a baseline; 2 of those also have "
        "a score after the first dose: the evaluable courses of the tiles and the waterfall. "
        "The chart's lines and mean: 2 courses with a baseline." in _captions(at)
    )
