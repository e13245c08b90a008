"""Fetch a perpetual's history from an exchange through ccxt into the store (``data fetch``).

What is fetched, per bar: OHLCV (``fetch_ohlcv``), mark and index candles where the exchange
has them (``fetch_mark_ohlcv``, ``fetch_index_ohlcv``), the funding history
(``fetch_funding_rate_history``), the open-interest history (``fetch_open_interest_history``)
and the long/short account ratio (``fetch_long_short_ratio_history``).

How it behaves, and why:

- **Pages.** Every history is read in pages of at most the exchange's limit, moving ``since``
  past the last row received, until the range is covered or the exchange has nothing newer.
- **Rate limits.** The exchange is created with ccxt's ``enableRateLimit``, which spaces the
  requests; a rate-limit or network error is retried a few times with a growing pause.
- **Writes as it goes.** The range is cut into chunks of ``chunk_bars`` bars; each chunk is
  fetched, joined into a canonical frame and merged into the store (atomically) before the
  next one starts. A network error that outlasts the retries stops the fetch with a message
  saying what was stored; nothing stored is lost.
- **Resumes.** When the dataset already covers the start of the range, fetching starts at the
  bar after the last stored one. Running the same command again continues where it stopped.
- **No look-ahead.** Candles are keyed by their open time. Open interest and long/short are
  snapshots: each bar gets the last snapshot at or before its close, if at most three
  snapshot periods old. Funding is the last settled rate at or before the bar's close (the
  rate in force), normalised to per 8 hours from the spacing of the settlements; a bar whose
  rate in force is unknown is left out (funding is required, back-filling would be look-ahead)
  and reported in ``FetchReport.notes``.
- An optional history that the exchange does not offer, or refuses for the range (Binance keeps
  only 30 days of open interest and long/short), is skipped and reported; prices and funding
  are required.

Units: ``volume_usd`` is ccxt's base volume times the close; open interest is ccxt's
``openInterestValue`` (quote currency) or else the amount in contracts times the contract size
(times the price for linear contracts: Bybit's linear history gives no USD value).

The report says per optional stream how many bars got a value and how a value the exchange does
not give was derived, so a stream left empty or filled for some bars is never shown as "ok".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.bars import bar_name, parse_bar
from features.errors import DataError
from features.sources.tables import as_of_closes, drop_unknown_funding, funding_in_force
from features.sources.units import funding_to_fraction, settlement_hours
from features.store import MarketStore, normalize_symbol

EXCHANGES = ("binanceusdm", "bybit", "okx")
# Most rows per request, per exchange: (candles, open interest / long-short, funding).
PAGE_LIMITS: dict[str, tuple[int, int, int]] = {
    "binanceusdm": (1000, 500, 1000),
    "bybit": (1000, 200, 200),
    "okx": (100, 100, 100),
}
DEFAULT_LIMITS = (500, 100, 100)
SNAPSHOT_PERIODS_MAX_AGE = 3


class FetchInterrupted(DataError):
    """A network failure stopped the fetch; what was stored before it is kept."""


@dataclass
class FetchReport:
    """What a fetch did: the dataset, the range asked and fetched, rows and streams."""

    dataset: str
    bar: str
    start: pd.Timestamp
    end: pd.Timestamp
    resumed_from: pd.Timestamp | None = None
    rows_written: int = 0
    chunks: int = 0
    last_stored: pd.Timestamp | None = None
    streams: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # per optional stream: (bars with a value, bars fetched), and how a value was derived when
    # the exchange does not give it (Bybit's open interest has no USD value)
    coverage: dict[str, tuple[int, int]] = field(default_factory=dict)
    derived: dict[str, str] = field(default_factory=dict)


def make_exchange(exchange_id: str) -> Any:
    """A ccxt exchange instance with rate limiting on."""
    import ccxt

    if exchange_id not in EXCHANGES:
        raise DataError(f"unsupported exchange {exchange_id!r}; use one of {', '.join(EXCHANGES)}")
    return getattr(ccxt, exchange_id)({"enableRateLimit": True})


def to_utc(value: str | pd.Timestamp, what: str) -> pd.Timestamp:
    """A user's date or time as a UTC timestamp, or a DataError naming the option."""
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise DataError(f"{what} {value!r} is not a date or time (use e.g. 2024-01-31)") from None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


