"""Features of an ongoing cascade: what they read on hand-made series a trader can check."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import build_features
from features.groups import cascade
from tests.features.feature_frames import synthetic

OI = 1e9


def _quiet(days: int = 10, liq: float = 1e5) -> pd.DataFrame:
    """Hourly bars with constant open interest and the same long liquidations every hour."""
    frame = synthetic(days=days, seed=9)
    frame["open_interest_usd"] = OI
    frame["long_liq_usd"] = liq
    return frame


def test_steady_liquidations_read_as_their_own_normal():
    X = build_features(_quiet()).iloc[-1]
    assert X["liq_long_1h_rel_7d"] == pytest.approx(1.0)
    assert X["liq_long_4h_rel_7d"] == pytest.approx(1.0)
    assert X["liq_long_accel_1h_oi"] == pytest.approx(0.0)
    assert X["liq_long_bar_oi"] == pytest.approx(1e5 / OI)
    assert X["liq_long_4h_oi"] == pytest.approx(4e5 / OI)
    assert X["liq_long_decay_oi"] == pytest.approx(1e5 / OI)  # an hourly rate
    assert X["liq_long_7d_oi"] == pytest.approx(1e5 / OI)
    assert X["liq_long_max_1h_24h_oi"] == pytest.approx(1e5 / OI)


def test_a_burst_of_liquidations_stands_out_and_fades_with_the_decay_kernel():
    frame = _quiet(liq=0.0)
    burst = len(frame) - 40
    frame.iloc[burst, frame.columns.get_loc("long_liq_usd")] = 2.4e7
    X = build_features(frame)
    at = X.iloc[burst]
    assert at["liq_long_bar_oi"] == pytest.approx(2.4e7 / OI)
    assert at["liq_long_accel_1h_oi"] == pytest.approx(2.4e7 / OI)
    assert X.iloc[burst + 1]["liq_long_accel_1h_oi"] == pytest.approx(-2.4e7 / OI)
    # weight of a burst k hours back: mean over the 1, 4, 12, 24 h windows that still hold it
    for k, weight in {0: 1 + 1 / 4 + 1 / 12 + 1 / 24, 2: 1 / 4 + 1 / 12 + 1 / 24, 6: 1 / 12 + 1 / 24,
                      20: 1 / 24, 30: 0.0}.items():
        expected = 2.4e7 * weight / 4 / OI
        assert X.iloc[burst + k]["liq_long_decay_oi"] == pytest.approx(expected, abs=1e-15), k
    # the largest hour of the last day remembers the burst for 24 hours, then forgets it
    assert X.iloc[burst + 23]["liq_long_max_1h_24h_oi"] == pytest.approx(2.4e7 / OI)
    assert X.iloc[burst + 24]["liq_long_max_1h_24h_oi"] == 0.0


def _alternating(n: int, s: float) -> np.ndarray:
    """Log closes whose 1-bar returns alternate +s, -s: a 1-bar volatility of exactly s."""
    return np.log(100.0) + np.cumsum(np.where(np.arange(n) % 2 == 0, s, -s))


def test_drops_are_measured_in_the_symbols_own_volatility():
    frame = synthetic(days=10, seed=9)
    n, s = len(frame), 0.002
    log_close = _alternating(n, s)
    log_close[-1] = log_close[-2] - 0.03  # a 30 bp hourly drop after a week of 20 bp moves
    close = np.exp(log_close)
    frame[["open", "high", "low", "close"]] = np.column_stack([close] * 4)
    X = build_features(frame).iloc[-1]
    returns = np.diff(log_close)[-168:]
    sigma = np.sqrt(np.mean(returns**2))
    assert X["ret_1h_vol"] == pytest.approx(-0.03 / sigma)
    high_4h = close[-4:].max()
    assert X["drawdown_4h_vol"] == pytest.approx(np.log(close[-1] / high_4h) / (sigma * 2.0))
    # a symbol ten times as volatile with a ten times larger drop reads the same
    loud = frame.copy()
    loud_close = np.exp(np.log(100.0) + 10 * (log_close - np.log(100.0)))
    loud[["open", "high", "low", "close"]] = np.column_stack([loud_close] * 4)
    assert build_features(loud).iloc[-1]["ret_1h_vol"] == pytest.approx(X["ret_1h_vol"])


def test_liquidations_while_below_the_highs_interact():
    frame = _quiet()
    X = build_features(frame)
    expected = np.log1p(X["liq_long_1h_rel_7d"]) * np.maximum(-X["drawdown_24h_vol"], 0.0)
    np.testing.assert_allclose(X["liq_long_x_drawdown"], expected)
    assert (X["liq_long_x_drawdown"].dropna() >= 0).all()


def test_without_liquidation_data_only_the_price_part_is_computed():
    frame = synthetic(days=10, seed=9).drop(columns=["long_liq_usd", "short_liq_usd"])
    X = build_features(frame).iloc[-1]
    liq = [n for n in cascade.NAMES if n.startswith("liq_")]
    assert X[liq].isna().all()
    assert X[["drawdown_4h_vol", "drawdown_24h_vol", "ret_1h_vol", "rvol_4h_to_7d"]].notna().all()
