"""Compact trajectory points (categorical ids and labels, as the page's loader keeps them)
give the same tables, course lines and mixed model as the object-column points; the
grouping on integer codes equals the pandas groupby definitions; one instrument's points
are that instrument's rows of all points."""

from __future__ import annotations

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from kapviz.db import queries
from kapviz.db.engine import make_engine
from kapviz.demo import generate_clinic
from kapviz.filters import Filters
from kapviz.instruments import OUTCOME_INSTRUMENTS
from kapviz.metrics import model, trajectory_axes, trajectory_tables
from kapviz.metrics import scores as sm
from kapviz.metrics.stats import mean_ci

IDS = ["patient_id", "course_id", "instrument"]
LABELS = ["phase", "session_phase", "point", "day_bin"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> tuple[pd.DataFrame, ...]:
    """Scores, anchors, doses and sessions of a 300-patient demo clinic."""
    url = f"sqlite:///{tmp_path_factory.mktemp('compact') / 'demo.db'}"
    generate_clinic(make_engine(url), patients=300, seed=3)
    with make_engine(url).connect() as conn:
        sessions = queries.sessions(conn, Filters())
        assessments = queries.assessments(conn, Filters(), instruments=list(OUTCOME_INSTRUMENTS))
    return (
        sm.course_scores(assessments, sessions),
        sm.course_anchors(sessions),
        sm.completed_doses(sessions),
        sessions,
    )


@pytest.fixture(scope="module")
def points(inputs) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(object points, compact points) of the demo clinic."""
    return trajectory_axes.points_from_scores(*inputs), trajectory_axes.points_from_scores(
        *inputs, compact=True
    )


def test_compact_points_hold_the_same_values(points) -> None:
    """Only the dtype of the id columns differs."""
    plain, compact = points
    assert all(isinstance(compact[c].dtype, pd.CategoricalDtype) for c in IDS + LABELS)
    assert_frame_equal(compact.astype({c: object for c in IDS + LABELS}), plain, check_exact=True)


@pytest.mark.parametrize("axis", trajectory_axes.AXES)
@pytest.mark.parametrize("instrument", ["PHQ-9", "GAD-7"])
def test_same_tables_and_lines(points, axis: str, instrument: str) -> None:
    """Course values, the trajectory table, attrition and the sampled lines are equal."""
    results = []
    for frame in points:
        mine = frame[frame["instrument"] == instrument]
        values = trajectory_tables.course_values(mine, axis=axis)
        lines, total = trajectory_tables.course_lines(
            mine, axis=axis, instrument=instrument, max_courses=50, values=values
        )
        results.append(
            (
                values,
                trajectory_tables.trajectory_table(mine, axis=axis, values=values),
                trajectory_tables.attrition(mine, axis=axis, values=values),
                lines,
                total,
            )
        )
    (*plain, plain_total), (*compact, compact_total) = results
    for a, b in zip(plain, compact, strict=True):
        assert_frame_equal(b, a)
    assert compact_total == plain_total


def test_same_mixed_model(points) -> None:
    """The same sampled courses, estimates and bands."""
    plain, compact = (
        model.fit_trajectory_model(p, instrument="PHQ-9", max_courses=80) for p in points
    )
    assert plain.ok and compact.ok
    assert compact.params == plain.params
    assert_frame_equal(compact.days_band, plain.days_band)
    assert_frame_equal(compact.session_band, plain.session_band)


@pytest.mark.parametrize("instrument", OUTCOME_INSTRUMENTS)
def test_points_of_one_instrument(inputs, points, instrument: str) -> None:
    """Placing one instrument's scores gives exactly its rows among all points."""
    scores, *rest = inputs
    mine = trajectory_axes.points_from_scores(
        trajectory_axes.instrument_scores(scores, instrument), *rest, compact=True
    )
    _, compact = points
    expected = compact[compact["instrument"] == instrument].reset_index(drop=True)
    assert_frame_equal(mine, expected, check_exact=True)
    assert trajectory_axes.instrument_scores(scores, "MOAA/S").empty


def reference_values(points: pd.DataFrame, axis: str) -> pd.DataFrame:
    """course_values as a pandas groupby (the definition)."""
    label, order, x = {"session": ("point", "point_order", "point_order")}.get(
        axis, ("day_bin", "day_order", "day_x")
    )
    placed = points[points[order].notna()].astype({c: object for c in IDS + LABELS})
    keys = ["instrument", "patient_id", "course_id", order]
    values = placed.groupby(keys, sort=True, dropna=False).agg(
        point=(label, "first"), x=(x, "first"), phase=("phase", "first"), total=("total", "mean")
    )
    values = values.reset_index().rename(columns={order: "order"})
    values = values.astype({"order": "int64", "x": "float64"})
    cols = ["instrument", "patient_id", "course_id", "point", "order", "x", "phase", "total"]
    return values[cols]


def reference_table(values: pd.DataFrame, axis: str) -> pd.DataFrame:
    """trajectory_table as a loop over a pandas groupby (the definition)."""
    records = []
    for (instrument, order), part in values.groupby(["instrument", "order"], sort=False):
        totals = part["total"]
        mean, low, high = mean_ci(totals)
        records.append(
            {
                "instrument": instrument,
                "point": part["point"].iloc[0],
                "order": int(order),
                "x": float(part["x"].iloc[0]),
                "phase": part["phase"].iloc[0] if axis == "session" else None,
                "courses": int(totals.size),
                "mean": mean,
                "ci_low": low,
                "ci_high": high,
                "median": float(totals.median()),
                "q1": float(totals.quantile(0.25)),
                "q3": float(totals.quantile(0.75)),
            }
        )
    table = pd.DataFrame.from_records(records, columns=trajectory_tables.TABLE_COLUMNS)
    return trajectory_tables._sorted_by_instrument(table).reset_index(drop=True)


def reference_attrition(values: pd.DataFrame) -> pd.DataFrame:
    """attrition as pandas groupbys (the definition)."""
    total = values.groupby("instrument")["course_id"].nunique()
    counts = values.groupby(["instrument", "order"], as_index=False).agg(
        point=("point", "first"), courses=("course_id", "nunique")
    )
    counts["share"] = counts["courses"] / counts["instrument"].map(total).astype("float64")
    counts = counts[["instrument", "point", "order", "courses", "share"]]
    return trajectory_tables._sorted_by_instrument(counts).reset_index(drop=True)


@pytest.mark.parametrize("axis", trajectory_axes.AXES)
@pytest.mark.parametrize("which", ["plain", "compact", "one instrument"])
def test_grouping_on_codes_equals_the_groupby(points, axis: str, which: str) -> None:
    """Course values, table and attrition equal the pandas groupby definitions exactly."""
    plain, compact = points
    frame = {"plain": plain, "compact": compact}.get(which)
    if frame is None:
        frame = compact[compact["instrument"] == "PHQ-9"]
    values = trajectory_tables.course_values(frame, axis=axis)
    expected = reference_values(frame, axis)
    assert_frame_equal(values, expected, check_exact=True)
    assert_frame_equal(
        trajectory_tables.table_from_values(values, axis=axis),
        reference_table(expected, axis),
        check_exact=True,
    )
    assert_frame_equal(
        trajectory_tables.attrition(frame, axis=axis, values=values),
        reference_attrition(expected),
        check_exact=True,
    )


@pytest.mark.parametrize("axis", trajectory_axes.AXES)
def test_no_points(points, axis: str) -> None:
    """No points: empty values, table and attrition with their columns."""
    for frame in points:
        values = trajectory_tables.course_values(frame.iloc[:0], axis=axis)
        assert values.empty
        assert list(values.columns) == list(reference_values(frame.iloc[:0], axis).columns)
        assert (
            list(trajectory_tables.table_from_values(values, axis=axis).columns)
            == trajectory_tables.TABLE_COLUMNS
        )
        assert trajectory_tables.attrition(frame.iloc[:0], axis=axis, values=values).empty


def test_median_is_series_median() -> None:
    """The table's median is Series.median to the last bit (np.percentile's 50th is not:
    10.833333333333332 instead of 10.833333333333334 here)."""
    totals = [11 / 3, 18.0, 1.0, 30.0]
    values = pd.DataFrame(
        {
            "instrument": pd.Series(["PHQ-9"] * 4, dtype="str"),
            "patient_id": pd.Series(["A", "B", "C", "D"], dtype="str"),
            "course_id": pd.Series(["A-1", "B-1", "C-1", "D-1"], dtype="str"),
            "point": pd.Series(["Dose 1"] * 4, dtype=object),
            "order": [2] * 4,
            "x": [2.0] * 4,
            "phase": pd.Series(["dosing"] * 4, dtype=object),
            "total": totals,
        }
    )
    table = trajectory_tables.table_from_values(values)
    assert table["median"].iloc[0] == pd.Series(totals).median()
    assert_frame_equal(table, reference_table(values, "session"), check_exact=True)
