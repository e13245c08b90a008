"""The block decomposition's primitives, shared by features.rolling (windows of bars) and
features.hour_blocks (long windows of hourly aggregates).

A window of ``w`` rows ending at ``i`` is the suffix of one block of ``w`` rows aligned to
absolute time plus the prefix of the next; each part is accumulated inside its block only, so
the window's value is a fixed function of its values (see :mod:`features.rolling`).
"""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True, inline="always")
def scan_order(k: int, n: int, backward: bool) -> int:
    """Grid row of the k-th step of a forward or backward scan."""
    return n - 1 - k if backward else k


@nb.njit(cache=True, inline="always")
def block_start(k: int, i: int, w: int, phase: int, backward: bool) -> bool:
    """Whether a scan restarts at row i: a block's first row forward, its last row backward."""
    return k == 0 or (i + (1 if backward else 0) + phase) % w == 0


@nb.njit(cache=True, inline="always")
def crossing(i: int, w: int, phase: int) -> int:
    """First row of the window ending at i when it spans two blocks, else -1 (prefix only)."""
    lo = max(i - w + 1, 0)
    return -1 if (lo + phase) // w == (i + phase) // w else lo


@nb.njit(cache=True, inline="always")
def sum_step(s: float, c, v: float) -> tuple:
    """One value added to (sum, count), NaN skipped: the step of every sum scan."""
    if np.isnan(v):
        return s, c
    return s + v, c + 1


@nb.njit(cache=True, inline="always")
def welford(c: float, m: float, q: float, v: float) -> tuple[float, float, float]:
    """One valid value added to (count, mean, M2): the Welford step of every moments scan."""
    c += 1.0
    d = v - m
    m += d / c
    q += d * (v - m)
    return c, m, q


@nb.njit(cache=True, inline="always")
def moment_step(c: float, m: float, q: float, v: float) -> tuple[float, float, float]:
    """One value added to (count, mean, M2), NaN skipped: the step of every moments scan."""
    if np.isnan(v):
        return c, m, q
    return welford(c, m, q, v)


@nb.njit(cache=True)
def chan(na: float, ma: float, qa: float, nb_: float, mb: float, qb: float) -> tuple:
    """Join (count, mean, M2) of two disjoint parts (Chan et al.)."""
    if na == 0.0:
        return nb_, mb, qb
    if nb_ == 0.0:
        return na, ma, qa
    n = na + nb_
    d = mb - ma
    return n, ma + d * nb_ / n, qa + qb + d * d * na * nb_ / n


__all__ = ["block_start", "chan", "crossing", "moment_step", "scan_order", "sum_step", "welford"]
