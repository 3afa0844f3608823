"""Time to first response on the Trajectories page and the Case explorer (docs/domain.md §3).

Kaplan–Meier curves by route or indication, the medians in days and in dosing sessions
with their 95% CIs, the number at risk under the curve; per course, one line such as
"responded at day 18, after dose 4". Cached per filters × data version like
`kapviz.ui.trajectories`; analysts see no group of fewer courses than the small-cell
threshold and small numbers at risk as "<11".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from kapviz import instruments
from kapviz.charts.time_to_response import ALL_COURSES, response_curves
from kapviz.db import rollups
from kapviz.db.aggregates import cohort
from kapviz.domain import INDICATIONS, ROUTE_LABELS, ROUTES
from kapviz.filters import Filters
from kapviz.metrics import time_to_response as ttr
from kapviz.metrics.course_attributes import attributes_from_first_doses
from kapviz.metrics.outcomes import course_outcomes
from kapviz.metrics.scores import completed_doses, doses_up_to
from kapviz.ui import data, redact, rollup_panel
from kapviz.ui.db import database_url, settings

TTL = 3600
"""An hour: every entry is keyed by the data version and dropped on a new one
(kapviz.ui.data.drop_old_versions); the hour lets go of filter sets nobody asks for again."""
BY = {"Route": "route", "Indication": "indication", "None": None}
ORDERS = {"route": [ROUTE_LABELS[r] for r in ROUTES], "indication": list(INDICATIONS)}
SCALE_LABELS = {"Days": "days", "Dosing sessions": "doses"}


def _key(filters: Filters) -> tuple:
    return (database_url(), filters, data.version(), settings().baseline_window_days)


@st.cache_resource(ttl=TTL, max_entries=32, show_spinner=False)
def _times(key: tuple, instrument: str) -> pd.DataFrame:
    outcomes = data.outcomes(key[1])
    return ttr.response_times(
        outcomes[outcomes["instrument"] == instrument], _doses(key[1], instrument, key[3])
    )


def _doses(filters: Filters, instrument: str, window: int) -> pd.DataFrame:
    """The completed doses `response_times` needs: from the outcome rollup, those of the
    censored courses only (the same counts, from a fraction of the rows), else all of them."""
    if rollups.serves(filters) and rollup_panel.status().current:
        doses = data.aggregate(
            rollups.censored_doses, filters, instrument=instrument, baseline_window_days=window
        )
        if doses is not None:
            return doses
    return data.aggregate(cohort.completed_doses, filters)


@st.cache_resource(ttl=TTL, max_entries=32, show_spinner=False)
def _groups(key: tuple, column: str) -> pd.Series:
    first_doses = data.first_doses(key[1])
    return attributes_from_first_doses(first_doses).set_index("course_id")[column]


@st.cache_resource(ttl=TTL, max_entries=64, show_spinner=False)
def _analysis(
    key: tuple, instrument: str, column: str | None, small: int | None
) -> tuple[ttr.TimeToResponse, list[ttr.TimeToResponse]]:
    times = _times(key, instrument)
    overall = ttr.time_to_response(times, group=ALL_COURSES)
    if column is None:
        return overall, []
    groups = ttr.by_group(times, _groups(key, column), min_courses=small or 1)
    if len(groups) == 1 and groups[0].days.courses == overall.days.courses:
        groups = []  # one route (or indication) only: its curve is the all-courses curve
    return overall, groups


@st.cache_resource(ttl=TTL, max_entries=64, show_spinner=False)
def _figure(
    key: tuple, instrument: str, column: str | None, scale: str, small: int | None
) -> go.Figure:
    overall, groups = _analysis(key, instrument, column, small)
    threshold = settings().small_cell_threshold
    label = (
        (lambda n: f"<{threshold}" if 0 < n < threshold else f"{n:,}")
        if small is not None
        else (lambda n: f"{n:,}")
    )
    return response_curves(
        groups,
        overall=overall,
        scale=scale,
        order=ORDERS.get(column or "", []),
        count_label=label,
        title=f"{instrument}: time to first response",
    )


def _ci(low: float | None, high: float | None) -> str:
    return f"{_num(low)}–{_num(high)}"


def medians_table(overall: ttr.TimeToResponse, groups: list[ttr.TimeToResponse]) -> pd.DataFrame:
    """Per group: courses, responders, median days and dose number with 95% CIs (text)."""
    rows = []
    for result in [overall, *groups]:
        rows.append(
            {
                "group": result.group,
                "courses": result.days.courses,
                "responders": result.days.responders,
                "median_days": _num(result.days.median),
                "days_ci": _ci(*result.days.median_ci),
                "median_dose": _num(result.doses.median),
                "dose_ci": _ci(*result.doses.median_ci),
            }
        )
    return pd.DataFrame(rows)


def _num(value: float | None) -> str:
    """Days or a dose number as shown: one decimal at most (29.84375 → "29.8")."""
    return "not reached" if value is None else f"{value:,.1f}".removesuffix(".0")


def sentence(overall: ttr.TimeToResponse, *, instrument: str) -> str:
    """The medians of all courses in words, with what was counted."""
    d, k = overall.days, overall.doses
    if d.courses == 0:
        return f"No {instrument} course is evaluable for a response, so no time to response."
    if d.median is None:
        head = f"Fewer than half of {redact.count_label(d.courses)} courses have responded"
        return head + " by their last score: the median is not reached."
    return (
        f"Half of the courses responded by day **{_num(d.median)}** (95% CI "
        f"{_ci(*d.median_ci)}) and by dosing session **{_num(k.median)}** (95% CI "
        f"{_ci(*k.median_ci)}); "
        f"{redact.count_label(d.responders)} of {redact.count_label(d.courses)} courses "
        "responded."
    )


METHOD = (
    "Kaplan–Meier estimate from the first dose: a course responds at its first score "
    "meeting the {rule} against its baseline, and is censored at its last score if it never "
    "does. Percent rules count evaluable courses with baseline > 0. The median is the first "
    "time at which at least half have responded (S(t) ≤ 0.5); 95% CIs by Brookmeyer–Crowley "
    "with log–log Greenwood limits. The axis ends where fewer than 10 courses remain at risk."
)


def section(filters: Filters, instrument: str) -> None:
    """Time to first response of one instrument: curve, medians and number at risk."""
    key = _key(filters)
    inst = instruments.get(instrument)
    st.markdown(f"**Time to first response · {instrument}**")
    left, right = st.columns([1, 1])
    by_label = left.segmented_control(
        "Curves by", list(BY), default="Route", key=f"ttr_by_{instrument}"
    )
    scale_label = right.segmented_control(
        "Time in", list(SCALE_LABELS), default="Days", key=f"ttr_scale_{instrument}"
    )
    column = BY.get(by_label or "None")
    scale = SCALE_LABELS.get(scale_label or "Days", "days")
    small = redact.small_below()
    try:
        overall, groups = _analysis(key, instrument, column, small)
    except ttr.TimeToResponseUnknown as exc:
        st.info(f"Time to response is not available here: {exc}.")
        return
    st.markdown(sentence(overall, instrument=instrument))
    if small is not None and overall.days.courses < small:
        st.caption(redact.SUPPRESSED_CAPTION.format(last=small - 1))
        return
    if overall.days.courses == 0:
        return
    st.plotly_chart(
        _figure(key, instrument, column, scale, small), theme=None, key=f"ttr_chart_{instrument}"
    )
    rule = (
        f"response rule (≥{inst.response_threshold:g}-point drop)"
        if inst.response_kind == "points"
        else f"response rule (≥{inst.response_threshold:.0%} reduction)"
    )
    st.caption(METHOD.format(rule=rule))
    redact.aggregate_table(
        medians_table(overall, groups),
        counts=["courses", "responders"],
        blank=["median_days", "days_ci", "median_dose", "dose_ci"],
        key=f"ttr_table_{instrument}",
        hide_index=True,
        column_config={
            "group": "Courses",
            # Thousands separated ("2,277"), as in the sentence above the table.
            "courses": st.column_config.NumberColumn("In analysis", format="localized"),
            "responders": st.column_config.NumberColumn("Responded", format="localized"),
            "median_days": "Median days",
            "days_ci": "95% CI (days)",
            "median_dose": "Median dosing session",
            "dose_ci": "95% CI (sessions)",
        },
    )


@st.cache_resource(ttl=TTL, max_entries=64, show_spinner=False)
def _course_lines(key: tuple, patient_id: str, course_id: str) -> tuple[tuple[str, str], ...]:
    # This patient's sessions and scores only: the Case explorer never reads the cohort's
    # every score for one line.
    filters, window = key[1], key[3]
    sessions = data.sessions(filters, patient_id=patient_id)
    scores = data.assessments(
        filters, patient_id=patient_id, instruments=list(instruments.OUTCOME_INSTRUMENTS)
    )
    if sessions.empty or scores.empty:
        return ()
    outcomes = course_outcomes(sessions, scores, baseline_window_days=window)
    doses = completed_doses(sessions)
    mine = outcomes[outcomes["course_id"] == course_id]
    lines = []
    for row in mine.to_dict("records"):
        at_end = None
        if bool(row["evaluable"]) and pd.notna(row["endpoint_at"]):
            at = np.array([row["endpoint_at"]], dtype="datetime64[us]")
            counts = doses_up_to(doses, pd.Index([course_id]), np.zeros(1, dtype=np.int64), at)
            at_end = int(counts[0])
        line = ttr.describe_course(pd.Series(row), doses_at_endpoint=at_end)
        lines.append((row["instrument"], line))
    return tuple(lines)


def course_line(filters: Filters, patient_id: str, course_id: str | None) -> None:
    """ "First response: PHQ-9 responded at day 18, after dose 4; GAD-7 …" for one course."""
    if course_id is None:
        return
    lines = _course_lines(_key(filters), patient_id, course_id)
    if lines:
        st.markdown("**First response:** " + "; ".join(f"{name} {text}" for name, text in lines))
