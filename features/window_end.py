"""A long window's accumulator at the LAST grid row only: what one prediction needs.

:func:`features.hour_blocks.hour_blocks` gives the 7- and 30-day accumulators at every row of
a grid: three passes over the window and an array per statistic. Serving scores one row (the
last bar), and the live fallback does the same, so :func:`features.pipeline.features_at` asks
the grid for that row alone (``Grid.last_row_only``). This computes it from the same hourly
aggregates with the same operations in the same order as ``hour_blocks`` does for its last
row, so the result is bit-identical (``tests/features/test_window_end.py``):

* the current block's whole hours, merged forward from the block's first hour;
* the open hour (the last row's hour: its aggregate is exactly the bars up to the last row);
* when the window starts in the previous block, that block's suffix from its last hour back to
  the window's first hour, joined in front (Chan's join for moments).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from features import hour_blocks as hb
from features.blocks import crossing as _crossing


@nb.njit(cache=True)
def hour_window_at_end(kind: int, hours: np.ndarray, w: int, phase: int) -> np.ndarray:
    """The accumulator of the ``w``-hour window at the last row, from ``hours`` (the
    :func:`features.hour_blocks.hour_aggregates` of the grid; ``phase`` as in hour_blocks)."""
    h = hours.shape[0] - 1
    start = max(h - (h + phase) % w, 0)  # the first hour of the last row's block
    acc = hb.empty(kind)
    for k in range(start, h + 1):
        hb.merge(kind, acc, hours[k])
    lo = _crossing(h, w, phase)
    if lo >= 0:
        end = lo - (lo + phase) % w + w - 1  # the last hour of lo's block (before h's block)
        suffix = hb.empty(kind)
        for k in range(end, lo - 1, -1):
            hb.merge(kind, suffix, hours[k])
        hb.join(kind, suffix, acc)
    return acc


__all__ = ["hour_window_at_end"]
