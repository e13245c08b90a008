"""Long-window statistics (7 and 30 days) from hourly aggregates of the bars.

At 1-minute bars a 30-day window is 43,200 bars; the streaming engine would keep all of them
per statistic and per symbol (about 10 MB a symbol). The long windows do not need minute
resolution: their statistic is computed from *hourly aggregates* of the bars (sum and count,
or count/mean/M2, or the maximum, per UTC hour) plus the aggregate of the current, still-open
hour up to the bar itself. So a long window of ``W`` hours at a bar in hour ``H`` covers the
whole hours ``H - W + 1 .. H - 1`` and the bars of hour ``H`` up to and including the bar
(never a later one): between ``W - 1`` hours plus one bar and ``W`` hours.

At 1-hour bars an hour's aggregate IS the bar, and the arithmetic below is the arithmetic of
:mod:`features.rolling` (the same block decomposition over hours, Welford steps for one-value
hours, Chan's join of the two block parts): the hourly features are bit-identical to the
exact-window definition (``tests/features/test_hour_blocks.py``). Training
(:func:`features.pipeline.build_features`), serving and the streaming engine
(:mod:`features.incremental`) all use these kernels, so they stay bit-identical to each other.

Each kernel works on accumulators: SUM (sum, count), MOMENTS (count, mean, M2) and MAX (the
maximum of ``sign * x``; ``sign = -1`` gives the minimum).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from features.blocks import block_start as _block_start
from features.blocks import chan as _chan
from features.blocks import crossing as _crossing
from features.blocks import moment_step as _moment_step
from features.blocks import scan_order as _scan_order
from features.blocks import sum_step as _sum_step
from features.blocks import welford as _welford

SUM, MOMENTS, MAX = 0, 1, 2
"""The accumulators: (sum, count), (count, mean, M2), the maximum of ``sign * x``."""
WIDTH = {SUM: 2, MOMENTS: 3, MAX: 1}


@nb.njit(cache=True)
def empty(kind: int) -> np.ndarray:
    """The accumulator of no value."""
    if kind == MAX:
        return np.full(1, -np.inf)
    return np.zeros(2 if kind == SUM else 3)


@nb.njit(cache=True)
def add(kind: int, acc: np.ndarray, v: float, sign: float) -> None:
    """Add one bar's value (NaN is skipped), as the bar kernels of features.rolling do."""
    if kind == MAX:
        acc[0] = max(acc[0], sign * v)  # numba's max keeps acc on NaN
    elif not np.isnan(v):
        if kind == SUM:
            acc[0] += v
            acc[1] += 1.0
        else:
            acc[0], acc[1], acc[2] = _welford(acc[0], acc[1], acc[2], v)


@nb.njit(cache=True)
def merge(kind: int, acc: np.ndarray, part: np.ndarray) -> None:
    """Add an hour's aggregate to a running accumulator (in time order within a scan).

    A one-value hour is added as that value (a Welford step), so that at 1-hour bars this is
    exactly the bar kernels' scan.
    """
    if kind == SUM:
        acc[0] += part[0]
        acc[1] += part[1]
    elif kind == MAX:
        acc[0] = max(acc[0], part[0])
    elif part[0] == 1.0:
        add(MOMENTS, acc, part[1], 1.0)
    elif part[0] > 0.0:
        c, m, q = _chan(acc[0], acc[1], acc[2], part[0], part[1], part[2])
        acc[0] = c
        acc[1] = m
        acc[2] = q


@nb.njit(cache=True)
def reset(kind: int, acc: np.ndarray) -> None:
    """Make ``acc`` the accumulator of no value, in place."""
    acc[:] = -np.inf if kind == MAX else 0.0


@nb.njit(cache=True)
def join(kind: int, suffix: np.ndarray, prefix: np.ndarray) -> None:
    """The window from the suffix of the previous block and the prefix of the current one,
    written into ``prefix``."""
    if kind == SUM:
        prefix[0] = suffix[0] + prefix[0]
        prefix[1] = suffix[1] + prefix[1]
    elif kind == MAX:
        prefix[0] = max(suffix[0], prefix[0])
    else:
        c, m, q = _chan(suffix[0], suffix[1], suffix[2], prefix[0], prefix[1], prefix[2])
        prefix[0] = c
        prefix[1] = m
        prefix[2] = q


@nb.njit(cache=True)
def hour_aggregates(x: np.ndarray, kind: int, sign: float, bph: int, off: int) -> np.ndarray:
    """Aggregate per hour of the grid (hour 0 holds row 0; ``off`` = row 0's bar in its hour).

    Hour by hour on scalar accumulators: the steps of :func:`add`, in row order."""
    n = x.shape[0]
    nh = (n - 1 + off) // bph + 1
    hours = np.empty((nh, 2 if kind == SUM else (3 if kind == MOMENTS else 1)))
    for h in range(nh):
        lo = max(h * bph - off, 0)
        hi = min((h + 1) * bph - off, n)
        if kind == MAX:
            a0 = -np.inf
            for i in range(lo, hi):
                a0 = max(a0, sign * x[i])
            hours[h, 0] = a0
        elif kind == SUM:
            a0 = 0.0
            a1 = 0.0
            for i in range(lo, hi):
                a0, a1 = _sum_step(a0, a1, x[i])
            hours[h, 0] = a0
            hours[h, 1] = a1
        else:
            c = 0.0
            m = 0.0
            q = 0.0
            for i in range(lo, hi):
                c, m, q = _moment_step(c, m, q, x[i])
            hours[h, 0] = c
            hours[h, 1] = m
            hours[h, 2] = q
    return hours


