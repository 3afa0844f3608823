"""Small statistics shared by every metric: proportions with honest intervals."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from kapviz.domain import Z_95


def wilson_interval(successes: int, n: int, *, z: float = Z_95) -> tuple[float, float]:
    """95% Wilson score interval of a proportion; (nan, nan) when n is 0.

    Wilson rather than Wald because clinic denominators are small and rates near 0 or 1.
    """
    if n <= 0:
        return (math.nan, math.nan)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def wilson_columns(
    frame: pd.DataFrame, *, successes: str, n: str, prefix: str = ""
) -> pd.DataFrame:
    """Add `<prefix>rate`, `<prefix>ci_low`, `<prefix>ci_high` columns (rate nan when n is 0)."""
    out = frame.copy()
    k = out[successes].to_numpy(dtype=float)
    m = out[n].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[f"{prefix}rate"] = np.where(m > 0, k / m, np.nan)
    bounds = [wilson_interval(int(a), int(b)) for a, b in zip(k, m, strict=True)]
    out[f"{prefix}ci_low"] = [lo for lo, _ in bounds]
    out[f"{prefix}ci_high"] = [hi for _, hi in bounds]
    return out


def poisson_interval(events: int, *, coverage: float = 0.95) -> tuple[float, float]:
    """Exact (Garwood) interval of a Poisson count: the expected counts whose chance of
    `events` or more (lower) and of `events` or fewer (upper) is (1 − coverage)/2.

    Exact rather than normal because adverse-event counts of a breakdown cell are small;
    divide by the exposure (dosing sessions) for an interval of a rate.
    """
    if events < 0:
        raise ValueError(f"a count cannot be negative ({events})")
    tail = (1 - coverage) / 2
    low = 0.0 if events == 0 else _gamma_quantile(tail, events)
    return (low, _gamma_quantile(1 - tail, events + 1))


def _gamma_quantile(q: float, shape: int) -> float:
    """x with P(shape, x) = q (regularized lower incomplete gamma), by bisection."""
    low, high = 0.0, max(1.0, shape + 10 * math.sqrt(shape) + 10)
    while _lower_gamma(shape, high) < q:
        high *= 2
    for _ in range(200):
        mid = (low + high) / 2
        if _lower_gamma(shape, mid) < q:
            low = mid
        else:
            high = mid
        if high - low <= 1e-12 * max(1.0, high):
            break
    return (low + high) / 2


def _lower_gamma(a: float, x: float) -> float:
    """Regularized lower incomplete gamma P(a, x): a series below a + 1, else a continued
    fraction for the upper part (the usual pair; each converges fast on its side)."""
    if x <= 0:
        return 0.0
    log_front = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        n = a
        for _ in range(10_000):
            n += 1
            term *= x / n
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return min(1.0, total * math.exp(log_front))
    tiny = 1e-300
    b = x + 1 - a
    c, d = 1 / tiny, 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return max(0.0, 1.0 - math.exp(log_front) * h)


def mean_ci(values: pd.Series, *, z: float = Z_95) -> tuple[float, float, float]:
    """Mean and normal-approximation 95% CI (mean ± z·SD/√n); CI is nan for n < 2."""
    clean = values.dropna().astype(float)
    n = len(clean)
    if n == 0:
        return (math.nan, math.nan, math.nan)
    mean = float(clean.mean())
    if n < 2:
        return (mean, math.nan, math.nan)
    half = z * float(clean.std(ddof=1)) / math.sqrt(n)
    return (mean, mean - half, mean + half)


Z_998 = 3.090232306167813
"""Two-sided 99.8% normal quantile (the outer funnel limit, about 3 standard errors)."""


def funnel_limits(target: float, n: int, *, coverage: float = 0.95) -> tuple[float, float]:
    """Exact binomial funnel limits around `target` for a unit of `n` (docs/domain.md §4c).

    The proportions a unit of size `n` falls between with probability `coverage` when
    its true rate is the programme's `target`: binomial quantiles, interpolated between
    the integer counts as Spiegelhalter (2005, Statistics in Medicine 24:1185) does so that
    the limits are smooth in n. The normal approximation fails for small units, so it is
    not used. (nan, nan) when n is 0 or the target is undefined.
    """
    if n <= 0 or not 0.0 <= target <= 1.0:
        return (math.nan, math.nan)
    if target in (0.0, 1.0):
        return (float(target), float(target))
    tail = (1.0 - coverage) / 2.0
    cdf = _binomial_cdf(n, target)
    low, high = _interpolated_quantile(cdf, tail), _interpolated_quantile(cdf, 1 - tail)
    return (low / n, high / n)


def _binomial_cdf(n: int, p: float) -> np.ndarray:
    """P(X ≤ k) for k = 0…n, X ~ Binomial(n, p), 0 < p < 1, from log probabilities."""
    k = np.arange(n + 1, dtype=float)
    log_choose = np.r_[0.0, np.cumsum(np.log(n - k[1:] + 1) - np.log(k[1:]))]
    log_pmf = log_choose + k * math.log(p) + (n - k) * math.log1p(-p)
    return np.minimum(np.cumsum(np.exp(log_pmf)), 1.0)


def _interpolated_quantile(cdf: np.ndarray, q: float) -> float:
    """Smallest count r with P(X ≤ r) ≥ q, less the interpolation α ∈ [0, 1) of Spiegelhalter.

    α = (P(X ≤ r) − q) / P(X = r), so the limit moves continuously between counts.
    """
    r = int(np.searchsorted(cdf, q - 1e-12, side="left"))
    r = min(r, len(cdf) - 1)
    below = cdf[r - 1] if r > 0 else 0.0
    mass = cdf[r] - below
    alpha = (cdf[r] - q) / mass if mass > 0 else 0.0
    return max(0.0, float(r - alpha))
