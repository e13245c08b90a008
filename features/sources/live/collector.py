"""Live collection from an exchange through ccxt: REST polling plus ccxt.pro websockets.

At each bar close (after a few seconds for the exchange to finalise the candle) every symbol's
bars since its last processed bar are fetched through REST with the same code as
``flushrisk data fetch`` (:mod:`features.sources.fetch_ccxt`: candles, mark and index candles,
funding in force, open interest, long/short ratio). The websocket streams run meanwhile in a
background thread:

* ``watchLiquidationsForSymbols`` (or ``watchLiquidations`` per symbol): every liquidation,
  summed per bar and side (a liquidated *long* is a sell order). Each event is also kept with
  its venue in ``<data_dir>/_liquidations/<venue>/<SYMBOL>/<day>.jsonl``: no public history of
  per-venue liquidations exists, so this recorder is how one is built from today on.
  **Binance's stream sends at most one liquidation per symbol per second** (the latest of that
  second), so its sums are a lower bound in a cascade; the venue is recorded so a reader knows.
* ``watchOrderBook``: resting bid and ask notional within 1 % and 2 % of the mid, sampled on
  every book update; a bar gets the last sample before its close (the schema's "at the bar
  close"). Like liquidations, depth has no public history: the recorder builds it.

Faults, and what they never do:

* a network error, an exchange error or a rate limit on REST is retried with backoff (the
  fetcher's retries), then the symbol's bar is left out this round: a **gap**, logged and
  counted (``flushrisk_gap_bars_total``), never invented. The next round fetches from the
  last processed bar again, so the gap is **back-filled** as soon as REST answers (stored, and
  scored if it is still the newest bar);
* a websocket drop or error is logged, counted and reconnected with backoff. A bar during
  which a stream was not connected from its open to its close gets no value from that stream
  (NaN liquidations or depth), because a partial sum would understate it;
* an out-of-order message (a liquidation of an earlier bar) is added to its bar if that bar
  has not been handed over yet, else kept in the event log only and counted as late;
* after a restart the first round back-fills everything since the last stored bar.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from features.bars import parse_bar
from features.store import normalize_symbol

logger = logging.getLogger("flushrisk.collector")


class CollectorMetrics(Protocol):
    """Where the collector counts its gaps and errors.

    The collector sits on the data floor and never imports the service: the caller passes the
    counters in (``serving.radar_metrics.COLLECTOR`` for ``flushrisk watch``'s Prometheus
    series); the default counts nothing.
    """

    def gaps(self, symbol: str, bars: int) -> None:
        """``bars`` bars of ``symbol`` could not be completed."""

    def error(self, symbol: str, kind: str) -> None:
        """One collector error of ``kind`` (rest, websocket, ...) for ``symbol``."""


class NoMetrics:
    """Counts nothing: the collector's metrics when none are passed in."""

    def gaps(self, symbol: str, bars: int) -> None:
        """Ignore the gaps."""

    def error(self, symbol: str, kind: str) -> None:
        """Ignore the error."""


NO_METRICS = NoMetrics()

DEPTH_BANDS = (0.01, 0.02)
SETTLE_S = 3.0
MAX_BACKOFF_S = 30.0
FIRST_SUMMARY_S = 30.0
MAX_SUMMARY_S = 600.0
"""Failures are printed at once the first time, then summarised every 30 s, 60 s, ... 10 min."""


def backoff(delay: float, cap: float = MAX_BACKOFF_S) -> float:
    """The next wait: doubled, capped, with up to 25 % jitter so retries never synchronise."""
    return min(delay * 2.0, cap) * (0.75 + 0.25 * random.random())


def api_host(exchange: Any) -> str | None:
    """The host of an exchange's public REST API (for the connectivity hint)."""
    from urllib.parse import urlsplit

    urls = (getattr(exchange, "urls", None) or {}).get("api")
    stack = [urls]
    while stack:
        item = stack.pop(0)
        if isinstance(item, str) and item.startswith("http"):
            return urlsplit(item).netloc
        if isinstance(item, dict):
            stack.extend(item.values())
    return None


