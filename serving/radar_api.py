"""The radar's JSON API (GET /risk, GET /risk/{symbol}, GET /scores/{symbol}), mounted by the service.

The watcher (``flushrisk watch``) publishes an atomically replaced snapshot,
``<data_dir>/_radar/latest.json``; these routes read it (re-parsed only when its mtime changes)
and the scores dataset and market store for history. Shapes: HELPERS.md contract 5.

Freshness is judged on the *radar clock*: the snapshot carries the clock at writing, the wall
time of writing and the replay speed, so ``now = clock + (wall now - written) * speed``. A
symbol whose newest bar closed more than two bars before ``now`` is ``stale: true`` with a
``stale_data`` warning (also when the watcher has stopped): an old score is never shown as
current. Prometheus gauges (``flushrisk_probability``, ``flushrisk_data_age_seconds``,
``flushrisk_stale``) are refreshed from the snapshot by answers (at most once a second) and by a
background thread, so ``/metrics`` shows them even when nobody asks ``/risk``.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import threading
import time
import weakref
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from features.bars import parse_bar
from features.errors import FlushRiskError, UnreadableDataError
from features.scores import ScoreStore
from features.settings import get_settings
from features.store import normalize_symbol
from serving import radar_cache, radar_metrics
from serving.radar import STALE_BARS, snapshot_path

logger = logging.getLogger("flushrisk.radar_api")

WINDOWS = {"24h": pd.Timedelta(hours=24), "7d": pd.Timedelta(days=7), "30d": pd.Timedelta(days=30)}
MAX_HISTORY_POINTS = 5000
"""A longer history is thinned by whole groups of bars (sums for flows, max probability)."""
WARNING_TEXT = {
    "short_window": "less than 30 days of history: long-horizon features are partial",
    "missing_signal_group": "a signal group the model was trained with is missing for this "
    "symbol; the probability leans on the other features",
    "out_of_training_range": "some features are outside the range the model was trained on; "
    "the model extrapolates there",
}
_SUMMED = {"liq_long_usd", "liq_short_usd"}


class Snapshot:
    """The watcher's latest snapshot, re-read only when the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.mtime: int | None = None
        self.body: dict[str, Any] = {}
        self.lock = threading.Lock()

    def current(self) -> dict[str, Any] | None:
        """The parsed snapshot if the file is unchanged since it was parsed (a stat, no read),
        else None: the caller parses it off the event loop (:meth:`get`)."""
        try:
            mtime = os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            return {}
        return self.body if mtime == self.mtime else None

    def get(self) -> dict[str, Any]:
        try:
            mtime = os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            return {}
        if mtime != self.mtime:
            with self.lock:
                try:
                    self.body = json.loads(self.path.read_text())
                    self.mtime = mtime
                except (OSError, ValueError) as err:  # replaced atomically: only a bad file
                    logger.error("unreadable radar snapshot %s: %s", self.path, err)
        return self.body


_SNAPSHOTS: dict[Path, Snapshot] = {}


_DATA_DIR: dict[str | None, Path] = {}


def _data_dir() -> Path:
    """The configured data directory, made again when ``FLUSHRISK_DATA_DIR`` changes (building
    the settings on every request cost about 1 ms, more than a warm answer)."""
    env = os.environ.get("FLUSHRISK_DATA_DIR")
    found = _DATA_DIR.get(env)
    if found is None:
        _DATA_DIR.clear()
        found = _DATA_DIR[env] = get_settings().data_dir
    return found


_LIMITERS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
READ_THREADS = 2
"""Worker threads that read the store or build an answer at once (per event loop). Each one
holds the GIL in turns with the event loop: 16 of them made /livez wait 60 ms and more."""


async def off_loop(fn: Any, *args: Any, reads: bool = True) -> Any:
    """``fn(*args)`` in a worker thread, never on the event loop: one of :data:`READ_THREADS`
    for what reads the store or builds a symbol's answer; for ``reads=False`` (the snapshot's
    parse, /risk's rows: short, and never stuck behind a long ``?drivers=1``), anyio's pool."""
    import asyncio

    import anyio

    if not reads:
        return await anyio.to_thread.run_sync(fn, *args)
    loop = asyncio.get_running_loop()
    limiter = _LIMITERS.get(loop)
    if limiter is None:
        limiter = _LIMITERS[loop] = anyio.CapacityLimiter(READ_THREADS)
    return await anyio.to_thread.run_sync(fn, *args, limiter=limiter)


def _snapshot_of(data_dir: Path) -> Snapshot:
    holder = _SNAPSHOTS.get(data_dir)  # a dict look-up per request, not a path made again
    if holder is None:
        path = snapshot_path(data_dir)
        holder = _SNAPSHOTS.get(path) or Snapshot(path)
        _SNAPSHOTS[path] = _SNAPSHOTS[data_dir] = holder
    return holder


def snapshot() -> dict[str, Any]:
    return _snapshot_of(_data_dir()).get()


async def snapshot_async() -> dict[str, Any]:
    """The snapshot without blocking the event loop: a changed file is parsed in a thread."""
    holder = _snapshot_of(_data_dir())
    body = holder.current()
    return body if body is not None else await off_loop(holder.get, reads=False)


def radar_now(snap: dict[str, Any], wall: float | None = None) -> pd.Timestamp:
    """The radar clock now, extrapolated from the snapshot (wall time when live)."""
    wall = time.time() if wall is None else wall
    clock = snap.get("clock")
    if not clock:
        return pd.Timestamp(wall, unit="s", tz="UTC")
    if snap.get("replay_ended"):  # a replay that ended stopped its clock
        return pd.Timestamp(clock)
    elapsed = (wall - float(snap.get("written_at", wall))) * float(snap.get("speed", 1.0) or 1.0)
    return pd.Timestamp(clock) + pd.Timedelta(seconds=max(elapsed, 0.0))


