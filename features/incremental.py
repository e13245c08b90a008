"""Streaming features: the features of each new bar from per-symbol state, not 30 days of bars.

``features_at`` recomputes every rolling statistic over the last :data:`MIN_WINDOW` of bars:
at 1-minute bars that is 43,200 rows per symbol per bar, far too slow for a radar over
hundreds of symbols. This module computes *the same numbers* bar by bar.

How, without a second definition of the features: the feature groups
(:mod:`features.groups`) are written against :class:`features.rolling.Grid`, and every
rolling statistic goes through one of the Grid's kernels (``_sums``, ``_moments``,
``_extreme``, ``_corr``, ``_lag``, ``_positive_run``, ``_previous_day_min``, ``stateful``).

* **Seeding** runs the ordinary pipeline once on a symbol's last MIN_WINDOW of bars with a
  *recording* grid: each kernel call records its input series. Their order is fixed by the
  group code, so call number k is always the same statistic. The seed keeps the states and
  throws the features away, so a kernel's own output is computed only on the rows a later
  kernel call reads (:mod:`features.seed_needs` traces which: none for most calls).
* **Each new bar** runs the same group code on a one-row *streaming* grid whose kernels take
  the k-th recorded statistic's state, add the new value and return the statistic at the new
  bar. The elementwise arithmetic around the kernels (ratios, logs, differences) is the group
  code itself.

Exactness: :mod:`features.rolling` computes window statistics by block decomposition (a
window is the suffix of one block aligned to absolute time plus the prefix of the next), so a
value is a fixed function of the window's values. The streaming states keep exactly those
parts: the running prefix of the current block, and the suffix scan of the previous block,
computed once when a block completes (amortised O(1) per bar). Maxima/minima, lags, runs, the
previous day's low and the liquidation heatmap are replayed with the same operations. The
result for a new bar equals ``features_at(window)`` bit for bit; ``tests/features/
test_incremental.py`` checks every feature in FEATURES on several symbols and bars.

What falls back: a new kernel without a streaming version raises :class:`NotStreamable` at
seed time, and that symbol is served by :class:`WindowEngine` (``features_at`` on the window,
O(window) per bar) with a logged warning, so a new feature is slow, never wrong. When the set
of signal columns present in the window changes (a collector starts delivering depth, or a
column has been missing for 30 days), the symbol is re-seeded from the store.

Gaps: a missing bar is a NaN row of the grid, as in batch; the engine steps through it. A gap
longer than MIN_WINDOW restarts the symbol from the new bar.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import pickle
from collections import deque
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any, Protocol

import numba as nb
import numpy as np
import pandas as pd

from features import hour_blocks, liq_heatmap, seed_needs
from features.bars import parse_bar
from features.errors import DataError, FlushRiskError
from features.pipeline import FEATURES, MIN_WINDOW, _compute, _grid, covers_min_window, features_at
from features.rolling import (
    NS_PER_DAY,
    Grid,
    _block_corr,
    _block_extreme,
    _block_moments,
    _block_sum,
    _chan,
    _comoment_step,
    _comoments_scan,
    _corr_of_parts,
    _lag_fill,
    _last_finite,
    _moments_scan,
    _previous_day_min,
    _sum_scan,
)

logger = logging.getLogger("flushrisk.incremental")

HistoryLoader = Callable[[str, pd.Timestamp], pd.DataFrame]
"""(symbol, last bar) -> the stored bars of (last - MIN_WINDOW, last], for re-seeding."""


class NotStreamable(DataError):
    """A feature kernel has no streaming version (the symbol falls back to features_at)."""


class FeatureEngine(Protocol):
    """What the radar needs: seed a symbol from history, then one feature row per new bar."""

    def seed(self, symbol: str, history: pd.DataFrame) -> None: ...

    def update(self, symbol: str, bars: pd.DataFrame) -> np.ndarray: ...

    def covered(self, symbol: str) -> bool: ...


# ---------------------------------------------------------------------------------------
# streaming states of the rolling kernels
# ---------------------------------------------------------------------------------------


def _window_values(x: np.ndarray, first: int, lo: int, hi: int) -> np.ndarray:
    """x at absolute bars lo..hi (inclusive), NaN where the window has no row (a view of x
    when it has them all: read-only for the callers)."""
    if lo >= first and hi < first + len(x):
        return x[lo - first : hi - first + 1]
    out = np.full(hi - lo + 1, np.nan)
    a, b = max(lo, first), min(hi, first + len(x) - 1)
    if b >= a:
        out[a - lo : b - lo + 1] = x[a - first : b - first + 1]
    return out


class _Blocks:
    """Block bookkeeping shared by the decomposed statistics: which block, its raw values."""

    kind = "blocks"

    def __init__(self, w: int, x: np.ndarray, first: int, last: int, width: int = 1) -> None:
        self.w = w
        self.block = last // w
        start = self.block * w
        self.values = np.full((w, width), np.nan) if width > 1 else np.full(w, np.nan)
        cur = self._slice(x, first, start, last)
        self.values[: len(cur)] = cur
        prev = self._slice(x, first, start - w, start - 1)
        self._set_suffix(prev)
        self._set_prefix(cur)

    @staticmethod
    def _slice(x: np.ndarray, first: int, lo: int, hi: int) -> np.ndarray:
        if x.ndim == 1:
            return _window_values(x, first, lo, hi)
        return np.column_stack([_window_values(x[:, j], first, lo, hi) for j in range(x.shape[1])])

    def _roll(self, a: int) -> int:
        """Move to the block of bar a; return the offset of the window's first bar in the
        previous block, or -1 when the window lies inside the current block."""
        block = a // self.w
        if block != self.block:
            if block == self.block + 1:
                self._set_suffix(self.values)
            else:
                self._set_suffix(np.full_like(self.values, np.nan))
            self.block = block
            self.values.fill(np.nan)
            self._reset_prefix()
        lo = a - self.w + 1
        return -1 if lo // self.w == block else lo - (block - 1) * self.w

    def _set_suffix(self, prev: np.ndarray) -> None: ...

    def _set_prefix(self, cur: np.ndarray) -> None: ...

    def _reset_prefix(self) -> None: ...


class _SumState(_Blocks):
    kind = "sums"

    def _set_suffix(self, prev: np.ndarray) -> None:
        self.suf_s, counts = _sum_scan(prev, self.w, 0, True)
        self.suf_c = counts.astype(np.int32)  # at most w: half the bytes, the same numbers

    def _set_prefix(self, cur: np.ndarray) -> None:
        # the forward scan of rolling.py over the block so far: the same sums, bit for bit
        sums, counts = _sum_scan(cur, self.w, 0, False)
        self.s, self.c = float(sums[-1]), int(counts[-1])

    def _reset_prefix(self) -> None:
        self.s, self.c = 0.0, 0

    def _add(self, v: float) -> None:
        if not math.isnan(v):
            self.s += v
            self.c += 1

    def value(self, a: int, v: float) -> tuple[float, int]:
        """The window's (sum, count) at bar a after adding its value v."""
        off = self._roll(a)
        self.values[a - self.block * self.w] = v
        self._add(v)
        if off < 0:
            return self.s, self.c
        return float(self.suf_s[off] + self.s), int(self.suf_c[off]) + self.c

    def step(self, a: int, v: float) -> tuple[np.ndarray, np.ndarray]:
        s, c = self.value(a, v)
        return np.array([s]), np.array([c], np.int64)


