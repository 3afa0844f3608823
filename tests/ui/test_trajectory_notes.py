"""The Trajectories page's words about the cohort line and the model band."""

from __future__ import annotations

from kapviz.metrics.model import fit_trajectory_model
from kapviz.metrics.trajectory_tables import CohortMeasure
from kapviz.ui import trajectories as view
from tests.metrics.test_model import synthetic, zigzag


def test_model_that_does_not_fit_is_said_and_not_drawn() -> None:
    """The zigzag cohort on the days axis: the page says the model does not fit."""
    fitted = fit_trajectory_model(zigzag(60), instrument="PHQ-9")
    notes = view.model_notes(fitted, "days", CohortMeasure.SCORES)
    assert notes[0].startswith("Linear mixed model")
    assert "n = 60" in notes[1] and "does not fit these data" in notes[1]
    assert fitted.band("days") is None


def test_model_that_fits_names_where_it_is_drawn() -> None:
    fitted = fit_trajectory_model(synthetic(200), instrument="PHQ-9")
    notes = view.model_notes(fitted, "days", CohortMeasure.SCORES)
    assert notes[1].startswith("Model band drawn at the points with ≥ 30 courses")
    change = view.model_notes(fitted, "days", CohortMeasure.CHANGE)
    assert change[1] == 'The model band is drawn on the "All available scores" view.'


def test_composition_notes() -> None:
    assert view.composition_note(CohortMeasure.CHANGE).startswith(
        "Mean change from each course's own baseline, among the courses with a baseline"
    )
    assert "change from point to point" in view.composition_note(CohortMeasure.SCORES)
