"""Price and flow: how the price has moved, how violently, and who is selling.

Returns and volatility are in time horizons, so they mean the same at 1m and 1h bars (a
horizon shorter than the bar is NaN). Realised volatility is the horizon's own volatility:
sqrt(mean squared 1-bar log return * bars in the horizon). Flows are ratios (to open interest,
to their own 7-day mean) so that they compare across symbols.
"""

from __future__ import annotations

import numpy as np

from features.rolling import Grid, positive_log, ratio

RETURN_HORIZONS = ("5min", "15min", "1h", "4h", "24h")
VOL_HORIZONS = ("4h", "24h", "7D")

NAMES: tuple[str, ...] = (
    "ret_5m",
    "ret_15m",
    "ret_1h",
    "ret_4h",
    "ret_24h",
    "rvol_4h",
    "rvol_24h",
    "rvol_7d",
    "range_1h",
    "drawdown_30d",
    "taker_sell_share_1h",
    "taker_sell_share_4h",
    "volume_surge",
    "liq_long_1h_oi",
    "liq_long_24h_oi",
    "liq_short_1h_oi",
    "liq_short_24h_oi",
    "liq_long_share_24h",
    "long_short_ratio",
    "long_short_ratio_change_24h",
    "long_short_ratio_z_7d",
)


def _label(horizon: str) -> str:
    return horizon.replace("min", "m").replace("D", "d")


def compute(g: Grid) -> dict[str, np.ndarray]:
    close, high, low = g.col("close"), g.col("high"), g.col("low")
    out: dict[str, np.ndarray] = {}
    for h in RETURN_HORIZONS:
        out[f"ret_{_label(h)}"] = g.change(close, h)
    r = g.memo(("logret", "close"), lambda: g.log_return_1bar(close))
    for h in VOL_HORIZONS:
        w = g.bars(h)
        if w is not None:
            out[f"rvol_{_label(h)}"] = np.sqrt(g.mean(r * r, h) * w)
    out["range_1h"] = ratio(g.max(high, "1h") - g.min(low, "1h"), close)
    out["drawdown_30d"] = ratio(close, g.max(high, "30D")) - 1.0
    out.update(_flow(g))
    out.update(_liquidations(g))
    lsr = g.col("long_short_ratio")
    if lsr is not None:
        out["long_short_ratio"] = lsr
        out["long_short_ratio_change_24h"] = positive_log(ratio(lsr, g.lag(lsr, "24h")))
        # the ratio's level is symbol- and venue-specific; its z-score compares across symbols
        out["long_short_ratio_z_7d"] = g.zscore(positive_log(lsr), "7D")
    return out


def _flow(g: Grid) -> dict[str, np.ndarray]:
    volume = g.col("volume_usd")
    if volume is None:
        return {}
    out = {"volume_surge": ratio(g.mean(volume, "1h"), g.mean(volume, "7D"))}
    buy = g.col("taker_buy_ratio")
    if buy is not None:
        sold = volume * (1.0 - buy)
        traded = np.where(np.isnan(sold), np.nan, volume)
        for h in ("1h", "4h"):
            out[f"taker_sell_share_{h}"] = ratio(g.mean(sold, h), g.mean(traded, h))
    return out


def _liquidations(g: Grid) -> dict[str, np.ndarray]:
    long_liq, short_liq = g.col("long_liq_usd"), g.col("short_liq_usd")
    oi = g.col("open_interest_usd")
    out: dict[str, np.ndarray] = {}
    if long_liq is None or short_liq is None:
        return out
    long_24h, short_24h = g.sum(long_liq, "24h"), g.sum(short_liq, "24h")
    if oi is not None:
        out["liq_long_1h_oi"] = ratio(g.sum(long_liq, "1h"), oi)
        out["liq_long_24h_oi"] = ratio(long_24h, oi)
        out["liq_short_1h_oi"] = ratio(g.sum(short_liq, "1h"), oi)
        out["liq_short_24h_oi"] = ratio(short_24h, oi)
    out["liq_long_share_24h"] = ratio(long_24h, long_24h + short_24h)
    return out
