"""Symptom trajectories on the two time axes of docs/domain.md §3, with attrition.

The axes and how a score is placed on them are described in `trajectory_axes`. Each course
contributes one value per point (the mean of its scores there), so repeated scores do not
narrow the intervals.

The code lives by concern in `trajectory_axes` (placing scores on the axes),
`trajectory_tables` (course values, tables, attrition, course lines) and
`course_attributes` (groups for the small multiples); this module re-exports their public
names, so `kapviz.metrics.trajectories` stays the one import for callers.
"""

from kapviz.metrics.course_attributes import (
    DOSE_BANDS_MG,
    DOSE_BANDS_MG_PER_KG,
    FIRST_DOSE_COLUMNS,
    attributes_from_first_doses,
    course_attributes,
    course_first_doses,
)
from kapviz.metrics.trajectory_axes import (
    AXES,
    FOUR_WEEKLY_UNTIL_DAYS,
    MAX_DOSES,
    POINT_COLUMNS,
    WEEKLY_UNTIL_DAYS,
    day_bins,
    instrument_scores,
    points_from_scores,
    session_points,
    trajectory_points,
)
from kapviz.metrics.trajectory_tables import (
    MAX_GROUPS,
    MIN_COURSES,
    TABLE_COLUMNS,
    VALUE_COLUMNS,
    CohortMeasure,
    attrition,
    course_lines,
    course_values,
    grouped_table,
    paired_change_values,
    table_from_values,
    trajectory_table,
)

__all__ = [
    "AXES",
    "CohortMeasure",
    "DOSE_BANDS_MG",
    "DOSE_BANDS_MG_PER_KG",
    "FIRST_DOSE_COLUMNS",
    "FOUR_WEEKLY_UNTIL_DAYS",
    "MAX_DOSES",
    "MAX_GROUPS",
    "MIN_COURSES",
    "POINT_COLUMNS",
    "TABLE_COLUMNS",
    "VALUE_COLUMNS",
    "WEEKLY_UNTIL_DAYS",
    "attributes_from_first_doses",
    "attrition",
    "course_attributes",
    "course_first_doses",
    "course_lines",
    "course_values",
    "day_bins",
    "grouped_table",
    "paired_change_values",
    "instrument_scores",
    "points_from_scores",
    "session_points",
    "table_from_values",
    "trajectory_points",
    "trajectory_table",
]
