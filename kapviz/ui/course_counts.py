"""Why the Trajectories page shows several course counts: one sentence that chains them.

The tiles, the waterfall, the course lines, the model and the course table each count the
courses they can use (650 with scores, 576 dosed, 574 with a baseline, 567 evaluable in the
demo): side by side, unexplained, they read as errors. The chain follows the evaluability
rule of docs/domain.md §3 step by step, from the same row as the tiles' own sentence.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from kapviz.metrics.trajectory_tables import CohortMeasure


def counts_note(
    row: pd.Series,
    *,
    measure: CohortMeasure,
    lines_total: int,
    model_courses: int | None = None,
    count: Callable[[int], str] = lambda n: f"{n:,}",
) -> str:
    """The page's course counts as one chain: with scores → dosed → with a baseline →
    evaluable, then which of them the chart's lines and the model use.

    `row` is the instrument's row of the outcome rates (courses, evaluable and the three
    not-evaluable reasons); `lines_total` the courses the chart's lines are drawn from;
    `count` formats a count (analysts see small ones as "<11")."""
    courses = int(row["courses"])
    dosed = courses - int(row["not_evaluable_no_dose"])
    with_baseline = dosed - int(row["not_evaluable_no_baseline"])
    evaluable = int(row["evaluable"])
    text = (
        f"Course counts on this page: {count(courses)} courses have a {row['instrument']} "
        f"score (the course table); {count(dosed)} of them had a completed dosing session; "
        f"{count(with_baseline)} of those have a baseline; {count(evaluable)} of those also "
        "have a score after the first dose: the evaluable courses of the tiles and the "
        "waterfall."
    )
    drawn = (
        "courses with a baseline"
        if measure is CohortMeasure.CHANGE
        else "courses with a score at one point or more"
    )
    text += f" The chart's lines and mean: {count(lines_total)} {drawn}"
    if model_courses:
        text += f"; the model: {count(model_courses)} courses"
    return text + "."