class FailureReport:
    """Tells the user the exchange cannot be reached: the first failure at once, then a summary
    at growing intervals while it lasts, and a line when it is reachable again. Written to
    stderr (and the log), never only counted in metrics."""

    def __init__(
        self,
        exchange_id: str,
        host: str | None,
        clock: Callable[[], float] = time.monotonic,
        write: Callable[[str], None] | None = None,
    ) -> None:
        self.exchange_id = exchange_id
        self.host = host
        self.clock = clock
        self.write = write or (lambda line: print(line, file=sys.stderr, flush=True))
        self.failures = 0
        self.since: float | None = None
        self.last: str = ""
        self.next_summary = 0.0
        self.interval = FIRST_SUMMARY_S
        self.lock = threading.Lock()

    def hint(self) -> str:
        target = f"https://{self.host}/" if self.host else f"the {self.exchange_id} API"
        return (
            f"check the connection with `curl -sI {target}` (and HTTPS_PROXY / firewall "
            "settings); the watcher keeps retrying with backoff"
        )

    def failed(self, what: str, err: BaseException, retry_in: float | None = None) -> None:
        with self.lock:
            now = self.clock()
            self.failures += 1
            self.last = f"{what}: {type(err).__name__}: {str(err)[:160]}"
            retry = f"; next try in {retry_in:.0f} s" if retry_in is not None else ""
            if self.since is None:
                self.since = now
                self.next_summary = now + self.interval
                self.write(
                    f"cannot reach {self.exchange_id}: {self.last}{retry}. {self.hint()}"
                )
            elif now >= self.next_summary:
                self.write(
                    f"still cannot reach {self.exchange_id}: {self.failures} failures in "
                    f"{(now - self.since) / 60:.1f} min (last: {self.last}){retry}. {self.hint()}"
                )
                self.interval = min(self.interval * 2.0, MAX_SUMMARY_S)
                self.next_summary = now + self.interval

    def succeeded(self) -> None:
        with self.lock:
            if self.since is not None:
                self.write(
                    f"{self.exchange_id} reachable again after {self.failures} failure(s) in "
                    f"{(self.clock() - self.since) / 60:.1f} min"
                )
            self.failures, self.since, self.interval = 0, None, FIRST_SUMMARY_S


def reach(
    exchange: Any,
    report: FailureReport,
    stop: threading.Event,
    first_delay: float = 1.0,
    cap: float = MAX_BACKOFF_S,
) -> bool:
    """Load the exchange's markets, retrying with exponential backoff and jitter until it
    answers or ``stop`` is set (which ends the wait at once). True when reached."""
    import ccxt

    load = getattr(exchange, "load_markets", None)
    if load is None:
        return True
    delay = first_delay
    while not stop.is_set():
        try:
            load()
            report.succeeded()
            return True
        except (ccxt.NetworkError, ccxt.ExchangeError, OSError) as err:
            report.failed("markets", err, retry_in=delay)
            if stop.wait(delay):
                return False
            delay = backoff(delay, cap)
    return False


