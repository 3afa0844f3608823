"""Trajectory charts: traces, axis titles and hover fields read from fig.to_dict()."""

from __future__ import annotations

import base64
import math

import numpy as np
import pandas as pd
import pytest

from kapviz.charts import trajectories as ch
from kapviz.charts.theme import PHASE_COLORS
from kapviz.charts.trajectory_layers import score_axis_title
from kapviz.charts.waterfall import waterfall
from kapviz.metrics.trajectory_tables import CohortMeasure


def values(field: object) -> list:
    """A figure-dict array as a list: plotly 7 stores numpy data as {"dtype", "bdata"}."""
    if isinstance(field, dict) and "bdata" in field:
        raw = np.frombuffer(base64.b64decode(field["bdata"]), dtype=field["dtype"])
        return raw.reshape(field["shape"]).tolist() if "shape" in field else raw.tolist()
    return list(field)


def gaps(numbers: list) -> list:
    """NaN (a gap in a line trace) as None, for readable comparisons."""
    return [None if isinstance(v, float) and math.isnan(v) else v for v in numbers]


def table(instrument: str = "PHQ-9") -> pd.DataFrame:
    """A session-axis trajectory table: preparation, dose 1, dose 3, follow-up."""
    return pd.DataFrame(
        {
            "instrument": [instrument] * 4,
            "point": ["Preparation", "Dose 1", "Dose 3", "Follow-up"],
            "order": [1, 2, 4, 14],
            "x": [1.0, 2.0, 4.0, 14.0],
            "phase": ["preparation", "dosing", "dosing", "follow_up"],
            "courses": [10, 9, 7, 5],
            "mean": [18.0, 16.0, 12.0, 9.0],
            "ci_low": [16.0, 14.0, 10.0, 6.0],
            "ci_high": [20.0, 18.0, 14.0, 12.0],
            "median": [18.0, 16.0, 12.0, 9.0],
            "q1": [15.0, 14.0, 10.0, 7.0],
            "q3": [20.0, 18.0, 14.0, 11.0],
        }
    )


def lines() -> pd.DataFrame:
    """Two courses' values on the session axis."""
    return pd.DataFrame(
        {
            "instrument": ["PHQ-9"] * 5,
            "patient_id": ["P1", "P1", "P1", "P2", "P2"],
            "course_id": ["P1-C1", "P1-C1", "P1-C1", "P2-C1", "P2-C1"],
            "point": ["Preparation", "Dose 1", "Follow-up", "Preparation", "Dose 3"],
            "order": [1, 2, 14, 1, 4],
            "x": [1.0, 2.0, 14.0, 1.0, 4.0],
            "phase": ["preparation", "dosing", "follow_up", "preparation", "dosing"],
            "total": [20.0, 15.0, 6.0, 17.0, 13.0],
        }
    )


@pytest.mark.parametrize(
    ("instrument", "title"),
    [
        ("PHQ-9", "PHQ-9 total (0–27, higher = worse)"),
        ("GAD-7", "GAD-7 total (0–21, higher = worse)"),
        ("PCL-5", "PCL-5 total (0–80, higher = worse)"),
        ("MADRS", "MADRS total (0–60, higher = worse)"),
    ],
)
def test_score_axis_title(instrument: str, title: str) -> None:
    """The y axis names the scale's range and direction."""
    assert score_axis_title(instrument) == title


def test_score_trajectory_session_axis() -> None:
    """Spaghetti (one trace with gaps), CI band and mean; phase bands; labelled axes."""
    fig = ch.score_trajectory(table(), instrument="PHQ-9", lines=lines(), courses_total=40)
    d = fig.to_dict()
    names = [t["name"] for t in d["data"]]
    mean_name = "Mean of all available scores (95% CI)"
    assert names == [
        "Individual courses (2 of 40, random sample)",
        f"{mean_name} 95% CI",
        mean_name,
        "Too few courses (< 10): not a result",
    ]
    spaghetti = d["data"][0]
    # P1 at positions 0, 1, 3; gap (NaN: plotly leaves it undrawn); P2 at 0, 2 (absent
    # dose points take no space).
    assert gaps(values(spaghetti["x"])) == [0.0, 1.0, 3.0, None, 0.0, 2.0]
    assert gaps(values(spaghetti["y"])) == [20.0, 15.0, 6.0, None, 17.0, 13.0]
    assert [list(c) for c in spaghetti["customdata"]] == [
        ["P1", "P1-C1"],
        ["P1", "P1-C1"],
        ["P1", "P1-C1"],
        [None, None],
        ["P2", "P2-C1"],
        ["P2", "P2-C1"],
    ]
    assert "Case explorer" in spaghetti["hovertemplate"]
    mean = d["data"][2]
    # Dose 1 (9 courses), dose 3 (7) and follow-up (5) are too few: not on the line.
    assert gaps(values(mean["y"])) == [18.0, None, None, None]
    assert "n = %{customdata[1]} courses" in mean["hovertemplate"]
    few = d["data"][3]
    assert values(few["x"]) == [1.0, 2.0, 3.0]
    assert values(few["y"]) == [16.0, 12.0, 9.0]
    assert [int(c[1]) for c in few["customdata"]] == [9, 7, 5]
    assert "n = %{customdata[1]}" in few["hovertemplate"]
    assert "IQR" in mean["hovertemplate"]
    layout = d["layout"]
    assert layout["yaxis"]["title"]["text"] == "PHQ-9 total (0–27, higher = worse)"
    assert (
        layout["xaxis"]["title"]["text"]
        == "When the score was taken, relative to the course's doses"
    )
    assert list(layout["xaxis"]["ticktext"]) == ["Preparation", "Dose 1", "Dose 3", "Follow-up"]
    phase_fills = [s["fillcolor"] for s in layout["shapes"] if s.get("yref") == "y domain"]
    assert len(phase_fills) == 3  # preparation, dosing, follow-up
    labels = [a["text"] for a in layout["annotations"]]
    for text in ("Dosing", "minimal", "severe"):
        assert text in labels
    # One-point phases are named by their tick only (their labels met their neighbours').
    assert "Preparation" not in labels and "Follow-up" not in labels
    assert PHASE_COLORS["dosing"] in {a["font"].get("color") for a in layout["annotations"]}


