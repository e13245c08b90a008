"""An offline stand-in for a ccxt exchange, with a known market history to compare against.

It answers the unified ccxt methods the fetcher uses with the same row shapes as ccxt
(OHLCV lists; funding, open-interest and long/short dicts with a ``timestamp`` in ms), honours
``since`` and ``limit`` (capped at ``page_cap`` rows, like an exchange's own maximum), records
every call, and raises ``ccxt.NetworkError`` on the calls listed in ``fail_calls``.
"""

from __future__ import annotations

import ccxt
import pandas as pd

MIN_MS = 60_000
SYMBOL = "BTC/USDT:USDT"


def close_at(ms: int) -> float:
    """The close of the 1-minute-resolution price path at bar open ``ms``."""
    return 40_000.0 + (ms // MIN_MS) % 997


def funding_at(ms: int) -> float:
    """The funding settled at ``ms`` (every 8 hours), as a fraction per 8 hours."""
    return 0.0001 * (1 + (ms // (8 * 60 * MIN_MS)) % 3)


def oi_at(ms: int) -> float:
    """Open interest (USD) of the snapshot at ``ms`` (every 5 minutes)."""
    return 1e9 + (ms // (5 * MIN_MS)) * 1000.0


class FakeExchange:
    """Serves candles between ``listed`` and ``delisted`` (ms) at any ccxt timeframe."""

    id = "binanceusdm"

    def __init__(
        self,
        listed: str = "2024-01-01",
        delisted: str = "2024-03-01",
        page_cap: int = 500,
        funding_hours: int = 8,
    ) -> None:
        self.listed = pd.Timestamp(listed, tz="UTC").value // 1_000_000
        self.delisted = pd.Timestamp(delisted, tz="UTC").value // 1_000_000
        self.page_cap = page_cap
        self.funding_hours = funding_hours
        self.calls: list[tuple[str, int | None, int | None]] = []
        self.fail_calls: set[int] = set()
        self.refuse: set[str] = set()
        self.has = {
            "fetchOHLCV": True,
            "fetchMarkOHLCV": True,
            "fetchIndexOHLCV": True,
            "fetchFundingRateHistory": True,
            "fetchOpenInterestHistory": True,
            "fetchLongShortRatioHistory": True,
        }
        self.market_info = {"symbol": SYMBOL, "linear": True, "inverse": False, "contractSize": 1.0}

    # -- plumbing -------------------------------------------------------------------------
    def _record(self, method: str, since: int | None, limit: int | None) -> None:
        self.calls.append((method, since, limit))
        if len(self.calls) in self.fail_calls:
            raise ccxt.NetworkError(f"{self.id} GET https://fapi.binance.com/{method} timed out")
        if method in self.refuse:
            raise ccxt.BadRequest(f"{self.id} {method}: parameter startTime is invalid")

    def calls_of(self, method: str) -> list[tuple[str, int | None, int | None]]:
        return [c for c in self.calls if c[0] == method]

    def _times(self, since: int | None, limit: int | None, period_ms: int, first: int) -> list[int]:
        start = max(since if since is not None else first, first)
        start = -(-start // period_ms) * period_ms  # next period boundary
        n = min(limit or self.page_cap, self.page_cap)
        return [t for t in range(start, start + n * period_ms, period_ms) if t < self.delisted]

    def load_markets(self) -> dict:
        self._record("load_markets", None, None)
        return {SYMBOL: self.market_info}

    def market(self, symbol: str) -> dict:
        if symbol != SYMBOL:
            raise ccxt.BadSymbol(f"{self.id} does not have market symbol {symbol}")
        return self.market_info

    # -- unified methods ------------------------------------------------------------------
    def _candles(self, method: str, timeframe: str, since, limit, scale: float) -> list[list]:
        self._record(method, since, limit)
        period = int(pd.Timedelta(timeframe.replace("m", "min")).total_seconds() * 1000)
        rows = []
        for t in self._times(since, limit, period, self.listed):
            c = close_at(t) * scale
            o = close_at(t - period) * scale
            rows.append([t, o, max(o, c) + 5, min(o, c) - 5, c, 2.0])
        return rows

    def fetch_ohlcv(self, symbol, timeframe="1m", since=None, limit=None, params=None):
        return self._candles("fetch_ohlcv", timeframe, since, limit, 1.0)

    def fetch_mark_ohlcv(self, symbol, timeframe="1m", since=None, limit=None, params=None):
        return self._candles("fetch_mark_ohlcv", timeframe, since, limit, 1.0001)

    def fetch_index_ohlcv(self, symbol, timeframe="1m", since=None, limit=None, params=None):
        return self._candles("fetch_index_ohlcv", timeframe, since, limit, 0.9999)

    def fetch_funding_rate_history(self, symbol=None, since=None, limit=None, params=None):
        self._record("fetch_funding_rate_history", since, limit)
        period = self.funding_hours * 60 * MIN_MS
        scale = self.funding_hours / 8
        return [
            {"symbol": SYMBOL, "timestamp": t + 1, "fundingRate": funding_at(t) * scale}
            for t in self._times(since, limit, period, self.listed)
        ]

    def fetch_open_interest_history(
        self, symbol, timeframe="5m", since=None, limit=None, params=None
    ):
        self._record("fetch_open_interest_history", since, limit)
        return [
            {
                "symbol": SYMBOL,
                "timestamp": t,
                "openInterestAmount": oi_at(t) / 40_000,
                "openInterestValue": oi_at(t),
            }
            for t in self._times(since, limit, 5 * MIN_MS, self.listed + 5 * MIN_MS)
        ]

    def fetch_long_short_ratio_history(
        self, symbol=None, timeframe=None, since=None, limit=None, params=None
    ):
        self._record("fetch_long_short_ratio_history", since, limit)
        return [
            {"symbol": SYMBOL, "timestamp": t, "longShortRatio": 1.0 + (t // (5 * MIN_MS)) % 7 / 10}
            for t in self._times(since, limit, 5 * MIN_MS, self.listed + 5 * MIN_MS)
        ]