def _ms(ts: pd.Timestamp) -> int:
    return int(ts.value // 1_000_000)


def liquidation_side(event: dict[str, Any]) -> str | None:
    """'long' or 'short': whose position was liquidated (a forced sell closes a long)."""
    side = event.get("side")
    info = event.get("info") or {}
    if side is None and isinstance(info, dict):
        order = info.get("o") if isinstance(info.get("o"), dict) else info
        side = order.get("S") or order.get("side") or order.get("posSide")
    side = str(side).lower() if side is not None else ""
    if side in ("sell", "long"):
        return "long"
    if side in ("buy", "short"):
        return "short"
    return None


def liquidation_usd(event: dict[str, Any]) -> float | None:
    """The liquidated notional in USD (quote) of a ccxt liquidation structure."""
    value = event.get("quoteValue")
    if value is None:
        price, contracts = event.get("price"), event.get("contracts")
        size = event.get("contractSize") or 1.0
        if price is not None and contracts is not None:
            value = float(price) * float(contracts) * float(size)
        elif price is not None and event.get("baseValue") is not None:
            value = float(price) * float(event["baseValue"])
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value >= 0 else None


def book_depth(book: dict[str, Any]) -> dict[str, float] | None:
    """USD resting within 1 % and 2 % of the mid on each side of an order book."""
    bids, asks = book.get("bids") or [], book.get("asks") or []
    if not bids or not asks:
        return None
    mid = (float(bids[0][0]) + float(asks[0][0])) / 2.0
    out = {}
    for band in DEPTH_BANDS:
        pct = f"{round(band * 100)}pct"
        out[f"bid_depth_{pct}_usd"] = sum(
            float(p) * float(a) for p, a, *_ in bids if float(p) >= mid * (1 - band)
        )
        out[f"ask_depth_{pct}_usd"] = sum(
            float(p) * float(a) for p, a, *_ in asks if float(p) <= mid * (1 + band)
        )
    return out


@dataclass
class _Stream:
    """When a stream first connected, and when it was down since (ms intervals)."""

    first_up: int | None = None
    down_since: int | None = None
    outages: list[tuple[int, int]] = field(default_factory=list)
    drops: int = 0

    def covered(self, start: int, end: int) -> bool:
        """Whether the stream was connected for all of [start, end)."""
        if self.first_up is None or self.first_up > start:
            return False
        if self.down_since is not None and self.down_since < end:
            return False
        return not any(a < end and b > start for a, b in self.outages)


@dataclass
class BarAggregator:
    """Websocket data per symbol and bar, handed over once the bar has closed."""

    step: pd.Timedelta
    venue: str
    log_dir: Path | None = None
    liq: dict[tuple[str, int], list[float]] = field(default_factory=dict)
    depth: dict[tuple[str, int], tuple[int, dict[str, float]]] = field(default_factory=dict)
    streams: dict[tuple[str, str], _Stream] = field(default_factory=dict)
    handed: dict[str, int] = field(default_factory=dict)  # last bar open handed over, per symbol
    late: int = 0
    unknown_side: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _bar(self, ms: int) -> int:
        step = int(self.step.total_seconds() * 1000)
        return ms // step * step

    def up(self, stream: str, symbols: list[str], ms: int) -> None:
        with self.lock:
            for s in symbols:
                state = self.streams.setdefault((stream, s), _Stream())
                if state.first_up is None:
                    state.first_up = ms
                if state.down_since is not None:
                    state.outages.append((state.down_since, ms))
                    state.outages = state.outages[-100:]
                    state.down_since = None

    def down(self, stream: str, symbols: list[str], ms: int) -> None:
        with self.lock:
            for s in symbols:
                state = self.streams.setdefault((stream, s), _Stream())
                if state.first_up is not None and state.down_since is None:
                    state.down_since = ms
                state.drops += 1

    def add_liquidation(self, symbol: str, event: dict[str, Any]) -> None:
        ms = event.get("timestamp")
        usd, side = liquidation_usd(event), liquidation_side(event)
        if ms is None or usd is None:
            return
        self._log_event(symbol, int(ms), side, event, usd)
        if side is None:
            self.unknown_side += 1
            return
        bar = self._bar(int(ms))
        with self.lock:
            if bar <= self.handed.get(symbol, -1):
                self.late += 1  # its bar was already handed over: the event log keeps it
                return
            sums = self.liq.setdefault((symbol, bar), [0.0, 0.0])
            sums[0 if side == "long" else 1] += usd

    def add_book(self, symbol: str, book: dict[str, Any], ms: int) -> None:
        depth = book_depth(book)
        if depth is None:
            return
        bar = self._bar(ms)
        with self.lock:
            if bar <= self.handed.get(symbol, -1):
                return
            previous = self.depth.get((symbol, bar))
            if previous is None or previous[0] <= ms:
                self.depth[(symbol, bar)] = (ms, depth)

    def take(self, symbol: str, bar_open: pd.Timestamp) -> dict[str, float]:
        """The websocket columns of a closed bar (NaN where a stream was not up all bar)."""
        t = _ms(bar_open)
        end = t + int(self.step.total_seconds() * 1000)
        out: dict[str, float] = {}
        with self.lock:
            self.handed[symbol] = max(self.handed.get(symbol, -1), t)
            liq = self.liq.pop((symbol, t), [0.0, 0.0])
            stream = self.streams.get(("liquidations", symbol))
            if stream is not None and stream.covered(t, end):
                out["long_liq_usd"], out["short_liq_usd"] = liq
            sample = self.depth.pop((symbol, t), None)
            book = self.streams.get(("orderbook", symbol))
            if sample is not None and book is not None and book.covered(t, end):
                out.update(sample[1])
            for key in [k for k in self.liq if k[0] == symbol and k[1] < t]:
                self.liq.pop(key)
            for key in [k for k in self.depth if k[0] == symbol and k[1] < t]:
                self.depth.pop(key)
        return out

    def _log_event(
        self, symbol: str, ms: int, side: str | None, event: dict[str, Any], usd: float
    ) -> None:
        if self.log_dir is None:
            return
        day = pd.Timestamp(ms, unit="ms", tz="UTC").strftime("%Y-%m-%d")
        path = self.log_dir / self.venue / normalize_symbol(symbol) / f"{day}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "time": pd.Timestamp(ms, unit="ms", tz="UTC").isoformat(),
            "venue": self.venue,
            "symbol": symbol,
            "side": side,
            "price": event.get("price"),
            "usd": usd,
        }
        with path.open("a") as f:
            f.write(json.dumps(record, separators=(",", ":")) + "\n")