def test_ci_band_never_bridges_too_few_points() -> None:
    """Points 1–2 and 4 have enough courses, 3 has too few: two outlines, split by a gap,
    none through point 3."""
    gappy = table().assign(courses=[12, 11, 4, 20])
    band = ch.score_trajectory(gappy, instrument="PHQ-9").to_dict()["data"][0]
    assert band["fill"] == "toself"
    xs, ys = gaps(values(band["x"])), gaps(values(band["y"]))
    # The lone point 4 gets an outline a fifth of the spacing wide on each side.
    assert xs == pytest.approx([0.0, 1.0, 1.0, 0.0, None, 2.8, 3.2, 3.2, 2.8], nan_ok=True)
    assert ys == [20.0, 18.0, 14.0, 16.0, None, 12.0, 12.0, 6.0, 6.0]


def test_n_row_under_every_point() -> None:
    """A row of n (courses) at the foot of the plot, one per point, "too few" in grey,
    inside the room the y range leaves below the scale."""
    d = ch.score_trajectory(table(), instrument="PHQ-9").to_dict()
    row = [a for a in d["layout"]["annotations"] if a.get("yref") == "y domain" and a["y"] == 0]
    assert [a["text"] for a in row] == ["n", "10", "9", "7", "5"]
    assert [a["x"] for a in row[1:]] == [0.0, 1.0, 2.0, 3.0]
    colors = [a["font"]["color"] for a in row[1:]]
    assert colors[0] != colors[1] and len(set(colors[1:])) == 1
    low, high = d["layout"]["yaxis"]["range"]
    assert high == 27 and low < 0


def test_change_view_is_paired_with_a_zero_line() -> None:
    """The paired view: change axis title, a zero line instead of severity bands, its
    own name in the legend, and a range around the changes (not 0–27)."""
    change = table().assign(
        mean=[0.0, -3.0, -6.0, -8.0],
        ci_low=[-1.0, -4.0, -7.5, -10.0],
        ci_high=[1.0, -2.0, -4.5, -6.0],
        courses=[40, 38, 30, 25],
    )
    d = ch.score_trajectory(change, instrument="PHQ-9", measure=CohortMeasure.CHANGE).to_dict()
    layout = d["layout"]
    assert layout["yaxis"]["title"]["text"] == ("PHQ-9 change from baseline, points (< 0 = better)")
    zero = [s for s in layout["shapes"] if s["type"] == "line" and s.get("y0") == 0]
    assert zero and zero[0]["xref"] == "x domain"
    assert "severe" not in [a["text"] for a in layout["annotations"]]
    assert d["data"][1]["name"] == "Mean change from baseline, same courses (95% CI)"
    assert values(d["data"][1]["y"]) == [0.0, -3.0, -6.0, -8.0]
    low, high = layout["yaxis"]["range"]
    assert -13 < low < -10 and 5 <= high < 6
    # Round ticks on the scale only, none in the n row below it.
    assert list(layout["yaxis"]["tickvals"]) == [-10.0, -5.0, 0.0, 5.0]
    assert not d["data"][2]["showlegend"]  # no too-few point: no legend entry


