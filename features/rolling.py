"""Rolling statistics over time horizons, on a regular bar grid, with bounded memory.

Every feature is a function of at most ``MIN_WINDOW`` of history, so that serving, which only
sees a short window of recent bars, computes exactly what training computed on the whole
history. Running sums that add the new value and subtract the old one would break that: their
rounding error depends on where the computation started. So every rolling statistic here is
computed by *block decomposition* (van Herk / Gil-Werman): the grid is cut into blocks of ``w``
bars aligned to absolute time (bar number since the epoch), a window of ``w`` bars ending at
``i`` is the suffix of one block plus the prefix of the next, and both parts are accumulated
inside their block only. The result at ``i`` is then a deterministic function of the ``w``
values in the window: bit-identical whatever the frame's first row is, causal, and O(n).

Missing values (gap rows are NaN rows of the grid) are skipped; callers ask for a minimum
share of valid values. Variances use Welford within a block and Chan's formula to join the two
parts, so z-scores of level-like series (log open interest) keep their precision.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import numba as nb
import numpy as np
import pandas as pd

from features import hour_blocks as hb
from features.bars import bar_name, parse_bar
from features.blocks import block_start as _block_start
from features.blocks import chan as _chan
from features.blocks import moment_step as _moment_step
from features.blocks import scan_order as _scan_order
from features.blocks import sum_step as _sum_step
from features.errors import DataError
from features.window_end import hour_window_at_end

NS_PER_DAY = 86_400 * 1_000_000_000

HOURLY_FROM_HOURS = 7 * 24
"""Windows of at least this many hours (the 7- and 30-day ones) are computed from hourly
aggregates of the bars (:mod:`features.hour_blocks`); shorter ones from the bars themselves."""



# Each kernel below scans the grid twice with the same accumulator: forward for the prefix of
# every block, backward for its suffix. ``_scan_order`` and ``_block_start`` say where a scan is
# and where it restarts; ``_crossing`` says which windows need the suffix part at all.


@nb.njit(cache=True)
def _sum_scan(x: np.ndarray, w: int, phase: int, backward: bool) -> tuple[np.ndarray, np.ndarray]:
    n = x.shape[0]
    sums = np.empty(n)
    counts = np.empty(n, np.int64)
    s = 0.0
    c = 0
    for k in range(n):
        i = _scan_order(k, n, backward)
        if _block_start(k, i, w, phase, backward):
            s = 0.0
            c = 0
        s, c = _sum_step(s, c, x[i])
        sums[i] = s
        counts[i] = c
    return sums, counts


@nb.njit(cache=True)
def _block_ends(n: int, w: int, phase: int) -> np.ndarray:
    """Row boundaries of the blocks on a grid of ``n`` rows: block j is rows
    ``ends[j] .. ends[j + 1] - 1`` (the first and last blocks may be partial). The fused
    kernels below walk block by block: the rows a scan restarts at, without a modulo per row."""
    first = w - phase
    count = 1 if first >= n else 2 + (n - first - 1) // w
    ends = np.empty(count + 1, np.int64)
    ends[0] = 0
    for j in range(1, count + 1):
        ends[j] = min(first + (j - 1) * w, n)
    return ends


@nb.njit(cache=True)
def _block_sum(x: np.ndarray, w: int, phase: int) -> tuple[np.ndarray, np.ndarray]:
    """Rolling (sum, count) of the valid values: per block, the suffix scan backward from its
    last row and the prefix scan forward, the window joining the previous block's suffix where
    it crosses (the additions of :func:`_sum_scan`, in the same order; one pass per scan)."""
    n = x.shape[0]
    suf_s = np.empty(n)
    suf_c = np.empty(n, np.int64)
    out_s = np.empty(n)
    out_c = np.empty(n, np.int64)
    ends = _block_ends(n, w, phase)
    for j in range(ends.shape[0] - 1):
        a, b = ends[j], ends[j + 1]
        s = 0.0
        c = 0
        for i in range(b - 1, a - 1, -1):
            s, c = _sum_step(s, c, x[i])
            suf_s[i] = s
            suf_c[i] = c
        s = 0.0
        c = 0
        for i in range(a, b):
            s, c = _sum_step(s, c, x[i])
            lo = i - w + 1
            if a > 0 and lo < a:  # the window starts in the previous block
                lo = max(lo, 0)
                out_s[i] = suf_s[lo] + s
                out_c[i] = suf_c[lo] + c
            else:
                out_s[i] = s
                out_c[i] = c
    return out_s, out_c



@nb.njit(cache=True)
def _block_extreme(x: np.ndarray, w: int, phase: int, sign: float) -> np.ndarray:
    """Rolling max of ``sign * x`` times ``sign``: max for sign=1, min for sign=-1 (block by
    block, as :func:`_block_sum`)."""
    n = x.shape[0]
    suf = np.empty(n)
    out = np.empty(n)
    ends = _block_ends(n, w, phase)
    for j in range(ends.shape[0] - 1):
        a, b = ends[j], ends[j + 1]
        m = -np.inf
        for i in range(b - 1, a - 1, -1):
            m = max(m, sign * x[i])
            suf[i] = m
        m = -np.inf
        for i in range(a, b):
            m = max(m, sign * x[i])
            lo = i - w + 1
            r = max(suf[max(lo, 0)], m) if a > 0 and lo < a else m
            out[i] = sign * r if r > -np.inf else np.nan
    return out


@nb.njit(cache=True)
def _moments_scan(x: np.ndarray, w: int, phase: int, backward: bool) -> np.ndarray:
    """Count, mean and M2 of the valid values (Welford), restarting at every block."""
    n = x.shape[0]
    out = np.empty((n, 3))
    c = 0.0
    m = 0.0
    q = 0.0
    for k in range(n):
        i = _scan_order(k, n, backward)
        if _block_start(k, i, w, phase, backward):
            c = 0.0
            m = 0.0
            q = 0.0
        c, m, q = _moment_step(c, m, q, x[i])
        out[i, 0] = c
        out[i, 1] = m
        out[i, 2] = q
    return out


@nb.njit(cache=True)
def _block_moments(x: np.ndarray, w: int, phase: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rolling count, mean and M2 (sum of squared deviations) of the valid values: Welford
    within each block (:func:`_moments_scan`'s steps), Chan's join across two (block by block,
    as :func:`_block_sum`)."""
    n = x.shape[0]
    suf = _moments_scan(x, w, phase, True)
    cnt = np.empty(n)
    mean = np.empty(n)
    m2 = np.empty(n)
    ends = _block_ends(n, w, phase)
    for j in range(ends.shape[0] - 1):
        a, b = ends[j], ends[j + 1]
        c = 0.0
        m = 0.0
        q = 0.0
        for i in range(a, b):
            c, m, q = _moment_step(c, m, q, x[i])
            lo = i - w + 1
            if a > 0 and lo < a:
                lo = max(lo, 0)
                cnt[i], mean[i], m2[i] = _chan(suf[lo, 0], suf[lo, 1], suf[lo, 2], c, m, q)
            else:
                cnt[i] = c
                mean[i] = m
                m2[i] = q
    return cnt, mean, m2


