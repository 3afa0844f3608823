"""The numpy REML fit gives statsmodels' MixedLM estimates (the model kapviz used before)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from statsmodels.regression.mixed_linear_model import MixedLM

from kapviz.metrics.reml import _Sums, fit_reml


def cohort(n_groups: int, *, seed: int, slope_sd: float) -> pd.DataFrame:
    """Groups with 2–8 scores over weeks −0.5…8, three phases, random intercept and slope."""
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(n_groups):
        b0, b1 = rng.normal(0, 2), rng.normal(0, slope_sd)
        for weeks in np.sort(rng.uniform(-0.5, 8, rng.integers(2, 9))):
            phase = 0 if weeks < 0 else (1 if weeks < 2 else 2)
            noise = rng.normal(0, 1.5)
            y = 18 + b0 + (-1 + b1) * max(weeks, 0) + (0, -1, -0.5)[phase] + noise
            rows.append((f"P{g}", weeks, phase, y))
    return pd.DataFrame(rows, columns=["group", "weeks", "phase", "y"])


def design(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    exog = np.column_stack(
        [np.ones(len(frame)), frame["weeks"], frame["phase"] == 1, frame["phase"] == 2]
    ).astype(float)
    return exog, np.column_stack([np.ones(len(frame)), frame["weeks"]])


def statsmodels_fit(frame: pd.DataFrame, exog: np.ndarray, exog_re: np.ndarray):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MixedLM(frame["y"].to_numpy(), exog, frame["group"].to_numpy(), exog_re=exog_re)
        return model.fit(reml=True, method=["lbfgs"])


@pytest.mark.parametrize(
    ("n_groups", "seed", "slope_sd"),
    [(60, 0, 0.3), (200, 1, 0.3), (300, 2, 0.05)],
    ids=["60", "200", "small-slope"],
)
def test_matches_statsmodels_random_intercept_and_slope(n_groups, seed, slope_sd) -> None:
    """Fixed effects to 1e-5, variance components to 1e-3 (relative), SEs to 3%.

    The SEs differ slightly by construction: kapviz uses σ²(XᵀH⁻¹X)⁻¹ (as lme4), statsmodels
    the inverse of the full observed Hessian (1.4% apart at 60 groups, 0.2% at 2,000).
    """
    frame = cohort(n_groups, seed=seed, slope_sd=slope_sd)
    exog, exog_re = design(frame)
    ours = fit_reml(frame["y"], exog, frame["group"], exog_re=exog_re)
    theirs = statsmodels_fit(frame, exog, exog_re)
    assert ours.converged and theirs.converged
    np.testing.assert_allclose(ours.fe_params, theirs.fe_params, rtol=1e-5, atol=1e-5)
    their_se = np.sqrt(np.diag(np.asarray(theirs.cov_params())[:4, :4]))
    np.testing.assert_allclose(np.sqrt(np.diag(ours.cov_fe)), their_se, rtol=0.03)
    np.testing.assert_allclose(ours.scale, theirs.scale, rtol=1e-3)
    np.testing.assert_allclose(ours.cov_re, np.asarray(theirs.cov_re), rtol=1e-3, atol=1e-3)


def test_reaches_the_optimum_where_statsmodels_stops_short() -> None:
    """No slope variance in the data: MixedLM does not converge (the variance sits on its
    boundary); the Cholesky parametrisation reaches it, with a lower REML criterion."""
    frame = cohort(120, seed=3, slope_sd=0.0)
    exog, exog_re = design(frame)
    ours = fit_reml(frame["y"], exog, frame["group"], exog_re=exog_re)
    theirs = statsmodels_fit(frame, exog, exog_re)
    assert ours.converged and not theirs.converged
    # Their estimate scored by the same criterion (the relative Cholesky factor of Ψ/σ²).
    sums = _Sums(frame["y"].to_numpy(float), exog, exog_re, frame["group"].to_numpy())
    factor = np.linalg.cholesky(np.asarray(theirs.cov_re) / theirs.scale)
    assert ours.criterion < sums.solve(factor[sums.tril])[0] - 1.0
    assert ours.cov_re[1, 1] < 0.01  # slope variance ≈ 0, as simulated


def test_matches_statsmodels_random_intercept_only() -> None:
    """One random effect per group (the fallback model) also matches."""
    frame = cohort(100, seed=4, slope_sd=0.2)
    exog, _ = design(frame)
    intercept = np.ones((len(frame), 1))
    ours = fit_reml(frame["y"], exog, frame["group"], exog_re=intercept)
    theirs = statsmodels_fit(frame, exog, intercept)
    np.testing.assert_allclose(ours.fe_params, theirs.fe_params, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours.cov_re, np.asarray(theirs.cov_re), rtol=1e-3)


def test_group_order_does_not_matter() -> None:
    """Rows of a group need not be adjacent: the fit sorts them itself."""
    frame = cohort(50, seed=5, slope_sd=0.3)
    exog, exog_re = design(frame)
    shuffled = np.random.default_rng(0).permutation(len(frame))
    a = fit_reml(frame["y"], exog, frame["group"], exog_re=exog_re)
    b = fit_reml(
        frame["y"].to_numpy()[shuffled],
        exog[shuffled],
        frame["group"].to_numpy()[shuffled],
        exog_re=exog_re[shuffled],
    )
    np.testing.assert_allclose(a.fe_params, b.fe_params, rtol=1e-6)


def test_singular_design_raises() -> None:
    """Collinear fixed effects cannot be estimated: a LinAlgError, which the caller reports."""
    frame = cohort(30, seed=6, slope_sd=0.3)
    exog, exog_re = design(frame)
    collinear = np.column_stack([exog, 2 * exog[:, 1]])
    with pytest.raises(np.linalg.LinAlgError):
        fit_reml(frame["y"], collinear, frame["group"], exog_re=exog_re)
