"""A linear mixed model fitted by REML, with numpy only: y = Xβ + Z b_g + ε per group g.

The model of statsmodels' MixedLM (Gaussian; random effects b_g ~ N(0, σ²ΛΛᵀ) per group,
ε ~ N(0, σ²I)), for one or two random effects per group (an intercept, and a slope). Why
not MixedLM itself: importing statsmodels takes ~0.8 s and its fit of 300 courses 0.5–3 s,
most of a page's cold load at 20,000 patients; the same estimator here takes milliseconds
because every group contributes only q×q and q×p sums (q ≤ 2):

- Woodbury and Sylvester: with M_g = I + ΛᵀZ_gᵀZ_gΛ, the profiled REML criterion is
  Σ log|M_g| + log|XᵀH⁻¹X| + (n − p)·log(r²), where XᵀH⁻¹X = XᵀX − Σ (ΛᵀZ_gᵀX_g)ᵀM_g⁻¹(ΛᵀZ_gᵀX_g)
  (and likewise XᵀH⁻¹y, yᵀH⁻¹y), β̂ = (XᵀH⁻¹X)⁻¹XᵀH⁻¹y, r² = yᵀH⁻¹y − β̂ᵀXᵀH⁻¹y,
  σ̂² = r²/(n − p) (Bates et al. 2015, lme4, §3; Pinheiro & Bates 2000, ch. 2);
- the criterion is minimised over the Cholesky factor Λ (q(q+1)/2 numbers) by BFGS with
  central-difference gradients; Cov(β̂) = σ̂²(XᵀH⁻¹X)⁻¹.

tests/metrics/test_model_reml.py checks the estimates against statsmodels' MixedLM.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

MAX_ITERATIONS = 200
TOLERANCE = 1e-9
"""Converged when the criterion changes by less than this (relative) and the gradient is
flat (central differences, `GRADIENT_TOLERANCE`)."""
GRADIENT_TOLERANCE = 1e-4


@dataclass(frozen=True)
class MixedFit:
    """A REML fit: fixed effects with their covariance, random-effects covariance, σ²."""

    fe_params: np.ndarray
    cov_fe: np.ndarray
    cov_re: np.ndarray
    scale: float
    criterion: float
    """−2 × REML log-likelihood (constants dropped)."""
    converged: bool
    iterations: int


class _Sums:
    """Per-group sums that the criterion needs, computed once: ZᵀZ, ZᵀX, Zᵀy per group."""

    def __init__(self, y: np.ndarray, x: np.ndarray, z: np.ndarray, groups: np.ndarray):
        codes, _ = pd.factorize(groups)
        order = np.argsort(codes, kind="stable")
        y, x, z, codes = y[order], x[order], z[order], codes[order]
        starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
        self.n, self.p = x.shape
        self.q = z.shape[1]
        self.zz = np.add.reduceat(z[:, :, None] * z[:, None, :], starts, axis=0)
        self.zx = np.add.reduceat(z[:, :, None] * x[:, None, :], starts, axis=0)
        self.zy = np.add.reduceat(z * y[:, None], starts, axis=0)
        self.xx, self.xy, self.yy = x.T @ x, x.T @ y, float(y @ y)
        self.tril = np.tril_indices(self.q)

    def factor(self, theta: np.ndarray) -> np.ndarray:
        lam = np.zeros((self.q, self.q))
        lam[self.tril] = theta
        return lam

    def solve(self, theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, float]:
        """(criterion, β̂, XᵀH⁻¹X, r²) at relative Cholesky factor `theta`; inf if singular."""
        lam = self.factor(theta)
        m = lam.T @ self.zz @ lam + np.eye(self.q)
        logdet, m_inv = _small_inverse(m)
        lb = lam.T @ self.zx  # (G, q, p)
        lc = self.zy @ lam  # (G, q): rows are (Λᵀ Zᵀy)ᵀ
        m_lb = m_inv @ lb
        m_lc = np.einsum("gij,gj->gi", m_inv, lc)
        a = self.xx - np.einsum("gqi,gqj->ij", lb, m_lb)
        b = self.xy - np.einsum("gqi,gq->i", lb, m_lc)
        c = self.yy - float(np.einsum("gq,gq->", lc, m_lc))
        sign, logdet_a = np.linalg.slogdet(a)
        if sign <= 0 or not np.isfinite(logdet_a):
            return np.inf, np.full(self.p, np.nan), a, np.nan
        beta = np.linalg.solve(a, b)
        r2 = c - float(b @ beta)
        dof = self.n - self.p
        if r2 <= 0 or dof <= 0:
            return np.inf, beta, a, r2
        criterion = float(logdet.sum()) + float(logdet_a) + dof * float(np.log(r2 / dof))
        return criterion, beta, a, r2


def _small_inverse(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log-determinants and inverses of a stack of symmetric positive-definite q×q matrices
    (closed forms for q = 1, 2: batched LAPACK calls cost ~1 µs per tiny matrix)."""
    q = m.shape[-1]
    if q == 1:
        return np.log(m[:, 0, 0]), 1.0 / m
    if q == 2:
        a, b, d = m[:, 0, 0], m[:, 0, 1], m[:, 1, 1]
        det = a * d - b * b
        inv = np.empty_like(m)
        inv[:, 0, 0], inv[:, 1, 1] = d / det, a / det
        inv[:, 0, 1] = inv[:, 1, 0] = -b / det
        return np.log(det), inv
    return np.linalg.slogdet(m)[1], np.linalg.inv(m)