def test_score_trajectory_with_model_band_on_days_axis() -> None:
    """Days axis: model mean and band beside the raw mean, baseline window shaded."""
    days = table().assign(
        point=["Baseline (−30–0 d)", "Week 1", "Week 2", "Week 6"],
        order=[0, 1, 2, 6],
        x=[-15.0, 3.5, 10.5, 38.5],
        phase=None,
    )
    band = days[["point", "order", "x"]].assign(
        mean=[17.5, 15.5, 13.0, 9.5], ci_low=[17.0, 15.0, 12.0, 8.5], ci_high=[18, 16, 14, 10.5]
    )
    fig = ch.score_trajectory(
        days, instrument="PHQ-9", axis="days", model_band=band, baseline_window_days=21
    )
    d = fig.to_dict()
    window = [s for s in d["layout"]["shapes"] if s.get("yref") == "y domain"][0]
    assert (window["x0"], window["x1"]) == (-21, 0)
    assert [t["name"] for t in d["data"]][:2] == ["Mixed model 95% CI", "Mixed model (95% CI)"]
    assert values(d["data"][1]["x"]) == [-15.0, 3.5, 10.5, 38.5]
    assert d["data"][1]["line"]["dash"] == "dash"
    assert d["layout"]["xaxis"]["title"]["text"].startswith("Days since first dose")
    assert "baseline window" in [a["text"] for a in d["layout"]["annotations"]]


def test_spaghetti_without_sampling_says_count() -> None:
    """When every course is drawn the legend gives the count without 'sample'."""
    fig = ch.spaghetti(lines(), instrument="PHQ-9", courses_total=2)
    d = fig.to_dict()
    assert len(d["data"]) == 1
    assert d["data"][0]["name"] == "Individual courses (2)"
    assert d["layout"]["yaxis"]["title"]["text"] == "PHQ-9 total (0–27, higher = worse)"


def test_small_multiples_one_panel_per_group() -> None:
    """One subplot per group, titled with the grouping; y axis titled once."""
    grouped = pd.concat([table().assign(group="North"), table().assign(group="South")])
    fig = ch.small_multiples(grouped, instrument="PHQ-9", by="Site")
    d = fig.to_dict()
    titles = [a["text"] for a in d["layout"]["annotations"]]
    assert titles[:2] == ["Site: North", "Site: South"]
    assert len(d["data"]) == 6  # band, mean and too-few points per panel
    assert d["layout"]["yaxis"]["title"]["text"] == "PHQ-9 total"
    assert {t["xaxis"] for t in d["data"]} == {"x", "x2"}


