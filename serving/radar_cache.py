"""What the radar's JSON API keeps in memory so a request never reads a whole history.

* :class:`HistoryCache`: per symbol and bar, the last 30 days of the market series and the
  probability that ``/risk/{symbol}`` charts, read once and then extended incrementally: a newer
  radar bar (or a new version of the scores or market data) reads only the bars since the
  cached one (from two bars before it, so a score
  written just after its bar is picked up), and the whole window is re-read every
  :data:`FULL_REFRESH_S` seconds (a backtest or an import can rewrite older rows). Bounded by
  :data:`HISTORY_BYTES` over all symbols (least recently used first out): 400 symbols of 30
  days of 1-minute bars would be about 1 GB.
* :class:`AnswerCache`: finished answers (JSON bytes, and their gzip) keyed by the request and
  the version of the data they were made from (:func:`dataset_version`), for ``/scores``.
* :func:`respond`: bytes as an HTTP answer: gzip when the client accepts it and the body is
  large (:data:`GZIP_MIN_BYTES`), an ETag, and 304 for a matching ``If-None-Match``.

The store is read only through :func:`read_market` and :func:`read_scores` (and versioned by
:func:`dataset_version`), so a change of the store's format changes those three functions.
"""

from __future__ import annotations

import functools
import gzip
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from starlette.requests import Request
from starlette.responses import Response

from features.bars import parse_bar
from features.scores import ScoreStore
from features.store import MarketStore

HISTORY_SPAN = pd.Timedelta(days=30)
"""The longest window /risk/{symbol} shows: what the cache keeps per symbol."""
FULL_REFRESH_S = 300.0
HISTORY_BYTES = 256 * 2**20
ANSWER_BYTES = 128 * 2**20
"""Finished answers kept (JSON bytes, over all symbols and windows)."""
GZIP_MIN_BYTES = 2048
GZIP_LEVEL = 5  # about 8x smaller JSON at a few ms per MB; level 9 costs 3x for 5 % less
GZIP_LEVEL_PER_REQUEST = 1
"""For an answer made for one request (/risk/{symbol}): half the CPU of level 5 for 5 % more
bytes (7.5 KB of JSON: 0.05 against 0.09 ms)."""


# -- the store, behind three small functions ------------------------------------------------
_STORES: dict[Path, MarketStore] = {}


def market_store(data_dir: Path) -> MarketStore:
    """One market store per data directory for the process: a new ``MarketStore`` looks for
    datasets to migrate by walking the whole data directory (a glob over 400 symbols' month
    folders), which cost more than the read a request wanted."""
    key = Path(data_dir)
    store = _STORES.get(key)
    if store is None:
        store = _STORES[key] = MarketStore(key)
    return store


def read_market(data_dir: Path, symbol: str, bar: str, start: pd.Timestamp, end: pd.Timestamp
                ) -> pd.DataFrame | None:
    """The symbol's market bars in [start, end], or None when it has none at this bar."""
    store = market_store(data_dir)
    return store.read(symbol, bar, start=start, end=end) if bar in store.bars(symbol) else None


def read_scores(data_dir: Path, symbol: str, bar: str, start: pd.Timestamp | None,
                end: pd.Timestamp | None) -> pd.DataFrame:
    """The symbol's stored scores in [start, end] (an empty frame when there are none)."""
    return ScoreStore(data_dir).read(symbol, bar, start=start, end=end)


def dataset_version(folder: Path) -> int:
    """A number that changes whenever the dataset in ``folder`` is written.

    Writes replace files inside the folder's immediate sub-folders (month partitions, a
    transaction log), which changes those folders' modification times: the largest of them.
    """
    try:
        with os.scandir(folder) as entries:
            times = [e.stat().st_mtime_ns for e in entries if e.is_dir()]
        return max([os.stat(folder).st_mtime_ns, *times])
    except OSError:
        return 0


@functools.lru_cache(maxsize=8192)
def dataset_paths(data_dir: Path, symbol: str, bar: str) -> tuple[Path, Path]:
    """The scores and market folders of a symbol and bar (made once: building paths cost a
    tenth of a millisecond per request)."""
    return ScoreStore(data_dir).path(symbol, bar), market_store(data_dir).path(symbol, bar)