def _gradient(f: Callable[[np.ndarray], float], x: np.ndarray) -> np.ndarray:
    grad = np.empty_like(x)
    for i in range(len(x)):
        h = 1e-6 * max(1.0, abs(x[i]))
        step = np.zeros_like(x)
        step[i] = h
        grad[i] = (f(x + step) - f(x - step)) / (2 * h)
    return grad


def _minimise(
    f: Callable[[np.ndarray], float], x: np.ndarray
) -> tuple[np.ndarray, float, bool, int]:
    """BFGS with backtracking (Armijo) line search; (x, f(x), converged, iterations)."""
    fx = f(x)
    grad = _gradient(f, x)
    inv_h = np.eye(len(x))
    for iteration in range(1, MAX_ITERATIONS + 1):
        direction = -inv_h @ grad
        slope = float(grad @ direction)
        if slope >= 0:  # not a descent direction: restart from steepest descent
            inv_h, direction = np.eye(len(x)), -grad
            slope = float(grad @ direction)
        step, f_new = 1.0, np.inf
        while step > 1e-12:
            x_new = x + step * direction
            f_new = f(x_new)
            if f_new <= fx + 1e-4 * step * slope:
                break
            step /= 2
        if not f_new <= fx:
            flat = bool(np.max(np.abs(grad)) <= GRADIENT_TOLERANCE * max(1.0, abs(fx)))
            return x, fx, flat, iteration
        grad_new = _gradient(f, x_new)
        s, y = x_new - x, grad_new - grad
        sy = float(s @ y)
        if sy > 1e-12:
            rho = 1.0 / sy
            eye = np.eye(len(x))
            inv_h = (eye - rho * np.outer(s, y)) @ inv_h @ (eye - rho * np.outer(y, s))
            inv_h += rho * np.outer(s, s)
        change = fx - f_new
        x, fx, grad = x_new, f_new, grad_new
        flat = np.max(np.abs(grad)) <= GRADIENT_TOLERANCE * max(1.0, abs(fx))
        if change <= TOLERANCE * max(1.0, abs(fx)) and flat:
            return x, fx, True, iteration
    return x, fx, False, MAX_ITERATIONS


def fit_reml(
    endog: np.ndarray, exog: np.ndarray, groups: np.ndarray, *, exog_re: np.ndarray
) -> MixedFit:
    """REML fit of endog = exog·β + exog_re·b_g + ε with b_g per group (`groups` labels).

    Raises np.linalg.LinAlgError when the fixed-effects design is singular.
    """
    y = np.asarray(endog, dtype=float)
    x = np.asarray(exog, dtype=float)
    z = np.asarray(exog_re, dtype=float).reshape(len(y), -1)
    sums = _Sums(y, x, z, np.asarray(groups))
    if np.linalg.matrix_rank(sums.xx) < sums.p:
        raise np.linalg.LinAlgError("the fixed-effects design is singular")

    def criterion(theta: np.ndarray) -> float:
        return sums.solve(theta)[0]

    start = np.eye(sums.q)[sums.tril] * 0.5
    theta, value, converged, iterations = _minimise(criterion, start)
    value, beta, a, r2 = sums.solve(theta)
    scale = r2 / (sums.n - sums.p)
    lam = sums.factor(theta)
    return MixedFit(
        fe_params=beta,
        cov_fe=scale * np.linalg.inv(a),
        cov_re=scale * lam @ lam.T,
        scale=float(scale),
        criterion=float(value),
        converged=bool(converged and np.isfinite(value)),
        iterations=iterations,
    )