class WebsocketStreams:
    """ccxt.pro streams in a background asyncio loop, feeding a BarAggregator."""

    def __init__(
        self,
        pro: Any,
        symbols: list[str],
        aggregator: BarAggregator,
        on_error: Callable[[str, str, Exception], None],
        clock: Callable[[], float] = time.time,
        backoff_s: float = 1.0,
        report: FailureReport | None = None,
    ) -> None:
        self.report = report
        self.pro = pro
        self.symbols = symbols
        self.aggregator = aggregator
        self.on_error = on_error
        self.clock = clock
        self.backoff_s = backoff_s
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.notes: list[str] = []

    def start(self) -> None:
        self.thread = threading.Thread(
            target=lambda: asyncio.run(self._main()), name="ccxt-pro", daemon=True
        )
        self.thread.start()

    def close(self, timeout: float = 10.0) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout)

    async def _main(self) -> None:
        has = getattr(self.pro, "has", {}) or {}
        tasks = []
        if has.get("watchLiquidationsForSymbols"):
            tasks.append(self._loop("liquidations", self.symbols, self._liquidations_for_symbols))
        elif has.get("watchLiquidations"):
            tasks += [self._loop("liquidations", [s], self._liquidations) for s in self.symbols]
        else:
            self.notes.append(
                "no liquidation stream on this exchange: liquidation columns stay empty"
            )
        if has.get("watchOrderBook"):
            tasks += [self._loop("orderbook", [s], self._order_book) for s in self.symbols]
        else:
            self.notes.append("no order-book stream on this exchange: depth columns stay empty")
        try:
            await asyncio.gather(*tasks)
        finally:
            close = getattr(self.pro, "close", None)
            if close is not None:
                try:
                    await close()
                except Exception as err:  # noqa: BLE001 - closing a broken connection may fail
                    logger.debug("closing the websocket client: %s", err)

    async def _loop(
        self, stream: str, symbols: list[str], receive: Callable[[list[str]], Any]
    ) -> None:
        import ccxt

        delay = self.backoff_s
        while not self.stop.is_set():
            task = asyncio.ensure_future(receive(symbols))
            try:
                while not task.done():
                    if self.stop.is_set():
                        task.cancel()
                        return
                    await asyncio.wait({task}, timeout=0.2)
                task.result()
                delay = self.backoff_s
            except asyncio.CancelledError:
                return
            except (ccxt.NetworkError, ccxt.ExchangeError) as err:
                self.aggregator.down(stream, symbols, int(self.clock() * 1000))
                for symbol in symbols:
                    self.on_error(stream, symbol, err)
                if self.report is not None:
                    self.report.failed(f"{stream} stream", err, retry_in=delay)
                waited = 0.0
                while waited < delay and not self.stop.is_set():
                    await asyncio.sleep(min(0.2, delay - waited))
                    waited += 0.2
                delay = backoff(delay)

    def _received(self, stream: str, symbols: list[str]) -> None:
        """A message arrived: the stream is up (from now, if it was down)."""
        self.aggregator.up(stream, symbols, int(self.clock() * 1000))
        if self.report is not None and self.report.since is not None:
            self.report.succeeded()

    async def _liquidations_for_symbols(self, symbols: list[str]) -> None:
        events = await self.pro.watch_liquidations_for_symbols(symbols)
        self._received("liquidations", symbols)
        for event in events or []:
            self.aggregator.add_liquidation(event.get("symbol") or symbols[0], event)

    async def _liquidations(self, symbols: list[str]) -> None:
        events = await self.pro.watch_liquidations(symbols[0])
        self._received("liquidations", symbols)
        for event in events or []:
            self.aggregator.add_liquidation(symbols[0], event)

    async def _order_book(self, symbols: list[str]) -> None:
        book = await self.pro.watch_order_book(symbols[0])
        self._received("orderbook", symbols)
        ms = book.get("timestamp") or int(self.clock() * 1000)
        self.aggregator.add_book(symbols[0], book, int(ms))