def _static(symbol: str, entry: dict[str, Any], bar: str) -> dict[str, Any]:
    """A symbol's /risk members that do not depend on the clock."""
    drivers = entry.get("drivers") or []
    return {
        "symbol": symbol,
        "bar": bar,
        "probability": entry.get("probability"),
        "risk_level": entry.get("risk_level"),
        "change_1h": entry.get("change_1h"),
        "as_of": entry.get("time"),
        "top_driver": drivers[0].get("text") if drivers else None,
        "drivers": drivers,
        # a snapshot from before the radar computed drivers only at the alert level had them all
        "has_drivers": bool(entry.get("has_drivers", True)),
        "sparkline": entry.get("sparkline") or {"time": [], "probability": []},
        "label": entry.get("label"),
        "model": entry.get("model"),
        "mode": entry.get("mode") or "live",
        "price": entry.get("price"),
        "horizon": entry.get("horizon"),
        "from": (entry.get("window") or {}).get("from"),
        "until": (entry.get("window") or {}).get("until"),
        # judged at or above the model's alert level under a calm rule (serving.alert_rule):
        # true = a squeeze of the label ended in the calm window, no new alert ("under way")
        "squeeze_running": entry.get("squeeze_running"),
    }


def _end_ns(entry: dict[str, Any], step: pd.Timedelta) -> int | None:
    """When the symbol's newest bar closed (ns since the epoch), or None."""
    data_time = entry.get("data_time") or entry.get("time")
    return pd.Timestamp(data_time).value + step.value if data_time else None


def _published_warnings(entry: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        w if isinstance(w, dict) else {"code": w, "message": WARNING_TEXT.get(w, w)}
        for w in entry.get("warnings") or []
    ]


def _freshness(
    end_ns: int | None, now: pd.Timestamp, bar: str, warnings: list[dict[str, Any]]
) -> dict[str, Any]:
    """Age, staleness and warnings of a row now: an old score never passes for a current one."""
    age = None if end_ns is None else (now.value - end_ns) / 1e9
    stale = age is None or age > _stale_after_s(bar)
    if stale:
        warnings = [_stale_warning(bar, age), *warnings]
    return {"data_age_seconds": age, "stale": stale, "warnings": warnings}


def _stale_after_s(bar: str) -> float:
    """The data age past which a row is stale: :data:`STALE_BARS` bars (the one rule both
    :func:`_freshness` and /risk's fast path for fresh rows apply)."""
    return STALE_BARS * parse_bar(bar).total_seconds()


def _set_gauges(
    symbol: str, probability: float | None, fresh: dict[str, Any], alerting: bool | None = None
) -> None:
    age_gauge, stale_gauge, probability_gauge, alerting_gauge = _gauges_of(symbol)
    age_gauge.set(max(fresh["data_age_seconds"] or 0.0, 0.0))
    stale_gauge.set(1.0 if fresh["stale"] else 0.0)
    if probability is not None:
        probability_gauge.set(float(probability))
    if alerting is not None:
        alerting_gauge.set(1.0 if alerting else 0.0)


@functools.lru_cache(maxsize=8192)
def _gauges_of(symbol: str) -> tuple[Any, Any, Any, Any]:
    """A watched symbol's four gauges, looked up once: 400 symbols' ``labels()`` look-ups
    every second cost more than setting the values, in a thread that holds the GIL."""
    return (radar_metrics.DATA_AGE.labels(symbol=symbol),
            radar_metrics.STALE.labels(symbol=symbol),
            radar_metrics.PROBABILITY.labels(symbol=symbol),
            radar_metrics.ALERTING.labels(symbol=symbol))


def summary(
    symbol: str, entry: dict[str, Any], snap: dict[str, Any], now: pd.Timestamp
) -> dict[str, Any]:
    """One symbol's row of /risk: the published score, its freshness and warnings."""
    bar = snap.get("bar", "1h")
    fresh = _freshness(_end_ns(entry, parse_bar(bar)), now, bar, _published_warnings(entry))
    _set_gauges(symbol, entry.get("probability"), fresh, entry.get("alerting"))
    return {**_static(symbol, entry, bar), **fresh}


@dataclass
class _Row:
    """One symbol's row of /risk with everything that does not depend on the clock done once
    per snapshot: its JSON members (drivers, sparkline, ...) are serialised when the snapshot
    changes, not on every request (400 symbols' drivers are about 1 MB of JSON)."""

    symbol: str
    probability: float | None
    members: str
    end_ns: int | None
    warnings: list[dict[str, Any]]
    alerting: bool | None = None  # an alert by the model's rule (None: an older snapshot)
    gauged_stale: bool | None = None  # the staleness the gauges were last set to
    fresh_tail: str = ""
    """The row's JSON end while it is fresh (``"stale":false`` and its published warnings): only
    the data age is written per answer."""

    def __post_init__(self) -> None:
        warnings = json.dumps(self.warnings, separators=(",", ":"), allow_nan=False)
        self.fresh_tail = ',"stale":false,"warnings":' + warnings + "}"


_ROWS: dict[str, Any] = {"snap": None, "rows": []}
_ROWS_LOCK = threading.Lock()
_GAUGES_EVERY_S = 1.0
_gauges_at = 0.0


