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