@nb.njit(cache=True)
def prefix(kind: int, hours: np.ndarray, count: int) -> np.ndarray:
    """The accumulator of the first ``count`` hours, merged in time order."""
    acc = empty(kind)
    for h in range(count):
        merge(kind, acc, hours[h])
    return acc


@nb.njit(cache=True)
def suffix_scan(kind: int, hours: np.ndarray, w: int, phase: int) -> np.ndarray:
    """Backward accumulation of the hours, restarting at the last hour of every block."""
    nh = hours.shape[0]
    out = np.empty_like(hours)
    acc = empty(kind)
    for k in range(nh):
        h = _scan_order(k, nh, True)
        if _block_start(k, h, w, phase, True):
            reset(kind, acc)
        merge(kind, acc, hours[h])
        out[h] = acc
    return out


@nb.njit(cache=True)
def hour_blocks(
    x: np.ndarray, kind: int, sign: float, bph: int, off: int, w: int, phase: int, hours: np.ndarray
) -> np.ndarray:
    """The accumulator of the long window ending at every grid row.

    ``bph`` bars per hour, ``off`` the bar of row 0 within its hour, ``w`` the window in
    hours, ``phase`` the absolute hour number of row 0's hour modulo ``w`` (blocks of ``w``
    hours aligned to absolute time, as in features.rolling), ``hours`` the
    :func:`hour_aggregates` of ``x``.
    """
    nh = hours.shape[0]
    closed = np.empty_like(hours)  # the block's whole hours before hour h
    acc = empty(kind)
    for h in range(nh):
        if _block_start(h, h, w, phase, False):
            reset(kind, acc)
        closed[h] = acc
        merge(kind, acc, hours[h])
    suffix = suffix_scan(kind, hours, w, phase)
    return _rows(x, kind, sign, bph, off, w, phase, closed, suffix)


@nb.njit(cache=True)
def _rows(
    x: np.ndarray,
    kind: int,
    sign: float,
    bph: int,
    off: int,
    w: int,
    phase: int,
    closed: np.ndarray,
    suffix: np.ndarray,
) -> np.ndarray:
    """Every row's window: (suffix of the previous block) + (closed hours of the block) +
    (the open hour up to the row). :func:`add`, :func:`merge` and :func:`join` spelled out on
    scalars, the same operations in the same order (this loop is most of the seed's cost)."""
    n = x.shape[0]
    width = closed.shape[1]
    out = np.empty((n, width))
    p0 = p1 = p2 = 0.0
    a1 = a2 = 0.0
    for i in range(n):
        h = (i + off) // bph
        if i == 0 or (i + off) % bph == 0:
            p0 = -np.inf if kind == MAX else 0.0
            p1 = p2 = 0.0
        v = x[i]
        if kind == MAX:
            p0 = max(p0, sign * v)
            a0 = max(closed[h, 0], p0)
        elif kind == SUM:
            p0, p1 = _sum_step(p0, p1, v)
            a0 = closed[h, 0] + p0
            a1 = closed[h, 1] + p1
        else:
            p0, p1, p2 = _moment_step(p0, p1, p2, v)
            a0, a1, a2 = closed[h, 0], closed[h, 1], closed[h, 2]
            if p0 == 1.0:
                a0, a1, a2 = _welford(a0, a1, a2, p1)
            elif p0 > 0.0:
                a0, a1, a2 = _chan(a0, a1, a2, p0, p1, p2)
        lo = _crossing(h, w, phase)
        if lo >= 0:
            if kind == MAX:
                a0 = max(suffix[lo, 0], a0)
            elif kind == SUM:
                a0 = suffix[lo, 0] + a0
                a1 = suffix[lo, 1] + a1
            else:
                a0, a1, a2 = _chan(suffix[lo, 0], suffix[lo, 1], suffix[lo, 2], a0, a1, a2)
        out[i, 0] = a0
        if width > 1:
            out[i, 1] = a1
        if width > 2:
            out[i, 2] = a2
    return out


@nb.njit(cache=True)
def hour_step(
    kind: int,
    sign: float,
    bph: int,
    w: int,
    at: np.ndarray,  # [current hour, current block] (absolute)
    block: np.ndarray,  # (w, width) aggregates of the current block's closed hours
    suffix: np.ndarray,  # (w, width) suffix scan of the previous block
    closed: np.ndarray,  # accumulator of the current block's closed hours
    part: np.ndarray,  # accumulator of the open hour
    a: int,
    v: float,
) -> np.ndarray:
    """One new bar (absolute bar number ``a``) of a streaming long window: :func:`hour_blocks`
    continued bar by bar with O(w) state. Returns the window's accumulator at the bar."""
    h = a // bph
    if h != at[0]:
        block[at[0] - at[1] * w] = part  # close the open hour
        merge(kind, closed, part)
        b = h // w
        if b != at[1]:
            if b == at[1] + 1:
                suffix[:] = suffix_scan(kind, block, w, 0)
            else:
                reset(kind, suffix)
            reset(kind, block)
            reset(kind, closed)
            at[1] = b
        reset(kind, part)
        at[0] = h
    add(kind, part, v, sign)
    cur = closed.copy()
    merge(kind, cur, part)
    lo = h - w + 1
    if lo // w != at[1]:
        join(kind, suffix[lo - (at[1] - 1) * w], cur)
    return cur


__all__ = [
    "MAX",
    "MOMENTS",
    "SUM",
    "WIDTH",
    "hour_aggregates",
    "hour_blocks",
    "hour_step",
    "prefix",
    "suffix_scan",
]