def _rows(snap: dict[str, Any]) -> list[_Row]:
    """The snapshot's rows, most at risk first, built once per snapshot."""
    with _ROWS_LOCK:
        if _ROWS["snap"] is snap:
            return _ROWS["rows"]
        bar = snap.get("bar", "1h")
        step = parse_bar(bar)
        rows = [
            _Row(
                symbol=symbol,
                probability=entry.get("probability"),
                alerting=entry.get("alerting"),
                members=json.dumps(
                    _static(symbol, entry, bar), separators=(",", ":"), default=_plain,
                    allow_nan=False,
                )[1:-1],
                end_ns=_end_ns(entry, step),
                warnings=_published_warnings(entry),
            )
            for symbol, entry in (snap.get("symbols") or {}).items()
            if "probability" in entry
        ]
        rows.sort(key=lambda r: -(r.probability or 0.0))
        _ROWS["snap"], _ROWS["rows"] = snap, rows
        return rows


def _stale_warning(bar: str, age: float | None) -> dict[str, Any]:
    ago = "never" if age is None else f"{age / 60:.0f} minutes ago"
    return {
        "code": "stale_data",
        "message": f"the newest {bar} bar closed {ago} (more than {STALE_BARS} bars): "
        "this is the risk as it was then, not now; is the watcher running?",
    }


def risk_body(
    snap: dict[str, Any], wall: float | None = None, stale: list[bool] | None = None
) -> str:
    """GET /risk as JSON text: the cached rows plus each row's age and staleness now.

    The gauges are set from here at most once a second, or at once for a row that is new or
    whose staleness changed (and by the background refresher): three labelled gauge updates
    for each of 400 symbols on every request cost more than the answer itself.
    """
    global _gauges_at
    now = radar_now(snap, wall)
    bar = snap.get("bar", "1h")
    limit = _stale_after_s(bar)
    gauges = time.monotonic() - _gauges_at >= _GAUGES_EVERY_S
    parts = []
    for row in _rows(snap):
        # the common case (a fresh row) is written here, the JSON of its age and its tail made
        # once per snapshot: this runs in a thread that holds the GIL the event loop needs
        age = None if row.end_ns is None else (now.value - row.end_ns) / 1e9
        if age is not None and age <= limit:
            fresh: dict[str, Any] | None = None
            is_stale = False
            parts.append("{" + row.members + ',"data_age_seconds":' + repr(age) + row.fresh_tail)
        else:
            fresh = _freshness(row.end_ns, now, bar, row.warnings)
            is_stale = True
            dynamic = json.dumps(fresh, separators=(",", ":"), allow_nan=False)
            parts.append("{" + row.members + "," + dynamic[1:])
        if gauges or row.gauged_stale is not is_stale:
            _set_gauges(row.symbol, row.probability,
                        fresh or {"data_age_seconds": age, "stale": is_stale}, row.alerting)
            row.gauged_stale = is_stale
        if stale is not None:
            stale.append(is_stale)
    if gauges:
        _gauges_at = time.monotonic()
        radar_metrics.set_mode(snap.get("mode"))
    _mirror_counts(snap.get("collector") or {})
    head = json.dumps(
        {
            "as_of": now.isoformat(),
            "bar": snap.get("bar"),
            "mode": snap.get("mode") or "live",
            "replay_ended": snap.get("replay_ended"),
        },
        separators=(",", ":"),
    )
    return head[:-1] + ',"symbols":[' + ",".join(parts) + "]}"


def risk_table(snap: dict[str, Any], wall: float | None = None) -> dict[str, Any]:
    """GET /risk as a dict (every watched symbol, most at risk first)."""
    return json.loads(risk_body(snap, wall))


_COUNTS: dict[str, float] = {}
_COUNTS_LOCK = threading.Lock()


def _mirror_counts(collector: dict[str, Any]) -> None:
    """The watcher's error and gap counts as this process's counters (the increase since last
    seen; a restarted watcher counts from zero again), so one scrape of /metrics has them."""
    errors, gaps = float(collector.get("errors", 0)), float(collector.get("gaps", 0))
    radar_metrics.COLLECTOR_ERRORS_SEEN.set(errors)
    radar_metrics.GAPS_SEEN.set(gaps)
    with _COUNTS_LOCK:
        for key, value, counter in (
            ("errors", errors, radar_metrics.COLLECTOR_ERRORS.labels(symbol="*", kind="watcher")),
            ("gaps", gaps, radar_metrics.GAPS.labels(symbol="*")),
        ):
            before = _COUNTS.get(key, 0.0)
            delta = value - before if value >= before else value
            if delta > 0:
                counter.inc(delta)
            _COUNTS[key] = value


def _json(body: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":"), default=_plain, allow_nan=False),
        status_code=status,
        media_type="application/json",
    )


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


RISK_FRESH_S = 1.0
"""/risk is served from one prepared answer per snapshot, re-made at most this often (the
rows' data age and staleness move with the clock; everything else only with the snapshot)."""
RISK_KEEP_S = 3.0
"""A prepared answer of this snapshot at most this old is served while the next one is made in
the background: its ``as_of`` says when its ages were measured (as a 304's copy does), and no
request waits for the 400 rows and their gzip."""
_RISK: dict[str, Any] = {"snap": None, "at": 0.0, "answer": None, "making": False}
_RISK_LOCK = threading.Lock()
_BACKGROUND: set[Any] = set()


def _prepared_risk(snap: dict[str, Any]) -> tuple[radar_cache.Answer | None, bool]:
    """The prepared /risk answer of this snapshot if one is recent enough to serve, and whether
    it is current (made within :data:`RISK_FRESH_S`)."""
    # _RISK keeps the snapshot itself, so an identity match cannot be a newer object
    if _RISK["snap"] is not snap:
        return None, False
    age = time.time() - _RISK["at"]
    if age > RISK_KEEP_S:
        return None, False
    return _RISK["answer"], age < RISK_FRESH_S


