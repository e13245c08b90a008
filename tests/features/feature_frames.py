"""Small market frames for the feature and label tests.

``simulated`` is the project's market simulator; ``synthetic`` is a tiny, fully controlled
stand-in with every canonical column (long liquidations follow sharp drops) for tests that
set values by hand. Frames from the ``cached_*`` helpers are shared: copy before changing.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd


def synthetic(
    days: float = 40, bar: str = "1h", seed: int = 0, start: str = "2024-01-01"
) -> pd.DataFrame:
    step = pd.Timedelta(bar)
    n = int(pd.Timedelta(days=days) / step)
    rng = np.random.default_rng(seed)
    hours = step / pd.Timedelta(hours=1)
    vol = 0.006 * np.sqrt(hours) * np.exp(0.3 * np.sin(np.arange(n) / (200 / hours)))
    shocks = rng.standard_t(4, n) * vol
    crash = rng.random(n) < 0.004 * hours
    shocks[crash] -= rng.uniform(0.02, 0.06, crash.sum())
    log_close = np.log(40_000.0) + np.cumsum(shocks)
    close = np.exp(log_close)
    open_ = np.r_[close[0], close[:-1]]
    wick = np.abs(rng.normal(0, vol, n))
    high = np.maximum(open_, close) * np.exp(wick)
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, vol, n)))
    oi = 1.5e9 * np.exp(
        np.cumsum(rng.normal(0.0, 0.004 * np.sqrt(hours), n)) + 0.5 * shocks.cumsum()
    )
    drop = np.clip(-(low / open_ - 1), 0, None)
    long_liq = oi * (0.0004 * hours * rng.random(n) + 0.6 * drop**1.5)
    short_liq = oi * 0.0004 * hours * rng.random(n)
    funding = np.clip(
        0.0001 + 0.00005 * np.sin(np.arange(n) / (90 / hours)) + rng.normal(0, 2e-5, n),
        -0.003,
        0.003,
    )
    index_price = close * (1 - 0.0003 - 0.0004 * rng.standard_normal(n))
    depth = 2e7 * np.exp(rng.normal(0, 0.2, n))
    frame = pd.DataFrame(
        {
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "index_price": index_price,
            "mark_price": (close + index_price) / 2,
            "volume_usd": 5e7 * hours * np.exp(rng.normal(0, 0.4, n)),
            "funding_rate": funding,
            "open_interest_usd": oi,
            "bid_depth_1pct_usd": depth,
            "ask_depth_1pct_usd": depth * np.exp(rng.normal(0, 0.2, n)),
            "bid_depth_2pct_usd": depth * 1.8,
            "ask_depth_2pct_usd": depth * 1.9,
            "long_liq_usd": long_liq,
            "short_liq_usd": short_liq,
            "long_short_ratio": np.exp(rng.normal(0.1, 0.1, n)),
            "taker_buy_ratio": np.clip(rng.normal(0.5, 0.05, n), 0, 1),
        },
        index=pd.date_range(start, periods=n, freq=step, tz="UTC", name="time").as_unit("ns"),
    )
    return frame


def drop_bars(frame: pd.DataFrame, fraction: float, seed: int = 0, runs: int = 3) -> pd.DataFrame:
    """The frame with scattered missing bars and a few longer gaps, like real exports."""
    rng = np.random.default_rng(seed)
    keep = rng.random(len(frame)) >= fraction
    for _ in range(runs):
        start = int(rng.integers(1, max(2, len(frame) - 30)))
        keep[start : start + int(rng.integers(2, 30))] = False
    keep[0] = keep[-1] = True
    return frame[keep]


def simulated(days: float = 40, bar: str = "1h", seed: int = 7, preset: str = "default"):
    """A frame of the project's market simulator (every canonical column)."""
    from features.sources.simulator import simulate

    return simulate("BTC", days=days, bar=bar, seed=seed, preset=preset)


@functools.cache
def cached_synthetic(days: float = 40, bar: str = "1h", seed: int = 0) -> pd.DataFrame:
    """A shared synthetic frame (do not modify it: copy first)."""
    return synthetic(days=days, bar=bar, seed=seed)


@functools.cache
def cached_simulated(days: float = 40, bar: str = "1h", seed: int = 7) -> pd.DataFrame:
    """A shared simulated frame (do not modify it: copy first)."""
    return simulated(days=days, bar=bar, seed=seed)


def read_okx(path) -> pd.DataFrame:
    from features.sources.okx import import_okx_hourly

    return import_okx_hourly(path)


def read_coinglass(path) -> pd.DataFrame:
    from features.sources.coinglass import import_coinglass

    return import_coinglass(path)
