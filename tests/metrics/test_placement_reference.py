"""The product's placement of scores on the session axis (kapviz.metrics.trajectory_axes)
equals the plain row-by-row reference of DOMAIN.md §3 (tests/reference/placement.py), on
the hand clinic and on a 300-patient demo clinic; and the revised rule no longer draws the
false "integration" rise the first version drew."""

from __future__ import annotations

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from kapviz.db import queries
from kapviz.db.engine import make_engine
from kapviz.demo import generate_clinic
from kapviz.filters import Filters
from kapviz.instruments import OUTCOME_INSTRUMENTS
from kapviz.metrics import scores as sm
from kapviz.metrics import trajectory_axes
from tests.clinic import build_clinic
from tests.reference.placement import place_all

COLUMNS = ["id", "phase", "session_phase", "point"]


def _frames(url: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    with make_engine(url).connect() as conn:
        sessions = queries.sessions(conn, Filters())
        assessments = queries.assessments(conn, Filters(), instruments=list(OUTCOME_INSTRUMENTS))
    return sessions, assessments


def assert_placement_equals_reference(sessions: pd.DataFrame, assessments: pd.DataFrame) -> int:
    scores = sm.course_scores(assessments, sessions)
    product = trajectory_axes.points_from_scores(
        scores, sm.course_anchors(sessions), sm.completed_doses(sessions), sessions
    )
    reference = place_all(scores, sessions)
    got = product[COLUMNS].astype(object).sort_values("id").reset_index(drop=True)
    want = reference[COLUMNS].astype(object).sort_values("id").reset_index(drop=True)
    got["session_phase"] = got["session_phase"].where(got["session_phase"].notna(), None)
    want["session_phase"] = want["session_phase"].where(want["session_phase"].notna(), None)
    assert_frame_equal(got, want, check_dtype=False)
    dosing = product.sort_values("id")["phase"].to_numpy() == "dosing"
    assert list(product.sort_values("id")["dose_number"][dosing]) == list(
        reference.sort_values("id")["dose_number"][dosing]
    )
    return len(product)


@pytest.fixture(scope="module")
def demo_frames(tmp_path_factory) -> tuple[pd.DataFrame, pd.DataFrame]:
    url = f"sqlite:///{tmp_path_factory.mktemp('placement') / 'demo.db'}"
    generate_clinic(make_engine(url), patients=300, seed=5)
    return _frames(url)


def test_hand_clinic_equals_the_reference(tmp_path) -> None:
    """tests/clinic.py: every outcome score placed as the reference places it."""
    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    build_clinic(make_engine(url))
    sessions, assessments = _frames(url)
    assert assert_placement_equals_reference(sessions, assessments) == 12


def test_demo_clinic_equals_the_reference(demo_frames) -> None:
    """A 300-patient demo clinic: thousands of scores, interleaved integration sessions."""
    assert assert_placement_equals_reference(*demo_frames) > 5000


def test_demo_integration_sessions_sit_at_their_dose(demo_frames) -> None:
    """Most integration-session scores are taken during the dosing series: they are placed
    at "Dose k", and the "Integration" point holds only scores after the last dose."""
    sessions, assessments = demo_frames
    points = trajectory_axes.trajectory_points(sessions, assessments)
    phq9 = points[points["instrument"] == "PHQ-9"]
    integration = phq9[phq9["session_phase"] == "integration"]
    during = integration["point"].astype(str).str.startswith("Dose")
    assert during.mean() > 0.5
    # Every score at the "Integration" point was taken after its course's last dose.
    anchors = sm.course_anchors(sessions)
    at_point = phq9[phq9["point"] == "Integration"]
    last = anchors.loc[at_point["course_id"], "last_dose_at"].dt.normalize().to_numpy()
    assert (at_point["administered_at"].to_numpy() >= last + pd.Timedelta(days=1)).all()
