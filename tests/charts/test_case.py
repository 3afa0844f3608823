"""Case charts: the figure dicts carry the traces, labels and highlights a supervisor needs."""

import numpy as np
import pandas as pd
import pytest

from kapviz import instruments
from kapviz.charts import case
from kapviz.charts.theme import TITLE_ONLY_TOP_PX
from kapviz.metrics.trajectory_axes import session_points


def _sessions():
    return pd.DataFrame(
        {
            "course_id": ["A-C1", "A-C1", "A-C1", "A-C2"],
            "started_at": pd.to_datetime(["2026-01-01", "2026-01-05", "2026-01-08", "2026-06-01"]),
            "phase": ["intake", "dosing", "dosing", "dosing"],
            "status": ["completed", "completed", "cancelled", "completed"],
            "route": [None, "iv", "iv", "intranasal"],
            "dose_mg": [None, 35.0, 35.0, 56.0],
        }
    )


def test_timeline_separates_courses_and_missed_sessions():
    """Two course rows; the cancelled session is its own hollow grey trace with its label."""
    fig = case.course_timeline(_sessions()).to_dict()
    names = [t["name"] for t in fig["data"]]
    assert names == ["Intake", "Dosing", "Cancelled / no-show"]
    dosing = fig["data"][1]
    assert list(dosing["text"]) == ["Dosing — IV 35 mg", "Dosing — Intranasal 56 mg"]
    missed = fig["data"][2]
    assert missed["marker"]["symbol"] == "x-open"
    assert list(missed["text"]) == ["Dosing — IV 35 mg (cancelled)"]
    assert fig["layout"]["yaxis"]["categoryarray"] == ["A-C1", "A-C2"]
    assert fig["layout"]["xaxis"]["title"]["text"] == "Date"


def test_side_effect_strip_grid():
    """Rows are effects, columns doses, values the severity level (1 mild … 3 severe)."""
    effects = pd.DataFrame(
        {
            "dose_number": [1, 1, 2],
            "term": ["dissociation", "nausea", "dissociation"],
            "severity": ["severe", "mild", "mild"],
        }
    )
    heat = case.side_effect_strip(effects).data[0]
    assert list(heat.x) == ["Dose 1", "Dose 2"]
    assert list(heat.y) == ["dissociation", "nausea"]
    assert heat.z[0][0] == 3 and heat.z[0][1] == 1 and heat.z[1][0] == 1


def test_phq9_items_outline_item9():
    """A positive item 9 is outlined in red on its date; a zero is not."""
    items = pd.DataFrame(
        {"administered_at": pd.to_datetime(["2026-01-01", "2026-02-01"])}
        | {f"item_{i}": [1, 0] for i in range(1, 9)}
        | {"item_9": [0, 2]}
    )
    fig = case.phq9_items(items).to_dict()
    shapes = fig["layout"]["shapes"]
    assert len(shapes) == 1 and shapes[0]["x0"] == 0.5 and shapes[0]["line"]["color"] == "#D7301F"
    assert fig["data"][0]["y"][8] == "9 Self-harm thoughts"
    # The colour bar's title up its side (above, it sat on the "3"); no band for a legend.
    assert fig["data"][0]["colorbar"]["title"] == {"text": "Score", "side": "right"}
    assert fig["layout"]["margin"]["t"] == TITLE_ONLY_TOP_PX


def test_side_effect_strip_keeps_doses_without_effects():
    """With `doses`, every dosing session is a column; one without effects stays empty."""
    effects = pd.DataFrame(
        {"dose_number": [1, 3], "term": ["nausea"] * 2, "severity": ["mild"] * 2}
    )
    heat = case.side_effect_strip(effects, doses=4).data[0]
    assert list(heat.x) == ["Dose 1", "Dose 2", "Dose 3", "Dose 4"]
    assert heat.z[0][0] == 1 and np.isnan(heat.z[0][1]) and np.isnan(heat.z[0][3])


def test_session_vitals_lines_and_thresholds():
    """Six BP lines per dose in mmHg; the excursion thresholds drawn as labelled lines."""
    per_dose = pd.DataFrame(
        {"dose_number": [1, 2]}
        | {
            f"{k}_{m}": [130.0, 120.0]
            for k in ("pre", "peak", "last")
            for m in ("systolic", "diastolic")
        }
    )
    fig = case.session_vitals(per_dose, excursion_systolic=180, excursion_diastolic=110)
    assert [t.name for t in fig.data] == [
        "Systolic pre-dose",
        "Systolic peak",
        "Systolic last",
        "Diastolic pre-dose",
        "Diastolic peak",
        "Diastolic last",
    ]
    assert list(fig.data[0].x) == ["Dose 1", "Dose 2"]
    assert [s.y0 for s in fig.layout.shapes] == [180, 110]
    assert fig.layout.yaxis.title.text == "Blood pressure (mmHg)"


