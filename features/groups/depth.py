"""Order-book depth: the liquidity that would have to absorb a cascade of forced selling.

Depth in USD is not comparable across symbols, so it enters as a ratio to its own 7-day mean,
as bid/ask imbalance, as a change, and as open interest per dollar of bid depth: the fuel for
a cascade against the liquidity to absorb it (that ratio's level is symbol-specific, so it also
enters relative to its own 30-day mean, which a model pooled over symbols can compare).
"""

from __future__ import annotations

import numpy as np

from features.rolling import Grid, ratio

NAMES: tuple[str, ...] = (
    "depth_bid_1pct_rel_7d",
    "depth_ask_1pct_rel_7d",
    "depth_bid_2pct_rel_7d",
    "depth_ask_2pct_rel_7d",
    "depth_imbalance_1pct",
    "depth_imbalance_2pct",
    "depth_bid_1pct_change_1h",
    "depth_bid_1pct_change_24h",
    "oi_to_bid_depth_1pct",
    "oi_to_bid_depth_2pct",
    "oi_to_bid_depth_1pct_rel_30d",
)


def _imbalance(bid: np.ndarray, ask: np.ndarray) -> np.ndarray:
    return ratio(bid - ask, bid + ask)


def compute(g: Grid) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    sides = {
        "bid_1pct": g.col("bid_depth_1pct_usd"),
        "ask_1pct": g.col("ask_depth_1pct_usd"),
        "bid_2pct": g.col("bid_depth_2pct_usd"),
        "ask_2pct": g.col("ask_depth_2pct_usd"),
    }
    for name, values in sides.items():
        if values is not None:
            out[f"depth_{name}_rel_7d"] = ratio(values, g.mean(values, "7D"))
    for pct in ("1pct", "2pct"):
        bid, ask = sides[f"bid_{pct}"], sides[f"ask_{pct}"]
        if bid is not None and ask is not None:
            out[f"depth_imbalance_{pct}"] = _imbalance(bid, ask)
    bid1 = sides["bid_1pct"]
    if bid1 is not None:
        out["depth_bid_1pct_change_1h"] = g.change(bid1, "1h")
        out["depth_bid_1pct_change_24h"] = g.change(bid1, "24h")
    oi = g.col("open_interest_usd")
    if oi is not None:
        for pct in ("1pct", "2pct"):
            bid = sides[f"bid_{pct}"]
            if bid is not None:
                out[f"oi_to_bid_depth_{pct}"] = ratio(oi, bid)
        if "oi_to_bid_depth_1pct" in out:
            # the level differs from symbol to symbol; against its own 30-day mean it compares
            fuel = out["oi_to_bid_depth_1pct"]
            out["oi_to_bid_depth_1pct_rel_30d"] = ratio(fuel, g.mean(fuel, "30D"))
    return out
