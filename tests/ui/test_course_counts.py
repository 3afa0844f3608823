"""The Trajectories page's course counts chained in one sentence (hand-counted)."""

import pandas as pd

from kapviz.metrics.trajectory_tables import CohortMeasure
from kapviz.ui.course_counts import counts_note

ROW = pd.Series(
    {
        "instrument": "PHQ-9",
        "courses": 650,
        "evaluable": 567,
        "not_evaluable_no_dose": 74,
        "not_evaluable_no_baseline": 2,
        "not_evaluable_no_endpoint": 7,
    }
)
"""The 600-patient demo's PHQ-9 row: 650 − 74 = 576 dosed, − 2 = 574 with a baseline,
− 7 = 567 evaluable."""


def test_chain_of_counts_in_the_change_view():
    text = counts_note(ROW, measure=CohortMeasure.CHANGE, lines_total=574, model_courses=576)
    assert text == (
        "Course counts on this page: 650 courses have a PHQ-9 score (the course table); 576 "
        "of them had a completed dosing session; 574 of those have a baseline; 567 of those "
        "also have a score after the first dose: the evaluable courses of the tiles and the "
        "waterfall. The chart's lines and mean: 574 courses with a baseline; the model: 576 "
        "courses."
    )


def test_scores_view_without_a_model_and_suppressed_counts():
    """All available scores: the lines are every course with a score; no model fitted; an
    analyst's formatter applies to every count."""
    row = ROW.copy()
    row[["courses", "evaluable", "not_evaluable_no_dose", "not_evaluable_no_baseline"]] = [
        12,
        5,
        3,
        2,
    ]
    text = counts_note(
        row,
        measure=CohortMeasure.SCORES,
        lines_total=12,
        count=lambda n: "<11" if n < 11 else str(n),
    )
    assert "12 courses have a PHQ-9 score" in text
    assert "<11 of them had a completed dosing session; <11 of those have a baseline" in text
    assert text.endswith(
        "The chart's lines and mean: 12 courses with a score at one point or more."
    )
    assert "model" not in text