@nb.njit(cache=True, inline="always")
def _comoment_add(
    c: float, mx: float, my: float, sxx: float, syy: float, sxy: float, x: float, y: float
) -> tuple[float, float, float, float, float, float]:
    """One valid pair added to (count, mean_x, mean_y, m2_x, m2_y, c_xy): Welford for two
    variables, on scalars."""
    c += 1.0
    dx = x - mx
    mx += dx / c
    dy = y - my
    my += dy / c
    sxx += dx * (x - mx)
    syy += dy * (y - my)
    sxy += dx * (y - my)
    return c, mx, my, sxx, syy, sxy


@nb.njit(cache=True)
def _comoment_step(acc: np.ndarray, x: float, y: float) -> None:
    # acc: count, mean_x, mean_y, m2_x, m2_y, c_xy (Welford for two variables)
    acc[0], acc[1], acc[2], acc[3], acc[4], acc[5] = _comoment_add(
        acc[0], acc[1], acc[2], acc[3], acc[4], acc[5], x, y
    )


@nb.njit(cache=True)
def _comoments_scan(x: np.ndarray, y: np.ndarray, w: int, phase: int, backward: bool) -> np.ndarray:
    n = x.shape[0]
    out = np.zeros((n, 6))
    acc = np.zeros(6)
    for k in range(n):
        i = _scan_order(k, n, backward)
        if _block_start(k, i, w, phase, backward):
            acc[:] = 0.0
        if not (np.isnan(x[i]) or np.isnan(y[i])):
            _comoment_step(acc, x[i], y[i])
        out[i] = acc
    return out


