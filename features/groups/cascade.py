"""An ongoing cascade: liquidations already happening, and the price falling through volatility.

The build-up features (funding, open-interest growth, depth) say leverage is crowded; on real
hourly data the hazard of a large long squeeze rises far more with *ongoing* liquidations and
drawdowns: cascades cluster, and 20 of the 50 largest liquidation hours followed a large hour.
These features measure that state, comparably across symbols:

* recent long liquidations relative to open interest (the last bar, the last 4 hours, a
  decayed rate) and to the symbol's own history (the last hour against its 7-day and 30-day
  hourly mean), their acceleration, and the largest hour of the last day;
* drawdown from the 4-hour and 24-hour highs and the 1-hour and 4-hour returns, in units of
  the symbol's own 7-day volatility (a 3-sigma drop means the same on BTC and on an alt), and
  the short volatility against the 7-day one (volatility expanding);
* interactions: liquidations against the bid depth that must absorb them, and liquidations
  while the price is below its highs.

Every definition is a bounded rolling statistic (sums, means, maxima, lags over at most 30
days), so the features stream bar by bar and serve exactly what training saw. The decayed rate
is the mean of the hourly rates over 1, 4, 12 and 24 hours: a step-wise decaying kernel built
from plain window sums (weight of an hour k back: the mean of 1/h over the windows h > k).
"""

from __future__ import annotations

import numpy as np

from features.rolling import Grid, positive_log, ratio

DECAY_HORIZONS: tuple[tuple[str, float], ...] = (("1h", 1.0), ("4h", 4.0), ("12h", 12.0), ("24h", 24.0))

NAMES: tuple[str, ...] = (
    "liq_long_bar_oi",
    "liq_long_4h_oi",
    "liq_long_decay_oi",
    "liq_long_7d_oi",
    "liq_long_1h_rel_7d",
    "liq_long_1h_rel_30d",
    "liq_long_4h_rel_7d",
    "liq_long_max_1h_24h_oi",
    "liq_long_accel_1h_oi",
    "liq_long_1h_to_bid_depth",
    "liq_long_x_drawdown",
    "drawdown_4h_vol",
    "drawdown_24h_vol",
    "ret_1h_vol",
    "ret_4h_vol",
    "rvol_4h_to_7d",
)


def compute(g: Grid) -> dict[str, np.ndarray]:
    out = _price(g)
    out.update(_liquidations(g, out.get("drawdown_24h_vol")))
    return out


def _bar_sigma(g: Grid) -> np.ndarray:
    """Volatility of one bar's log return over the last 7 days (the symbol's own unit)."""
    r = g.memo(("logret", "close"), lambda: g.log_return_1bar(g.col("close")))
    return g.memo(("bar_sigma", "7D"), lambda: np.sqrt(g.mean(r * r, "7D")))


def _in_sigmas(g: Grid, move: np.ndarray, horizon: str) -> np.ndarray:
    """A log move over ``horizon`` in units of the 7-day volatility scaled to that horizon."""
    w = g.bars(horizon)
    if w is None:
        return np.full(g.n, np.nan)
    return ratio(move, _bar_sigma(g) * np.sqrt(w))


def _price(g: Grid) -> dict[str, np.ndarray]:
    close, high = g.col("close"), g.col("high")
    out: dict[str, np.ndarray] = {}
    for h in ("4h", "24h"):
        out[f"drawdown_{h}_vol"] = _in_sigmas(g, positive_log(ratio(close, g.max(high, h))), h)
    for h in ("1h", "4h"):
        out[f"ret_{h}_vol"] = _in_sigmas(g, positive_log(ratio(close, g.lag(close, h))), h)
    r = g.memo(("logret", "close"), lambda: g.log_return_1bar(close))
    out["rvol_4h_to_7d"] = ratio(np.sqrt(g.mean(r * r, "4h")), _bar_sigma(g))
    return out


def _liquidations(g: Grid, drawdown: np.ndarray | None) -> dict[str, np.ndarray]:
    long_liq = g.col("long_liq_usd")
    if long_liq is None:
        return {}
    out: dict[str, np.ndarray] = {}
    hour_1 = g.sum(long_liq, "1h")
    per_bar_7d = g.mean(long_liq, "7D")
    out["liq_long_1h_rel_7d"] = ratio(g.mean(long_liq, "1h"), per_bar_7d)
    out["liq_long_1h_rel_30d"] = ratio(g.mean(long_liq, "1h"), g.mean(long_liq, "30D"))
    out["liq_long_4h_rel_7d"] = ratio(g.mean(long_liq, "4h"), per_bar_7d)
    oi = g.col("open_interest_usd")
    if oi is not None:
        rates = [g.sum(long_liq, h) / hours for h, hours in DECAY_HORIZONS]
        bars_per_hour = g.bars("1h")
        out["liq_long_bar_oi"] = ratio(long_liq, oi)
        out["liq_long_4h_oi"] = ratio(g.sum(long_liq, "4h"), oi)
        out["liq_long_decay_oi"] = ratio(np.mean(rates, axis=0), oi)
        out["liq_long_7d_oi"] = ratio(per_bar_7d * (bars_per_hour or np.nan), oi)
        out["liq_long_max_1h_24h_oi"] = ratio(g.max(hour_1, "24h"), oi)
        out["liq_long_accel_1h_oi"] = ratio(hour_1 - g.lag(hour_1, "1h"), oi)
    bid = g.col("bid_depth_1pct_usd")
    if bid is not None:
        out["liq_long_1h_to_bid_depth"] = ratio(hour_1, bid)
    if drawdown is not None:
        # liquidations that keep coming while the price sits below its highs: the cascade
        out["liq_long_x_drawdown"] = np.log1p(out["liq_long_1h_rel_7d"]) * np.maximum(-drawdown, 0.0)
    return out
