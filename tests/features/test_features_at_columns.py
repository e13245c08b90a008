"""The service's array path: features_at_columns equals features_at on the same bars, bit for bit.

/predict parses request bars straight into columns and never builds a pandas frame; the
numbers it scores must still be exactly those of the training pipeline's own code.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import MIN_WINDOW, features_at
from features.errors import DataError
from features.pipeline import features_at_columns
from tests.features.feature_frames import cached_simulated, drop_bars


def _arrays(window: pd.DataFrame) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    times = window.index.as_unit("ns").asi8
    return times, {str(c): window[c].to_numpy(np.float64) for c in window.columns}


def _assert_same(window: pd.DataFrame, bar: str | None = None) -> None:
    expected = features_at(window, bar=bar).to_numpy()
    times, columns = _arrays(window)
    got = features_at_columns(times, columns, bar=bar)
    assert got.shape == expected.shape
    # bit for bit: same values and the same NaNs
    assert np.array_equal(got, expected, equal_nan=True)


def test_the_array_path_equals_features_at_on_a_full_window():
    frame = cached_simulated(days=45, bar="1h")
    t = frame.index[-1]
    _assert_same(frame[frame.index > t - MIN_WINDOW])


def test_the_array_path_equals_features_at_across_gaps():
    frame = drop_bars(cached_simulated(days=45, bar="1h"), fraction=0.1, seed=5, runs=4)
    t = frame.index[-1]
    _assert_same(frame[frame.index > t - MIN_WINDOW], bar="1h")


def test_the_array_path_equals_features_at_without_signal_groups():
    frame = cached_simulated(days=45, bar="1h")
    window = frame[frame.index > frame.index[-1] - MIN_WINDOW]
    _assert_same(window.drop(columns=["long_liq_usd", "short_liq_usd", "open_interest_usd"]))
    _assert_same(window[["close", "funding_rate"]])  # close-only: open/high/low from close


def test_the_array_path_refuses_what_features_at_refuses():
    frame = cached_simulated(days=3, bar="1h")
    times, columns = _arrays(frame)
    off_grid = times.copy()
    off_grid[5] += 60 * 10**9  # one minute off the hourly grid
    with pytest.raises(DataError, match="row 5 .* is not on the 1h bar grid"):
        features_at_columns(off_grid, columns, bar="1h")
    with pytest.raises(DataError, match="missing required column 'close'"):
        features_at_columns(times, {k: v for k, v in columns.items() if k != "close"})