def fetch_bars(
    exchange: Any,
    exchange_id: str,
    symbol: str,
    start: pd.Timestamp,
    end: pd.Timestamp,
    step: pd.Timedelta,
    retries: int = 3,
    sleep: Callable[[float], None] = time.sleep,
) -> pd.DataFrame | None:
    """Closed bars with open times in [start, end] through REST, as ``data fetch`` builds them."""
    from features.sources import fetch_ccxt

    # open interest and long/short are periodic snapshots: a bar takes the last one before its
    # close, which may precede ``start``, so the fetch reaches back a few snapshot periods
    period = pd.Timedelta(fetch_ccxt._snapshot_timeframe(step).replace("m", "min"))
    lead = fetch_ccxt.SNAPSHOT_PERIODS_MAX_AGE * period
    first = (start - lead).floor(step)
    fetcher = fetch_ccxt._Fetcher(exchange, exchange_id, symbol, retries, sleep)
    market = fetch_ccxt._market(fetcher)
    funding = fetch_ccxt._funding_history(fetcher, first, end)
    report = fetch_ccxt.FetchReport(dataset=symbol, bar=str(step), start=first, end=end)
    frame = fetch_ccxt._chunk_frame(fetcher, market, first, end + step, step, funding, {}, report)
    return None if frame is None else frame[frame.index >= start]


