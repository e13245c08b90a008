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
from features.blocks import chan as _chan
from features.blocks import crossing as _crossing
from features.blocks import moment_step as _moment_step


@nb.njit(cache=True)
def _accumulate(kind: int, hours: np.ndarray, first: int, last: int, step: int) -> tuple:
    """:func:`features.hour_blocks.merge` of hours ``first, first + step, ..., last`` into an
    empty accumulator, on scalars (no array view per hour: most of the time otherwise)."""
    a0 = -np.inf if kind == hb.MAX else 0.0
    a1 = 0.0
    a2 = 0.0
    k = first
    while True:
        if kind == hb.SUM:
            a0 += hours[k, 0]
            a1 += hours[k, 1]
        elif kind == hb.MAX:
            a0 = max(a0, hours[k, 0])
        else:
            c = hours[k, 0]
            if c == 1.0:
                a0, a1, a2 = _moment_step(a0, a1, a2, hours[k, 1])
            elif c > 0.0:
                a0, a1, a2 = _chan(a0, a1, a2, c, hours[k, 1], hours[k, 2])
        if k == last:
            return a0, a1, a2
        k += step


@nb.njit(cache=True)
def hour_window_at_end(kind: int, hours: np.ndarray, w: int, phase: int) -> np.ndarray:
    """The accumulator of the ``w``-hour window at the last row, from ``hours`` (the
    :func:`features.hour_blocks.hour_aggregates` of the grid; ``phase`` as in hour_blocks)."""
    h = hours.shape[0] - 1
    start = max(h - (h + phase) % w, 0)  # the first hour of the last row's block
    a0, a1, a2 = _accumulate(kind, hours, start, h, 1)
    lo = _crossing(h, w, phase)
    if lo >= 0:
        end = lo - (lo + phase) % w + w - 1  # the last hour of lo's block (before h's block)
        s0, s1, s2 = _accumulate(kind, hours, end, lo, -1)
        if kind == hb.SUM:  # hour_blocks.join(suffix, prefix)
            a0 = s0 + a0
            a1 = s1 + a1
        elif kind == hb.MAX:
            a0 = max(s0, a0)
        else:
            a0, a1, a2 = _chan(s0, s1, s2, a0, a1, a2)
    out = np.empty(hours.shape[1])
    out[0] = a0
    if out.shape[0] > 1:
        out[1] = a1
    if out.shape[0] > 2:
        out[2] = a2
    return out


__all__ = ["hour_window_at_end"]