def test_sedation_dissociation_marks_sedated_doses():
    """Sedated doses (MOAA/S ≤ 3) are red; CADSS is a bar per dose."""
    per_dose = pd.DataFrame(
        {"dose_number": [1, 2], "moaas": [2.0, 5.0], "is_sedation": [True, False],
         "cadss": [30.0, np.nan]}
    )  # fmt: skip
    fig = case.sedation_dissociation(per_dose, sedation_max=3)
    moaas, cadss = fig.data
    assert list(moaas.marker.color) == ["#D7301F", case.PALETTE[0]]
    assert cadss.type == "bar" and list(cadss.y)[0] == 30
    assert fig.layout.shapes[0].y0 == 3


def test_threshold_lines_as_add_hline_drew_them():
    """The BP and sedation threshold lines and labels are Figure.add_hline's (set at once
    with the layout), the BP ones moved under the data and into the margin; panel titles
    first."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    per_dose = pd.DataFrame({"dose_number": [1], "pre_systolic": [130.0]})
    fig = case.session_vitals(per_dose, excursion_systolic=180, excursion_diastolic=110)
    reference = go.Figure(go.Scatter(x=["Dose 1"], y=[130.0]))
    for value, label in ((180, "systolic excursion"), (110, "diastolic excursion")):
        reference.add_hline(
            y=value,
            line={"color": "#D7301F", "dash": "dot", "width": 1},
            annotation_text=f"{label}<br>≥ {value:g}",
            annotation_position="top right",
            annotation_font={"size": 10, "color": "#D7301F"},
        )
    drawn, expected = fig.to_dict()["layout"], reference.to_dict()["layout"]
    # The lines lie under the readings (a pre-dose line at 110 stays visible) and their
    # labels sit in the right margin, level with the line, not over the last doses.
    assert drawn["shapes"] == [s | {"layer": "below"} for s in expected["shapes"]]
    assert drawn["annotations"] == [
        n | {"x": 1.01, "xanchor": "left", "yanchor": "middle"} for n in expected["annotations"]
    ]
    assert drawn["margin"]["r"] == 120
    assert "shapes" not in case.session_vitals(per_dose).to_dict()["layout"]

    sedation = pd.DataFrame(
        {"dose_number": [1], "moaas": [2.0], "is_sedation": [True], "cadss": [30.0]}
    )
    fig = case.sedation_dissociation(sedation, sedation_max=3)
    reference = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("Sedation: lowest MOAA/S", "Dissociation: CADSS"),
        horizontal_spacing=0.12,
    )
    reference.add_scatter(x=["Dose 1"], y=[2.0], row=1, col=1)
    reference.add_hline(
        y=3,
        line={"color": "#D7301F", "dash": "dot", "width": 1},
        annotation_text="sedation ≤ 3",
        annotation_position="bottom left",
        annotation_font={"size": 10, "color": "#D7301F"},
        row=1,
        col=1,
    )
    for key in ("shapes", "annotations"):
        assert fig.to_dict()["layout"][key] == reference.to_dict()["layout"][key]


def test_compare_shares_axes_and_slots():
    """One panel per case, the same y range, x slots only for points some case has."""
    points = pd.DataFrame(
        {
            "patient_id": ["A", "A", "A", "B"],
            "course_id": ["A-C1", "A-C1", "A-C1", "B-C1"],
            "point_order": [1, 2, 2, 14],
            "administered_at": pd.to_datetime(
                ["2026-01-01", "2026-01-05", "2026-01-06", "2026-03-01"]
            ),
            "total": [20, 15, 12, 5],
        }
    )
    fig = case.compare_trajectories(
        points, instrument=instruments.get("PHQ-9"), axis=session_points()
    )
    a, b = fig.data
    # Every score, as on the Scores tab (the first version kept only the latest at Dose 1).
    assert list(a.x) == [0, 1, 1] and list(a.y) == [20, 15, 12]
    assert list(b.x) == [2]
    assert list(fig.layout.xaxis.ticktext) == ["Preparation", "Dose 1", "Follow-up"]
    assert fig.layout.yaxis2.matches == "y" and list(fig.layout.yaxis.range) == [-0.5, 27.5]
    # The PHQ-9 severity bands behind every panel (add_hrect had dropped them: it skips
    # subplots without a trace yet).
    bands = len(instruments.get("PHQ-9").bands)
    refs = [(s.xref, s.yref) for s in fig.layout.shapes]
    assert refs == [("x domain", "y")] * bands + [("x2 domain", "y2")] * bands


def test_patient_trajectory_hover_names_the_session_phase() -> None:
    """A score is placed by when it was taken; its hover names its own session's phase
    (an integration session after dose 2 sits at dose 2) or says it had no session."""
    points = pd.DataFrame(
        {
            "point_order": [1, 3, 3],
            "point": ["Preparation", "Dose 2", "Dose 2"],
            "phase": ["preparation", "dosing", "dosing"],
            "session_phase": [None, "dosing", "integration"],
            "administered_at": pd.to_datetime(["2026-01-01", "2026-01-08", "2026-01-09"]),
            "total": [18, 12, 11],
        }
    )
    band = pd.DataFrame(columns=["order", "point", "phase", "median", "q1", "q3", "courses"])
    fig = case.patient_trajectory(points, band, instrument=instruments.get("PHQ-9")).to_dict()
    course = next(t for t in fig["data"] if t["name"] == "This course")
    assert [list(c) for c in course["customdata"]] == [
        ["2026-01-01", "no session"],
        ["2026-01-08", "dosing session"],
        ["2026-01-09", "integration session"],
    ]
    assert "%{customdata[1]}" in course["hovertemplate"]
    assert fig["layout"]["xaxis"]["title"]["text"].startswith("When the score was taken")


def test_patient_trajectory_labels_clear_the_ticks_and_legend_sits_close() -> None:
    """An endpoint at 0 has its word above the marker (below, it printed over "Dose 8"); a
    baseline of 18 keeps it below. The legend is two columns under the title, so the top
    margin fits its three rows at every width instead of a blank band at 1440 px."""
    points = pd.DataFrame(
        {
            "point_order": [1, 3, 4],
            "point": ["Preparation", "Dose 2", "Dose 3"],
            "phase": ["preparation", "dosing", "dosing"],
            "session_phase": ["preparation", "dosing", "dosing"],
            "administered_at": pd.to_datetime(["2026-01-01", "2026-01-08", "2026-01-15"]),
            "total": [18, 9, 0],
        }
    )
    band = pd.DataFrame(columns=["order", "point", "phase", "median", "q1", "q3", "courses"])
    fig = case.patient_trajectory(
        points,
        band,
        instrument=instruments.get("PHQ-9"),
        baseline_at=pd.Timestamp("2026-01-01"),
        endpoint_at=pd.Timestamp("2026-01-15"),
    ).to_dict()
    side = {t["name"]: t["textposition"] for t in fig["data"] if t.get("mode") == "markers+text"}
    assert side == {"Baseline": "bottom center", "Endpoint": "top center"}
    layout = fig["layout"]
    assert layout["legend"]["entrywidth"] == 0.5
    assert layout["legend"]["entrywidthmode"] == "fraction"
    assert layout["margin"]["t"] == case.TRAJECTORY_TOP_PX == 135


@pytest.mark.parametrize(
    ("total", "side"),
    [(0, "top center"), (5, "top center"), (6, "bottom center"), (27, "bottom center")],
)
def test_label_side_near_the_floor(total: float, side: str) -> None:
    """PHQ-9 runs 0–27: a fifth of it is 5.4, so 5 is near the floor and 6 is not."""
    assert case._label_side(total, instruments.get("PHQ-9")) == side


def test_band_legend_counts_with_thousands_separators():
    """ "Similar-baseline IQR (11895 courses)" at 20,000 patients: the count reads 11,895."""
    points = pd.DataFrame(
        {
            "point_order": [1],
            "point": ["Preparation"],
            "phase": ["preparation"],
            "session_phase": ["preparation"],
            "administered_at": pd.to_datetime(["2026-01-01"]),
            "total": [18],
        }
    )
    band = pd.DataFrame(
        {"order": [1], "point": ["Preparation"], "phase": ["preparation"], "median": [17.0],
         "q1": [15.0], "q3": [19.0], "courses": [11895]}
    )  # fmt: skip
    fig = case.patient_trajectory(
        points, band, instrument=instruments.get("PHQ-9"), cohort_courses=11895
    )
    assert "Similar-baseline IQR (11,895 courses)" in {t.name for t in fig.data}
