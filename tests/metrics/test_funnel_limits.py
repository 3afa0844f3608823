"""Exact binomial funnel limits (DOMAIN.md §4c), checked against hand-computed quantiles."""

import math

import pytest

from kapviz.metrics.stats import Z_998, funnel_limits


def test_small_unit_hand_computed():
    """n = 10 around 50%: F(2) = 56/1024, P(2) = 45/1024 → lower (2 − 30.4/45)/10;
    F(8) = 1013/1024 → upper (8 − 14.6/45)/10 (Spiegelhalter's interpolation)."""
    low, high = funnel_limits(0.5, 10)
    assert low == pytest.approx((2 - 30.4 / 45) / 10, abs=1e-12)
    assert high == pytest.approx((8 - 14.6 / 45) / 10, abs=1e-12)


def test_tiny_unit_lower_limit_is_zero():
    """n = 5 around 50%: P(X = 0) = 1/32 already exceeds 2.5%, so the lower limit is 0;
    upper: F(4) = 31/32 < 97.5%, so r = 5 and α = 0.025 / (1/32) = 0.8 → 4.2 / 5."""
    assert funnel_limits(0.5, 5) == (0.0, pytest.approx(0.84, abs=1e-12))


def test_large_unit_close_to_normal():
    """n = 1000: the exact limits sit within 0.001 of p ± z·√(p(1−p)/n) − 1/(2n)."""
    for coverage, z in ((0.95, 1.959963984540054), (0.998, Z_998)):
        low, high = funnel_limits(0.5, 1000, coverage=coverage)
        half = z * math.sqrt(0.25 / 1000)
        assert low == pytest.approx(0.5 - half - 0.0005, abs=1e-3)
        assert high == pytest.approx(0.5 + half - 0.0005, abs=1e-3)


def test_outer_limits_are_wider_and_narrow_with_volume():
    """99.8% limits contain the 95% ones; both narrow as the unit grows."""
    for n in (8, 40, 400):
        l95, h95 = funnel_limits(0.3, n)
        l998, h998 = funnel_limits(0.3, n, coverage=0.998)
        assert l998 <= l95 < h95 <= h998
    assert funnel_limits(0.3, 400)[1] < funnel_limits(0.3, 40)[1]


@pytest.mark.parametrize(
    ("target", "n", "expected"),
    [(0.0, 20, (0.0, 0.0)), (1.0, 20, (1.0, 1.0))],
)
def test_degenerate_targets(target, n, expected):
    assert funnel_limits(target, n) == expected


@pytest.mark.parametrize(("target", "n"), [(0.5, 0), (math.nan, 10), (1.5, 10)])
def test_undefined(target, n):
    assert all(math.isnan(v) for v in funnel_limits(target, n))
