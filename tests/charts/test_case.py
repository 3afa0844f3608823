"""Case charts: the figure dicts carry the traces, labels and highlights a supervisor needs."""

import pandas as pd

from kapviz.charts import case


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
