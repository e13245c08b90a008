"""Key levels: where stops and liquidations cluster just below the price.

Round numbers attract orders; recent highs and lows and the previous day's low are where stops
sit; and the estimated long liquidation notional just below the price (see
:mod:`features.liq_heatmap`) is the fuel a small drop would ignite.
"""

from __future__ import annotations

import numpy as np

from features import liq_heatmap
from features.rolling import Grid, ratio

NAMES: tuple[str, ...] = (
    "round_distance",
    "round_below_distance",
    "dist_high_24h",
    "dist_low_24h",
    "dist_high_7d",
    "dist_low_7d",
    "dist_prev_day_low",
    "liq_long_within_1pct",
    "liq_long_within_2pct",
    "liq_long_within_5pct",
)


def round_step(price: np.ndarray) -> np.ndarray:
    """The round-number step for a price level: one tenth of its order of magnitude.

    1,000 for BTC near 90,000; 100 for ETH near 3,000; 0.01 for a coin near 0.15.
    """
    ok = price > 0.0
    return np.where(ok, 10.0 ** (np.floor(np.log10(np.where(ok, price, 1.0))) - 1.0), np.nan)


def compute(g: Grid) -> dict[str, np.ndarray]:
    close, high, low = g.col("close"), g.col("high"), g.col("low")
    step = round_step(close)
    units = close / step
    out = {
        "round_distance": np.abs(units - np.round(units)) * step / close,
        "round_below_distance": (units - np.floor(units)) * step / close,
        "dist_high_24h": ratio(close, g.max(high, "24h")) - 1.0,
        "dist_low_24h": ratio(close, g.min(low, "24h")) - 1.0,
        "dist_high_7d": ratio(close, g.max(high, "7D")) - 1.0,
        "dist_low_7d": ratio(close, g.min(low, "7D")) - 1.0,
        "dist_prev_day_low": ratio(close, g.previous_day_min(low)) - 1.0,
    }
    oi = g.col("open_interest_usd")
    if oi is not None:
        out.update(_liquidation_bands(g, close, low, oi))
    return out


def _liquidation_bands(
    g: Grid, close: np.ndarray, low: np.ndarray, oi: np.ndarray
) -> dict[str, np.ndarray]:
    lookback = g.bars(liq_heatmap.LOOKBACK)
    max_gap = g.bars(liq_heatmap.MAX_OI_GAP) or 1
    low_floor = np.fmin(low, close)
    leverage, weights = liq_heatmap.leverage_arrays()
    notional = g.stateful(
        liq_heatmap.long_liquidation_bands,
        close,
        low_floor,
        g.min(low_floor, liq_heatmap.LOOKBACK, exact=True),
        oi,
        g.lag_bars(oi, 1, max_gap - 1),
        lookback,
        leverage,
        weights,
        liq_heatmap.MAINTENANCE_MARGIN,
        liq_heatmap.BUCKET_WIDTH,
        np.asarray(liq_heatmap.BANDS, dtype=np.float64),
    )
    return {
        f"liq_long_within_{round(band * 100)}pct": ratio(notional[:, m], oi)
        for m, band in enumerate(liq_heatmap.BANDS)
    }