@dataclass
class LivePoller:
    """One REST round per bar close for every symbol, merged with the websocket columns."""

    exchange: Any
    exchange_id: str
    symbols: list[str]
    step: pd.Timedelta
    aggregator: BarAggregator
    retries: int = 3
    sleep: Callable[[float], None] = time.sleep
    backfill: pd.Timedelta = field(default_factory=lambda: pd.Timedelta(days=1))
    on_error: Callable[[str, str, Exception], None] | None = None
    metrics: CollectorMetrics = NO_METRICS
    missing: dict[str, set[pd.Timestamp]] = field(default_factory=dict)
    gaps: int = 0
    backfilled: int = 0
    names: dict[str, str] = field(default_factory=dict)  # exchange market -> store name
    report: FailureReport | None = None

    def round(
        self, closed: pd.Timestamp, last: dict[str, pd.Timestamp | None]
    ) -> dict[str, pd.DataFrame]:
        """The bars of every symbol from after its last processed bar up to ``closed`` (the
        open time of the bar that just closed). A symbol whose REST calls fail has no bars this
        round: those bars are gaps until a later round back-fills them."""
        out: dict[str, pd.DataFrame] = {}
        for symbol in self.symbols:
            name = self.names.get(symbol) or normalize_symbol(symbol)
            previous = last.get(name)
            start = closed - self.backfill if previous is None else previous + self.step
            if start > closed:
                continue
            try:
                frame = fetch_bars(
                    self.exchange,
                    self.exchange_id,
                    symbol,
                    start,
                    closed,
                    self.step,
                    self.retries,
                    self.sleep,
                )
            except Exception as err:  # noqa: BLE001 - any exchange failure is a gap, never a crash
                self._error("rest", name, err)
                if self.report is not None:
                    self.report.failed(f"REST {symbol}", err)
                self._missed(name, pd.date_range(start, closed, freq=self.step))
                continue
            if self.report is not None and self.report.since is not None:
                self.report.succeeded()
            if frame is None or frame.empty:
                self._missed(name, pd.date_range(start, closed, freq=self.step))
                continue
            self._missed(name, pd.date_range(start, closed, freq=self.step).difference(frame.index))
            found = self.missing.get(name, set()) & set(frame.index)
            if found:
                self.backfilled += len(found)
                self.missing[name] -= found
                logger.info("%s: back-filled %d gap bar(s) through REST", name, len(found))
            ws = [self.aggregator.take(symbol, t) for t in frame.index]
            for column in (
                "long_liq_usd",
                "short_liq_usd",
                *[f"{s}_depth_{p}_usd" for p in ("1pct", "2pct") for s in ("bid", "ask")],
            ):
                values = [row.get(column, math.nan) for row in ws]
                if any(not math.isnan(v) for v in values):
                    frame[column] = values
            out[name] = frame
        return out

    def _missed(self, name: str, times: pd.DatetimeIndex) -> None:
        new = set(times) - self.missing.get(name, set())
        if new:
            self.gaps += len(new)
            self.missing.setdefault(name, set()).update(new)
            self.metrics.gaps(name, len(new))

    def _error(self, kind: str, symbol: str, err: Exception) -> None:
        logger.warning(
            "%s %s: %s: %s (the bar stays a gap until back-filled)",
            kind,
            symbol,
            type(err).__name__,
            err,
        )
        if self.on_error is not None:
            self.on_error(kind, symbol, err)