class _MomentState(_Blocks):
    kind = "moments"

    def _set_suffix(self, prev: np.ndarray) -> None:
        self.suf = _moments_scan(prev, self.w, 0, True)

    def _set_prefix(self, cur: np.ndarray) -> None:
        c, m, q = _moments_scan(cur, self.w, 0, False)[-1]
        self.c, self.m, self.q = float(c), float(m), float(q)

    def _reset_prefix(self) -> None:
        self.c = self.m = self.q = 0.0

    def _add(self, v: float) -> None:
        if not math.isnan(v):
            self.c += 1.0
            d = v - self.m
            self.m += d / self.c
            self.q += d * (v - self.m)

    def value(self, a: int, v: float) -> tuple[float, float, float]:
        """The window's (count, mean, M2) at bar a after adding its value v."""
        off = self._roll(a)
        self.values[a - self.block * self.w] = v
        self._add(v)
        if off < 0:
            return self.c, self.m, self.q
        s = self.suf[off]
        return _chan(float(s[0]), float(s[1]), float(s[2]), self.c, self.m, self.q)

    def step(self, a: int, v: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        c, m, q = self.value(a, v)
        return np.array([c]), np.array([m]), np.array([q])


class _ExtremeState:
    """The window's maximum of ``sign * x`` as a monotone queue: the bars of the window that
    are larger than every later one. A maximum has no rounding, so this is the block
    decomposition's value bit for bit, in a few dozen entries instead of 2 x window floats."""

    kind = "extreme"
    ENTRY_BYTES = 120  # a deque slot with its (bar, value) tuple, for memory_bytes

    def __init__(self, w: int, x: np.ndarray, first: int, last: int, sign: float) -> None:
        self.w, self.sign = w, sign
        lo = last - w + 1
        keep, values = _larger_than_later(_window_values(x, first, lo, last), sign)
        self.queue = deque(zip((lo + keep).tolist(), values.tolist(), strict=True))

    def value(self, a: int, v: float) -> float:
        s = self.sign * v
        queue = self.queue
        if s > -math.inf:  # not NaN, not -inf
            while queue and queue[-1][1] <= s:
                queue.pop()
            queue.append((a, s))
        lo = a - self.w + 1
        while queue and queue[0][0] < lo:
            queue.popleft()
        return self.sign * queue[0][1] if queue else math.nan

    def step(self, a: int, v: float) -> np.ndarray:
        return np.array([self.value(a, v)])


@nb.njit(cache=True)
def _larger_than_later(x: np.ndarray, sign: float) -> tuple[np.ndarray, np.ndarray]:
    """The rows j where ``sign * x[j]`` is larger than at every later row (NaN and -inf
    never are), oldest first, with those values: the monotone queue of a window's maximum."""
    n = x.shape[0]
    keep = np.empty(n, np.int64)
    count = 0
    best = -np.inf
    for j in range(n - 1, -1, -1):
        v = sign * x[j]
        if v > best:
            keep[count] = j
            count += 1
            best = v
    keep = keep[:count][::-1].copy()
    values = np.empty(count)
    for i in range(count):
        values[i] = sign * x[keep[i]]
    return keep, values


class _HourState:
    """A long window from hourly aggregates (features.hour_blocks): the current block's closed
    hours, the previous block's suffix scan, and the accumulators of the closed hours and of
    the open hour. O(hours in the window), not O(bars)."""

    kind = "hours"

    def __init__(
        self, stat: int, sign: float, w: int, bph: int, hours: np.ndarray, first: int, last: int
    ) -> None:
        """``hours``: the aggregates of the seed grid's hours (hour_blocks.hour_aggregates)."""
        self.stat, self.sign, self.w, self.bph = stat, sign, w, bph
        h = last // bph
        self.at = np.array([h, h // w], np.int64)
        self.block, self.suffix, self.closed, self.part = _hour_state(stat, w, hours, first // bph, h)

    def step(self, a: int, v: float) -> np.ndarray:
        acc = hour_blocks.hour_step(
            self.stat, self.sign, self.bph, self.w, self.at, self.block, self.suffix,
            self.closed, self.part, a, v,
        )
        return acc[None, :]


@nb.njit(cache=True)
def _block_hours(stat: int, w: int, hours: np.ndarray, first_hour: int, lo: int, end: int) -> np.ndarray:
    """The aggregates of hours lo .. lo + w - 1 that are before ``end`` (others empty), from
    ``hours`` (the aggregates of hours from ``first_hour`` on)."""
    out = np.empty((w, hours.shape[1]))
    out[:] = hour_blocks.empty(stat)
    a, b = max(lo, first_hour), min(end, first_hour + hours.shape[0], lo + w)
    for k in range(a, b):
        out[k - lo] = hours[k - first_hour]
    return out


@nb.njit(cache=True)
def _hour_state(stat: int, w: int, hours: np.ndarray, first_hour: int, h: int) -> tuple:
    """A long window's state at hour ``h``: the current block's closed hours, the suffix scan
    of the previous block, the accumulator of the closed hours and the open hour's."""
    b = h // w
    block = _block_hours(stat, w, hours, first_hour, b * w, h)
    suffix = hour_blocks.suffix_scan(stat, _block_hours(stat, w, hours, first_hour, (b - 1) * w, b * w), w, 0)
    closed = hour_blocks.prefix(stat, block, h - b * w)
    return block, suffix, closed, hours[h - first_hour].copy()


_NO_PART = np.zeros(6)


class _CorrState(_Blocks):
    kind = "corr"

    def __init__(self, w: int, xy: np.ndarray, first: int, last: int, min_count: int) -> None:
        self.min_count = min_count
        super().__init__(w, xy, first, last, width=2)

    def _set_suffix(self, prev: np.ndarray) -> None:
        self.suf = _comoments_scan(prev[:, 0], prev[:, 1], self.w, 0, True)

    def _set_prefix(self, cur: np.ndarray) -> None:
        self.acc = _comoments_scan(cur[:, 0], cur[:, 1], self.w, 0, False)[-1].copy()

    def _reset_prefix(self) -> None:
        self.acc = np.zeros(6)

    def _add(self, x: float, y: float) -> None:
        if not (math.isnan(x) or math.isnan(y)):
            _comoment_step(self.acc, x, y)

    def value(self, a: int, x: float, y: float) -> float:
        off = self._roll(a)
        self.values[a - self.block * self.w] = (x, y)
        self._add(x, y)
        r = _corr_of_parts(_NO_PART if off < 0 else self.suf[off], self.acc, self.min_count)
        return r

    def step(self, a: int, x: float, y: float) -> np.ndarray:
        return np.array([self.value(a, x, y)])


class _LagState:
    """x k bars ago, or the last value at most ``tol`` bars before that, inside the window."""

    kind = "lag"

    def __init__(self, k: int, tol: int, x: np.ndarray, first: int, last: int, nwin: int) -> None:
        self.k, self.tol, self.nwin, self.first = k, tol, nwin, first
        self.size = k + tol + 1
        self.ring = np.full(self.size, np.nan)
        lo = last - self.size + 1
        vals = _window_values(x, first, lo, last)
        self.ring[(lo + np.arange(vals.size)) % self.size] = vals

    def value(self, a: int, v: float) -> float:
        self.ring[a % self.size] = v
        floor = max(self.first, a - self.nwin + 1)
        j = a - self.k
        for d in range(self.tol + 1):
            jj = j - d
            if jj < floor:
                break
            got = self.ring[jj % self.size]
            if not math.isnan(got):
                return got
        return math.nan

    def step(self, a: int, v: float) -> np.ndarray:
        return np.array([self.value(a, v)])


class _RunState:
    """Bars since the last non-positive value inside the window, capped."""

    kind = "run"

    def __init__(self, cap: int, x: np.ndarray, first: int, nwin: int) -> None:
        self.cap, self.first, self.nwin = cap, first, nwin
        nonpos = np.flatnonzero(x <= 0.0)
        self.last = first + int(nonpos[-1]) if nonpos.size else None

    def value(self, a: int, v: float) -> float:
        if math.isnan(v):
            return math.nan
        if v <= 0.0:
            self.last = a
            return 0.0
        start = max(self.first, a - self.nwin + 1)
        last = self.last if self.last is not None and self.last >= start else start - 1
        return float(min(a - last, self.cap))

    def step(self, a: int, v: float) -> np.ndarray:
        return np.array([self.value(a, v)])


class _DayMinState:
    """The previous UTC day's minimum (NaN when that day is not in the window)."""

    kind = "daymin"

    def __init__(self, x: np.ndarray, first: int, bar_ns: int) -> None:
        self.bar_ns = bar_ns
        last = first + len(x) - 1
        self.day = (last * bar_ns) // NS_PER_DAY
        # the kernel from the previous day's first bar on gives the whole grid's last value
        # (it restarts at every day); the current day's minimum as value() takes it
        start = max(-(-((self.day - 1) * NS_PER_DAY) // bar_ns) - first, 0)
        self.prev = float(_previous_day_min(x[start:], first + start, bar_ns)[-1])
        today = max(-(-(self.day * NS_PER_DAY) // bar_ns) - first, 0)
        self.cur = _running_min(x[today:])

    def value(self, a: int, v: float) -> float:
        day = (a * self.bar_ns) // NS_PER_DAY
        if day != self.day:
            self.prev = self.cur if (day == self.day + 1 and self.cur < math.inf) else math.nan
            self.day = day
            self.cur = math.inf
        out = self.prev
        self.cur = min(self.cur, v)
        return out

    def step(self, a: int, v: float) -> np.ndarray:
        return np.array([self.value(a, v)])


@nb.njit(cache=True)
def _running_min(x: np.ndarray) -> float:
    """``min(cur, v)`` over x from inf, as Python's min: a value replaces cur only when
    smaller (NaN never does), as :meth:`_DayMinState.value` steps."""
    cur = math.inf
    for v in x:
        if v < cur:  # noqa: PLR1730 - not numba's min, whose NaN rule is not Python's
            cur = v
    return cur


# -- the liquidation heatmap (features.liq_heatmap), bar by bar ---------------------------

_BUCKET_MARGIN = 2400  # ~ +-270 % of price in 0.1 % buckets before the array is re-based


@nb.njit(cache=True)
def _liq_steps(
    state: np.ndarray,  # [base, top]
    buckets: np.ndarray,
    level_close: np.ndarray,  # ring (lookback + 1): the close of a bar that added OI, else 0
    level_added: np.ndarray,  # ring (lookback + 1): the OI it added
    first_abs: int,
    close: np.ndarray,
    low_floor: np.ndarray,
    window_low_floor: np.ndarray,
    oi: np.ndarray,
    oi_prev: np.ndarray,
    lookback: int,
    leverage: np.ndarray,
    weights: np.ndarray,
    mmr: float,
    bucket_width: float,
    bands: np.ndarray,
    out_from: int,
) -> tuple[np.ndarray, int]:
    """liq_heatmap.long_liquidation_bands continued from ``state``: the same four steps per
    bar on absolute log-price buckets. Returns (bands per bar, -1) or (partial, t) when bar t
    needs a bucket outside the array (the caller re-bases and resumes at t). Bands are summed
    from bar ``out_from`` on (NaN before): a seed needs the state and the last bar's bands."""
    n = close.shape[0]
    nlev = leverage.shape[0]
    ring = level_close.shape[0]
    out = np.full((n, bands.shape[0]), np.nan)
    log_step = math.log1p(bucket_width)
    base = state[0]
    top = state[1]
    size = buckets.shape[0]
    big = np.iinfo(np.int64).max
    factor = np.empty(nlev)  # the liquidation price's share of the entry, per leverage
    for k in range(nlev):
        factor[k] = 1.0 - 1.0 / leverage[k] + mmr
    level = np.empty(nlev, np.int64)  # this bar's level bucket per leverage (relative)
    for t in range(n):
        c = close[t]
        # bounds first: every bucket this bar touches must fit
        if c > 0.0:
            hi_b = math.floor(math.log(c) / log_step) - base
            lo_b = big
            for k in range(nlev):
                level[k] = math.floor(math.log(c * factor[k]) / log_step) - base
                lo_b = min(lo_b, level[k])
            for m in range(bands.shape[0]):
                fb = math.floor(math.log(c * (1.0 - bands[m])) / log_step) - base
                lo_b = min(lo_b, fb)
            if lo_b < 0 or hi_b >= size:
                state[0] = base
                state[1] = top
                return out, t
        a = first_abs + t
        if low_floor[t] > 0.0:
            b = math.floor(math.log(low_floor[t]) / log_step) - base
            b = max(b, 0)
            while top >= b and top >= 0:
                buckets[top] = 0
                top -= 1
        slot = a % ring
        level_close[slot] = 0.0
        added = oi[t] - oi_prev[t]
        if c > 0.0 and added > 0.0:
            level_close[slot] = c
            level_added[slot] = added
            for k in range(nlev):  # at the buckets the bounds found
                amount = np.int64(round(added * weights[k] * 100.0))
                buckets[level[k]] += amount
                top = max(top, level[k])
        # levels of bars before the stream are zero in the ring: nothing to expire there
        old = (a - lookback) % ring
        wl = window_low_floor[t]
        lowest = math.floor(math.log(wl) / log_step) if wl > 0.0 else big
        c_old = level_close[old]
        if c_old > 0.0:  # its levels, recomputed with the same operations as when added
            for k in range(nlev):
                babs = math.floor(math.log(c_old * factor[k]) / log_step)
                amount = np.int64(round(level_added[old] * weights[k] * 100.0))
                if amount > 0 and babs < lowest:
                    buckets[babs - base] -= amount
        if c > 0.0 and t >= out_from:
            for m in range(bands.shape[0]):
                floor_b = max(math.floor(math.log(c * (1.0 - bands[m])) / log_step) - base, 0)
                total = np.int64(0)
                for b in range(floor_b, top + 1):
                    total += buckets[b]
                out[t, m] = total / 100.0
    state[0] = base
    state[1] = top
    return out, -1


class _LiqBandsState:
    """features.liq_heatmap.long_liquidation_bands as a stream (same levels, same bits)."""

    kind = "stateful"

    def __init__(self, args: tuple, first: int) -> None:
        self.lookback = int(args[5])
        self.params = args[6:]
        # per bar of the lookback, the close and the OI added (its levels are recomputed at
        # expiry): 2 numbers a bar instead of a bucket and an amount per leverage
        self.level_close = np.zeros(self.lookback + 1)
        self.level_added = np.zeros(self.lookback + 1)
        self.last_out: np.ndarray | None = None

    @classmethod
    def seeded(cls, args: tuple, first: int) -> tuple[_LiqBandsState, np.ndarray]:
        """The state after the grid's last bar, and the bands at the last grid row (NaN before:
        the seed reads only that row). One replay: the batch kernel does not run a second time.

        The replay starts ``lookback`` bars before the last one: the levels are an exact
        function of the bars in the lookback (:mod:`features.liq_heatmap`), and a level of an
        older bar has expired (or been traded through) by the last bar, so its bucket holds
        the same integer cents without it."""
        state = cls(args, first)
        n = len(args[0])
        cut = max(n - state.lookback - 1, 0)
        series = tuple(s[cut:] for s in args[:5])
        close = series[0]
        ok = close[close > 0.0]
        state._rebase(float(np.median(ok)) if ok.size else 1.0)
        bands = state._run(series, first + cut, out_from=n - cut - 1)
        out = np.full((n, bands.shape[1]), np.nan)
        out[cut:] = bands
        return state, out

    @staticmethod
    def input_series(args: tuple) -> tuple[int, Callable[[int, int], int]]:
        """For :mod:`features.seed_needs`: the first five arguments are series, and the seed
        reads their last ``lookback + 1`` rows (every row if more than the last row of the
        bands were needed: the seed gives the last row only)."""
        lookback = int(args[5])
        return 5, lambda rows, n: lookback + 1 if rows <= 1 else n

    def _rebase(self, price: float) -> None:
        log_step = math.log1p(liq_heatmap.BUCKET_WIDTH)
        centre = math.floor(math.log(price) / log_step)
        base = centre - _BUCKET_MARGIN
        fresh = np.zeros(2 * _BUCKET_MARGIN, np.int64)
        if hasattr(self, "buckets"):
            old_base, top = int(self.state[0]), int(self.state[1])
            keep = np.flatnonzero(self.buckets)
            for b in keep:
                nb_ = b + old_base - base
                if not 0 <= nb_ < fresh.size:
                    raise NotStreamable("liquidation levels span more than the bucket array")
                fresh[nb_] = self.buckets[b]
            top = min(max(top + old_base - base, -1), fresh.size - 1)
        else:
            top = -1
        self.buckets = fresh
        self.state = np.array([base, top], np.int64)

    def _run(self, series: tuple, first: int, out_from: int = 0) -> np.ndarray:
        start = 0
        parts = []
        n = len(series[0])
        while True:
            cut = tuple(np.ascontiguousarray(s[start:]) for s in series)
            out, stop = _liq_steps(
                self.state,
                self.buckets,
                self.level_close,
                self.level_added,
                first + start,
                *cut,
                self.lookback,
                *self.params,
                max(out_from - start, 0),
            )
            if stop < 0:
                parts.append(out)
                break
            parts.append(out[:stop])
            self._rebase(float(series[0][start + stop]))
            start += stop
            if start >= n:
                break
        return np.vstack(parts) if len(parts) > 1 else parts[0]

    def step(self, a: int, args: tuple) -> np.ndarray:
        return self._run(args[:5], a)


STREAMING_KERNELS: dict[Any, type] = {liq_heatmap.long_liquidation_bands: _LiqBandsState}
"""Stateful kernels (Grid.stateful) with a streaming version: kernel -> state class (with a
``seeded(args, first) -> (state, output)`` constructor)."""


# ---------------------------------------------------------------------------------------
# the two grids
# ---------------------------------------------------------------------------------------


class _RecordingGrid(Grid):
    """A batch grid that builds the streaming state of every kernel call it makes.

    The seed keeps the states and throws the features away, so a kernel's batch output is
    computed only on the trailing rows a later kernel call reads (:mod:`features.seed_needs`:
    none for most calls), NaN above; without that trace, on every row."""

    def _begin(self, nwin: int, needs: tuple[tuple[tuple, int], ...] | None = None) -> None:
        self.states: list[Any] = []
        self.nwin = nwin
        self.last = self.first_bar + self.n - 1
        self.last_row_only = True  # the seed reads the last row: long windows there only
        self.needs = needs
        self.calls = 0

    def _rows(self, signature: tuple, *inputs: np.ndarray) -> int:
        """Trailing rows of this call's output that later calls read (all without a trace)."""
        k = self.calls
        self.calls += 1
        if self.needs is None:
            return self.n
        if any(isinstance(x, seed_needs.Unused) for x in inputs):
            raise _OtherCalls(f"kernel call {k} reads an output traced as unread")
        if k >= len(self.needs) or self.needs[k][0] != signature:
            raise _OtherCalls(f"kernel call {k} is {signature}, traced as "
                              f"{self.needs[k][0] if k < len(self.needs) else 'none'}")
        return self.needs[k][1]

    def _tail(self, rows: int, reach: int, kernel, *xs: np.ndarray, unread: tuple = (np.float64,)):
        """``kernel(start, *x[start:])`` (the kernel on the grid's rows from ``start``), kept on
        the last ``rows`` rows and NaN (counts 0) above; ``reach``: how many rows before a row
        its value reads. So every row of the output is the whole grid's kernel's, or NaN. No
        row read: the shared unread arrays of the kernel's output types (``unread``)."""
        if rows == 0:
            out = tuple(seed_needs.unused((self.n,), np.dtype(t)) for t in unread)
            return out if len(out) > 1 else out[0]
        if rows >= self.n:
            return kernel(0, *xs)
        start = max(self.n - rows - reach, 0)
        got = kernel(start, *(x[start:] for x in xs))
        out = []
        for part in got if isinstance(got, tuple) else (got,):
            full = np.full((self.n, *part.shape[1:]), 0 if part.dtype.kind in "iu" else np.nan, part.dtype)
            full[self.n - rows :] = part[len(part) - rows :]
            out.append(full)
        return tuple(out) if isinstance(got, tuple) else out[0]

    def bar_numbers(self) -> np.ndarray:
        if self._rows(("bar numbers",)) == 0:
            return seed_needs.unused((self.n,), np.dtype(np.int64))
        return super().bar_numbers()

    def _on_last_row(self, formula, *arrays: np.ndarray) -> np.ndarray:
        if any(isinstance(a, seed_needs.Unused) for a in arrays):
            return seed_needs.unused((self.n,), np.dtype(np.float64))  # unread: not computed
        return super()._on_last_row(formula, *arrays)

    def _phase_at(self, start: int, w: int) -> int:
        return (self.first_bar + start) % w

    def _sums(self, x, w):
        self.states.append(_SumState(w, x, self.first_bar, self.last))
        rows = self._rows(("sums", w), x)
        return self._tail(rows, w - 1, lambda s, x: _block_sum(x, w, self._phase_at(s, w)), x,
                          unread=(np.float64, np.int64))

    def _moments(self, x, w):
        self.states.append(_MomentState(w, x, self.first_bar, self.last))
        rows = self._rows(("moments", w), x)
        return self._tail(rows, w - 1, lambda s, x: _block_moments(x, w, self._phase_at(s, w)), x,
                          unread=(np.float64,) * 3)

    def _extreme(self, x, w, sign):
        self.states.append(_ExtremeState(w, x, self.first_bar, self.last, sign))
        rows = self._rows(("extreme", w, sign), x)
        return self._tail(rows, w - 1, lambda s, x: _block_extreme(x, w, self._phase_at(s, w), sign), x)

    def _corr(self, x, y, w, min_count):
        self.states.append(_CorrState(w, np.column_stack([x, y]), self.first_bar, self.last, min_count))
        rows = self._rows(("corr", w, min_count), x, y)
        return self._tail(
            rows, w - 1, lambda s, x, y: _block_corr(x, y, w, self._phase_at(s, w), min_count), x, y
        )

    def _lag(self, x, k, tol):
        self.states.append(_LagState(k, tol, x, self.first_bar, self.last, self.nwin))
        rows = self._rows(("lag", k, tol), x)
        return self._tail(rows, k + tol, lambda s, x: _lag_fill(x, k, tol), x)

    def _positive_run(self, x, cap):
        self.states.append(_RunState(cap, x, self.first_bar, self.nwin))
        if self._rows(("run", cap), x) == 0:
            return seed_needs.unused((self.n,), np.dtype(np.float64))
        return super()._positive_run(x, cap)

    def _previous_day_min(self, x):
        self.states.append(_DayMinState(x, self.first_bar, self.bar_ns))
        if self._rows(("daymin",), x) == 0:
            return seed_needs.unused((self.n,), np.dtype(np.float64))
        return super()._previous_day_min(x)

    def _hour_stat(self, x, kind, sign, hours):
        bph = self.bars("1h")
        # the state reads the hours of the last row's block and of the block before
        h0 = max((self.last // bph // hours - 1) * hours, self.first_bar // bph)
        aggregates = self._aggregates_from(x, kind, sign, h0)
        self.states.append(_HourState(kind, sign, hours, bph, aggregates, h0 * bph, self.last))
        if self._rows(("hours", kind, sign, hours), x) == 0:
            return seed_needs.unused((self.n, hour_blocks.WIDTH[kind]), np.dtype(np.float64))
        # the seed reads the last row alone, and no long window feeds another kernel (features_at
        # relies on the same, checked by the parity tests): the window at the last row only
        return self._hour_stat_at_end(x, kind, sign, hours)

    def _aggregates_from(self, x: np.ndarray, kind: int, sign: float, h0: int) -> np.ndarray:
        """The hourly aggregates of ``x`` from absolute hour ``h0`` on (the grid's first hour
        at the earliest): each hour's on its own bars, so the same as the whole grid's. Shared
        by the 7- and 30-day windows of one series, as :meth:`Grid.hour_aggregates`."""
        bph = self.bars("1h")
        key = ("hours from", id(x), kind, sign)
        got = self.cache.get(key)
        if got is not None and got[0] is not x:  # the series itself is kept: ids are reused
            got = None
        if got is None or got[1] > h0:
            start = max(h0 * bph - self.first_bar, 0)
            end = len(x) if got is None else got[1] * bph - self.first_bar  # an hour's first row
            earlier = hour_blocks.hour_aggregates(x[start:end], kind, sign, bph, (self.first_bar + start) % bph)
            aggregates = earlier if got is None else np.concatenate([earlier, got[2]])
            got = self.cache[key] = (x, max(h0, self.first_bar // bph), aggregates)
        return got[2][h0 - got[1] :]

    def stateful(self, kernel, *args):
        state_class = STREAMING_KERNELS.get(kernel)
        if state_class is None:
            name = getattr(kernel, "__name__", repr(kernel))
            raise NotStreamable(f"no streaming version of the feature kernel {name}")
        state, out = state_class.seeded(args, self.first_bar)
        self.states.append(state)
        series, _ = state_class.input_series(args)  # as the trace counts them (seed_needs)
        self._rows(("stateful", kernel), *args[:series])
        return out  # the state's own replay: the batch kernel would run it a second time


class _OtherCalls(Exception):
    """The feature code made other kernel calls than traced (:mod:`features.seed_needs`)."""


class _StreamGrid(Grid):
    """A one-row grid (the new bar) whose kernels continue the recorded states."""

    def _bind(self, states: list[Any], present: frozenset[str]) -> None:
        self.states = states
        self.k = 0
        self.present = present

    def col(self, name: str) -> np.ndarray | None:
        return self.columns.get(name) if name in self.present else None

    def _next(self, kind: str) -> Any:
        if self.k >= len(self.states):
            raise NotStreamable("the feature code made more kernel calls than when seeded")
        state = self.states[self.k]
        if state.kind != kind:
            raise NotStreamable(f"kernel call {self.k} is {kind}, was {state.kind} when seeded")
        self.k += 1
        return state

    def _sums(self, x, w):
        return self._next("sums").step(self.first_bar, float(x[0]))

    def _moments(self, x, w):
        return self._next("moments").step(self.first_bar, float(x[0]))

    def _extreme(self, x, w, sign):
        return self._next("extreme").step(self.first_bar, float(x[0]))

    def _corr(self, x, y, w, min_count):
        return self._next("corr").step(self.first_bar, float(x[0]), float(y[0]))

    def _lag(self, x, k, tol):
        return self._next("lag").step(self.first_bar, float(x[0]))

    def _positive_run(self, x, cap):
        return self._next("run").step(self.first_bar, float(x[0]))

    def _previous_day_min(self, x):
        return self._next("daymin").step(self.first_bar, float(x[0]))

    def _hour_stat(self, x, kind, sign, hours):
        return self._next("hours").step(self.first_bar, float(x[0]))

    def stateful(self, kernel, *args):
        return self._next("stateful").step(self.first_bar, args)


class _BatchStreamGrid(Grid):
    """One new bar of many symbols at once: row i is symbol i's new bar (the same bar for all),
    and kernel call k steps every symbol's k-th recorded state.

    The group code's elementwise arithmetic then runs once per bar close on arrays of all
    symbols instead of once per symbol on one-element arrays (most of the per-symbol cost);
    the kernels still step each symbol's own state, in the same order, with the same values,
    so every number equals the one-row grid's (:class:`_StreamGrid`) bit for bit.
    """

    def _bind(self, states: list[list[Any]], present: frozenset[str]) -> None:
        self.all_states = states
        self.k = 0
        self.present = present

    def col(self, name: str) -> np.ndarray | None:
        return self.columns.get(name) if name in self.present else None

    def bar_numbers(self) -> np.ndarray:
        return np.full(self.n, self.first_bar, dtype=np.int64)

    def _next(self, kind: str) -> list[Any]:
        k = self.k
        if k >= len(self.all_states[0]):
            raise NotStreamable("the feature code made more kernel calls than when seeded")
        states = [symbol_states[k] for symbol_states in self.all_states]
        if any(state.kind != kind for state in states):
            raise NotStreamable(f"kernel call {k} is {kind}, not what was seeded")
        self.k += 1
        return states

    def _each(self, kind: str, x: np.ndarray) -> list[Any]:
        """Each symbol's k-th state stepped with its value: the states' scalar answers."""
        a = self.first_bar
        return [state.value(a, v) for state, v in zip(self._next(kind), x.tolist(), strict=True)]

    def _sums(self, x, w):
        s, c = zip(*self._each("sums", x), strict=True)
        return np.array(s), np.array(c, np.int64)

    def _moments(self, x, w):
        c, m, q = zip(*self._each("moments", x), strict=True)
        return np.array(c), np.array(m), np.array(q)

    def _extreme(self, x, w, sign):
        return np.array(self._each("extreme", x), dtype=np.float64)

    def _corr(self, x, y, w, min_count):
        a = self.first_bar
        pairs = zip(self._next("corr"), x.tolist(), y.tolist(), strict=True)
        return np.array([state.value(a, u, v) for state, u, v in pairs], dtype=np.float64)

    def _lag(self, x, k, tol):
        return np.array(self._each("lag", x), dtype=np.float64)

    def _positive_run(self, x, cap):
        return np.array(self._each("run", x), dtype=np.float64)

    def _previous_day_min(self, x):
        return np.array(self._each("daymin", x), dtype=np.float64)

    def _hour_stat(self, x, kind, sign, hours):
        a = self.first_bar
        states = self._next("hours")
        return np.vstack([state.step(a, v) for state, v in zip(states, x.tolist(), strict=True)])

    def stateful(self, kernel, *args):
        # the state steps on the kernel's five series (one value per row); the rest are its
        # parameters, recorded when seeded
        states = self._next("stateful")
        series = args[:5]
        return np.concatenate([
            state.step(self.first_bar, tuple(v[i : i + 1] for v in series))
            for i, state in enumerate(states)
        ])


# ---------------------------------------------------------------------------------------
# the engines
# ---------------------------------------------------------------------------------------

_PRICES = ("open", "high", "low")
_ROW0 = np.array([0])


def _with_prices(columns: dict[str, np.ndarray], present: frozenset[str]) -> frozenset[str]:
    """A close-only source: its close stands for open, high and low (as the batch grid does);
    returns the columns present then."""
    close = columns.get("close")
    if close is None or "close" not in present:
        return present
    for name in _PRICES:
        if name not in present:
            columns[name] = close
    return present | frozenset(_PRICES)


def _finite_after(last_finite: dict[str, int], a: int, row: dict[str, float]) -> dict[str, int]:
    """Each column's last bar with a finite value once bar ``a`` holds ``row``."""
    finite = dict(last_finite)
    for name, v in row.items():
        if math.isfinite(v):
            finite[name] = a
    return finite


class _Symbol:
    """One symbol's streaming state."""

    def __init__(self) -> None:
        self.states: list[Any] = []
        self.columns: tuple[str, ...] = ()
        self.present: frozenset[str] = frozenset()
        self.last_finite: dict[str, int] = {}
        self.first = 0
        self.last = -1
        self.fallback: pd.DataFrame | None = None  # the window, when not streamable


_FEATURE_CODE = ("groups/*.py", "rolling.py", "blocks.py", "hour_blocks.py", "liq_heatmap.py",
                 "incremental.py", "seed_needs.py", "pipeline.py", "schema.py", "bars.py")


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """A hash of the feature code a saved state was recorded by: a state is replayed kernel
    call by kernel call, so after any change of that code it is seeded again, never reused."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for pattern in _FEATURE_CODE:
        for path in sorted(root.glob(pattern)):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:20]


class StreamingEngine:
    """Per-symbol streaming features; equal to ``features_at`` on the last MIN_WINDOW."""

    recording: type[Grid] = _RecordingGrid
    """The grid a seed records the kernel states with."""

    def __init__(self, bar: str | pd.Timedelta, loader: HistoryLoader | None = None) -> None:
        self.bar = parse_bar(bar)
        self.bar_ns = int(self.bar.value)
        self.nwin = int(MIN_WINDOW / self.bar)
        self.loader = loader
        self.symbols: dict[str, _Symbol] = {}
        self.reseeds = 0
        self.fallbacks: set[str] = set()

    def covered(self, symbol: str) -> bool:
        state = self.symbols.get(symbol)
        return state is not None and state.last - state.first + 1 >= self.nwin

    def seed(self, symbol: str, history: pd.DataFrame) -> None:
        """Start a symbol from its stored bars (only the last MIN_WINDOW are used)."""
        if history.empty:
            self.symbols.pop(symbol, None)
            return
        last = history.index[-1]
        if history.index.is_monotonic_increasing:  # a slice, not a copy of 30 days of rows
            window = history.iloc[history.index.searchsorted(last - MIN_WINDOW, side="right"):]
        else:  # the grid refuses it, as it would the mask's rows
            window = history[history.index > last - MIN_WINDOW]
        self.symbols[symbol] = self._seeded(symbol, window)

    def _seeded(self, symbol: str, window: pd.DataFrame) -> _Symbol:
        state = _Symbol()
        base = _grid(window, self.bar, "incremental seed")
        state.columns = tuple(str(c) for c in window.columns.tolist())
        present = [name for name in base.columns.keys() | set(state.columns) if base.col(name) is not None]
        state.first = base.first_bar
        state.last = base.first_bar + base.n - 1
        for name in state.columns:
            values = base.column(name)
            at = -1 if values is None else _last_finite(values)
            if at >= 0:
                state.last_finite[name] = state.first + at
        state.present = self._present(state.last_finite, state.last)
        try:
            needs = seed_needs.output_rows(self.bar, present, base.n, STREAMING_KERNELS)
            try:
                state.states = self._record(base, needs)
            except _OtherCalls as err:  # not the calls traced: every output on every row
                logger.warning("%s: seeding without the traced row needs: %s", symbol, err)
                state.states = self._record(base, None)
        except NotStreamable as err:
            if symbol not in self.fallbacks:
                logger.warning("%s: features computed with features_at (slow): %s", symbol, err)
            self.fallbacks.add(symbol)
            state.fallback = window
        return state

    def _record(self, base: Grid, needs: tuple[tuple[tuple, int], ...] | None) -> list[Any]:
        """The kernel states of the feature code run on ``base`` by a recording grid with its
        own memo (an interrupted recording leaves nothing behind for the next)."""
        grid = self.recording(**{f.name: getattr(base, f.name) for f in fields(Grid)})
        grid.cache = dict(base.cache)
        grid._begin(self.nwin, needs)
        _compute(grid, grid.positions[-1:])
        return grid.states

    def _present(self, last_finite: dict[str, int], a: int) -> frozenset[str]:
        """The columns with a finite value in the window ending at bar ``a``."""
        floor = a - self.nwin + 1
        return frozenset(c for c, t in last_finite.items() if t >= floor)

    def saved_state(self, symbol: str) -> bytes | None:
        """A symbol's streaming state as bytes (None without a streamable state), for a
        restarted radar to :meth:`restore` instead of re-running 30 days of bars."""
        state = self.symbols.get(symbol)
        if state is None or state.fallback is not None:
            return None
        body = {"code": code_fingerprint(), "bar_ns": self.bar_ns, "nwin": self.nwin, "state": state}
        return pickle.dumps(body, protocol=pickle.HIGHEST_PROTOCOL)

    def restore(self, symbol: str, saved: bytes) -> pd.Timestamp | None:
        """Take a state saved by :meth:`saved_state`; returns its last bar, or None when it
        cannot be used (saved by other feature code or for another bar, or unreadable): the
        caller seeds the symbol instead. The bars after the returned one go to :meth:`update`.

        Only the radar's own files are restored (``<data_dir>/_radar/engine``): pickle runs
        what it reads, like every model store.
        """
        try:
            body = pickle.loads(saved)  # the radar's own state file
        except Exception:  # noqa: BLE001 - a damaged file only costs a seed
            return None
        if not isinstance(body, dict) or body.get("code") != code_fingerprint():
            return None
        if body.get("bar_ns") != self.bar_ns or body.get("nwin") != self.nwin:
            return None
        state = body.get("state")
        if not isinstance(state, _Symbol):
            return None
        self.symbols[symbol] = state
        return pd.Timestamp(state.last * self.bar_ns, unit="ns", tz="UTC")

    def memory_bytes(self) -> int:
        """Bytes held by the streaming states (numpy arrays, and the extremes' queues at
        :attr:`_ExtremeState.ENTRY_BYTES` an entry), for the benchmark."""
        total = 0
        for state in self.symbols.values():
            for s in state.states:
                total += sum(v.nbytes for v in vars(s).values() if isinstance(v, np.ndarray))
                if isinstance(s, _ExtremeState):
                    total += len(s.queue) * _ExtremeState.ENTRY_BYTES
        return total

    def update(self, symbol: str, bars: pd.DataFrame) -> np.ndarray:
        """Feature rows (in FEATURES order) of new bars, oldest first."""
        out = np.full((len(bars), len(FEATURES)), np.nan)
        ns = bars.index.as_unit("ns").asi8
        if (ns % self.bar_ns).any():
            raise DataError(f"{symbol}: bars not on the {self.bar} grid")
        matrix = bars.to_numpy(dtype="float64", na_value=np.nan)
        names = [str(c) for c in bars.columns]
        for r, t in enumerate(ns):
            out[r] = self._one(symbol, int(t // self.bar_ns), names, matrix[r], bars.iloc[r : r + 1])
        return out

    def _one(
        self, symbol: str, a: int, names: list[str], values: np.ndarray, frame: pd.DataFrame
    ) -> np.ndarray:
        state = self.symbols.get(symbol)
        if state is None or a - state.last > self.nwin:
            state = self.symbols[symbol] = self._seeded(symbol, frame)
            return features_at(frame, bar=self.bar).to_numpy()
        if a <= state.last:
            raise DataError(f"{symbol}: bar {pd.Timestamp(a * self.bar_ns, tz='UTC')} is not new")
        if state.fallback is not None:
            window = pd.concat([state.fallback, frame])
            state.fallback = window[window.index > window.index[-1] - MIN_WINDOW]
            state.last = a
            return features_at(state.fallback, bar=self.bar).to_numpy()
        row = dict(zip(names, values.tolist(), strict=True))
        finite = _finite_after(state.last_finite, a, row)
        if self._present(finite, a) != state.present or any(n not in state.columns for n in row):
            return self._reseed(symbol, a)
        empty = dict.fromkeys(state.columns, math.nan)
        try:
            for gap in range(state.last + 1, a):  # missing bars are NaN rows, as in batch
                self._step(state, gap, empty)
            out = self._step(state, a, row)
        except NotStreamable:
            return self._reseed(symbol, a)
        state.last_finite = finite
        return out

    def update_many(self, bars: dict[str, pd.DataFrame]) -> dict[str, np.ndarray]:
        """Feature rows of the new bars of many symbols (as :meth:`update`, symbol by symbol).

        The symbols whose single new bar directly follows their last one, with the same
        signal columns present, are computed together (:class:`_BatchStreamGrid`): at a bar
        close that is nearly every symbol. The others (a gap, a back-fill, a column that
        appeared, a fallback) go through :meth:`update`. An error of one symbol is raised
        for that symbol only: its entry holds the exception.
        """
        out: dict[str, Any] = {}
        groups: dict[tuple, list[tuple[str, _Symbol, dict[str, float], dict[str, int]]]] = {}
        for symbol, frame in bars.items():
            prepared = self._batchable(symbol, frame)
            if prepared is None:
                out[symbol] = self._update_or_error(symbol, frame)
                continue
            a, state, row, finite = prepared
            groups.setdefault((a, state.present, state.columns), []).append((symbol, state, row, finite))
        for (a, present, columns), members in groups.items():
            try:
                rows = self._step_many(a, present, columns, [(st, row) for _, st, row, _ in members])
            except NotStreamable:  # one symbol's states disagree: each on its own
                for symbol, _, _, _ in members:
                    out[symbol] = self._update_or_error(symbol, bars[symbol])
                continue
            for i, (symbol, state, _, finite) in enumerate(members):
                state.last = a
                state.last_finite = finite
                out[symbol] = rows[i : i + 1]
        return out

    def _update_or_error(self, symbol: str, frame: pd.DataFrame) -> np.ndarray | FlushRiskError:
        """:meth:`update` of one symbol, its error as the answer (update_many's rule)."""
        try:
            return self.update(symbol, frame)
        except FlushRiskError as err:
            return err

    def _batchable(
        self, symbol: str, frame: pd.DataFrame
    ) -> tuple[int, _Symbol, dict[str, float], dict[str, int]] | None:
        """(bar, state, values, last finite bars) of a symbol's one new bar that follows its
        last directly with the same columns present; None when it needs :meth:`update`."""
        state = self.symbols.get(symbol)
        if state is None or state.fallback is not None or len(frame) != 1:
            return None
        ns = int(frame.index.as_unit("ns").asi8[0])
        if ns % self.bar_ns:
            return None
        a = ns // self.bar_ns
        if a != state.last + 1:
            return None
        names = [str(c) for c in frame.columns]
        values = frame.to_numpy(dtype="float64", na_value=np.nan)[0].tolist()
        row = dict(zip(names, values, strict=True))
        if any(n not in state.columns for n in row):
            return None
        finite = _finite_after(state.last_finite, a, row)
        if self._present(finite, a) != state.present:
            return None
        return a, state, row, finite

    def _step_many(
        self,
        a: int,
        present: frozenset[str],
        names: tuple[str, ...],
        members: list[tuple[_Symbol, dict[str, float]]],
    ) -> np.ndarray:
        """:meth:`_step` for many symbols at the same bar with the same columns present."""
        columns = {
            n: np.array([row.get(n, math.nan) for _, row in members]) for n in names
        }
        present = _with_prices(columns, present)
        n = len(members)
        positions = np.arange(n)
        grid = _BatchStreamGrid(bar=self.bar, first_bar=a, n=n, positions=positions, columns=columns)
        grid._bind([state.states for state, _ in members], present)
        return _compute(grid, positions)

    def _step(self, state: _Symbol, a: int, row: dict[str, float]) -> np.ndarray:
        columns = {n: np.array([row.get(n, math.nan)]) for n in state.columns}
        present = _with_prices(columns, state.present)
        grid = _StreamGrid(bar=self.bar, first_bar=a, n=1, positions=_ROW0, columns=columns)
        grid._bind(state.states, present)
        out = _compute(grid, _ROW0)
        state.last = a
        return out[0]

    def _reseed(self, symbol: str, a: int) -> np.ndarray:
        """The signal columns present changed: rebuild the states from the stored window."""
        self.reseeds += 1
        t = pd.Timestamp(a * self.bar_ns, tz="UTC")
        if self.loader is None:
            raise DataError(f"{symbol}: signal columns changed at {t} and no store to re-seed from")
        window = self.loader(symbol, t)
        window = window[(window.index > t - MIN_WINDOW) & (window.index <= t)]
        if window.empty or window.index[-1] != t:
            raise DataError(f"{symbol}: the store lacks bar {t}: store bars before updating features")
        self.symbols[symbol] = self._seeded(symbol, window)
        return features_at(window, bar=self.bar).to_numpy()


class WindowEngine:
    """The reference: ``features_at`` on the last MIN_WINDOW of bars kept in memory (slow)."""

    def __init__(self, bar: str | pd.Timedelta) -> None:
        self.bar = parse_bar(bar)
        self.windows: dict[str, pd.DataFrame] = {}

    def seed(self, symbol: str, history: pd.DataFrame) -> None:
        if history.empty:
            self.windows.pop(symbol, None)
            return
        self.windows[symbol] = history[history.index > history.index[-1] - MIN_WINDOW]

    def covered(self, symbol: str) -> bool:
        window = self.windows.get(symbol)
        return window is not None and covers_min_window(window.index, self.bar)

    def update(self, symbol: str, bars: pd.DataFrame) -> np.ndarray:
        out = np.full((len(bars), len(FEATURES)), np.nan)
        for r in range(len(bars)):
            old = self.windows.get(symbol)
            window = bars.iloc[r : r + 1] if old is None else pd.concat([old, bars.iloc[r : r + 1]])
            window = window[window.index > window.index[-1] - MIN_WINDOW]
            self.windows[symbol] = window
            out[r] = features_at(window, bar=self.bar).to_numpy()
        return out


def make_engine(bar: str, kind: str = "streaming", loader: HistoryLoader | None = None) -> FeatureEngine:
    """The radar's feature engine: ``streaming`` (default) or ``window`` (the slow reference)."""
    if kind == "window":
        return WindowEngine(bar)
    if kind == "streaming":
        return StreamingEngine(bar, loader)
    raise DataError(f"unknown feature engine {kind!r}; use streaming or window")


__all__ = [
    "STREAMING_KERNELS",
    "FeatureEngine",
    "NotStreamable",
    "StreamingEngine",
    "WindowEngine",
    "make_engine",
]
