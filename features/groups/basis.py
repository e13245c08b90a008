"""Basis: how much the perpetual trades above the index, i.e. how eager longs are.

A wide premium that collapses is the classic start of a flush.
"""

from __future__ import annotations

import numpy as np

from features.rolling import Grid, ratio

NAMES: tuple[str, ...] = (
    "premium",
    "premium_z_7d",
    "premium_change_1h",
    "mark_premium",
)


def compute(g: Grid) -> dict[str, np.ndarray]:
    index = g.col("index_price")
    if index is None:
        return {}
    premium = ratio(g.col("close"), index) - 1.0
    out = {
        "premium": premium,
        "premium_z_7d": g.zscore(premium, "7D"),
        "premium_change_1h": premium - g.lag(premium, "1h"),
    }
    mark = g.col("mark_price")
    if mark is not None:
        out["mark_premium"] = ratio(mark, index) - 1.0
    return out
