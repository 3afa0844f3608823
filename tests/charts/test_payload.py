"""Figure payloads: narrower arrays, the same numbers (kapviz.charts.payload)."""

from __future__ import annotations

import numpy as np

from kapviz.charts.payload import compact, drawn


def test_whole_numbers_become_the_smallest_integer_type() -> None:
    assert compact(np.array([0.0, -27.0, 100.0])).dtype == np.int8
    assert compact(np.array([1.0, 900.0, -100.0])).dtype == np.int16
    assert compact(np.array([70000.0])).dtype == np.int32
    assert compact(np.array([-100.0, 3.0])).tolist() == [-100, 3]


def test_gaps_and_halves_keep_float32_when_exact() -> None:
    out = compact(np.array([1.0, np.nan, 2.5, -3.0]))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.astype(np.float64), [1.0, np.nan, 2.5, -3.0])


def test_values_float32_cannot_hold_stay_float64() -> None:
    values = np.array([0.1, 12.3, np.nan])
    out = compact(values)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, values)


def test_empty_and_all_gap_arrays() -> None:
    assert compact(np.array([])).size == 0
    assert np.isnan(compact(np.array([np.nan, np.nan]))).all()


def test_drawn_values_show_the_same_six_digits() -> None:
    values = np.array([0.0, 12.666666667, 1 / 3, 365.25, 1234567.0, np.nan])
    out = drawn(values)
    assert out.dtype == np.float32
    shown = [f"{float(v):g}" for v in out]
    assert shown == [f"{v:g}" for v in values]
