"""Model-based average trajectory: a linear mixed-effects model of one instrument's totals.

total = β0 + β1·dosed + β2·w + β3·(w − 2)⁺ + β4·(w − 4)⁺ + β5·(w − 12)⁺
        + patient random intercept and slope on w
(REML; the model of statsmodels' MixedLM, fitted by kapviz.metrics.reml in milliseconds),
where w = weeks since the first dose, 0 for scores on or before it (docs/domain.md §3: those
are baseline, t ≤ 0, never "dosing"), and dosed = 1 after the first dose. The broken line
(knots at weeks 2, 4 and 12) lets the fall during the dosing series level off.

The band is drawn only where the model agrees with the data: at every point of the axis with
at least MIN_CHECK_COURSES courses, the fitted cohort mean must lie within the observed
mean's 95% CI (of the same courses); otherwise `band(axis)` is None and `misfit(axis)` says
where it fails. Large cohorts are fitted on a seeded sample of MAX_COURSES courses; too
little data or a failed fit gives `ok=False` and a reason in words.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kapviz.domain import Z_95
from kapviz.metrics.reml import fit_reml
from kapviz.metrics.trajectory_tables import course_values, sample_positions, table_from_values

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
CHECK_COLUMNS = ["point", "order", "courses", "observed", "ci_low", "ci_high", "fitted", "agrees"]
MIN_CHECK_COURSES = 30
"""Points with at least this many courses are where the model must agree with the data."""
KNOTS_WEEKS = (2.0, 4.0, 12.0)
FIXED_EFFECTS = [
    "intercept",
    "after first dose",
    "weeks",
    "weeks after 2",
    "weeks after 4",
    "weeks after 12",
]
FORMULA = (
    "total ~ 1 + after first dose + w + (w − 2)⁺ + (w − 4)⁺ + (w − 12)⁺ + (1 + w | patient), "
    "w = weeks since the first dose (0 on or before it)"
)


def _empty_check() -> pd.DataFrame:
    return pd.DataFrame(columns=CHECK_COLUMNS)


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
    days_check: pd.DataFrame = field(default_factory=_empty_check)
    session_check: pd.DataFrame = field(default_factory=_empty_check)
    """Per point: observed mean and 95% CI of the fitted courses, fitted mean, agreement."""

    @property
    def note(self) -> str:
        """One sentence for a caption: what was fitted on what, or why nothing was."""
        if not self.ok:
            return f"No model-based trajectory: {self.reason}"
        slope = "random intercept and slope" if self.random_slope else "random intercept only"
        text = (
            f"Linear mixed model ({slope} per patient): {FORMULA}; fitted on "
            f"{self.n_scores:,} scores of {self.n_courses:,} courses "
            f"({self.n_patients:,} patients)"
        )
        if self.sampled_from:
            text += f", a seeded random sample of the {self.sampled_from:,} courses"
        return text + "."

    def _check(self, axis: str) -> pd.DataFrame:
        return self.days_check if axis == "days" else self.session_check

    def band(self, axis: str) -> pd.DataFrame | None:
        """The band to draw on `axis` (its checked points), or None when the model does not
        fit the data there (or was not fitted)."""
        if not self.ok or self.misfit(axis):
            return None
        band = self.days_band if axis == "days" else self.session_band
        checked = self._check(axis)
        return band[band["order"].isin(checked["order"])].reset_index(drop=True)

    def misfit(self, axis: str) -> str | None:
        """Why no band is drawn on `axis` although the model was fitted (None: it fits)."""
        if not self.ok:
            return None
        check = self._check(axis)
        if check.empty:
            return (
                "The model is not drawn: no point of this axis has "
                f"{MIN_CHECK_COURSES} courses to check it against."
            )
        wrong = check[~check["agrees"].astype(bool)]
        if wrong.empty:
            return None
        worst = wrong.assign(gap=(wrong["fitted"] - wrong["observed"]).abs())
        row = worst.sort_values("gap", ascending=False).iloc[0]
        return (
            f"The model does not fit these data, so no model band is drawn: at "
            f"{len(wrong)} of {len(check)} points with ≥ {MIN_CHECK_COURSES} courses its mean "
            f"lies outside the observed 95% CI (worst: {row['point']}, model "
            f"{row['fitted']:.1f} against observed {row['observed']:.1f}, 95% CI "
            f"{row['ci_low']:.1f}–{row['ci_high']:.1f}, n = {int(row['courses'])})."
        )


def _weeks(days: np.ndarray) -> np.ndarray:
    """Weeks since the first dose; scores on or before it are at 0 (baseline, t ≤ 0)."""
    return np.clip(np.asarray(days, dtype=float), 0.0, None) / 7.0


def _design(days: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
    """Fixed-effects design (FIXED_EFFECTS): intercept, after first dose, w and the knots;
    only the columns `keep` (all by default)."""
    days = np.asarray(days, dtype=float)
    weeks = _weeks(days)
    cols = [np.ones_like(weeks), (days > 0).astype(float), weeks]
    cols += [np.clip(weeks - knot, 0.0, None) for knot in KNOTS_WEEKS]
    design = np.column_stack(cols)
    return design if keep is None else design[:, keep]


def _estimable(design: np.ndarray) -> np.ndarray:
    """Columns the data can estimate: the intercept and every non-constant column (no score
    after week 12 → no knot there; no baseline score → no separate "after first dose")."""
    keep = np.ptp(design, axis=0) > 0
    keep[0] = True
    return np.flatnonzero(keep)


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
    keep = np.isin(codes, sample_positions(len(found), max_courses, seed=seed))
    return points.take(rows[keep]), int(len(found))


def fit_trajectory_model(
    points: pd.DataFrame,
    *,
    instrument: str,
    max_courses: int = MAX_COURSES,
    seed: int = 0,
    sampled_from: int | None = None,
) -> TrajectoryModel:
    """Fit the mixed model to one instrument's scores and predict the average trajectory.

    `sampled_from`: the points are already the courses `_sample` would keep of that many
    (the rollups' path reads only those, kapviz.ui.trajectories)."""
    data, sampled = _sample(points, instrument, max_courses=max_courses, seed=seed)
    sampled_from = sampled if sampled_from is None else sampled_from
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
    days = data["days"].to_numpy(dtype=float)
    weeks = _weeks(days)
    keep = _estimable(_design(days))
    exog = _design(days, keep)
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
    fe, cov = fitted.fe_params, fitted.cov_fe
    log.info("mixed model %s: %d scores in %.2f s", instrument, counts["n_scores"], seconds)
    days_band = _band(data, fe, cov, keep, label="day_bin", order="day_order", x="day_x")
    session_band = _band(data, fe, cov, keep, label="point", order="point_order", x=None)
    return TrajectoryModel(
        ok=True,
        instrument=instrument,
        random_slope=slope,
        warnings=unique_warnings,
        fit_seconds=seconds,
        params=dict(zip([FIXED_EFFECTS[i] for i in keep], fe.tolist(), strict=True)),
        days_band=days_band,
        session_band=session_band,
        days_check=agreement(data, days_band, axis="days"),
        session_check=agreement(data, session_band, axis="session"),
        **counts,
    )


def agreement(data: pd.DataFrame, band: pd.DataFrame, *, axis: str) -> pd.DataFrame:
    """Per point with ≥ MIN_CHECK_COURSES courses: the observed mean and 95% CI of the
    fitted courses' values there (one per course), the model's mean, and whether it lies
    within that CI (CHECK_COLUMNS)."""
    table = table_from_values(course_values(data, axis=axis), axis=axis)
    table = table[table["courses"] >= MIN_CHECK_COURSES]
    merged = table[["point", "order", "courses", "mean", "ci_low", "ci_high"]].merge(
        band[["order", "mean"]].rename(columns={"mean": "fitted"}), on="order", how="inner"
    )
    merged = merged.rename(columns={"mean": "observed"})
    merged["agrees"] = (merged["fitted"] >= merged["ci_low"]) & (
        merged["fitted"] <= merged["ci_high"]
    )
    return merged[CHECK_COLUMNS].reset_index(drop=True)


def _band(
    data: pd.DataFrame,
    fe: np.ndarray,
    cov: np.ndarray,
    keep: np.ndarray,
    *,
    label: str,
    order: str,
    x: str | None,
) -> pd.DataFrame:
    """Model mean and 95% CI at each axis point: the fitted cohort mean of its courses.

    Each course's design row at a point averages its scores' rows there; the point's row
    averages its courses' rows (one weight per course, as the observed means take them).
    """
    placed = data[data[order].notna()]
    rows = pd.DataFrame(_design(placed["days"].to_numpy(dtype=float), keep), index=placed.index)
    rows["_order"] = placed[order].astype("int64").to_numpy()
    rows["_course"] = placed["course_id"].astype(str).to_numpy()
    per_course = rows.groupby(["_order", "_course"], sort=True).mean()
    mean_rows = per_course.groupby(level="_order").mean()
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
