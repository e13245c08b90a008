"""Train/serve parity: features_at on the raw window ending at t == build_features(history).loc[t].

Serving sees only the last MIN_WINDOW of bars; training sees everything before. A feature
that silently depends on older history (an EWM, an unbounded counter, a running sum's
rounding) would make the served model see different numbers than it was trained on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features import FEATURES, MIN_WINDOW, build_features, features_at
from features.pipeline import covers_min_window
from tests.conftest import shared_file
from tests.features.feature_frames import cached_simulated, drop_bars, read_coinglass, read_okx


def _window(frame: pd.DataFrame, t: pd.Timestamp) -> pd.DataFrame:
    return frame[(frame.index > t - MIN_WINDOW) & (frame.index <= t)]


def _assert_parity(frame: pd.DataFrame, times, bar: str | None = None) -> None:
    full = build_features(frame, bar=bar)
    for t in times:
        served = features_at(_window(frame, t), bar=bar)
        assert served.name == t
        np.testing.assert_allclose(
            served.to_numpy(),
            full.loc[t].to_numpy(),
            rtol=1e-9,
            atol=1e-12,
            err_msg=f"features_at differs from build_features at {t}",
        )


def _times(frame: pd.DataFrame, count: int, seed: int = 0) -> list[pd.Timestamp]:
    late = frame.index[frame.index >= frame.index[0] + MIN_WINDOW + pd.Timedelta(days=1)]
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(late), size=min(count, len(late)), replace=False)
    return [late[i] for i in sorted(picks)] + [late[-1]]


def test_parity_on_simulated_hourly_bars():
    frame = cached_simulated(days=75, bar="1h")
    _assert_parity(frame, _times(frame, 12))


def test_parity_on_simulated_bars_with_gaps():
    frame = drop_bars(cached_simulated(days=75, bar="1h"), fraction=0.1, seed=3, runs=6)
    _assert_parity(frame, _times(frame, 12, seed=1), bar="1h")


def test_parity_on_simulated_5m_bars():
    frame = cached_simulated(days=32, bar="5m")
    _assert_parity(frame, _times(frame, 3))


def test_parity_on_simulated_1m_bars():
    """1-minute bars: the 7- and 30-day statistics come from hourly aggregates; a served
    30-day window (which starts mid-hour) still gives training's numbers."""
    frame = cached_simulated(days=31.2, bar="1m")
    last = frame.index[-1]
    _assert_parity(frame, [last - pd.Timedelta(minutes=m) for m in (137, 61, 0)])


def test_a_served_window_of_exactly_min_window_has_every_feature_of_training():
    frame = cached_simulated(days=75, bar="1h")
    t = frame.index[-1]
    window = _window(frame, t)
    assert len(window) == MIN_WINDOW / pd.Timedelta(hours=1)
    assert covers_min_window(window.index)
    served = features_at(window)
    trained = build_features(frame).loc[t]
    assert served.isna().sum() == trained.isna().sum()


def test_a_short_window_still_serves_the_short_horizon_features():
    frame = cached_simulated(days=75, bar="1h")
    window = frame.iloc[-48:]
    assert not covers_min_window(window.index)
    served = features_at(window)
    assert np.isnan(served["funding_z_30d"])
    assert served[["ret_1h", "ret_24h", "funding_rate", "premium"]].notna().all()


def test_parity_on_the_real_okx_hourly_file():
    frame = read_okx(shared_file("okx_btc_usd_swap_1h.csv"))
    crash = pd.Timestamp("2025-10-10 20:00", tz="UTC")
    _assert_parity(frame, [*_times(frame, 10), crash], bar="1h")


def test_parity_on_the_real_coinglass_sample():
    frame = read_coinglass(shared_file("coinglass_btc_30m_sample.csv"))
    # the sample is shorter than MIN_WINDOW: the window is all the history there is
    _assert_parity(frame, [frame.index[50], frame.index[200], frame.index[-1]])
    assert len(FEATURES) == build_features(frame).shape[1]
