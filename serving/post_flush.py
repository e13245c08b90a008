"""The after-flush read: what to watch once a large long squeeze has happened.

When a symbol had a large squeeze in the last 48 hours, ``/risk/{symbol}`` adds this block.
Each item is measured from the stored bars, with its value then and now and what it suggests:

* time since the flush and its size (long liquidations in its hour, and the drop);
* funding then and now: reset to neutral or negative (the crowded long is gone), or still rich;
* open interest now against its pre-flush peak, and how fast it is rebuilding: a fast rebuild
  while the price chops means leverage is reloading;
* basis then and now;
* spot against perp volume where both are recorded (``spot_volume_usd``), the 24 h before the
  flush against since: a growing spot share is real demand, a shrinking one leverage;
* price against the flush low, and against the level that broke (the pre-flush 24 h low).

"Large": by the served model's label: long liquidations over one hour of at least its USD
threshold, or of its fraction of open interest (0.3 % when no model says otherwise), or, without liquidation data, a one-hour drop of at least 4 times the hourly
volatility of the week before. The flush is the hour with the most long liquidations (or the
largest drop) in the window.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.bars import parse_bar
from features.errors import FlushRiskError, UnreadableDataError
from features.labels import DEFAULT_OI_FRACTION
from features.store import MarketStore

LOOKBACK = pd.Timedelta(hours=48)
BEFORE = pd.Timedelta(hours=24)
NEUTRAL_FUNDING = 0.0001  # 0.01 % per 8 h: the usual base rate of the big venues
DROP_SIGMAS = 4.0
FAST_REBUILD_PER_HOUR = 0.005  # OI growing 0.5 %/h or more


def post_flush(
    data_dir: Path | str,
    symbol: str,
    bar: str,
    now: pd.Timestamp,
    label: dict[str, Any] | None = None,
    store: MarketStore | None = None,
) -> dict[str, Any] | None:
    """The after-flush block for ``symbol`` at ``now``, or None without a recent large flush.
    ``label``: the served model's label spec, whose threshold says what "large" is; ``store``:
    the service's market store of ``data_dir`` (made here when not given).

    A damaged partition in the days it reads raises :class:`UnreadableDataError` (naming the
    symbol and the file) rather than answering "no recent flush": the service turns it into
    the symbol's 503, as for its history."""
    try:
        frame = (store or MarketStore(data_dir)).read(
            symbol, bar, start=now - LOOKBACK - pd.Timedelta(days=7), end=now
        )
    except UnreadableDataError:
        raise
    except FlushRiskError:  # no data for the symbol or bar: nothing to read after a flush
        return None
    return read_flush(frame, parse_bar(bar), now, label)