@nb.njit(cache=True)
def _corr_of_parts(a: np.ndarray, b: np.ndarray, min_count: int) -> float:
    """Pearson correlation of two disjoint parts' co-moments joined (Chan); ``a`` may be empty."""
    na, nb_ = a[0], b[0]
    c = na + nb_
    if na == 0.0 or nb_ == 0.0:
        z = b if na == 0.0 else a
        sxx, syy, sxy = z[3], z[4], z[5]
    else:
        dx = b[1] - a[1]
        dy = b[2] - a[2]
        f = na * nb_ / c
        sxx = a[3] + b[3] + dx * dx * f
        syy = a[4] + b[4] + dy * dy * f
        sxy = a[5] + b[5] + dx * dy * f
    if c >= min_count and sxx > 0.0 and syy > 0.0:
        r = sxy / math.sqrt(sxx * syy)
        return min(1.0, max(-1.0, r))
    return np.nan


@nb.njit(cache=True)
def _block_corr(x: np.ndarray, y: np.ndarray, w: int, phase: int, min_count: int) -> np.ndarray:
    """Rolling Pearson correlation over the bars where both series are valid (block by block,
    as :func:`_block_sum`; :func:`_comoment_add` and :func:`_corr_of_parts` spelled out on
    scalars, the same operations in the same order)."""
    n = x.shape[0]
    suf = np.empty((n, 6))
    out = np.empty(n)
    ends = _block_ends(n, w, phase)
    for j in range(ends.shape[0] - 1):
        a, b = ends[j], ends[j + 1]
        c = mx = my = sxx = syy = sxy = 0.0
        for i in range(b - 1, a - 1, -1):
            u, v = x[i], y[i]
            if not (np.isnan(u) or np.isnan(v)):
                c, mx, my, sxx, syy, sxy = _comoment_add(c, mx, my, sxx, syy, sxy, u, v)
            suf[i, 0] = c
            suf[i, 1] = mx
            suf[i, 2] = my
            suf[i, 3] = sxx
            suf[i, 4] = syy
            suf[i, 5] = sxy
        c = mx = my = sxx = syy = sxy = 0.0
        for i in range(a, b):
            u, v = x[i], y[i]
            if not (np.isnan(u) or np.isnan(v)):
                c, mx, my, sxx, syy, sxy = _comoment_add(c, mx, my, sxx, syy, sxy, u, v)
            lo = i - w + 1
            na = 0.0
            if a > 0 and lo < a:
                lo = max(lo, 0)
                na = suf[lo, 0]
            total = na + c
            if na == 0.0 or c == 0.0:
                if na == 0.0:
                    txx, tyy, txy = sxx, syy, sxy
                else:
                    txx, tyy, txy = suf[lo, 3], suf[lo, 4], suf[lo, 5]
            else:
                ex = mx - suf[lo, 1]
                ey = my - suf[lo, 2]
                f = na * c / total
                txx = suf[lo, 3] + sxx + ex * ex * f
                tyy = suf[lo, 4] + syy + ey * ey * f
                txy = suf[lo, 5] + sxy + ex * ey * f
            if total >= min_count and txx > 0.0 and tyy > 0.0:
                out[i] = min(1.0, max(-1.0, txy / math.sqrt(txx * tyy)))
            else:
                out[i] = np.nan
    return out


@nb.njit(cache=True)
def _lag_fill(x: np.ndarray, k: int, tol: int) -> np.ndarray:
    """x at i-k, or the last valid value at most ``tol`` bars before i-k (short gaps only)."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    p = -1
    for i in range(k, n):
        j = i - k
        if not np.isnan(x[j]):
            p = j
        if p >= 0 and j - p <= tol:
            out[i] = x[p]
    return out


@nb.njit(cache=True)
def _positive_run(x: np.ndarray, cap: int) -> np.ndarray:
    """Bars since the last non-positive value (or the grid start), capped at ``cap`` bars.

    Missing values neither break nor extend knowledge: the run continues through them, but the
    value at a missing bar is NaN. The cap keeps the memory bounded (train/serve parity).
    """
    n = x.shape[0]
    out = np.full(n, np.nan)
    last = -1
    for i in range(n):
        v = x[i]
        if np.isnan(v):
            continue
        if v <= 0.0:
            last = i
            out[i] = 0.0
        else:
            out[i] = float(min(i - last, cap))
    return out


@nb.njit(cache=True)
def _previous_day_min(x: np.ndarray, first_bar: int, bar_ns: int) -> np.ndarray:
    """Minimum of x over the previous UTC calendar day (NaN when that day has no data)."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    cur_day = ((first_bar) * bar_ns) // NS_PER_DAY
    cur = np.inf
    prev = np.nan
    for i in range(n):
        day = ((first_bar + i) * bar_ns) // NS_PER_DAY
        if day != cur_day:
            prev = cur if (day == cur_day + 1 and cur < np.inf) else np.nan
            cur_day = day
            cur = np.inf
        out[i] = prev
        cur = min(cur, x[i])
    return out