def prepare_risk(snap: dict[str, Any], version: int | None = None) -> radar_cache.Answer:
    """Make (once per snapshot and second) the /risk answer, its gzip and its ETag.

    The ETag names the snapshot version and which rows are stale: a client polling every few
    seconds gets 304 until the radar publishes or a row turns stale (or fresh again). It is a
    weak ETag: a 304 keeps the data ages of the copy the client has, which the page counts on
    from ``as_of``.
    """
    with _RISK_LOCK:
        answer, current = _prepared_risk(snap)
        if answer is not None and current:
            return answer
        made_at = time.time()
        stale: list[bool] = []
        body = risk_body(snap, wall=made_at, stale=stale).encode()
        version = _snapshot_of(_data_dir()).mtime if version is None else version
        flags = np.packbits(np.array(stale, dtype=bool)).tobytes()
        etag = f'W/"{version or 0:x}-{len(stale)}-{zlib.crc32(flags):08x}"'
        answer = radar_cache.Answer(body, etag)
        answer.with_gz()  # here, in a worker thread: never on the event loop
        _RISK.update(snap=snap, at=made_at, answer=answer)
        return answer


def _prepare_risk_soon(snap: dict[str, Any]) -> None:
    """Start making the next /risk answer in a worker thread, unless one is being made."""
    import asyncio

    if _RISK["making"]:
        return
    _RISK["making"] = True

    async def make() -> None:
        try:
            await off_loop(prepare_risk, snap, reads=False)
        except Exception as err:  # noqa: BLE001 - the next request tries again
            logger.debug("preparing /risk failed: %s", err)
        finally:
            _RISK["making"] = False

    task = asyncio.ensure_future(make())
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


async def risk(request: Request) -> Response:
    """Every watched symbol, most at risk first (prepared once per snapshot and second)."""
    start_gauge_refresher()
    snap = await snapshot_async()
    answer, current = _prepared_risk(snap)
    if answer is None:
        answer = await off_loop(prepare_risk, snap, reads=False)
    elif not current:
        _prepare_risk_soon(snap)
    return radar_cache.respond(request, answer)


def _find(symbol: str, snap: dict[str, Any]) -> str | None:
    try:
        name = normalize_symbol(symbol)
    except FlushRiskError:
        return None
    return name if name in (snap.get("symbols") or {}) else None


def _nulls(values: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(v) else float(v) for v in values]


HISTORY = radar_cache.HistoryCache()
"""The last 30 days of every asked symbol's history, extended as the radar publishes."""


