"""The compiled element loops of features.rolling give the numpy formulas' numbers, bit for bit.

``ratio`` and the window mean run as one compiled pass for 1-D float arrays (the serving
path computes dozens per request). Models were trained on the numpy formulas' output: any
difference, even in the last bit or in where NaN appears, would shift served features.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from features.rolling import _mean_of, ratio

_VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0.0, -0.0, 1e-310, -1e-310, 1.0, -1.0, np.nan, np.inf]),
)


def _numpy_ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ok = b > 0.0
    with np.errstate(all="ignore"):
        return np.where(ok, a / np.where(ok, b, 1.0), np.nan)


def _numpy_mean(s: np.ndarray, c: np.ndarray, min_count: int) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.where(c >= min_count, s / np.maximum(c, 1), np.nan)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 60).flatmap(
        lambda n: st.tuples(
            arrays(np.float64, n, elements=_VALUES), arrays(np.float64, n, elements=_VALUES)
        )
    )
)
def test_ratio_equals_the_numpy_formula(pair):
    a, b = pair
    with np.errstate(all="ignore"):
        got = ratio(a, b)
    assert np.array_equal(got, _numpy_ratio(a, b), equal_nan=True)
    assert np.array_equal(np.signbit(got), np.signbit(_numpy_ratio(a, b)))


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 60).flatmap(
        lambda n: st.tuples(
            arrays(np.float64, n, elements=_VALUES),
            arrays(np.int64, n, elements=st.integers(0, 50)),
        )
    ),
    st.integers(1, 30),
)
def test_window_mean_equals_the_numpy_formula(pair, min_count):
    s, c = pair
    got = _mean_of(s, c, min_count)
    assert np.array_equal(got, _numpy_mean(s, c, min_count), equal_nan=True)
    assert np.array_equal(np.signbit(got), np.signbit(_numpy_mean(s, c, min_count)))


def test_other_shapes_keep_the_numpy_formula():
    a = np.arange(6.0).reshape(2, 3)
    b = np.array([[1.0, 0.0, 2.0], [-1.0, 4.0, np.nan]])
    assert np.array_equal(ratio(a, b), _numpy_ratio(a, b), equal_nan=True)
    assert np.array_equal(ratio(a[0], 2.0), _numpy_ratio(a[0], np.float64(2.0)), equal_nan=True)
