"""Hour of day: the UTC hour at which the forecast window starts (the bar's close)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import build_features, features_at


def _bars(start: str, periods: int, freq: str) -> pd.DataFrame:
    index = pd.date_range(start, periods=periods, freq=freq, tz="UTC")
    return pd.DataFrame({"open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "funding_rate": 1e-4}, index=index)


def test_hour_is_that_of_the_bar_close_on_the_24_hour_circle():
    X = build_features(_bars("2026-01-05 12:00", 3, "1h"))
    # the 12:00 bar closes at 13:00: its forecast window starts then (US open season)
    angle = 2 * np.pi * 13 / 24
    assert X["hour_of_day_sin"].iloc[0] == pytest.approx(np.sin(angle), abs=1e-12)
    assert X["hour_of_day_cos"].iloc[0] == pytest.approx(np.cos(angle), abs=1e-12)
    # 5-minute bars: fractional hours; the 23:55 bar closes at midnight
    late = build_features(_bars("2026-01-05 23:55", 1, "5min"), bar="5m")
    assert late["hour_of_day_sin"].iloc[0] == pytest.approx(0.0, abs=1e-12)
    assert late["hour_of_day_cos"].iloc[0] == pytest.approx(1.0)


def test_hour_needs_no_market_column_and_is_the_same_on_a_single_row_window():
    frame = _bars("2026-01-05 00:00", 30, "1h")
    full = build_features(frame)
    one = features_at(frame.iloc[-1:], bar="1h")
    assert one["hour_of_day_sin"] == full["hour_of_day_sin"].iloc[-1]
    assert one["hour_of_day_cos"] == full["hour_of_day_cos"].iloc[-1]