@nb.njit(cache=True)
def _last_finite(x: np.ndarray) -> int:
    """The last row of ``x`` with a finite value, or -1 (searched from the end, where a live
    column has one): whether a column has values, and since when a stream's column has."""
    for i in range(x.shape[0] - 1, -1, -1):
        if np.isfinite(x[i]):
            return i
    return -1


def _parse_bar(bar: str | pd.Timedelta) -> pd.Timedelta:
    """'5m', '5min' or a Timedelta, as long as it is a supported bar."""
    try:
        return parse_bar(bar)
    except DataError:
        try:
            as_duration = pd.Timedelta(bar)
        except ValueError:
            raise DataError(f"unsupported bar {bar!r}; supported: 1m, 5m, 15m, 30m, 1h") from None
        return parse_bar(as_duration)


def _short(value: pd.Timedelta) -> str:
    seconds = value.total_seconds()
    return f"{seconds / 60:g}min" if seconds % 60 == 0 else f"{seconds:g}s"


@functools.lru_cache(maxsize=512)
def _horizon_bars(horizon: str | pd.Timedelta, bar_ns: int) -> int | None:
    h = pd.Timedelta(horizon).value
    return None if h < bar_ns else int(h // bar_ns)


def _min_count(w: int, min_frac: float, floor: int = 1) -> int:
    return max(floor, math.ceil(min_frac * w))


@dataclass
class Grid:
    """A canonical frame laid on its complete bar grid, as float64 numpy columns.

    Gap bars are NaN rows, so a window of ``w`` bars is always a window of ``w * bar`` of time.
    ``positions`` maps the frame's rows to grid rows (output index == input index).
    """

    bar: pd.Timedelta
    first_bar: int
    n: int
    positions: np.ndarray
    columns: dict[str, np.ndarray]
    frame: pd.DataFrame | None = None
    source: str = "frame"
    cache: dict = field(default_factory=dict)
    last_row_only: bool = False
    """Long (hourly-aggregate) windows are computed at the last row only, the other rows NaN:
    for callers that read the last row alone (:func:`features.pipeline.features_at`). A
    feature that needed another row of such a window would come out NaN, never wrong."""
    _names: dict[str, int] | None = None
    _matrix: np.ndarray | bool | None = None

    @functools.cached_property
    def bar_ns(self) -> int:
        return int(self.bar.value)

    @property
    def bar_hours(self) -> float:
        return self.bar / pd.Timedelta(hours=1)

    @classmethod
    def from_frame(
        cls, frame: pd.DataFrame, bar: str | pd.Timedelta | None = None, source: str = "frame"
    ) -> Grid:
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"{source}: expected a pandas DataFrame, got {type(frame).__name__}")
        if not isinstance(frame.index, pd.DatetimeIndex):
            raise DataError(f"{source}: the index must be a DatetimeIndex of bar open times")
        if len(frame) == 0:
            raise DataError(f"{source}: no rows")
        grid = cls._laid_out(frame.index.as_unit("ns").asi8, bar, source, frame.index.__getitem__)
        grid.frame = frame
        return grid

    @classmethod
    def from_arrays(
        cls,
        times_ns: np.ndarray,
        columns: dict[str, np.ndarray],
        bar: str | pd.Timedelta | None = None,
        source: str = "bars",
    ) -> Grid:
        """The grid of float64 columns at UTC bar-open times in ns (serving: no pandas frame).

        Same checks and the same grid as :meth:`from_frame` on the equivalent frame, so the
        features computed on it are identical.
        """
        if len(times_ns) == 0:
            raise DataError(f"{source}: no rows")
        ns = np.asarray(times_ns, dtype=np.int64)
        grid = cls._laid_out(ns, bar, source, lambda i: pd.Timestamp(int(ns[i]), tz="UTC"))
        contiguous = grid.n == len(ns)  # no gap: the columns are the grid's columns as they are
        for name, values in columns.items():
            values = np.ascontiguousarray(values, dtype=np.float64)
            if not contiguous:
                laid = np.full(grid.n, np.nan)
                laid[grid.positions] = values
                values = laid
            grid.columns[name] = values
        return grid

    @classmethod
    def _laid_out(
        cls, ns: np.ndarray, bar: str | pd.Timedelta | None, source: str, stamp: Any
    ) -> Grid:
        """A grid without columns for increasing ns times (``stamp(i)`` shows row i)."""
        steps = np.diff(ns)
        if steps.size and steps.min() <= 0:
            pos = int(np.argmax(steps <= 0)) + 1
            raise DataError(
                f"{source}: timestamps must be unique and increasing: row {pos} "
                f"({stamp(pos)}) follows {stamp(pos - 1)}"
            )
        if bar is not None:
            step = _parse_bar(bar)
        elif steps.size:
            smallest = pd.Timedelta(int(steps.min()), unit="ns")
            try:
                step = parse_bar(smallest)
            except DataError:
                pos = int(np.argmin(steps))
                raise DataError(
                    f"{source}: spacing of {_short(smallest)} between rows {pos} and {pos + 1} "
                    f"({stamp(pos)}, {stamp(pos + 1)}) is not a supported bar "
                    "(1m, 5m, 15m, 30m, 1h)"
                ) from None
        else:
            raise DataError(f"{source}: cannot infer the bar of a single row; pass bar=")
        bar_ns = int(step.value)
        offsets = ns - ns[0]
        off_grid = offsets % bar_ns != 0
        if off_grid.any():
            pos = int(np.argmax(off_grid))
            raise DataError(
                f"{source}: row {pos} ({stamp(pos)}) is not on the {bar_name(step)} bar grid "
                f"that starts at {stamp(0)}"
            )
        positions = offsets // bar_ns
        n = int(positions[-1]) + 1
        if n > 50 * len(ns) + 1_000_000:
            raise DataError(
                f"{source}: {len(ns)} rows spread over {n} bars of {bar_name(step)}: mostly gaps; "
                "is the bar right?"
            )
        return cls(
            bar=step,
            first_bar=int(ns[0] // bar_ns),
            n=n,
            positions=positions,
            columns={},
            source=source,
        )

    # --- columns -------------------------------------------------------------------------
    def column(self, name: str) -> np.ndarray | None:
        """A column of the frame laid on the grid (converted on first use), or None."""
        if name not in self.columns:
            if self.frame is None:
                return None
            if self._names is None:
                self._names = {str(c): j for j, c in enumerate(self.frame.columns.tolist())}
            j = self._names.get(name)
            if j is None:
                return None
            raw = self._raw(j, name)
            if len(raw) == self.n:  # no gap: the rows are the grid
                values = np.array(raw, dtype=np.float64)
            else:
                values = np.full(self.n, np.nan)
                values[self.positions] = raw
            self.columns[name] = values
        return self.columns[name]

    def _raw(self, j: int, name: str) -> np.ndarray:
        """Column j of the frame as float64, from one conversion of the whole frame if it can.

        One ``to_numpy`` of an all-float frame costs about as much as one column lookup, and
        serving pays per-column pandas overhead on every request.
        """
        if self._matrix is None:
            try:
                self._matrix = self.frame.to_numpy(dtype="float64", na_value=np.nan)
            except (TypeError, ValueError):
                self._matrix = False  # a non-numeric column somewhere: go column by column
        if self._matrix is not False:
            return self._matrix[:, j]
        try:
            return self.frame.iloc[:, j].to_numpy(dtype="float64", na_value=np.nan)
        except (TypeError, ValueError) as err:
            raise DataError(f"{self.source}: column {name!r} is not numeric ({err})") from None

    def col(self, name: str) -> np.ndarray | None:
        """A column on the grid, or None when the frame does not have it (or it is all NaN)."""
        values = self.column(name)
        if values is None:
            return None
        key = ("has", name)
        if key not in self.cache:
            self.cache[key] = _last_finite(values) >= 0
        return values if self.cache[key] else None

    def memo(self, key: tuple, make):
        """Share an intermediate series (e.g. 1-bar log returns) between feature groups."""
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]

    # --- horizons ------------------------------------------------------------------------
    def bars(self, horizon: str | pd.Timedelta) -> int | None:
        """Bars in a horizon, or None when the horizon is shorter than one bar.

        A 5-minute return does not exist on hourly bars; it is NaN rather than a copy of the
        1-hour return, so a feature always means the same thing.
        """
        return _horizon_bars(horizon, self.bar_ns)

    def bar_numbers(self) -> np.ndarray:
        """The absolute bar number (bars since the epoch) of every grid row."""
        return self.first_bar + np.arange(self.n, dtype=np.int64)

    def _phase(self, w: int) -> int:
        return int(self.first_bar % w)

    def _nan(self) -> np.ndarray:
        return np.full(self.n, np.nan)

    # --- kernels -------------------------------------------------------------------------
    # Every rolling statistic goes through one of these. The streaming engine
    # (features.incremental) overrides them, so the formulas below (minimum counts, NaN rules)
    # are shared by training, serving and the live radar.
    def _sums(self, x: np.ndarray, w: int) -> tuple[np.ndarray, np.ndarray]:
        return _block_sum(x, w, self._phase(w))

    def _moments(self, x: np.ndarray, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return _block_moments(x, w, self._phase(w))

    def _extreme(self, x: np.ndarray, w: int, sign: float) -> np.ndarray:
        return _block_extreme(x, w, self._phase(w), sign)

    def _corr(self, x: np.ndarray, y: np.ndarray, w: int, min_count: int) -> np.ndarray:
        return _block_corr(x, y, w, self._phase(w), min_count)

    def _lag(self, x: np.ndarray, k: int, tol: int) -> np.ndarray:
        return _lag_fill(x, k, tol)

    def _positive_run(self, x: np.ndarray, cap: int) -> np.ndarray:
        return _positive_run(x, cap)

    def _previous_day_min(self, x: np.ndarray) -> np.ndarray:
        return _previous_day_min(x, self.first_bar, self.bar_ns)

    def stateful(self, kernel, *args):
        """Run a kernel that scans the whole grid with its own state (e.g. the liquidation
        heatmap). Batch: a plain call; the streaming engine swaps in its bar-by-bar version,
        and refuses (loudly) a kernel it has no streaming version of."""
        return kernel(*args)

    def _hour_stat(self, x: np.ndarray, kind: int, sign: float, hours: int) -> np.ndarray:
        """A long window's accumulator at every row, from hourly aggregates
        (:mod:`features.hour_blocks`)."""
        if self.last_row_only:
            return self._hour_stat_at_end(x, kind, sign, hours)
        return self._hour_rows(x, kind, sign, hours, None)

    def _hour_stat_at_end(
        self, x: np.ndarray, kind: int, sign: float, hours: int, aggregates: np.ndarray | None = None
    ) -> np.ndarray:
        """:meth:`_hour_stat` at the last row only (:mod:`features.window_end`), NaN above;
        ``aggregates``: the :func:`features.hour_blocks.hour_aggregates` of ``x`` if at hand."""
        bph = self.bars("1h")
        phase = (self.first_bar // bph) % hours
        if aggregates is None:
            aggregates = self.hour_aggregates(x, kind, sign)
        out = np.full((self.n, hb.WIDTH[kind]), np.nan)
        out[-1] = hour_window_at_end(kind, aggregates, hours, phase)
        return out

    def _hour_rows(
        self, x: np.ndarray, kind: int, sign: float, hours: int, aggregates: np.ndarray | None
    ) -> np.ndarray:
        bph = self.bars("1h")
        off, phase = self.first_bar % bph, (self.first_bar // bph) % hours
        if aggregates is None:
            aggregates = self.hour_aggregates(x, kind, sign)
        return hb.hour_blocks(x, kind, sign, bph, off, hours, phase, aggregates)

    def hour_aggregates(self, x: np.ndarray, kind: int, sign: float) -> np.ndarray:
        """:func:`features.hour_blocks.hour_aggregates` of ``x`` on this grid, computed once per
        series: a 7-day and a 30-day window of the same series (a mean, a z-score) share them.
        Read-only for the callers."""
        key = ("hours", id(x), kind, sign)
        got = self.cache.get(key)
        if got is None or got[0] is not x:  # the series itself is kept: its id is not reused
            bph = self.bars("1h")
            got = self.cache[key] = (x, hb.hour_aggregates(x, kind, sign, bph, self.first_bar % bph))
        return got[1]

    def hourly(self, w: int) -> int | None:
        """Hours of a window of ``w`` bars computed from hourly aggregates (7 days and
        longer), or None for a window computed from its bars."""
        bph = self.bars("1h")
        if bph is None or w % bph or w // bph < HOURLY_FROM_HOURS:
            return None
        return w // bph

    def _window_sums(self, x: np.ndarray, w: int) -> tuple[np.ndarray, np.ndarray]:
        hours = self.hourly(w)
        if hours is None:
            return self._sums(x, w)
        acc = self._hour_stat(x, hb.SUM, 1.0, hours)
        return acc[:, 0], acc[:, 1].astype(np.int64)

    def _window_moments(self, x: np.ndarray, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        hours = self.hourly(w)
        if hours is None:
            return self._moments(x, w)
        acc = self._hour_stat(x, hb.MOMENTS, 1.0, hours)
        return acc[:, 0], acc[:, 1], acc[:, 2]

    def _window_extreme(self, x: np.ndarray, w: int, sign: float) -> np.ndarray:
        hours = self.hourly(w)
        if hours is None:
            return self._extreme(x, w, sign)
        m = self._hour_stat(x, hb.MAX, sign, hours)[:, 0]
        if self.last_row_only:
            return self._on_last_row(lambda m: np.where(m > -np.inf, sign * m, np.nan), m)
        return np.where(m > -np.inf, sign * m, np.nan)

    def _long_at_end(self, w: int) -> bool:
        """Whether a window of ``w`` bars exists at the last row alone (``last_row_only`` and a
        long window: NaN above), so that the arithmetic on it is needed on that row only."""
        return self.last_row_only and self.hourly(w) is not None

    def _on_last_row(self, formula, *arrays: np.ndarray) -> np.ndarray:
        """``formula`` (elementwise) at the last row, NaN above: what it gives on the whole
        column when its inputs are NaN above (they are windows at the last row only)."""
        out = self._nan()
        out[-1:] = formula(*(a[-1:] for a in arrays))
        return out

    # --- rolling statistics --------------------------------------------------------------
    def sum_count(self, x: np.ndarray, horizon: str) -> tuple[np.ndarray, np.ndarray, int] | None:
        w = self.bars(horizon)
        if w is None:
            return None
        s, c = self._window_sums(x, w)
        return s, c, w

    def mean(self, x: np.ndarray, horizon: str, min_frac: float = 0.5) -> np.ndarray:
        got = self.sum_count(x, horizon)
        if got is None:
            return self._nan()
        s, c, w = got
        min_count = _min_count(w, min_frac)
        if self._long_at_end(w):
            return self._on_last_row(lambda s, c: _mean_of(s, c, min_count), s, c)
        return _mean_of(s, c, min_count)

    def sum(self, x: np.ndarray, horizon: str, min_frac: float = 0.5) -> np.ndarray:
        """Sum over the horizon, scaled up for missing bars (a mean times the bar count)."""
        w = self.bars(horizon)
        return self._nan() if w is None else self.mean(x, horizon, min_frac) * w

    def max(self, x: np.ndarray, horizon: str) -> np.ndarray:
        w = self.bars(horizon)
        return self._nan() if w is None else self._window_extreme(x, w, 1.0)

    def min(self, x: np.ndarray, horizon: str, exact: bool = False) -> np.ndarray:
        """Minimum over the horizon; ``exact`` over the bars themselves even for a long window
        (not from hourly aggregates: the liquidation heatmap must see every low since a level
        was made)."""
        w = self.bars(horizon)
        if w is None:
            return self._nan()
        return self._extreme(x, w, -1.0) if exact else self._window_extreme(x, w, -1.0)

    def std(
        self, x: np.ndarray, horizon: str, min_frac: float = 0.5, exact: bool = False
    ) -> np.ndarray:
        """Standard deviation over the horizon; ``exact`` over the bars themselves even for a
        long window (labels: computed in batch only, they need no bounded streaming state)."""
        w = self.bars(horizon)
        if w is None:
            return self._nan()
        c, _, m2 = self._moments(x, w) if exact else self._window_moments(x, w)
        min_count = _min_count(w, min_frac, floor=2)
        if not exact and self._long_at_end(w):
            return self._on_last_row(lambda c, m2: _std_of(c, m2, min_count), c, m2)
        return _std_of(c, m2, min_count)

    def zscore(self, x: np.ndarray, horizon: str, min_frac: float = 0.5) -> np.ndarray:
        """(x - mean) / std over the horizon; 0 where the window is constant."""
        w = self.bars(horizon)
        if w is None:
            return self._nan()
        c, mean, m2 = self._window_moments(x, w)
        min_count = _min_count(w, min_frac, floor=2)
        if self._long_at_end(w):
            return self._on_last_row(lambda *a: _zscore_of(*a, min_count), x, c, mean, m2)
        return _zscore_of(x, c, mean, m2, min_count)

    def corr(self, x: np.ndarray, y: np.ndarray, horizon: str, min_frac: float = 0.5):
        w = self.bars(horizon)
        if w is None:
            return self._nan()
        return self._corr(x, y, w, _min_count(w, min_frac, floor=3))

    def lag(self, x: np.ndarray, horizon: str, tol_frac: float = 0.25) -> np.ndarray:
        """x one horizon ago; across a short gap, the last value before it (tol_frac of horizon).

        A long gap is never bridged: the lagged value is NaN and so are changes over it.
        """
        k = self.bars(horizon)
        if k is None:
            return self._nan()
        return self._lag(x, k, int(k * tol_frac))

    def lag_bars(self, x: np.ndarray, k: int, tol: int = 0) -> np.ndarray:
        return self._lag(x, k, tol)

    def change(self, x: np.ndarray, horizon: str) -> np.ndarray:
        """Relative change x / x(horizon ago) - 1."""
        return ratio(x, self.lag(x, horizon)) - 1.0

    def positive_run_hours(self, x: np.ndarray, cap: str) -> np.ndarray:
        return self._positive_run(x, self.bars(cap) or 1) * self.bar_hours

    def previous_day_min(self, x: np.ndarray) -> np.ndarray:
        return self._previous_day_min(x)

    def log_return_1bar(self, x: np.ndarray) -> np.ndarray:
        """log(x_i / x_{i-1}) between consecutive bars only (NaN next to a gap)."""
        return positive_log(ratio(x, self._lag(x, 1, 0)))


def _sample_std(c: np.ndarray, m2: np.ndarray) -> np.ndarray:
    """Sample standard deviation from count and M2 (of one value: 0)."""
    return np.sqrt(np.maximum(m2, 0.0) / np.maximum(c - 1.0, 1.0))


def _std_of(c: np.ndarray, m2: np.ndarray, min_count: int) -> np.ndarray:
    """Window standard deviation from count and M2 (NaN below ``min_count`` values)."""
    ok = c >= min_count
    return np.where(ok, _sample_std(c, m2), np.nan)


def _zscore_of(
    x: np.ndarray, c: np.ndarray, mean: np.ndarray, m2: np.ndarray, min_count: int
) -> np.ndarray:
    """(x - mean) / std of the window; 0 where the window is constant, NaN below ``min_count``."""
    ok = c >= min_count
    std = _sample_std(c, m2)
    z = np.where(std > 0.0, (x - mean) / np.where(std > 0.0, std, 1.0), 0.0)
    return np.where(ok & ~np.isnan(x), z, np.nan)


def ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b where b > 0, else NaN (no inf, no warnings)."""
    if _flat_pair(a, b):
        return _ratio_1d(a, b)  # one pass: serving computes ~70 of these per request
    ok = b > 0.0
    return np.where(ok, a / np.where(ok, b, 1.0), np.nan)


def _flat_pair(a: object, b: object) -> bool:
    """Both 1-D float64 arrays of one length: what the compiled element loops take."""
    return (  # exact ndarrays: a subclass (the seed's tracer) keeps to numpy's operations
        type(a) is np.ndarray
        and type(b) is np.ndarray
        and a.ndim == 1
        and a.shape == b.shape
        and a.dtype == np.float64
        and b.dtype == np.float64
    )


@nb.njit(cache=True)
def _ratio_1d(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.empty(a.shape[0])
    for i in range(a.shape[0]):
        out[i] = a[i] / b[i] if b[i] > 0.0 else np.nan
    return out


def _mean_of(s: np.ndarray, c: np.ndarray, min_count: int) -> np.ndarray:
    """Window mean from sums and counts: s / c where c >= min_count, else NaN."""
    if type(s) is np.ndarray and type(c) is np.ndarray and s.ndim == 1 == c.ndim:
        return _mean_1d(s, c, min_count)
    return np.where(c >= min_count, s / np.maximum(c, 1), np.nan)


@nb.njit(cache=True)
def _mean_1d(s: np.ndarray, c: np.ndarray, min_count: int) -> np.ndarray:
    out = np.empty(s.shape[0])
    for i in range(s.shape[0]):
        out[i] = s[i] / max(c[i], 1) if c[i] >= min_count else np.nan
    return out


def positive_log(x: np.ndarray) -> np.ndarray:
    """log(x) where x > 0, else NaN."""
    ok = x > 0.0
    return np.where(ok, np.log(np.where(ok, x, 1.0)), np.nan)


__all__ = ["NS_PER_DAY", "Grid", "positive_log", "ratio"]
