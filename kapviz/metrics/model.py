"""Model-based average trajectory: a linear mixed-effects model of one instrument's totals.

total = β0 + β1·weeks since first dose + β_phase (preparation as reference)
        + patient random intercept + patient random slope on weeks (REML; the model of
statsmodels' MixedLM, fitted by kapviz.metrics.reml in milliseconds instead of seconds).
Unlike raw means, the model uses every course's scores at once and stays honest when
courses drop out. Large cohorts are fitted on a seeded sample of MAX_COURSES courses; too
little data, a failed fit or a non-converged fit gives `ok=False` and a reason in words
instead of a band. Uses the days-axis points of
`kapviz.metrics.trajectories.trajectory_points` (scores in the baseline window or later).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kapviz.domain import PHASES, Z_95
from kapviz.metrics.reml import fit_reml

log = logging.getLogger(__name__)

MIN_PATIENTS = 10
"""Fewer patients than this cannot separate patient variation from the average curve."""
MIN_SCORES = 30
MIN_REPEATED_PATIENTS = 5
"""Random slopes need patients with at least two scores over time."""
MAX_COURSES = 1000
"""Above this many courses the model is fitted on a seeded random sample of courses.

The fit of 1,000 courses (~15,000 scores) takes ~0.1 s on two shared cores and the
average trajectory it estimates is precise to about ±0.3 point (95% CI half-width of the
intercept on the demo clinic); the band is drawn from that sample and the note says so."""

BAND_COLUMNS = ["point", "order", "x", "mean", "ci_low", "ci_high"]


@dataclass(frozen=True)
class TrajectoryModel:
    """The fitted average trajectory, or why there is none (`ok` False, `reason`)."""

    ok: bool
    instrument: str
    reason: str | None = None
    n_scores: int = 0
    n_courses: int = 0
    n_patients: int = 0
    sampled_from: int | None = None
    """Courses available when the fit used a sample of them (None: all were used)."""
    random_slope: bool = False
    warnings: tuple[str, ...] = ()
    fit_seconds: float = 0.0
    params: dict[str, float] = field(default_factory=dict)
    days_band: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=BAND_COLUMNS))
    session_band: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=BAND_COLUMNS))

    @property
    def note(self) -> str:
        """One sentence for a caption: what was fitted on what, or why nothing was."""
        if not self.ok:
            return f"No model-based trajectory: {self.reason}"
        slope = "random intercept and slope" if self.random_slope else "random intercept only"
        text = (
            f"Linear mixed model ({slope} per patient) on {self.n_scores:,} scores of "
            f"{self.n_courses:,} courses ({self.n_patients:,} patients)"
        )
        if self.sampled_from:
            text += f", a seeded random sample of the {self.sampled_from:,} courses"
        return text + "."


def _design(weeks: np.ndarray, phases: pd.Series, levels: list[str]) -> np.ndarray:
    """Fixed-effects design: intercept, weeks, one indicator per non-reference phase."""
    cols = [np.ones_like(weeks), weeks]
    cols += [(phases == level).to_numpy(dtype=float) for level in levels[1:]]
    return np.column_stack(cols)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _fail(instrument: str, reason: str, **extra) -> TrajectoryModel:
    return TrajectoryModel(ok=False, instrument=instrument, reason=reason, **extra)


def _sample(
    points: pd.DataFrame, instrument: str, *, max_courses: int, seed: int
) -> tuple[pd.DataFrame, int | None]:
    """The instrument's points usable by the model (in the days axis, with days, total and
    phase), of at most `max_courses` courses: a seeded sample of the courses in order of
    first appearance (`Series.sample` positions), found on codes before any row is copied.
    Second value: the number of courses when sampled, else None."""
    usable = (points["instrument"] == instrument).to_numpy(dtype=bool, copy=True)
    for col in ("day_order", "days", "total", "phase"):
        usable &= points[col].notna().to_numpy(dtype=bool)
    rows = np.flatnonzero(usable)
    course = points["course_id"]
    if isinstance(course.dtype, pd.CategoricalDtype):
        course = course.cat.codes.to_numpy()[rows]
    else:
        course = course.take(rows)
    codes, found = pd.factorize(course)  # codes number courses by first appearance
    if len(found) <= max_courses:
        return points.take(rows), None
    positions = pd.Series(np.arange(len(found))).sample(n=max_courses, random_state=seed)
    keep = np.isin(codes, positions.to_numpy())
    return points.take(rows[keep]), int(len(found))


def fit_trajectory_model(
    points: pd.DataFrame,
    *,
    instrument: str,
    max_courses: int = MAX_COURSES,
    seed: int = 0,
) -> TrajectoryModel:
    """Fit the mixed model to one instrument's scores and predict the average trajectory."""
    data, sampled_from = _sample(points, instrument, max_courses=max_courses, seed=seed)
    counts = {
        "n_scores": int(len(data)),
        "n_courses": int(data["course_id"].nunique()),
        "n_patients": int(data["patient_id"].nunique()),
        "sampled_from": sampled_from,
    }
    repeated = int((data.groupby("patient_id").size() >= 2).sum())
    if counts["n_patients"] < MIN_PATIENTS:
        return _fail(
            instrument,
            f"too little data — {_plural(counts['n_patients'], 'patient')} with {instrument} "
            f"scores from the baseline window on (at least {MIN_PATIENTS} needed).",
            **counts,
        )
    if counts["n_scores"] < MIN_SCORES or repeated < MIN_REPEATED_PATIENTS:
        return _fail(
            instrument,
            f"too little data — {counts['n_scores']} scores, {repeated} patients with "
            f"repeated scores (at least {MIN_SCORES} and {MIN_REPEATED_PATIENTS} needed).",
            **counts,
        )
    present = set(data["phase"].unique())  # not per row: 15,000 scores
    levels = [p for p in PHASES if p in present]
    if "preparation" in levels:  # the reference: before treatment
        levels.remove("preparation")
        levels.insert(0, "preparation")
    weeks = data["days"].to_numpy(dtype=float) / 7.0
    exog = _design(weeks, data["phase"], levels)
    endog = data["total"].to_numpy(dtype=float)
    groups = data["patient_id"].astype(str).to_numpy()

    started = time.perf_counter()
    # Random intercept and slope first; should that fit fail (singular or not converged),
    # random intercept only.
    attempts = (np.column_stack([np.ones_like(weeks), weeks]), np.ones((len(weeks), 1)))
    fitted, caught, slope = None, [], True
    for exog_re in attempts:
        try:
            result = fit_reml(endog, exog, groups, exog_re=exog_re)
        except np.linalg.LinAlgError as exc:
            caught.append(f"{type(exc).__name__}: {exc}")
            result = None
        if result is not None and result.converged and np.all(np.isfinite(result.fe_params)):
            fitted = result
            break
        if slope:
            caught.append("random slope dropped: the fit did not converge with it")
        slope = False
    seconds = time.perf_counter() - started
    unique_warnings = tuple(dict.fromkeys(caught))
    if fitted is None:
        return _fail(
            instrument,
            "the mixed model did not converge on these data.",
            warnings=unique_warnings,
            fit_seconds=seconds,
            **counts,
        )
    names = ["intercept", "weeks", *[f"phase[{level}]" for level in levels[1:]]]
    fe, cov = fitted.fe_params, fitted.cov_fe
    log.info("mixed model %s: %d scores in %.2f s", instrument, counts["n_scores"], seconds)
    return TrajectoryModel(
        ok=True,
        instrument=instrument,
        random_slope=slope,
        warnings=unique_warnings,
        fit_seconds=seconds,
        params=dict(zip(names, fe.tolist(), strict=True)),
        days_band=_band(data, fe, cov, levels, label="day_bin", order="day_order", x="day_x"),
        session_band=_band(data, fe, cov, levels, label="point", order="point_order", x=None),
        **counts,
    )


