"""Smaller figure payloads with the same numbers on screen.

Plotly sends a numpy array to the browser as a typed binary array of its dtype: float64
costs 8 bytes a point (about 11 in the JSON's base64) whatever the values. Scores, ranks and
whole percents are small integers or halves, exact in a narrower type.
"""

from __future__ import annotations

import numpy as np

_INTEGER_TYPES = (np.int8, np.int16, np.int32)


def compact(values: np.ndarray) -> np.ndarray:
    """The values in the narrowest dtype that holds every one of them exactly: a small
    integer type when all are whole numbers (no gap), float32 when each converts back to the
    same float64 (gaps, NaN, allowed), else unchanged. The browser shows the same numbers:
    a float32 element read back in JavaScript is the very float64 it came from."""
    array = np.asarray(values, dtype=np.float64)
    finite = array[np.isfinite(array)]
    if finite.size == array.size and np.array_equal(finite, np.round(finite)):
        low, high = (finite.min(), finite.max()) if finite.size else (0, 0)
        for kind in _INTEGER_TYPES:
            info = np.iinfo(kind)
            if info.min <= low and high <= info.max:
                return array.astype(kind)
    narrow = array.astype(np.float32)
    if np.array_equal(narrow.astype(np.float64), array, equal_nan=True):
        return narrow
    return array


def drawn(values: np.ndarray, *, significant: int = 6) -> np.ndarray:
    """Values that are only drawn, or shown with at most `significant` digits (plotly's
    `%{x:g}` shows 6): rounded to that many significant digits and sent as float32, whose
    7 significant digits read back to the same rounded number. A pixel is far coarser."""
    array = np.asarray(values, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        magnitude = np.floor(np.log10(np.abs(array)))
    magnitude = np.where(np.isfinite(magnitude), magnitude, 0)
    scale = 10.0 ** (significant - 1 - magnitude)
    return compact(np.round(array * scale) / scale).astype(np.float32, copy=False)