class _Fetcher:
    """The calls to one exchange for one market, with paging and network-error handling."""

    def __init__(
        self,
        exchange: Any,
        exchange_id: str,
        symbol: str,
        retries: int,
        sleep: Callable[[float], None],
    ) -> None:
        self.exchange = exchange
        self.exchange_id = exchange_id
        self.symbol = symbol
        self.retries = retries
        self.sleep = sleep
        self.candle_limit, self.snapshot_limit, self.funding_limit = PAGE_LIMITS.get(
            exchange_id, DEFAULT_LIMITS
        )

    def has(self, method: str) -> bool:
        return bool(getattr(self.exchange, "has", {}).get(method))

    def call(self, what: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call the exchange, retrying network errors; a persistent one raises FetchInterrupted."""
        import ccxt

        for attempt in range(self.retries + 1):
            try:
                return func(*args, **kwargs)
            except ccxt.NetworkError as err:
                if attempt == self.retries:
                    raise FetchInterrupted(
                        f"network error from {self.exchange_id} while fetching {what}: "
                        f"{type(err).__name__}: {err}"
                    ) from None
                self.sleep(min(30.0, 2.0 * 2**attempt))
        raise AssertionError("unreachable")

    def pages(
        self,
        what: str,
        func: Callable[..., list],
        start_ms: int,
        end_ms: int,
        limit: int,
        timestamp: Callable[[Any], int],
        **kwargs: Any,
    ) -> list:
        """All rows with start_ms <= time < end_ms, reading pages forward from start_ms."""
        rows: dict[int, Any] = {}
        cursor = start_ms
        while cursor < end_ms:
            batch = self.call(what, func, self.symbol, since=cursor, limit=limit, **kwargs) or []
            stamps = [timestamp(r) for r in batch if timestamp(r) is not None]
            if not stamps or max(stamps) < cursor:
                break  # nothing newer: the exchange has no more data in the range
            for row in batch:
                ts = timestamp(row)
                if ts is not None and cursor <= ts < end_ms:
                    rows[ts] = row
            cursor = max(stamps) + 1
        return [rows[k] for k in sorted(rows)]


def fetch_to_store(
    store: MarketStore,
    exchange_id: str,
    symbol: str,
    since: str | pd.Timestamp,
    until: str | pd.Timestamp | None = None,
    bar: str = "5m",
    name: str | None = None,
    exchange: Any | None = None,
    chunk_bars: int | None = None,
    retries: int = 3,
    sleep: Callable[[float], None] | None = None,
    on_chunk: Callable[[FetchReport], None] | None = None,
) -> FetchReport:
    """Fetch ``symbol`` from ``exchange_id`` between ``since`` and ``until`` into ``store``.

    The dataset is ``name`` (default: the symbol made file-safe, e.g. ``BTC-USDT-USDT``).
    Raises FetchInterrupted on a persistent network error, after storing every complete chunk.
    """
    step = parse_bar(bar)
    bar = bar_name(step)
    start = to_utc(since, "--since").ceil(step)
    now_bar = pd.Timestamp.now(tz="UTC").floor(step) - step  # the last complete bar
    end = min(to_utc(until, "--until").floor(step), now_bar) if until is not None else now_bar
    if end < start:
        raise DataError(f"--since {since} is after --until {until or 'now'}: nothing to fetch")
    dataset = normalize_symbol(name or symbol)
    exchange = exchange if exchange is not None else make_exchange(exchange_id)
    fetcher = _Fetcher(exchange, exchange_id, symbol, retries, sleep or time.sleep)
    report = FetchReport(dataset=dataset, bar=bar, start=start, end=end)

    resume = _resume_point(store, dataset, bar, start, end, step)
    if resume is not None:
        report.resumed_from = resume
        start = resume
    if start > end:
        report.streams["all"] = "already stored"
        return report

    try:
        market = _market(fetcher)
        _fetch_chunks(
            store, fetcher, market, dataset, start, end, step, report, chunk_bars, on_chunk
        )
    except FetchInterrupted as err:
        stored = (
            f"{report.rows_written} row(s) of this run are stored in {dataset} {bar}, up to "
            f"{report.last_stored}"
            if report.last_stored is not None
            else f"nothing new was stored in {dataset} {bar}"
        )
        raise FetchInterrupted(
            f"{err}. Stopped; {stored}. Run the same command again to resume."
        ) from None
    return report


def _fetch_chunks(
    store: MarketStore,
    fetcher: _Fetcher,
    market: dict,
    dataset: str,
    start: pd.Timestamp,
    end: pd.Timestamp,
    step: pd.Timedelta,
    report: FetchReport,
    chunk_bars: int | None,
    on_chunk: Callable[[FetchReport], None] | None,
) -> None:
    """Fetch [start, end] chunk by chunk, merging each into the store before the next."""
    funding = _funding_history(fetcher, start, end)
    report.streams["funding_rate"] = f"{len(funding)} settlements"
    chunk = step * (chunk_bars or fetcher.candle_limit)
    disabled: dict[str, str] = {}
    cursor = start
    while cursor <= end:
        chunk_end = min(cursor + chunk, end + step)
        frame = _chunk_frame(fetcher, market, cursor, chunk_end, step, funding, disabled, report)
        if frame is not None:
            store.write(
                dataset,
                frame,
                source=f"{fetcher.exchange_id} {fetcher.symbol} {cursor}",
                bar=report.bar,
            )
            report.rows_written += len(frame)
            report.last_stored = frame.index[-1]
        report.chunks += 1
        if on_chunk is not None:
            on_chunk(report)
        cursor = chunk_end
    report.streams.update(disabled)


def _market(fetcher: _Fetcher) -> dict:
    import ccxt

    fetcher.call("markets", fetcher.exchange.load_markets)
    try:
        return fetcher.exchange.market(fetcher.symbol)
    except ccxt.BadSymbol:
        raise DataError(
            f"{fetcher.exchange_id} has no market {fetcher.symbol!r} (perpetuals look like "
            "BTC/USDT:USDT)"
        ) from None


def _resume_point(
    store: MarketStore,
    dataset: str,
    bar: str,
    start: pd.Timestamp,
    end: pd.Timestamp,
    step: pd.Timedelta,
) -> pd.Timestamp | None:
    """The bar after the last stored one, when the stored data already covers the start."""
    if bar not in store.bars(dataset):
        return None
    stored = store.read(dataset, bar=bar, start=start, end=end).index
    if len(stored) and stored[0] - start < step:
        return stored[-1] + step
    return None


def _ms(ts: pd.Timestamp) -> int:
    return int(ts.value // 1_000_000)


def _funding_history(fetcher: _Fetcher, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Settlements from a day before ``start`` (to know the rate in force) to ``end``."""
    if not fetcher.has("fetchFundingRateHistory"):
        raise DataError(f"{fetcher.exchange_id} offers no funding history; funding is required")
    rows = fetcher.pages(
        "funding history",
        fetcher.exchange.fetch_funding_rate_history,
        _ms(start - pd.Timedelta(days=1)),
        _ms(end + pd.Timedelta(days=1)),
        fetcher.funding_limit,
        lambda r: r.get("timestamp"),
    )
    if not rows:
        raise DataError(
            f"{fetcher.exchange_id} returned no funding history for {fetcher.symbol} between "
            f"{start} and {end}"
        )
    times = pd.to_datetime([r["timestamp"] for r in rows], unit="ms", utc=True).as_unit("ns")
    rates = pd.Series([r.get("fundingRate") for r in rows], index=times, dtype="float64")
    hours = settlement_hours(times)
    per_8h = funding_to_fraction(
        rates,
        "fraction",
        f"{fetcher.exchange_id} {fetcher.symbol}",
        "fundingRate",
        hours,
        fix="ccxt reports funding as a fraction; this exchange's history is implausible.",
    )
    return pd.DataFrame({"funding_rate": per_8h, "interval_hours": hours}, index=times)


def _candles(
    fetcher: _Fetcher,
    what: str,
    method: str,
    start: pd.Timestamp,
    end: pd.Timestamp,
    timeframe: str,
) -> pd.DataFrame:
    rows = fetcher.pages(
        what,
        getattr(fetcher.exchange, method),
        _ms(start),
        _ms(end),
        fetcher.candle_limit,
        lambda r: r[0],
        timeframe=timeframe,
    )
    frame = pd.DataFrame(
        [r[:6] for r in rows], columns=["ms", "open", "high", "low", "close", "volume"]
    )
    frame.index = (
        pd.DatetimeIndex(pd.to_datetime(frame.pop("ms").astype("int64"), unit="ms", utc=True))
        .as_unit("ns")
        .rename("time")
    )
    return frame.astype("float64")


def _snapshot_timeframe(step: pd.Timedelta) -> str:
    return "1h" if step >= pd.Timedelta(hours=1) else "5m"


def _chunk_frame(
    fetcher: _Fetcher,
    market: dict,
    start: pd.Timestamp,
    end: pd.Timestamp,
    step: pd.Timedelta,
    funding: pd.DataFrame,
    disabled: dict[str, str],
    report: FetchReport,
) -> pd.DataFrame | None:
    """One chunk [start, end) as a canonical frame, or None when the exchange has no candles."""
    import ccxt

    timeframe = bar_name(step)
    ohlcv = _candles(fetcher, f"candles from {start}", "fetch_ohlcv", start, end, timeframe)
    if ohlcv.empty:
        return None
    frame = ohlcv[["open", "high", "low", "close"]].copy()
    frame["volume_usd"] = ohlcv["volume"] * ohlcv["close"]
    closes = frame.index + step
    frame["funding_rate"] = funding_in_force(funding, closes)
    if frame["funding_rate"].isna().all():
        report.notes.append(
            f"{start} .. {end - step}: no funding rate in force is known, bars left out"
        )
        return None
    frame, notes = drop_unknown_funding(
        frame,
        f"{fetcher.exchange_id} {fetcher.symbol}",
        f"{funding.index[0]} .. {funding.index[-1]}",
    )
    report.notes.extend(notes)

    optional = {
        "mark_price": ("fetchMarkOHLCV", "fetch_mark_ohlcv"),
        "index_price": ("fetchIndexOHLCV", "fetch_index_ohlcv"),
        "open_interest_usd": ("fetchOpenInterestHistory", "fetch_open_interest_history"),
        "long_short_ratio": ("fetchLongShortRatioHistory", "fetch_long_short_ratio_history"),
    }
    for column, (capability, method) in optional.items():
        if column in disabled:
            continue
        if not fetcher.has(capability):
            disabled[column] = f"not offered by {fetcher.exchange_id}"
            continue
        try:
            if column in ("mark_price", "index_price"):
                candles = _candles(fetcher, f"{column} from {start}", method, start, end, timeframe)
                values = candles["close"].reindex(frame.index) if not candles.empty else None
            else:
                values = _snapshots(
                    fetcher, column, method, market, start, end, step, frame, report
                )
        except FetchInterrupted:
            raise
        except ccxt.BaseError as err:  # refused for this range or market: skip the stream
            disabled[column] = f"skipped: {type(err).__name__}: {str(err)[:120]}"
            continue
        if values is not None:
            frame[column] = values
        _count_coverage(report, column, values, len(frame))
    return frame


def _count_coverage(
    report: FetchReport, column: str, values: pd.Series | None, bars: int
) -> None:
    """Say per stream how many bars got a value, and how it was derived: a stream that the
    exchange left empty, or filled for some bars only, is never reported as plainly 'ok'."""
    have, total = report.coverage.get(column, (0, 0))
    have += 0 if values is None else int(values.notna().sum())
    total += bars
    report.coverage[column] = (have, total)
    if have == total:
        status = "ok"
    elif have == 0:
        status = "no values: the exchange returned none for these bars (left missing)"
    else:
        status = f"{have:,} of {total:,} bars; the others have no value (left missing)"
    derived = report.derived.get(column)
    report.streams[column] = f"{status}; {derived}" if derived and have else status


def _snapshots(
    fetcher: _Fetcher,
    column: str,
    method: str,
    market: dict,
    start: pd.Timestamp,
    end: pd.Timestamp,
    step: pd.Timedelta,
    frame: pd.DataFrame,
    report: FetchReport,
) -> pd.Series | None:
    """Open-interest or long/short snapshots, as of each bar's close."""
    timeframe = _snapshot_timeframe(step)
    period = parse_bar(timeframe)
    # A bar takes the last snapshot before its close, which for the first bars of a range may
    # precede ``start`` (a 1m bar at 08:41 takes the 5m snapshot of 08:40): reach back as far as
    # a snapshot may be old, or those bars are left without a value.
    rows = fetcher.pages(
        f"{column} from {start}",
        getattr(fetcher.exchange, method),
        _ms(start - period * SNAPSHOT_PERIODS_MAX_AGE),
        _ms(end + step),
        fetcher.snapshot_limit,
        lambda r: r.get("timestamp"),
        timeframe=timeframe,
    )
    if not rows:
        return None
    times = pd.to_datetime([r["timestamp"] for r in rows], unit="ms", utc=True).as_unit("ns")
    if column == "long_short_ratio":
        values = [r.get("longShortRatio") for r in rows]
    else:
        closes = _valuation_closes(fetcher, rows, frame, step)
        values = [_oi_usd(r, market, closes, step) for r in rows]
        if any(r.get("openInterestValue") is None for r in rows):
            how = (
                "contracts x contract size (USD per contract)"
                if market.get("inverse")
                else "amount x contract size x the last close before each snapshot"
            )
            report.derived[column] = f"USD = {how} ({fetcher.exchange_id} gives no USD value)"
    snaps = pd.Series(values, index=times, dtype="float64").dropna()
    if snaps.empty:
        return None
    merged = as_of_closes(
        snaps.to_frame("value"), frame.index, step, period * SNAPSHOT_PERIODS_MAX_AGE
    )
    return merged["value"]


def _valuation_closes(
    fetcher: _Fetcher, rows: list[dict], frame: pd.DataFrame, step: pd.Timedelta
) -> pd.Series:
    """Closes to value open interest given only as an amount (Bybit's linear history has no
    USD value): the chunk's closes, plus the bars before it that snapshots taken before the
    chunk need (fetched only then), so the first bars of a range are not left without one."""
    closes = frame["close"]
    amounts_only = [
        pd.Timestamp(r["timestamp"], unit="ms", tz="UTC")
        for r in rows
        if r.get("openInterestValue") is None and r.get("openInterestAmount") is not None
    ]
    first = min(amounts_only, default=None)
    if first is None or not len(frame) or first - step >= frame.index[0]:
        return closes
    lead = _candles(
        fetcher, "closes to value open interest", "fetch_ohlcv", (first - step).floor(step),
        frame.index[0], bar_name(step),
    )
    return pd.concat([lead["close"], closes]).sort_index().loc[lambda c: ~c.index.duplicated()]


def _oi_usd(row: dict, market: dict, closes: pd.Series, step: pd.Timedelta) -> float | None:
    value = row.get("openInterestValue")
    if value is not None:
        return float(value)
    amount = row.get("openInterestAmount")
    if amount is None:
        return None
    size = float(market.get("contractSize") or 1.0)
    if market.get("inverse"):
        return float(amount) * size
    # The close of the last bar that had closed when the snapshot was taken: the bar that
    # contains the snapshot closes after it, and its close would be a peek ahead.
    ts = pd.Timestamp(row["timestamp"], unit="ms", tz="UTC")
    price = closes.asof(ts - step) if len(closes) else np.nan
    return float(amount) * size * float(price)
