"""What a clinic outcome rate is about, for matching it with published figures.

Routes are the first-dose routes of the evaluable courses; the time point is their median
endpoint, in days and in completed dosing sessions since the first dose. Pure pandas.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kapviz.evidence.registry import ClinicFigure
from kapviz.metrics.scores import DATETIME_DTYPE, doses_up_to


def clinic_figure(
    outcomes: pd.DataFrame,
    doses: pd.DataFrame | None,
    first_doses: pd.DataFrame | None,
    *,
    instrument: str,
    measure: str,
    routes: frozenset[str] | None = None,
) -> ClinicFigure:
    """`ClinicFigure` of one instrument's `course_outcomes` rows.

    `doses` is `completed_doses` (course_id, started_at, dose_number), or None when the
    dose count at the endpoint is not wanted (left unknown); `first_doses` has
    course_id and route (a route code, as kapviz.metrics.course_attributes
    FIRST_DOSE_COLUMNS), or is None when `routes`, the first-dose routes of the evaluable
    courses, were found in SQL (kapviz.db.rollups.first_dose_routes).
    """
    rows = outcomes[(outcomes["instrument"] == instrument) & outcomes["evaluable"].astype(bool)]
    if routes is None:
        route_of = first_doses.drop_duplicates("course_id").set_index("course_id")["route"]
        routes = frozenset(str(r) for r in rows["course_id"].map(route_of).dropna().unique())
    if rows.empty:
        return ClinicFigure(instrument, measure, routes)
    first = rows["first_dose_at"].to_numpy(dtype=DATETIME_DTYPE)
    end = rows["endpoint_at"].to_numpy(dtype=DATETIME_DTYPE)
    days = (end - first) / np.timedelta64(1, "D")
    endpoint_doses = None
    if doses is not None:
        courses = pd.Index(pd.unique(rows["course_id"].astype(object)))
        codes = courses.get_indexer(rows["course_id"].astype(object))
        endpoint_doses = float(np.median(doses_up_to(doses, courses, codes, end)))
    return ClinicFigure(
        instrument,
        measure,
        routes,
        endpoint_days=float(np.median(days)),
        endpoint_doses=endpoint_doses,
    )
