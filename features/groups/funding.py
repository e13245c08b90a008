"""Funding: how much longs pay to stay long, and for how long they have been paying.

Rich and persistent funding means a crowded long side. The rate is a fraction per 8 hours.
"""

from __future__ import annotations

import numpy as np

from features.rolling import Grid

NAMES: tuple[str, ...] = (
    "funding_rate",
    "funding_change_8h",
    "funding_change_24h",
    "funding_z_7d",
    "funding_z_30d",
    "funding_cum_24h",
    "funding_annualized",
    "funding_positive_hours",
)

# Hours of positive funding are capped at 30 days: an unbounded counter would make a feature
# depend on the whole history, and serving only sees MIN_WINDOW of it.
POSITIVE_RUN_CAP = "30D"


def compute(g: Grid) -> dict[str, np.ndarray]:
    f = g.col("funding_rate")
    if f is None:
        return {}
    return {
        "funding_rate": f,
        "funding_change_8h": f - g.lag(f, "8h"),
        "funding_change_24h": f - g.lag(f, "24h"),
        "funding_z_7d": g.zscore(f, "7D"),
        "funding_z_30d": g.zscore(f, "30D"),
        # three funding payments a day: the mean rate over 24h times 3 is what a long paid
        "funding_cum_24h": g.mean(f, "24h") * 3.0,
        "funding_annualized": f * 3.0 * 365.0,
        "funding_positive_hours": g.positive_run_hours(f, POSITIVE_RUN_CAP),
    }