def scores_version(data_dir: Path, symbol: str, bar: str) -> int:
    return dataset_version(dataset_paths(data_dir, symbol, bar)[0])


def market_version(data_dir: Path, symbol: str, bar: str) -> int:
    return dataset_version(dataset_paths(data_dir, symbol, bar)[1])


def history_version(data_dir: Path, symbol: str, bar: str) -> tuple[int, int]:
    """The versions of what a history table is made of: the scores and the market bars (the
    radar's write-behind may store either after it published the snapshot)."""
    return scores_version(data_dir, symbol, bar), market_version(data_dir, symbol, bar)


# -- answers ----------------------------------------------------------------------------------
@dataclass
class Answer:
    """A finished JSON answer: its bytes, its gzip (made on first use) and its ETag."""

    body: bytes
    etag: str | None = None
    _gz: bytes | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def worth_gz(self) -> bool:
        """Large enough to be sent gzipped (to a client that takes it)."""
        return len(self.body) >= GZIP_MIN_BYTES

    def needs_gz(self) -> bool:
        """Large enough to be sent gzipped, and the gzip not made yet."""
        return self._gz is None and self.worth_gz()

    def with_gz(self, level: int = GZIP_LEVEL) -> Answer:
        """This answer with its gzip made now when it is worth one: called where the work may
        run (a worker thread), so that :func:`respond` on the event loop only sends it."""
        if self.needs_gz():
            self.gz(level)
        return self

    def gz(self, level: int = GZIP_LEVEL) -> bytes:
        with self._lock:
            if self._gz is None:
                self._gz = gzip.compress(self.body, level, mtime=0)
            return self._gz


def accepts_gzip(request: Request) -> bool:
    return "gzip" in request.headers.get("accept-encoding", "").lower()


def not_modified(request: Request, etag: str | None) -> bool:
    """Whether the client's If-None-Match names ``etag`` (weak comparison, as RFC 9110)."""
    if etag is None:
        return False
    asked = request.headers.get("if-none-match")
    if not asked:
        return False
    bare = etag.removeprefix("W/")
    return asked.strip() == "*" or any(
        tag.strip().removeprefix("W/") == bare for tag in asked.split(",")
    )


def respond(request: Request, answer: Answer, status: int = 200) -> Response:
    """The answer as JSON, gzipped when worth it and accepted; 304 for a matching ETag."""
    headers = {"Vary": "Accept-Encoding"}
    if answer.etag is not None:
        headers["ETag"] = answer.etag
        headers["Cache-Control"] = "no-cache"  # may keep it, must ask (a 304 is cheap)
        if status == 200 and not_modified(request, answer.etag):
            return Response(status_code=304, headers=headers)
    if answer.worth_gz() and accepts_gzip(request):
        headers["Content-Encoding"] = "gzip"
        return Response(answer.gz(), status, headers, media_type="application/json")
    return Response(answer.body, status, headers, media_type="application/json")


class AnswerCache:
    """Finished answers by key, at most ``size`` of them and ``max_bytes`` of JSON (least
    recently used out): every watched symbol's default answer fits, a few long backtests
    do not push the memory past the bound."""

    def __init__(self, size: int = 4096, max_bytes: int = ANSWER_BYTES) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def peek(self, key: Any) -> Any:
        """The cached value of ``key`` or None (a dict look-up: safe on the event loop)."""
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
            return hit

    def get(self, key: Any, make: Callable[[], bytes]) -> Answer:
        hit = self.peek(key)
        if hit is not None:
            return hit
        answer = Answer(make())  # outside the lock: other keys are answered meanwhile
        self.put(key, answer)
        return answer

    def put(self, key: Any, value: Any) -> None:
        """Keep ``value`` (an :class:`Answer` or a JSON text) under ``key``."""
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= _size(old)
            self._items[key] = value
            self._bytes += _size(value)
            while self._items and (len(self._items) > self.size or self._bytes > self.max_bytes):
                _, gone = self._items.popitem(last=False)
                self._bytes -= _size(gone)

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


def _size(value: Any) -> int:
    return len(value.body) if isinstance(value, Answer) else len(value)


