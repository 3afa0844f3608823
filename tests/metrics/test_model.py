"""The mixed-model trajectory: recovers a known slope, says when data are too few."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kapviz.metrics.model import (
    MAX_COURSES,
    MIN_CHECK_COURSES,
    MIN_PATIENTS,
    _sample,
    fit_trajectory_model,
)
from kapviz.metrics.trajectory_axes import trajectory_points


def synthetic(
    n_patients: int, *, seed: int = 1, slope: float = -1.0, noise: float = 1.5
) -> pd.DataFrame:
    """Trajectory points of a seeded cohort: PHQ-9 = 18 + slope·weeks + patient effects.

    Each patient: one course, doses on days 0, 3, 7, 10, integration day 14; scores on
    days −3, 0.1, 3.1, 7.1, 14, 28, 56 (phases from the dates), patient random intercept
    SD 2 and slope SD 0.2 per week.
    """
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2026-01-05 09:00")
    sess, scores = [], []
    for i in range(n_patients):
        pid, course = f"P{i}", f"P{i}-C1"
        for k, day in enumerate((0, 3, 7, 10), start=1):
            sess.append(
                (f"{pid}-D{k}", pid, course, start + pd.Timedelta(days=day), "dosing", "completed")
            )
        sess.append(
            (f"{pid}-I", pid, course, start + pd.Timedelta(days=14), "integration", "completed")
        )
        b0, b1 = rng.normal(0, 2), rng.normal(0, 0.2)
        for day in (-3, 0.1, 3.1, 7.1, 14, 28, 56):
            value = 18 + b0 + (slope + b1) * max(day, 0) / 7 + rng.normal(0, noise)
            total = int(np.clip(round(value), 0, 27))
            scores.append((pid, course, None, "PHQ-9", start + pd.Timedelta(days=day), total))
    sessions = pd.DataFrame.from_records(
        sess, columns=["session_id", "patient_id", "course_id", "started_at", "phase", "status"]
    )
    frame = pd.DataFrame.from_records(
        scores,
        columns=["patient_id", "course_id", "session_id", "instrument", "administered_at", "total"],
    )
    frame.insert(0, "id", range(1, len(frame) + 1))
    return trajectory_points(sessions, frame)


def test_recovers_known_slope() -> None:
    """On 200 patients with slope −1/week the fitted weekly slope is within ±0.2."""
    model = fit_trajectory_model(synthetic(200), instrument="PHQ-9")
    assert model.ok, model.reason
    assert model.random_slope
    assert model.params["weeks"] == pytest.approx(-1.0, abs=0.2)
    assert model.n_patients == 200
    assert model.sampled_from is None
    band = model.days_band
    assert list(band.columns) == ["point", "order", "x", "mean", "ci_low", "ci_high"]
    assert (band["ci_low"] < band["mean"]).all() and (band["mean"] < band["ci_high"]).all()
    # Baseline bin ≈ 18; week 8 (day 56) ≈ 18 − 8.
    assert band.iloc[0]["mean"] == pytest.approx(18, abs=1.0)
    assert band.set_index("point").loc["Week 8", "mean"] == pytest.approx(10, abs=1.5)
    assert "200 courses" in model.note


@pytest.mark.parametrize(
    ("n_patients", "reason_part"),
    [(0, "0 patients"), (3, "3 patients"), (MIN_PATIENTS - 1, f"{MIN_PATIENTS - 1} patients")],
)
def test_too_little_data_says_so(n_patients: int, reason_part: str) -> None:
    """Below the minimum the result is not ok and names the shortfall in words."""
    model = fit_trajectory_model(synthetic(n_patients), instrument="PHQ-9")
    assert not model.ok
    assert reason_part in model.reason
    assert model.days_band.empty
    assert model.note.startswith("No model-based trajectory: too little data")


def test_other_instrument_has_no_data() -> None:
    """An instrument without scores is 'too little data', not an exception."""
    model = fit_trajectory_model(synthetic(20), instrument="GAD-7")
    assert not model.ok and "0 patients" in model.reason


def test_large_cohort_is_sampled_and_fast() -> None:
    """Above max_courses a seeded sample is fitted, reproducibly, and the note says so."""
    points = synthetic(400, seed=3)
    model = fit_trajectory_model(points, instrument="PHQ-9", max_courses=150, seed=5)
    assert model.ok, model.reason
    assert model.n_courses == 150
    assert model.sampled_from == 400
    assert "sample of the 400 courses" in model.note
    again = fit_trajectory_model(points, instrument="PHQ-9", max_courses=150, seed=5)
    assert again.params == model.params


def test_default_cap_samples() -> None:
    """Above the default cap (MAX_COURSES) the fit uses exactly MAX_COURSES courses.

    Fit time is a benchmark, not an assertion (shared CI cores): ~1.1 s at the cap.
    """
    model = fit_trajectory_model(synthetic(MAX_COURSES + 50, seed=4), instrument="PHQ-9")
    assert model.ok, model.reason
    assert model.n_courses == MAX_COURSES
    assert model.sampled_from == MAX_COURSES + 50
    assert model.fit_seconds > 0


def test_session_band_follows_phase_axis() -> None:
    """The session-axis band has one point per observed phase point, in course order."""
    model = fit_trajectory_model(synthetic(60), instrument="PHQ-9")
    assert model.ok, model.reason
    assert list(model.session_band["point"]) == [
        "Preparation",
        "Dose 1",
        "Dose 2",
        "Dose 3",
        "Integration",
        "Follow-up",
    ]


def test_params_are_time_since_first_dose_never_phase() -> None:
    """Fixed effects are time since the first dose (with a step after it and knots at 2, 4
    and 12 weeks where there are scores); no phase term; the note names the formula."""
    model = fit_trajectory_model(synthetic(40), instrument="PHQ-9")
    assert model.ok, model.reason
    # Scores reach day 56 (week 8): the knot at week 12 has no data and is left out.
    assert set(model.params) == {
        "intercept",
        "after first dose",
        "weeks",
        "weeks after 2",
        "weeks after 4",
    }
    assert ("random intercept and slope" in model.note) == model.random_slope
    assert "weeks since the first dose (0 on or before it)" in model.note
    assert "on 40 courses" not in model.note and "of 40 courses (40 patients)" in model.note


@pytest.mark.parametrize("compact", [False, True])
def test_sample_is_series_sample_of_courses(compact: bool) -> None:
    """The rows fitted are those of the definition: usable rows of the instrument, courses
    in order of first appearance, `Series.sample(n, random_state=seed)` of them."""
    points = synthetic(120, seed=2)
    if compact:
        points = points.astype({c: "category" for c in ["patient_id", "course_id", "phase"]})
    data = points[(points["instrument"] == "PHQ-9") & points["day_order"].notna()]
    data = data.dropna(subset=["days", "total", "phase"])
    courses = data["course_id"].drop_duplicates()
    keep = set(courses.sample(n=50, random_state=7))
    expected = data[data["course_id"].isin(keep)]
    got, sampled_from = _sample(points, "PHQ-9", max_courses=50, seed=7)
    pd.testing.assert_frame_equal(got, expected)
    assert sampled_from == 120
    whole, none = _sample(points, "PHQ-9", max_courses=500, seed=7)
    pd.testing.assert_frame_equal(whole, data)
    assert none is None


def test_baseline_scores_are_time_zero() -> None:
    """Scores on or before the first dose are baseline (w = 0, not dosed): the model's
    baseline-window point is its intercept exactly."""
    model = fit_trajectory_model(synthetic(60), instrument="PHQ-9")
    baseline = model.days_band.set_index("point").loc["Baseline (−30–0 d)", "mean"]
    assert baseline == pytest.approx(model.params["intercept"])


def test_band_drawn_where_the_model_agrees() -> None:
    """Linear data: every point with ≥ 30 courses agrees, the band is drawn on them."""
    model = fit_trajectory_model(synthetic(200), instrument="PHQ-9")
    for axis in ("days", "session"):
        check = model.days_check if axis == "days" else model.session_check
        assert len(check) >= 5 and check["agrees"].all()
        assert (check["courses"] >= MIN_CHECK_COURSES).all()
        assert model.misfit(axis) is None
        band = model.band(axis)
        assert band is not None and list(band["order"]) == list(check["order"])


def zigzag(n_patients: int) -> pd.DataFrame:
    """A hand cohort no broken line can fit: PHQ-9 18 at baseline, then 4, 22, 4, 22 in
    weeks 1–4 (days 3, 10, 17, 24), the same for every patient but for ±1."""
    start = pd.Timestamp("2026-01-05 09:00")
    sess, scores = [], []
    for i in range(n_patients):
        pid, course = f"Z{i}", f"Z{i}-C1"
        sess.append((f"{pid}-D1", pid, course, start, "dosing", "completed"))
        wobble = (i % 3) - 1
        for day, total in ((-2, 18), (3, 4), (10, 22), (17, 4), (24, 22)):
            scores.append(
                (pid, course, None, "PHQ-9", start + pd.Timedelta(days=day), total + wobble)
            )
    sessions = pd.DataFrame.from_records(
        sess, columns=["session_id", "patient_id", "course_id", "started_at", "phase", "status"]
    )
    frame = pd.DataFrame.from_records(
        scores,
        columns=["patient_id", "course_id", "session_id", "instrument", "administered_at", "total"],
    )
    frame.insert(0, "id", range(1, len(frame) + 1))
    return trajectory_points(sessions, frame)


def test_no_band_where_the_model_cannot_fit() -> None:
    """The zigzag cohort: the fit runs, but on the days axis its means miss the observed
    CIs: no band there, and the words say where (hand: week 2 observed 22 ± 0.3). On the
    session axis every post-dose score is one point ("Integration", a single dose), whose
    mean the model does reproduce: a band there is honest."""
    model = fit_trajectory_model(zigzag(60), instrument="PHQ-9")
    assert model.ok, model.reason
    assert model.band("days") is None
    text = model.misfit("days")
    assert text.startswith("The model does not fit these data, so no model band is drawn")
    assert "n = 60" in text
    assert model.misfit("session") is None
    assert list(model.band("session")["point"]) == ["Preparation", "Integration"]
    observed = model.days_check.set_index("point").loc["Week 2", "observed"]
    assert observed == pytest.approx(22.0)


def test_demo_clinic_model_agrees_and_is_drawn(tmp_path) -> None:
    """The 300-patient demo clinic (seed 11): the PHQ-9 model agrees with the observed
    means at every point of ≥ 30 courses on both axes, so its band is drawn there; its
    baseline (t ≤ 0) is the observed baseline mean within its CI, not a "dosing" value."""
    from kapviz.db import queries
    from kapviz.db.engine import make_engine
    from kapviz.demo import generate_clinic
    from kapviz.filters import Filters
    from kapviz.instruments import OUTCOME_INSTRUMENTS

    url = f"sqlite:///{tmp_path / 'demo.db'}"
    generate_clinic(make_engine(url), patients=300, seed=11)
    with make_engine(url).connect() as conn:
        sessions = queries.sessions(conn, Filters())
        assessments = queries.assessments(conn, Filters(), instruments=list(OUTCOME_INSTRUMENTS))
    model = fit_trajectory_model(trajectory_points(sessions, assessments), instrument="PHQ-9")
    assert model.ok, model.reason
    for axis in ("days", "session"):
        check = model.days_check if axis == "days" else model.session_check
        assert len(check) >= 10 and check["agrees"].all(), check
        assert model.misfit(axis) is None
        assert len(model.band(axis)) == len(check)
    baseline = model.days_check.iloc[0]
    assert baseline["point"] == "Baseline (−30–0 d)"
    assert baseline["ci_low"] <= model.params["intercept"] <= baseline["ci_high"]
