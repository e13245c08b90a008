"""An estimate of long liquidation notional just below the price, as liquidation heatmaps do.

Nobody publishes where leveraged longs will be liquidated, but it can be estimated the way
heatmap dashboards do: open interest that was *added* at a price (a positive OI change in a
bar, attributed to that bar's close) belongs to positions opened there; a documented leverage
mix spreads each addition over liquidation prices below it; a level disappears once the price
trades through it (those longs were liquidated or closed) or once it is older than the
lookback (positions do not live forever, and the memory must stay bounded for train/serve
parity).

Leverage mix (weights sum to 1), long liquidation price = entry * (1 - 1/L + MMR):

=========  ======  ============================
leverage   weight  liquidation distance (MMR 0.5 %)
=========  ======  ============================
5x         0.10    19.5 %
10x        0.25    9.5 %
20x        0.25    4.5 %
25x        0.15    3.5 %
50x        0.15    1.5 %
100x       0.10    0.5 %
=========  ======  ============================

Levels are kept in log-price buckets of 0.1 % and amounts in integer cents, so the estimate at
bar t is an exact function of the bars in the lookback: the same bits whatever came before.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

LEVERAGE_MIX: tuple[tuple[float, float], ...] = (
    (5.0, 0.10),
    (10.0, 0.25),
    (20.0, 0.25),
    (25.0, 0.15),
    (50.0, 0.15),
    (100.0, 0.10),
)
MAINTENANCE_MARGIN = 0.005
BUCKET_WIDTH = 0.001
LOOKBACK = "7D"
BANDS: tuple[float, ...] = (0.01, 0.02, 0.05)
# The OI change that created a level is measured against the last OI seen at most this long
# before: across a longer gap nobody knows at which prices the OI was added.
MAX_OI_GAP = "4h"


@nb.njit(cache=True)
def _bucket(price: float, log_step: float) -> int:
    return math.floor(math.log(price) / log_step)


@nb.njit(cache=True)
def long_liquidation_bands(
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
) -> np.ndarray:
    """Estimated long liquidation notional (USD) within each band below the close, per bar.

    ``low_floor`` is the bar's lowest traded price (min of low and close);
    ``window_low_floor`` its rolling minimum over the last ``lookback`` bars, used to tell
    whether a level that is about to expire was already traded through.
    """
    n = close.shape[0]
    nlev = leverage.shape[0]
    out = np.full((n, bands.shape[0]), np.nan)
    log_step = math.log1p(bucket_width)
    lo_price = np.inf
    hi_price = 0.0
    for i in range(n):
        if close[i] > 0.0:
            lo_price = min(lo_price, close[i])
            hi_price = max(hi_price, close[i])
    if hi_price == 0.0:
        return out
    min_factor = 1.0
    for k in range(nlev):
        min_factor = min(min_factor, 1.0 - 1.0 / leverage[k] + mmr)
    base = _bucket(lo_price * min_factor, log_step) - 2
    size = _bucket(hi_price, log_step) - base + 3
    buckets = np.zeros(size, np.int64)
    level_bucket = np.zeros((n, nlev), np.int64)
    level_amount = np.zeros((n, nlev), np.int64)
    top = -1
    big = np.iinfo(np.int64).max
    for t in range(n):
        # 1. levels at or above the bucket of this bar's low are traded through
        if low_floor[t] > 0.0:
            b = _bucket(low_floor[t], log_step) - base
            while top >= b and top >= 0:
                buckets[top] = 0
                top -= 1
        # 2. open interest added in this bar opens long levels below its close
        c = close[t]
        added = oi[t] - oi_prev[t]
        if c > 0.0 and added > 0.0:
            for k in range(nlev):
                b = _bucket(c * (1.0 - 1.0 / leverage[k] + mmr), log_step) - base
                amount = np.int64(round(added * weights[k] * 100.0))
                level_bucket[t, k] = b
                level_amount[t, k] = amount
                buckets[b] += amount
                top = max(top, b)
        # 3. levels older than the lookback expire, unless already traded through
        j = t - lookback
        if j >= 0:
            wl = window_low_floor[t]
            lowest = _bucket(wl, log_step) - base if wl > 0.0 else big
            for k in range(nlev):
                amount = level_amount[j, k]
                if amount > 0 and level_bucket[j, k] < lowest:
                    buckets[level_bucket[j, k]] -= amount
        # 4. notional within each band below the close
        if c > 0.0:
            for m in range(bands.shape[0]):
                floor_b = max(_bucket(c * (1.0 - bands[m]), log_step) - base, 0)
                total = np.int64(0)
                for b in range(floor_b, top + 1):
                    total += buckets[b]
                out[t, m] = total / 100.0
    return out


def leverage_arrays() -> tuple[np.ndarray, np.ndarray]:
    lev = np.array([lv for lv, _ in LEVERAGE_MIX], dtype=np.float64)
    wts = np.array([wt for _, wt in LEVERAGE_MIX], dtype=np.float64)
    return lev, wts


__all__ = ["BANDS", "LEVERAGE_MIX", "LOOKBACK", "MAINTENANCE_MARGIN", "long_liquidation_bands"]