# -- history ----------------------------------------------------------------------------------
HISTORY_COLUMNS = {
    "close": "close",
    "liq_long_usd": "long_liq_usd",
    "liq_short_usd": "short_liq_usd",
    "funding_rate": "funding_rate",
    "open_interest_usd": "open_interest_usd",
    "depth_bid_1pct_usd": "bid_depth_1pct_usd",
}
"""History member -> market column."""


def history_table(frame: pd.DataFrame | None, scores: pd.DataFrame) -> pd.DataFrame:
    """The charted series on the bar grid of the stored bars (the scores' when none)."""
    times = frame.index if frame is not None and len(frame) else scores.index
    table = pd.DataFrame(index=times)
    table["probability"] = scores["probability"].reindex(times)
    for out, column in HISTORY_COLUMNS.items():
        has = frame is not None and column in frame
        table[out] = frame[column].reindex(times) if has else np.nan
    if frame is not None and "index_price" in frame:
        table["basis"] = (frame["close"] / frame["index_price"] - 1.0).reindex(times)
    else:
        table["basis"] = np.nan
    return table


def read_history(data_dir: Path, symbol: str, bar: str, start: pd.Timestamp, end: pd.Timestamp
                 ) -> pd.DataFrame:
    """The history table of [start, end], read from the store."""
    return history_table(read_market(data_dir, symbol, bar, start, end),
                         read_scores(data_dir, symbol, bar, start, end))


@dataclass
class _Entry:
    table: pd.DataFrame
    last: pd.Timestamp
    read_at: float
    version: tuple[int, int]
    nbytes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class HistoryCache:
    """The last :data:`HISTORY_SPAN` of each symbol's history table, extended incrementally."""

    def __init__(self, max_bytes: int = HISTORY_BYTES, full_every_s: float = FULL_REFRESH_S) -> None:
        self.max_bytes = max_bytes
        self.full_every_s = full_every_s
        self._entries: OrderedDict[tuple[Path, str, str], _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.reads = {"full": 0, "incremental": 0}

    def window(self, data_dir: Path, symbol: str, bar: str, start: pd.Timestamp,
               last: pd.Timestamp) -> pd.DataFrame:
        """The history table of [start, last] (``start`` at most HISTORY_SPAN before last)."""
        if last - start >= HISTORY_SPAN:
            return read_history(data_dir, symbol, bar, start, last)
        key = (Path(data_dir), symbol, bar)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry(
                    pd.DataFrame(), pd.Timestamp(0, tz="UTC"), 0.0, (-1, -1)
                )
            self._entries.move_to_end(key)
        with entry.lock:  # one reader per symbol; the others wait for its answer
            self._refresh(entry, data_dir, symbol, bar, last)
            table = entry.table
        self._evict()
        return table[(table.index >= start) & (table.index <= last)]

    def _refresh(self, entry: _Entry, data_dir: Path, symbol: str, bar: str,
                 last: pd.Timestamp) -> None:
        version = history_version(data_dir, symbol, bar)
        now = time.monotonic()
        if entry.last == last and entry.version == version and now - entry.read_at < self.full_every_s:
            return
        lo = last - HISTORY_SPAN
        if entry.table.empty or now - entry.read_at >= self.full_every_s or last < entry.last:
            entry.table = read_history(data_dir, symbol, bar, lo, last)
            entry.read_at = now
            self.reads["full"] += 1
        else:
            since = max(lo, entry.last - 2 * parse_bar(bar))
            new = read_history(data_dir, symbol, bar, since, last)
            kept = entry.table[(entry.table.index >= lo) & (entry.table.index < since)]
            entry.table = pd.concat([kept, new]) if len(kept) else new
            self.reads["incremental"] += 1
        entry.last, entry.version = last, version
        entry.nbytes = int(entry.table.memory_usage(index=True).sum())

    def _evict(self) -> None:
        with self._lock:
            total = sum(e.nbytes for e in self._entries.values())
            while total > self.max_bytes and len(self._entries) > 1:
                _, entry = self._entries.popitem(last=False)
                total -= entry.nbytes

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


__all__ = [
    "Answer",
    "AnswerCache",
    "HistoryCache",
    "dataset_version",
    "history_table",
    "read_history",
    "read_market",
    "read_scores",
    "respond",
]
