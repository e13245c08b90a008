"""The 7- and 30-day statistics from hourly aggregates (features.hour_blocks).

At 1-hour bars the hourly aggregate is the bar: the hourly model's features must not move
by a bit. At sub-hourly bars a long window is the whole hours before the bar's hour plus the
bars of its own hour up to the bar, and nothing later.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from features import FEATURES, build_features, rolling
from features.rolling import Grid
from tests.features.feature_frames import cached_simulated, drop_bars


def _assert_identical(got: np.ndarray, want: np.ndarray) -> None:
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    bad = sorted({FEATURES[j] for j in np.flatnonzero(~same.all(axis=0))}) if got.ndim == 2 else []
    assert same.all(), f"features differ: {bad[:8]}"


def test_hourly_features_are_bit_identical_to_the_exact_windows(monkeypatch):
    frame = drop_bars(cached_simulated(days=40, bar="1h"), fraction=0.05, seed=4, runs=4)
    grid = Grid.from_frame(frame, bar="1h")
    assert grid.hourly(grid.bars("7D")) == 168 and grid.hourly(grid.bars("30D")) == 720
    aggregated = build_features(frame, bar="1h").to_numpy()
    monkeypatch.setattr(rolling, "HOURLY_FROM_HOURS", 10**9)  # the previous, exact-window definition
    assert grid.hourly(grid.bars("7D")) is None
    exact = build_features(frame, bar="1h").to_numpy()
    _assert_identical(aggregated, exact)
    long = [FEATURES.index(n) for n in ("funding_z_30d", "volume_surge", "drawdown_30d", "dist_low_7d", "oi_z_7d")]
    assert np.isfinite(exact[-1, long]).all()  # the long-window features were compared, not NaN


def _minute_series(days: float, seed: int, start: str = "2024-03-04 05:17") -> tuple[pd.DatetimeIndex, np.ndarray]:
    rng = np.random.default_rng(seed)
    index = pd.date_range(start, periods=int(days * 1440), freq="1min", tz="UTC").as_unit("ns")
    x = rng.normal(100.0, 5.0, len(index)).cumsum() / 100.0
    x[rng.random(len(index)) < 0.2] = np.nan  # scattered missing minutes
    x[3000:3200] = np.nan  # and a gap of more than three hours
    return index, x


def test_a_long_window_at_minute_bars_is_whole_hours_plus_the_open_hour():
    index, x = _minute_series(days=7.6, seed=1)
    grid = Grid.from_arrays(index.asi8, {"x": x}, bar="1m")
    mean, high, std = grid.mean(x, "7D"), grid.max(x, "7D"), grid.std(x, "7D")
    series = pd.Series(x, index=index)
    for i in (7 * 1440 + 5, 7 * 1440 + 59, len(x) - 301, len(x) - 1):
        t = index[i]
        lo = t.floor("1h") - pd.Timedelta(hours=167)  # hours H-167 .. H-1, and H up to t
        window = series[(series.index >= lo) & (series.index <= t)].dropna()
        assert len(window) >= 5040
        np.testing.assert_allclose(mean[i], window.mean(), rtol=1e-10)
        np.testing.assert_allclose(std[i], window.std(ddof=1), rtol=1e-9)
        assert high[i] == window.max()


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), cut=st.integers(7 * 1440 - 200, 8 * 1440 - 1), jump=st.floats(-50.0, 50.0))
def test_the_open_hour_never_sees_a_later_minute(seed, cut, jump):
    """1-minute bars: the long-window statistics up to a cut (anywhere in an hour) are the
    same whatever the minutes after the cut are."""
    index, x = _minute_series(days=8.0, seed=seed)
    other = x.copy()
    other[cut:] = other[cut:] + jump  # a different future, from the middle of an hour
    other[cut + 7 :: 13] = np.nan
    for horizon in ("7D", "30D"):
        a = Grid.from_arrays(index.asi8, {"x": x}, bar="1m")
        b = Grid.from_arrays(index.asi8, {"x": other}, bar="1m")
        for stat in ("mean", "std", "max", "min"):
            got, want = getattr(a, stat)(x, horizon), getattr(b, stat)(other, horizon)
            np.testing.assert_array_equal(got[:cut], want[:cut], err_msg=f"{stat} {horizon}")
        za, zb = a.zscore(x, horizon), b.zscore(other, horizon)
        np.testing.assert_array_equal(za[:cut], zb[:cut])


def test_minute_features_do_not_depend_on_later_minutes():
    frame = cached_simulated(days=8.1, bar="1m")
    full = build_features(frame, bar="1m").to_numpy()
    for cut in (7 * 1440 + 17, 7 * 1440 + 60, len(frame) - 31):
        _assert_identical(build_features(frame.iloc[:cut], bar="1m").to_numpy(), full[:cut])