def run_live(
    radar: Any,
    exchange_id: str,
    symbols: list[str],
    bar: str,
    stop: threading.Event,
    max_bars: int | None = None,
    exchange: Any | None = None,
    pro: Any | None = None,
    clock: Callable[[], float] = time.time,
    settle_s: float = SETTLE_S,
    backfill: pd.Timedelta | None = None,
    speed: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    names: dict[str, str] | None = None,
    report: FailureReport | None = None,
    metrics: CollectorMetrics = NO_METRICS,
) -> int:
    """Collect, score and publish at every bar close until ``stop`` (or ``max_bars`` closes).

    ``names`` maps each exchange market to the store's name (default: normalised market).
    Before the first bar the exchange is reached (its markets loaded) with backoff: a network
    that is down is reported at once, then summarised, never retried in a busy loop.
    ``clock`` and ``speed`` (clock seconds per wall second) exist for tests on recorded data;
    ``metrics`` counts gaps and errors (the caller's Prometheus counters).
    """
    step = parse_bar(bar)
    probe = exchange is None  # a real exchange is reached first; an injected one is ready
    if exchange is None:
        from features.sources.fetch_ccxt import make_exchange

        exchange = make_exchange(exchange_id)
    if pro is None:
        import ccxt.pro

        pro = getattr(ccxt.pro, exchange_id)({"enableRateLimit": True})

    names = {s: (names or {}).get(s) or normalize_symbol(s) for s in symbols}

    def on_error(kind: str, symbol: str, err: Exception) -> None:
        # one spelling in metric labels: the store's name
        metrics.error(names.get(symbol, symbol), kind)
        radar.publisher.collector["errors"] = int(radar.publisher.collector.get("errors", 0)) + 1

    if report is None:
        report = FailureReport(exchange_id, api_host(exchange))
    if probe and not reach(exchange, report, stop):
        return 0
    aggregator = BarAggregator(step, exchange_id, radar.data_dir / "_liquidations")
    streams = WebsocketStreams(pro, symbols, aggregator, on_error, clock, report=report)
    streams.start()
    poller = LivePoller(
        exchange, exchange_id, symbols, step, aggregator, sleep=sleep, on_error=on_error,
        names=names, report=report, metrics=metrics,
    )
    if backfill is not None:
        poller.backfill = backfill
    radar.publisher.collector["source"] = exchange_id
    radar.counts_gaps = False  # the poller counts gaps, and back-fills them
    last = radar.warm_up([names[s] for s in symbols])
    done = 0
    try:
        while not stop.is_set() and (max_bars is None or done < max_bars):
            now = pd.Timestamp(clock(), unit="s", tz="UTC")
            close = now.floor(step) + step
            wait = (close - now).total_seconds() + settle_s
            if stop.wait(max(wait, 0.0) / speed):
                break
            closed = close - step  # open time of the bar that just closed
            bars = poller.round(closed, last)
            for name, frame in bars.items():
                last[name] = max(frame.index[-1], last.get(name) or frame.index[-1])
            radar.publisher.collector.update(
                gaps=poller.gaps,
                backfilled=poller.backfilled,
                open_gaps=sum(len(v) for v in poller.missing.values()),
                late_liquidations=aggregator.late,
            )
            radar.on_bars(bars, closed_at=close.timestamp())
            radar.clock.set(pd.Timestamp(clock(), unit="s", tz="UTC"))
            done += 1
    finally:
        streams.close()
    for note in streams.notes:
        logger.warning(note)
    return done


__all__ = [
    "NO_METRICS",
    "BarAggregator",
    "CollectorMetrics",
    "LivePoller",
    "WebsocketStreams",
    "book_depth",
    "fetch_bars",
    "liquidation_side",
    "liquidation_usd",
    "run_live",
]


def recorded_history(
    data_dir: Path | str, symbol: str, frame: pd.DataFrame
) -> list[tuple[str, str]]:
    """What the live recorder has built for a symbol: depth bars and liquidation events by
    venue (for ``flushrisk data inspect``; no public history of either exists)."""
    rows = []
    depth = [c for c in ("bid_depth_1pct_usd", "ask_depth_1pct_usd") if c in frame]
    if depth:
        have = frame[depth].notna().any(axis=1)
        if have.any():
            first = frame.index[have.to_numpy()][0]
            rows.append(
                ("depth recorded", f"{int(have.sum()):,} bar(s) since {first:%Y-%m-%d %H:%M} UTC")
            )
    root = Path(data_dir) / "_liquidations"
    name = normalize_symbol(symbol)
    for venue in sorted(p.name for p in root.iterdir()) if root.is_dir() else []:
        files = sorted((root / venue / name).glob("*.jsonl"))
        if files:
            events = sum(len(f.read_text().splitlines()) for f in files)
            rows.append(
                (
                    f"liquidations ({venue})",
                    f"{events:,} event(s) on {len(files)} day(s), {files[0].stem} .. {files[-1].stem}",
                )
            )
    return rows
