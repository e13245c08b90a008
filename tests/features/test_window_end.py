"""One prediction computes the long windows at its last row only (features.window_end), and
gets training's numbers bit for bit: the same features as the full computation on the same
bars, whatever the bar, the gaps or where the window starts in its hour and block."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features import MIN_WINDOW, build_features, features_at
from features import hour_blocks as hb
from features.pipeline import features_at_columns
from features.window_end import hour_window_at_end
from tests.features.feature_frames import cached_simulated, drop_bars


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    kind=st.sampled_from([hb.SUM, hb.MOMENTS, hb.MAX]),
    sign=st.sampled_from([1.0, -1.0]),
    bph=st.sampled_from([1, 4, 12]),
    w=st.integers(1, 9),
    n=st.integers(1, 120),
    start=st.integers(0, 10**6),
    seed=st.integers(0, 2**16),
    missing=st.floats(0.0, 0.9),
)
def test_the_last_row_equals_hour_blocks_last_row(kind, sign, bph, w, n, start, seed, missing):
    rng = np.random.default_rng(seed)
    x = rng.normal(100.0, 5.0, n)
    x[rng.random(n) < missing] = np.nan
    off, phase = start % bph, (start // bph) % w
    hours = hb.hour_aggregates(x, kind, sign, bph, off)
    want = hb.hour_blocks(x, kind, sign, bph, off, w, phase, hours)[-1]
    got = hour_window_at_end(kind, hours, w, phase)
    assert np.array_equal(got, want, equal_nan=True), (got, want)


def _window(frame: pd.DataFrame, minutes_back: int = 0) -> pd.DataFrame:
    t = frame.index[-1] - pd.Timedelta(minutes=minutes_back)
    return frame[(frame.index > t - MIN_WINDOW) & (frame.index <= t)]


@pytest.mark.parametrize(
    ("bar", "days", "gaps", "back"),
    [("1h", 40, False, 0), ("1h", 40, True, 0), ("1h", 40, True, 300), ("5m", 32, True, 37)],
)
def test_features_at_equals_the_full_computation_bit_for_bit(bar, days, gaps, back):
    frame = cached_simulated(days=days, bar=bar)
    if gaps:
        frame = drop_bars(frame, fraction=0.05, seed=7, runs=3)
    window = _window(frame, back)
    full = build_features(window, bar=bar).iloc[-1].to_numpy()  # every row of the same grid
    served = features_at(window, bar=bar).to_numpy()
    times = window.index.as_unit("ns").asi8
    columns = {str(c): window[c].to_numpy(np.float64) for c in window.columns}
    assert np.array_equal(served, full, equal_nan=True)
    assert np.array_equal(features_at_columns(times, columns, bar=bar), full, equal_nan=True)
    assert np.isfinite(full).mean() > 0.9  # the long-window features were compared, not NaN
