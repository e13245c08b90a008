"""The hour of day at which the forecast window starts, as a point on the 24-hour circle.

On the real development set (BTC, Dec 2025 to Mar 2026) squeezes START far more often in the
hours around the US equity open: 11 % of the rows before 13:00-14:00 UTC were the row before an
onset, against 3 % over the day. Two features (sine and cosine of the hour angle) let a linear
score place one smooth peak anywhere on the clock, and the booster split on either.

The hour is that of the bar's CLOSE (the start of the label window ``(t, t + horizon]``), in
fractional hours UTC, computed from the grid's absolute bar numbers only: no market column, so it
is the same in batch, on a single-row window and in the streaming engine, and never looks ahead.
"""

from __future__ import annotations

import numpy as np

from features.rolling import Grid

NAMES: tuple[str, ...] = ("hour_of_day_sin", "hour_of_day_cos")

_NS_PER_DAY = 86_400 * 10**9


def compute(g: Grid) -> dict[str, np.ndarray]:
    close_ns = (g.bar_numbers() + 1) * np.int64(g.bar_ns)
    angle = 2.0 * np.pi * (close_ns % _NS_PER_DAY) / _NS_PER_DAY
    return {"hour_of_day_sin": np.sin(angle), "hour_of_day_cos": np.cos(angle)}
