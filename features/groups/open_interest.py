"""Open interest: how much leverage is in the market and how fast it is building.

Open interest in USD grows mechanically with the price (same contracts, higher notional), so
``oi_coin_growth_24h`` divides the price move out: growth in coin terms is new positions.
"""

from __future__ import annotations

import numpy as np

from features.rolling import Grid, positive_log, ratio

NAMES: tuple[str, ...] = (
    "oi_growth_1h",
    "oi_growth_4h",
    "oi_growth_24h",
    "oi_z_7d",
    "oi_coin_growth_24h",
    "oi_price_corr_24h",
    "oi_to_volume_24h",
    "oi_drawdown_24h",
    "oi_drawdown_7d",
    "oi_to_volume_24h_rel_7d",
)


def compute(g: Grid) -> dict[str, np.ndarray]:
    oi = g.col("open_interest_usd")
    if oi is None:
        return {}
    close = g.col("close")
    out = {
        "oi_growth_1h": g.change(oi, "1h"),
        "oi_growth_4h": g.change(oi, "4h"),
        "oi_growth_24h": g.change(oi, "24h"),
        "oi_z_7d": g.zscore(positive_log(oi), "7D"),
        "oi_coin_growth_24h": ratio(ratio(oi, g.lag(oi, "24h")), ratio(close, g.lag(close, "24h")))
        - 1.0,
        # positive: open interest rises on up-moves and falls on down-moves (longs piling in)
        "oi_price_corr_24h": g.corr(
            g.log_return_1bar(oi),
            g.memo(("logret", "close"), lambda: g.log_return_1bar(close)),
            "24h",
        ),
        "oi_drawdown_24h": ratio(oi, g.max(oi, "24h")) - 1.0,
        "oi_drawdown_7d": ratio(oi, g.max(oi, "7D")) - 1.0,
    }
    volume = g.col("volume_usd")
    if volume is not None:
        turnover = ratio(oi, g.sum(volume, "24h"))
        out["oi_to_volume_24h"] = turnover
        # symbol-specific level: also against its own 7-day mean (comparable across symbols)
        out["oi_to_volume_24h_rel_7d"] = ratio(turnover, g.mean(turnover, "7D"))
    return out