def history(
    data_dir: Path, symbol: str, bar: str, start: pd.Timestamp, end: pd.Timestamp,
    cache: radar_cache.HistoryCache | None = None,
) -> dict[str, Any]:
    """The market and probability series of a window, on the bar grid of the stored bars
    (from ``cache`` when given: ``end`` is then the radar's newest bar).

    A stored bar that cannot be read is an error (SymbolUnreadable for the caller), not an
    empty history: only a symbol without market data at this bar has none.
    """
    if cache is not None:
        table = cache.window(data_dir, symbol, bar, start, end)
    else:
        table = radar_cache.read_history(data_dir, symbol, bar, start, end)
    stride = max(1, -(-len(table) // MAX_HISTORY_POINTS))
    if stride > 1:  # whole groups of bars, ending at the newest
        key = (np.arange(len(table))[::-1] // stride)[::-1]
        how = {
            c: ("sum" if c in _SUMMED else "max" if c == "probability" else "last") for c in table
        }
        grouped = table.groupby(key, sort=True)
        thinned = grouped.agg(how)
        thinned.index = pd.DatetimeIndex(grouped.apply(lambda g: g.index[-1]))
        table = thinned
    body: dict[str, Any] = {"time": [t.isoformat() for t in table.index]}
    for column in table.columns:
        body[column] = _nulls(table[column].to_numpy(dtype=float))
    return body


def _served_label(symbol: str) -> dict[str, Any] | None:
    """The label spec of the model serving ``symbol`` (what "a flush" means for it), if any."""
    try:
        from serving.state import STATE

        predictor = STATE.get(symbol)
    except ImportError:  # pragma: no cover - older services
        return None
    return None if predictor is None else dict(predictor.model.label_spec)


def _served_model(symbol: str) -> str | None:
    """Which model serves ``symbol`` (``name:version``; a promotion changes it)."""
    from serving.state import STATE

    predictor = STATE.get(symbol)
    return None if predictor is None else f"{predictor.name}:{predictor.version}"


def model_block(symbol: str, entry: dict[str, Any]) -> dict[str, Any]:
    """What the number means: the label, base rate, thresholds and track record of the model."""
    block: dict[str, Any] = {
        "name": entry.get("model"),
        "label": entry.get("label"),
        "base_rate": None,
        "alert_threshold": None,
        "alert_rule": None,
        "thresholds": None,
        "track_record": None,
    }
    try:
        from serving.state import STATE

        predictor = STATE.get(symbol)
    except ImportError:  # pragma: no cover - older services
        predictor = None
    if predictor is None:
        return block
    from serving.alert_rule import rule_of

    meta = predictor.model.metadata
    thresholds = predictor.model.thresholds
    metrics = meta.get("metrics") or {}
    block.update(
        base_rate=meta.get("base_rate"),
        thresholds=thresholds,
        alert_threshold=predictor.model.alert_threshold,
        alert_rule=rule_of(predictor.model),
        track_record=meta.get("track_record") or ({"metrics": metrics} if metrics else None),
    )
    return block


async def risk_symbol(request: Request) -> Response:
    """One symbol: the /risk fields plus its history, alerts, after-flush read and model.

    Everything but the clock-dependent members (data age, stale, warnings) is one prepared JSON
    text per symbol, window and version of what it is made of (:func:`symbol_part`), usually
    made by the warmer when the radar published; a request adds the age now and answers.
    """
    window = request.query_params.get("window", "24h")
    if window not in WINDOWS:
        return _error(400, f"window: must be one of {', '.join(WINDOWS)}, not {window!r}")
    snap = await snapshot_async()
    symbol = _find(request.path_params["symbol"], snap)
    if symbol is None:
        watched = ", ".join(sorted(snap.get("symbols") or {})) or "none yet"
        return _error(
            404, f"symbol: {request.path_params['symbol']!r} is not watched (watched: {watched})"
        )
    data_dir = _data_dir()
    gzip = radar_cache.accepts_gzip(request)
    try:
        key = _part_key(data_dir, symbol, snap, window)
        part = _PARTS.peek(key)
        if part is None or len(part) >= _ON_LOOP_BYTES:  # the reads, the JSON and gzip in a thread
            answer = await off_loop(_symbol_answer, data_dir, symbol, snap, window, key, gzip)
        else:
            answer = _symbol_answer(data_dir, symbol, snap, window, key, gzip, part)
    except UnreadableDataError as err:  # the store names the symbol and the damaged file
        return unreadable(data_dir, symbol, err)
    except Exception as err:  # noqa: BLE001 - any other read failure stays this symbol's
        return unreadable(data_dir, symbol, err)
    return radar_cache.respond(request, answer)


_PARTS = radar_cache.AnswerCache()
"""Prepared /risk/{symbol} parts (JSON text without the clock-dependent members)."""
_ON_LOOP_BYTES = 64 * 1024
"""A prepared part smaller than this is answered on the event loop (its gzip takes well under
a millisecond); a larger one (a 30-day window of 1-minute bars) in a worker thread."""


def _part_key(data_dir: Path, symbol: str, snap: dict[str, Any], window: str) -> tuple:
    """What a symbol's part is made of: the snapshot, the scores and market versions, the
    alert log and the served model (a few ``stat`` calls, no read)."""
    bar = snap.get("bar", "1h")
    try:
        alerts = os.stat(_alerts_file(data_dir, symbol))
        alerts_version = (alerts.st_mtime_ns, alerts.st_size)
    except OSError:
        alerts_version = None
    return (
        data_dir, symbol, window, id(snap), _snapshot_of(data_dir).mtime,
        radar_cache.history_version(data_dir, symbol, bar), alerts_version, _served_model(symbol),
    )


@functools.lru_cache(maxsize=8192)
def _alerts_file(data_dir: Path, symbol: str) -> Path:
    from serving.alerts import alerts_path

    return alerts_path(data_dir, symbol)


def _symbol_answer(
    data_dir: Path, symbol: str, snap: dict[str, Any], window: str, key: tuple, gzip: bool,
    part: str | None = None,
) -> radar_cache.Answer:
    """The answer now: the prepared part (made here when missing) and the age and staleness
    of the symbol's newest bar at this moment."""
    if part is None:
        part = symbol_part(data_dir, symbol, snap, window, key)
    entry = snap["symbols"][symbol]
    bar = snap.get("bar", "1h")
    fresh = _freshness(
        _end_ns(entry, parse_bar(bar)), radar_now(snap), bar, _published_warnings(entry)
    )
    head = json.dumps(fresh, separators=(",", ":"), allow_nan=False)
    answer = radar_cache.Answer((head[:-1] + "," + part + "}").encode())
    if gzip:
        answer.with_gz(radar_cache.GZIP_LEVEL_PER_REQUEST)
    return answer


def symbol_part(
    data_dir: Path, symbol: str, snap: dict[str, Any], window: str, key: tuple | None = None
) -> str:
    """The prepared part of /risk/{symbol} (cached by ``key``): the JSON members that do not
    move with the clock, without the braces."""
    key = _part_key(data_dir, symbol, snap, window) if key is None else key
    part = _PARTS.peek(key)
    if part is None:
        body = _symbol_body(data_dir, symbol, snap, window)
        part = json.dumps(body, separators=(",", ":"), default=_plain, allow_nan=False)[1:-1]
        _PARTS.put(key, part)
    return part


@functools.lru_cache(maxsize=1024)
def _post_flush(data_dir: Path, symbol: str, bar: str, last: pd.Timestamp, label: str) -> Any:
    """The after-flush read at the radar's newest bar by the served model's label (JSON text, so
    that it keys the cache), made once per bar and label (it reads 37 days)."""
    from serving.post_flush import post_flush

    return post_flush(data_dir, symbol, bar, last, json.loads(label),
                      store=radar_cache.market_store(data_dir))


def _symbol_body(
    data_dir: Path, symbol: str, snap: dict[str, Any], window: str
) -> dict[str, Any]:
    """/risk/{symbol} without its clock-dependent members (data age, stale, warnings)."""
    from serving.alerts import read_alerts

    entry = snap["symbols"][symbol]
    bar = snap.get("bar", "1h")
    body = _static(symbol, entry, bar)
    body["replay_ended"] = snap.get("replay_ended")
    last = pd.Timestamp(entry.get("data_time") or entry.get("time"))
    body["history"] = history(
        data_dir, symbol, bar, last - WINDOWS[window] + parse_bar(bar), last, HISTORY
    )
    body["alerts"] = [
        {
            "time": a["time"],
            "probability": a["probability"],
            "level": a["level"],
            "kind": a.get("kind", "alert"),
        }
        for a in read_alerts(data_dir, symbol, since=last - WINDOWS[window])
    ]
    label = json.dumps(_served_label(symbol), sort_keys=True, default=str)
    body["post_flush"] = _post_flush(data_dir, symbol, bar, last, label)
    body["model"] = model_block(symbol, entry)
    return body


_PATH_IN_MESSAGE = re.compile(r"(/[^\s:'\"()]+)")


def unreadable(data_dir: Path, symbol: str, err: BaseException) -> Response:
    """503 for one symbol whose stored data cannot be read: names the symbol and the partition.

    The store raises :class:`UnreadableDataError` (symbol and damaged file); any other failure
    while reading one symbol is answered the same way, naming what failed. The other symbols
    are not affected (each request reads only its symbol). The log gets one line, not a
    traceback: the cause is the file, and the file is named.
    """
    partition = _partition_of(err, data_dir)
    if isinstance(err, UnreadableDataError):
        logger.warning("%s", err)
    else:
        logger.error("%s: reading its stored data failed: %s: %s", symbol, type(err).__name__, err)
    where = f" ({partition})" if partition else ""
    return _json(
        {
            "error": f"{symbol}: its stored data is unreadable{where}; the other symbols are "
            "served. Restore it from a backup or import this symbol again.",
            "symbol": symbol,
            "partition": partition,
        },
        503,
    )


def _partition_of(err: BaseException, data_dir: Path) -> str | None:
    """The damaged file or folder, relative to the data directory when inside it."""
    path = getattr(err, "path", None)
    if path is None:
        found = _PATH_IN_MESSAGE.findall(str(err))
        inside = [p for p in found if p.startswith(str(data_dir))]
        path = (inside or found or [None])[0]
    if path is None:
        return None
    try:
        return str(Path(path).relative_to(data_dir))
    except ValueError:
        return Path(path).name


async def scores(request: Request) -> Response:
    """The scored history of a symbol (live and backtest), with the label events marked."""
    raw = request.path_params["symbol"]
    try:
        symbol = normalize_symbol(raw)
        start = _time_param(request, "start")
        end = _time_param(request, "end")
    except (FlushRiskError, ValueError) as err:
        return _error(400, str(err))
    if start is not None and end is not None and start > end:
        return _error(400, f"start: {start.isoformat()} is after end ({end.isoformat()})")
    drivers = request.query_params.get("drivers", "0").lower() in ("1", "true", "yes")
    data_dir = _data_dir()
    snap_bar = (await snapshot_async()).get("bar")
    bars = _score_bars(data_dir, symbol)
    if bars is None:
        bars = await off_loop(_score_bars, data_dir, symbol, True)
    if not bars:
        return _error(
            404, f"symbol: no scores for {raw!r} (run flushrisk score or flushrisk watch)"
        )
    bar = request.query_params.get("bar")
    if bar is None:
        bar = snap_bar if snap_bar in bars else bars[0]
    elif bar not in bars:
        return _error(
            400, f"bar: {bar[:40]!r} is not a stored bar of {symbol} (stored: {', '.join(bars)})"
        )
    try:
        key = scores_key(data_dir, symbol, bar, start, end, drivers)
        answer = _SCORES.peek(key)
        if answer is None:  # made off the event loop (the warmer made the default ones)
            answer = await off_loop(scores_answer, data_dir, symbol, bar, start, end, drivers, key)
        elif radar_cache.accepts_gzip(request) and answer.needs_gz():
            answer = await off_loop(answer.with_gz)
    except _TooManyBars as err:
        return _error(400, str(err))
    except UnreadableDataError as err:  # the store names the symbol and the damaged file
        return unreadable(data_dir, symbol, err)
    except Exception as err:  # noqa: BLE001 - any other read failure stays this symbol's
        return unreadable(data_dir, symbol, err)
    return radar_cache.respond(request, answer)


_BARS: dict[tuple[Path, str], tuple[int, list[str]]] = {}


def _score_bars(data_dir: Path, symbol: str, read: bool = False) -> list[str] | None:
    """The bars with stored scores of a symbol, known again only when its folder changed (a
    ``stat``); None when not known and ``read`` is False (the caller asks in a thread)."""
    try:
        version = os.stat(_scores_folder(data_dir, symbol)).st_mtime_ns
    except OSError:
        version = 0
    known = _BARS.get((data_dir, symbol))
    if known is not None and known[0] == version:
        return known[1]
    if not read:
        return None
    bars = ScoreStore(data_dir).bars(symbol)
    if len(_BARS) > 65536:  # symbols asked for that have no scores: keep it bounded
        _BARS.clear()
    _BARS[(data_dir, symbol)] = (version, bars)
    return bars


@functools.lru_cache(maxsize=8192)
def _scores_folder(data_dir: Path, symbol: str) -> Path:
    return ScoreStore(data_dir).root / symbol


def scores_key(data_dir: Path, symbol: str, bar: str, start: pd.Timestamp | None,
               end: pd.Timestamp | None, drivers: bool) -> tuple:
    """One /scores answer per request and version of what it is made of: the scores, the
    market data (the label events and the close; the radar may store it after the scores) and
    the served model (its label and alert level make the events and the record)."""
    return (data_dir, symbol, bar, start, end, drivers,
            radar_cache.scores_version(data_dir, symbol, bar),
            radar_cache.market_version(data_dir, symbol, bar), _served_model(symbol))


def scores_answer(data_dir: Path, symbol: str, bar: str, start: pd.Timestamp | None,
                  end: pd.Timestamp | None, drivers: bool, key: tuple | None = None
                  ) -> radar_cache.Answer:
    """The /scores answer of ``key`` with its gzip, from the cache or made now."""
    key = scores_key(data_dir, symbol, bar, start, end, drivers) if key is None else key
    answer = _SCORES.get(key, lambda: _scores_bytes(data_dir, symbol, bar, start, end, drivers))
    return answer.with_gz()


MAX_DRIVER_BARS = 2000
"""``/scores/{symbol}?drivers=1`` computes missing drivers for at most this many bars."""
_SCORES = radar_cache.AnswerCache()


class _TooManyBars(ValueError):
    pass


def _scores_bytes(
    data_dir: Path, symbol: str, bar: str, start: pd.Timestamp | None, end: pd.Timestamp | None,
    drivers: bool,
) -> bytes:
    frame = radar_cache.read_scores(data_dir, symbol, bar, start, end)
    events, record, close = label_events(data_dir, symbol, bar, frame)
    body = {
        "symbol": symbol,
        "bar": bar,
        "time": [t.isoformat() for t in frame.index],
        "probability": _nulls(frame["probability"].to_numpy(dtype=float)),
        "risk_level": frame["risk_level"].tolist(),
        "events": events,
        "backtest": record,
        "close": close,
    }
    if drivers:
        body["drivers"] = scored_drivers(data_dir, symbol, bar, frame)
    return json.dumps(body, separators=(",", ":"), default=_plain, allow_nan=False).encode()


def scored_drivers(
    data_dir: Path, symbol: str, bar: str, frame: pd.DataFrame
) -> list[list[dict[str, Any]] | None]:
    """Per scored bar, its drivers: stored ones as they are, missing ones computed now.

    A backtest stores drivers only for the bars at or above the alert level (``flushrisk score
    --drivers top``); a page asks for the bars it shows. They are computed with the model that
    scored the bar, when it is the one loaded (else None: another model's drivers would
    explain another probability), on the same features as batch scoring.
    """
    out: list[list[dict[str, Any]] | None] = [json.loads(t) for t in frame["drivers"]]
    from serving.state import STATE

    predictor = STATE.get(symbol)
    need = ~frame["has_drivers"].to_numpy(dtype=bool)
    if predictor is not None:
        own = frame["model"].to_numpy(dtype=object) == f"{predictor.name}:{predictor.version}"
        for i in np.flatnonzero(need & ~own):
            out[i] = None
        need &= own
    else:
        for i in np.flatnonzero(need):
            out[i] = None
        return out
    if not need.any():
        return out
    times = frame.index[need]
    step = parse_bar(bar)
    if (times[-1] - times[0]) / step >= MAX_DRIVER_BARS:
        raise _TooManyBars(
            f"drivers: {int(need.sum())} bars without stored drivers over "
            f"{times[-1] - times[0]}; ask for at most {MAX_DRIVER_BARS} bars (start/end)"
        )
    from features.pipeline import MIN_WINDOW, build_features
    from serving.batch import BatchScorer

    market = radar_cache.read_market(data_dir, symbol, bar, times[0] - MIN_WINDOW, times[-1])
    if market is None or market.empty:
        for i in np.flatnonzero(need):
            out[i] = None
        return out
    rows = build_features(market, bar=bar).reindex(times).to_numpy(np.float64, na_value=np.nan)
    for i, text in zip(np.flatnonzero(need), BatchScorer(predictor).drivers_of(rows), strict=True):
        out[i] = json.loads(text)
    return out


def _time_param(request: Request, name: str) -> pd.Timestamp | None:
    """A time query parameter (ISO 8601, UTC unless zoned); ValueError names the parameter."""
    value = request.query_params.get(name)
    if not value:
        return None
    try:
        ts = pd.Timestamp(value)
        if pd.isna(ts):
            raise ValueError(value)
        return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    except (ValueError, TypeError, OverflowError):
        raise ValueError(
            f"{name}: not a time: {value[:40]!r} (use ISO 8601, e.g. 2025-01-31T00:00Z)"
        ) from None


def label_events(
    data_dir: Path, symbol: str, bar: str, scored: pd.DataFrame
) -> tuple[list[dict[str, Any]], dict[str, Any] | None, list[float | None] | None]:
    """Flushes in the scored range by the served model's label (whole cascades: size and peak),
    what the radar said before each (warned within the horizon, out of sample only, by the
    model's alert rule: from its level, in calm hours only when it has a calm window), and the
    close price at each scored bar (:mod:`serving.backtest`)."""
    times = scored.index
    if len(times) == 0:
        return [], None, None
    from features.labels import LabelSpec, make_labels
    from serving.alert_rule import label_spec, rule_of, running_series
    from serving.backtest import cascades, warned_record

    spec, alert_at, trained_until, predictor = LabelSpec(), None, None, None
    try:
        from serving.state import STATE

        predictor = STATE.get(symbol)
        if predictor is not None:
            spec = label_spec(predictor.model)
            alert_at = predictor.model.alert_threshold
            until = predictor.info.trained_until
            trained_until = pd.Timestamp(until) if until else None
            if trained_until is not None and trained_until.tzinfo is None:
                trained_until = trained_until.tz_localize("UTC")
    except (ImportError, ValueError, TypeError):
        pass
    store = radar_cache.market_store(data_dir)
    step = parse_bar(bar)
    if not any(step % parse_bar(b) == pd.Timedelta(0) for b in store.bars(symbol)):
        return [], None, None  # no market data to make this bar from (unreadable data raises)
    calm = None if predictor is None else predictor.model.calm_window
    # a calm rule reads the squeezes that ended in the calm window before the first scored bar:
    # the history the radar's own tape keeps for it (the predictor's alert_parts), so both
    # judge alike
    lead = (None if predictor is None else predictor.alert_parts.span) or pd.Timedelta(0)
    wide = store.read(symbol, bar, start=times[0] - lead, end=times[-1] + spec.horizon)
    running = None if calm is None else running_series(wide, predictor.model, bar, spec)
    if running is not None:
        running = pd.Series(running, index=wide.index).reindex(times, fill_value=False).to_numpy(bool)
    frame = wide[wide.index >= times[0]] if lead > pd.Timedelta(0) else wide
    close = _nulls(frame["close"].reindex(times).to_numpy(dtype=float)) if "close" in frame else None
    try:
        labels = make_labels(frame, spec, bar=bar)
    except FlushRiskError:
        return [], None, close
    if "long_liq_usd" not in frame:
        return [], None, close
    liq = frame["long_liq_usd"].fillna(0.0).to_numpy()
    h = max(1, int(spec.horizon / step))
    events = cascades(frame.index, labels.to_numpy(), liq, h)
    record = warned_record(
        events,
        times,
        scored["probability"].to_numpy(dtype=float),
        labels.reindex(times).to_numpy(dtype=float),
        None if alert_at is None else float(alert_at),
        pd.Timedelta(spec.horizon),
        step,
        trained_until,
        running,
    )
    record["served_model"] = predictor is not None
    if predictor is not None:
        record["alert_rule"] = rule_of(predictor.model)
    return events, record, close


def clear_caches() -> None:
    """Forget every prepared answer and cached history (the next requests read the store)."""
    _PARTS.clear()
    _SCORES.clear()
    HISTORY.clear()
    _BARS.clear()
    _post_flush.cache_clear()
    with _RISK_LOCK:
        _RISK.update(snap=None, at=0.0, answer=None)


WARM_WINDOW = "24h"
"""The window the pages open /risk/{symbol} with: the one the warmer prepares."""


WARM_CPU_SHARE = 0.5
"""The warmer's budget in the service: at most this share of a core (it rests as long again as
each symbol took). Cold, a symbol costs about 80 ms of CPU (400 symbols: about 30 s); after a
publish, less (only the new bars are read); what it has not reached yet, a request makes."""


def warm(snap: dict[str, Any], data_dir: Path | None = None,
         stop: threading.Event | None = None, share: float = 1.0) -> int:
    """Prepare each watched symbol's answers, most at risk first: /risk/{symbol} at the pages'
    window and the default /scores/{symbol}, so the first request of a symbol after the radar
    published finds its answer made. What is already prepared for the current versions costs a
    few ``stat`` calls. Stops early when the snapshot changes (the next pass takes the new
    one) or ``stop`` is set; returns how many symbols it went through. ``share``: the share of
    a core it may use (it rests between symbols for the rest).

    Memory stays bounded by the caches' own bounds (:class:`radar_cache.AnswerCache`,
    :class:`radar_cache.HistoryCache`).
    """
    data_dir = _data_dir() if data_dir is None else data_dir
    holder = _snapshot_of(data_dir)
    bar = snap.get("bar", "1h")
    done = 0
    for row in _rows(snap):
        if (stop is not None and stop.is_set()) or holder.current() is not snap:
            break
        cpu = time.thread_time()
        try:
            symbol_part(data_dir, row.symbol, snap, WARM_WINDOW)
            bars = _score_bars(data_dir, row.symbol, read=True)
            if bars:
                scores_answer(data_dir, row.symbol, bar if bar in bars else bars[0], None, None,
                              False)
        except Exception as err:  # noqa: BLE001 - a request for it will say what is wrong
            logger.debug("warming %s failed: %s", row.symbol, err)
        done += 1
        rest = (time.thread_time() - cpu) * (1.0 / share - 1.0)
        (stop or threading.Event()).wait(rest)  # and the event loop takes the GIL meanwhile
    return done


WARM_PASSES = 2
"""Warming passes per snapshot: the first when the radar published, one more a period later
for the scores and bars its write-behind stored after the snapshot. Between snapshots the
warmer rests: a pass over 400 prepared symbols still costs a few thousand ``stat`` calls, and
its Python holds the GIL the event loop needs."""


def _refresh_gauges(stop: threading.Event, period: float = 5.0) -> None:
    """Every ``period`` seconds (and at once): the gauges and /risk's answer, then the warmer
    (only in a service worker, where the data directory is the service's for its life)."""
    in_worker = _in_worker()
    warmed: dict[str, Any] = {"snap": None, "models": None, "passes": 0}
    while True:
        try:
            snap = snapshot()
            prepare_risk(snap)  # sets the gauges, and /risk finds its answer made
            models = _served_models()
            if snap is not warmed["snap"] or models != warmed["models"]:
                warmed.update(snap=snap, models=models, passes=0)
            ready = in_worker and snap and warmed["passes"] < WARM_PASSES
            if ready and warm(snap, stop=stop, share=WARM_CPU_SHARE) == len(_rows(snap)):
                warmed["passes"] += 1
        except Exception as err:  # noqa: BLE001 - a gauge refresh must never take the service down
            logger.debug("radar gauge refresh failed: %s", err)
        if stop.wait(period):
            return


def _served_models() -> tuple[str, ...]:
    """The models the service serves now (a promotion or reload changes them)."""
    from serving.state import STATE

    return tuple(sorted({f"{p.name}:{p.version}" for p in STATE.predictors.values()}))


_REFRESHER: threading.Thread | None = None


def start_gauge_refresher() -> None:
    """Refresh the radar gauges every few seconds in this process (idempotent)."""
    global _REFRESHER
    if _REFRESHER is None:
        _REFRESHER = threading.Thread(
            target=_refresh_gauges, args=(threading.Event(),), name="radar-gauges", daemon=True
        )
        _REFRESHER.start()


def _in_worker() -> bool:
    try:
        from bentoml._internal.context import server_context
    except ImportError:  # pragma: no cover
        return False
    return server_context.worker_index is not None


if _in_worker():  # the gauges are on /metrics from the worker's start
    start_gauge_refresher()

ROUTES: list[Any] = [
    Route("/risk", risk, methods=["GET"]),
    Route("/risk/{symbol}", risk_symbol, methods=["GET"]),
    Route("/scores/{symbol}", scores, methods=["GET"]),
]

__all__ = [
    "ROUTES", "Snapshot", "clear_caches", "radar_now", "risk_table", "start_gauge_refresher", "warm",
]