def read_flush(
    frame: pd.DataFrame,
    step: pd.Timedelta,
    now: pd.Timestamp,
    label: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    if frame.empty or len(frame) < 3:
        return None
    per_hour = max(1, int(pd.Timedelta(hours=1) / step))
    hourly_liq = None
    if "long_liq_usd" in frame and frame["long_liq_usd"].notna().any():
        hourly_liq = frame["long_liq_usd"].fillna(0.0).rolling(per_hour, min_periods=1).sum()
    drop = frame["close"] / frame["close"].shift(per_hour) - 1.0
    recent = frame.index > now - LOOKBACK
    if not recent.any():
        return None
    flush_time, size_usd = _find_flush(frame, hourly_liq, drop, recent, per_hour, label or {})
    if flush_time is None:
        return None
    start = (
        flush_time - pd.Timedelta(hours=1) + step
    )  # the flush hour: (flush_time - 1h, flush_time]
    before = frame[(frame.index > start - BEFORE) & (frame.index < start)]
    during = frame[(frame.index >= start) & (frame.index <= flush_time)]
    after = frame[frame.index > flush_time]
    last = frame.iloc[-1]
    hours_since = (now - flush_time) / pd.Timedelta(hours=1)
    items = [
        _funding(before, last),
        _open_interest(before, during, after, last, step),
        _basis(before, last),
        _spot_vs_perp(before, after),
        *_price(before, during, last),
    ]
    return {
        "time": flush_time.isoformat(),
        "size_usd": size_usd,
        "drop": _f(drop.loc[flush_time]),
        "hours_since": float(hours_since),
        "items": [i for i in items if i is not None],
    }


def _find_flush(frame, hourly_liq, drop, recent, per_hour, label):
    threshold_usd = label.get("threshold_usd")
    if hourly_liq is not None and threshold_usd:
        candidates = hourly_liq[recent & (hourly_liq >= float(threshold_usd))]
        if len(candidates):
            t = candidates.idxmax()
            return t, float(hourly_liq.loc[t])
        return None, None
    if hourly_liq is not None and "open_interest_usd" in frame:
        fraction = float(label.get("threshold_oi_fraction") or DEFAULT_OI_FRACTION)
        ratio = hourly_liq / frame["open_interest_usd"].shift(per_hour).where(lambda s: s > 0)
        candidates = ratio[recent & (ratio >= fraction)]
        if len(candidates):
            t = hourly_liq[candidates.index].idxmax()
            return t, float(hourly_liq.loc[t])
        return None, None
    returns = np.log(frame["close"]).diff()
    sigma = returns.rolling(7 * 24 * per_hour, min_periods=24 * per_hour).std() * np.sqrt(per_hour)
    scaled = drop / sigma.shift(per_hour)
    candidates = scaled[recent & (scaled <= -DROP_SIGMAS)]
    if not len(candidates):
        return None, None
    return candidates.idxmin(), None


def _f(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def _last(frame: pd.DataFrame, column: str) -> float | None:
    if column not in frame:
        return None
    values = frame[column].dropna()
    return _f(values.iloc[-1]) if len(values) else None


def _funding(before: pd.DataFrame, last: pd.Series) -> dict[str, Any] | None:
    then, now = _last(before, "funding_rate"), _f(last.get("funding_rate"))
    if then is None or now is None:
        return None
    if now <= 0:
        verdict = "negative: shorts now pay longs, the crowded long is gone"
    elif now <= 1.5 * NEUTRAL_FUNDING:
        verdict = "back to neutral: the long crowding has reset"
    else:
        verdict = "still rich: longs are paying up again, the flush did not clear the crowd"
    return {
        "name": "funding",
        "then": then,
        "now": now,
        "unit": "per 8 h",
        "text": f"funding went from {then:.4%} to {now:.4%} per 8 h: {verdict}",
    }


def _open_interest(before, during, after, last, step) -> dict[str, Any] | None:
    if "open_interest_usd" not in before or before["open_interest_usd"].dropna().empty:
        return None
    peak = _f(before["open_interest_usd"].max())
    now = _f(last.get("open_interest_usd"))
    if peak is None or now is None or peak <= 0:
        return None
    lows = pd.concat([during, after])["open_interest_usd"].dropna()
    trough_time = lows.idxmin() if len(lows) else None
    rate = None
    if trough_time is not None and lows.index[-1] > trough_time:
        hours = (lows.index[-1] - trough_time) / pd.Timedelta(hours=1)
        rate = (lows.iloc[-1] / lows.loc[trough_time]) ** (1.0 / hours) - 1.0 if hours > 0 else None
    closes = after["close"].dropna()
    chop = len(closes) > 1 and abs(closes.iloc[-1] / closes.iloc[0] - 1.0) < 0.02
    if rate is not None and rate >= FAST_REBUILD_PER_HOUR and chop:
        verdict = "rebuilding fast while price chops: leverage is reloading"
    elif rate is not None and rate >= FAST_REBUILD_PER_HOUR:
        verdict = "rebuilding fast"
    else:
        verdict = "rebuilding slowly: the market is deleveraged for now"
    speed = "" if rate is None else f", rebuilding at {rate:+.2%} an hour"
    return {
        "name": "open interest",
        "then": peak,
        "now": now,
        "rebuild_per_hour": _f(rate),
        "unit": "USD",
        "text": f"open interest is {now / peak:.0%} of its pre-flush peak{speed}: {verdict}",
    }


def _basis(before: pd.DataFrame, last: pd.Series) -> dict[str, Any] | None:
    if "index_price" not in before:
        return None
    premium = (before["close"] / before["index_price"] - 1.0).dropna()
    index_now = _f(last.get("index_price"))
    if premium.empty or index_now is None or index_now <= 0:
        return None
    then, now = float(premium.iloc[-1]), float(last["close"]) / index_now - 1.0
    verdict = (
        "the premium is gone: perp longs are no longer eager"
        if now <= max(then, 0) / 2
        else "the perp still trades rich: longs are eager again"
    )
    return {
        "name": "basis",
        "then": then,
        "now": now,
        "unit": "fraction",
        "text": f"basis went from {then:+.3%} to {now:+.3%}: {verdict}",
    }


def _spot_share(frame: pd.DataFrame) -> float | None:
    """Spot volume / perp volume over the bars where both are recorded, or None."""
    if "spot_volume_usd" not in frame or "volume_usd" not in frame:
        return None
    both = frame[["spot_volume_usd", "volume_usd"]].dropna()
    spot, perp = float(both["spot_volume_usd"].sum()), float(both["volume_usd"].sum())
    return spot / perp if perp > 0 else None


def _spot_vs_perp(before: pd.DataFrame, after: pd.DataFrame) -> dict[str, Any] | None:
    """Spot against perp volume, the 24 h before the flush and since it.

    A growing spot share means buyers without leverage are stepping in: the bounce has real
    demand. A shrinking one means the moves since are the perp crowd's own: leverage is doing
    the buying again.
    """
    then, now = _spot_share(before), _spot_share(after)
    if now is None:
        return None
    if then is None or then <= 0:
        verdict = "no spot volume recorded before the flush to compare with"
    elif now >= 1.2 * then:
        verdict = "spot's share has grown: buyers without leverage are stepping in"
    elif now <= 0.8 * then:
        verdict = "spot's share has shrunk: the moves since are perp-driven, leverage is buying"
    else:
        verdict = "about the share it had before: no sign of spot demand stepping in yet"
    was = "" if then is None else f" (against {then:.2f}x in the 24 h before)"
    return {
        "name": "spot vs perp volume",
        "then": then,
        "now": now,
        "unit": "ratio",
        "text": f"spot volume is {now:.2f}x perp volume since the flush{was}: {verdict}",
    }


def _price(before: pd.DataFrame, during: pd.DataFrame, last: pd.Series) -> list[dict[str, Any]]:
    out = []
    low = _f(during["low"].min() if "low" in during else during["close"].min())
    close = _f(last.get("close"))
    if low is None or close is None or low <= 0:
        return out
    above = close / low - 1.0
    out.append(
        {
            "name": "price vs flush low",
            "then": low,
            "now": close,
            "unit": "USD",
            "text": (
                f"price is {-above:.1%} below the flush low of {low:,.6g}: the low broke, "
                "new lows after the flush"
                if above < 0
                else f"price is {above:.1%} above the flush low of {low:,.6g}"
                + (": the low is being retested" if above < 0.005 else "")
            ),
        }
    )
    support = _f(before["low"].min() if "low" in before else None)
    if support is not None and low < support:
        back = close >= support
        out.append(
            {
                "name": "level that broke",
                "then": support,
                "now": close,
                "unit": "USD",
                "text": f"the flush broke the 24 h low of {support:,.6g}; price is "
                + (
                    "back above it (reclaimed)"
                    if back
                    else "still below it (support became resistance)"
                ),
            }
        )
    return out


__all__ = ["post_flush", "read_flush"]