@pytest.mark.parametrize("groups", [12, 30])
def test_small_multiples_many_rows(groups: int) -> None:
    """Many panels (rows of three) still lay out: the row gap shrinks with the rows."""
    grouped = pd.concat([table().assign(group=f"G{i:02d}") for i in range(groups)])
    d = ch.small_multiples(grouped, instrument="PHQ-9", by="Site").to_dict()
    assert len(d["data"]) == 3 * groups
    assert d["layout"]["height"] == 320 * -(-groups // 3) + 80


def outcomes() -> pd.DataFrame:
    """Four evaluable PHQ-9 courses, one with baseline 0, one not evaluable."""
    return pd.DataFrame(
        {
            "patient_id": ["A", "B", "C", "D", "E"],
            "course_id": ["A-C1", "B-C1", "C-C1", "D-C1", "E-C1"],
            "instrument": ["PHQ-9"] * 5,
            "baseline": pd.array([20, 10, 0, 12, 15], dtype="Int64"),
            "endpoint": pd.array([8, 12, 3, 6, pd.NA], dtype="Int64"),
            "pct_change": [-0.6, 0.2, None, -0.5, None],
            "evaluable": [True, True, True, True, False],
            "is_response": pd.array([True, False, pd.NA, True, pd.NA], dtype="boolean"),
        }
    )


def test_waterfall_orders_worst_to_best_and_marks_responders() -> None:
    """Bars sorted by percent change, responders a separate colour, −50% line drawn."""
    fig = waterfall(outcomes(), instrument="PHQ-9")
    d = fig.to_dict()
    non, resp = d["data"]
    assert (non["name"], resp["name"]) == ("Courses: non-responders", "Courses: responders")
    assert values(non["x"]) == [1] and values(non["y"]) == [20.0]
    assert values(resp["x"]) == [2, 3] and values(resp["y"]) == [-50.0, -60.0]
    assert [c[1] for c in resp["customdata"]] == ["D-C1", "A-C1"]
    assert non["marker"]["color"] != resp["marker"]["color"]
    assert "patient %{customdata[0]}" in resp["hovertemplate"]
    # One n, and why it differs from the 5 courses with scores (the course table's count).
    assert (
        "n = 3 evaluable courses of 5 with scores (1 not evaluable; 1 with baseline 0 "
        "(no percent change) not shown)" in d["layout"]["title"]["subtitle"]["text"]
    )
    assert any(s.get("y0") == -50.0 for s in d["layout"]["shapes"])
    assert d["layout"]["yaxis"]["title"]["text"] == "PHQ-9 change from baseline (%)"
    assert d["layout"]["yaxis"]["ticksuffix"] == "%"
    assert "%{y:+.0f}%" in resp["hovertemplate"]
    assert "negative = better" in d["layout"]["title"]["text"]


def test_waterfall_whole_percent_and_readable_response_label() -> None:
    """Bars in whole percent (−55.6% → −56); the "≥50%" label sits on a light box with
    dark text, readable over the dark responder bars."""
    data = outcomes().assign(pct_change=[-0.556, 0.111, None, -0.5, None])
    d = waterfall(data, instrument="PHQ-9").to_dict()
    assert values(d["data"][0]["y"]) == [11.0]
    assert values(d["data"][1]["y"]) == [-50.0, -56.0]
    label = next(a for a in d["layout"]["annotations"] if "≥50%" in a["text"])
    assert label["bgcolor"].startswith("rgba(255, 255, 255")
    assert label["font"]["color"] == "#31333F"


def test_waterfall_points_rule_has_no_percent_line() -> None:
    """PCL-5 response is a 10-point rule: no −50% reference line."""
    fig = waterfall(outcomes().assign(instrument="PCL-5"), instrument="PCL-5")
    assert all(s.get("y0") != -50.0 for s in fig.to_dict()["layout"]["shapes"])


def test_waterfall_empty() -> None:
    """No evaluable course: an empty bar trace, still titled."""
    fig = waterfall(outcomes().iloc[4:], instrument="PHQ-9")
    assert "n = 0" in fig.to_dict()["layout"]["title"]["subtitle"]["text"]


def test_waterfall_draws_evenly_spaced_courses_above_the_cap() -> None:
    """Above max_bars: first, last and evenly spaced courses, at their rank among all."""
    n = 10
    many = pd.DataFrame(
        {
            "patient_id": [f"P{i}" for i in range(n)],
            "course_id": [f"P{i}-C1" for i in range(n)],
            "instrument": ["PHQ-9"] * n,
            "baseline": pd.array([20] * n, dtype="Int64"),
            "endpoint": pd.array(list(range(n)), dtype="Int64"),
            "pct_change": [(e - 20) / 20 for e in range(n)],
            "evaluable": [True] * n,
            "is_response": pd.array([e <= 10 for e in range(n)], dtype="boolean"),
        }
    )
    d = waterfall(many, instrument="PHQ-9", max_bars=4).to_dict()
    bars = [
        (rank, custom[1])
        for trace in d["data"]
        for rank, custom in zip(values(trace["x"]), trace["customdata"], strict=True)
    ]
    # Worst (endpoint 9, −55%) first; ranks 1, 4, 7, 10 of 10 = linspace(0, 9, 4) + 1.
    assert sorted(bars) == [
        (1, "P9-C1"),
        (4, "P6-C1"),
        (7, "P3-C1"),
        (10, "P0-C1"),
    ]
    assert (
        "n = 10 evaluable courses of 10 with scores · 4 evenly spaced courses drawn"
        in d["layout"]["title"]["subtitle"]["text"]
    )
    full = waterfall(many, instrument="PHQ-9", max_bars=10).to_dict()
    assert "evenly spaced" not in full["layout"]["title"]["subtitle"]["text"]
    assert sum(len(values(t["x"])) for t in full["data"]) == 10


def test_small_multiples_of_the_paired_change() -> None:
    """Compare-by panels follow the chosen cohort line: the change view names it, draws a
    zero line and leaves the 0–27 scale; "too few" points are grey there too."""
    grouped = pd.concat([table().assign(group="North"), table().assign(group="South")])
    d = ch.small_multiples(
        grouped, instrument="PHQ-9", by="Site", measure=CohortMeasure.CHANGE
    ).to_dict()
    assert d["layout"]["yaxis"]["title"]["text"] == "PHQ-9 change (points)"
    low, high = d["layout"]["yaxis"]["range"]
    assert high < 27 and low < 0  # the changes' scale (table means 9–18), n row below
    # An n row under each panel (the first named "n"), on that panel's axes.
    rows = [a for a in d["layout"]["annotations"] if str(a.get("yref", "")).endswith("domain")]
    assert [a["text"] for a in rows if a["yref"] == "y domain"] == ["n", "10", "9", "7", "5"]
    assert [a["text"] for a in rows if a["yref"] == "y2 domain"] == ["10", "9", "7", "5"]
    assert {a["xref"] for a in rows if a["yref"] == "y2 domain"} == {"x2"}
    assert any(s["type"] == "line" and s["y0"] == 0 for s in d["layout"]["shapes"])
    names = {t["name"] for t in d["data"]}
    assert "Mean change from baseline, same courses (95% CI)" in names
    assert "Too few courses (< 10): not a result" in names