def _band(
    data: pd.DataFrame,
    fe: np.ndarray,
    cov: np.ndarray,
    levels: list[str],
    *,
    label: str,
    order: str,
    x: str | None,
) -> pd.DataFrame:
    """Model mean and 95% CI at each axis point, at the point's observed weeks and phase mix.

    The design row of a point averages the rows of its scores, so a point whose scores mix
    phases (a weekly bin spanning dosing and integration) gets that mix.
    """
    placed = data[data[order].notna()]
    weeks = placed["days"].to_numpy(dtype=float) / 7.0
    rows = pd.DataFrame(_design(weeks, placed["phase"], levels), index=placed.index)
    rows["_order"] = placed[order].astype("int64")
    mean_rows = rows.groupby("_order").mean()
    design = mean_rows.to_numpy()
    estimate = design @ fe
    se = np.sqrt(np.einsum("ij,jk,ik->i", design, cov, design))
    # Label and x of each point: its first score's (as groupby "first" takes them).
    _, first = np.unique(rows["_order"].to_numpy(), return_index=True)
    x_values = (
        placed[x].to_numpy(dtype=float)[first] if x else mean_rows.index.to_numpy(dtype=float)
    )
    return pd.DataFrame(
        {
            "point": np.asarray(placed[label].take(first), dtype=object),
            "order": mean_rows.index.to_numpy(dtype="int64"),
            "x": x_values,
            "mean": estimate,
            "ci_low": estimate - Z_95 * se,
            "ci_high": estimate + Z_95 * se,
        }
    )
