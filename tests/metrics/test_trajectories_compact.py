"""Compact trajectory points (categorical ids, as the page's loader keeps them) give the
same tables, course lines and mixed model as the object-column points."""

from __future__ import annotations

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from kapviz.db import queries
from kapviz.db.engine import make_engine
from kapviz.demo import generate_clinic
from kapviz.filters import Filters
from kapviz.instruments import OUTCOME_INSTRUMENTS
from kapviz.metrics import model
from kapviz.metrics import scores as sm
from kapviz.metrics import trajectories as tr

IDS = ["patient_id", "course_id", "instrument"]


@pytest.fixture(scope="module")
def points(tmp_path_factory) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(object points, compact points) of a 300-patient demo clinic."""
    url = f"sqlite:///{tmp_path_factory.mktemp('compact') / 'demo.db'}"
    generate_clinic(make_engine(url), patients=300, seed=3)
    with make_engine(url).connect() as conn:
        sessions = queries.sessions(conn, Filters())
        assessments = queries.assessments(conn, Filters(), instruments=list(OUTCOME_INSTRUMENTS))
    inputs = (
        sm.course_scores(assessments, sessions),
        sm.course_anchors(sessions),
        sm.completed_doses(sessions),
        sessions,
    )
    return tr.points_from_scores(*inputs), tr.points_from_scores(*inputs, compact=True)


def test_compact_points_hold_the_same_values(points) -> None:
    """Only the dtype of the id columns differs."""
    plain, compact = points
    assert all(isinstance(compact[c].dtype, pd.CategoricalDtype) for c in IDS)
    assert_frame_equal(compact.astype({c: object for c in IDS}), plain)


@pytest.mark.parametrize("axis", tr.AXES)
@pytest.mark.parametrize("instrument", ["PHQ-9", "GAD-7"])
def test_same_tables_and_lines(points, axis: str, instrument: str) -> None:
    """Course values, the trajectory table, attrition and the sampled lines are equal."""
    results = []
    for frame in points:
        mine = frame[frame["instrument"] == instrument]
        values = tr.course_values(mine, axis=axis)
        lines, total = tr.course_lines(
            mine, axis=axis, instrument=instrument, max_courses=50, values=values
        )
        results.append(
            (
                values,
                tr.trajectory_table(mine, axis=axis, values=values),
                tr.attrition(mine, axis=axis, values=values),
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
