"""The radar loop: at each bar close, store the bar, update features, score, record, publish.

One pipeline for live collectors and for replay. A source hands over the bars that closed
(``{symbol: one-row canonical frame}``); :meth:`Radar.on_bars` then, for every symbol:

1. appends the bar to the market store (atomic, de-duplicated: a bar seen twice is stored
   once);
2. computes the features of the new bar incrementally (:mod:`features.incremental`);
3. scores them with the symbol's champion (:class:`serving.predictor.Predictor`, loaded from
   the BentoML store as the service loads it), all symbols of one model in one booster call;
4. writes the scores to the scores dataset (:class:`features.scores.ScoreStore`);
5. publishes them: an atomically replaced snapshot ``<data_dir>/_radar/latest.json`` that the
   service reads (with an mtime cache), Prometheus gauges, and alerts.

Time. Every bar and snapshot carries the *radar clock*: wall time when live, replay time when
replaying (``speed`` replay seconds per wall second). The snapshot stores the clock, the wall
time it was written and the speed, so a reader extrapolates the clock and sees a symbol go
stale when the watcher stops or a collector falls behind: an old score is never passed off as
current.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time as _time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.atomic import atomic_path, write_text_atomic
from features.bars import bar_name, parse_bar
from features.errors import FlushRiskError, ModelNotFoundError, UnreadableDataError
from features.incremental import FeatureEngine, make_engine
from features.partitioned import time_range
from features.pipeline import MIN_WINDOW
from features.scores import ScoreStore, to_json_text
from features.store import MarketStore, normalize_symbol
from serving import radar_metrics
from serving.alert_rule import RecentBars, at_or_above, label_inputs, running_now
from serving.predictor import FLOORED_CODE
from serving.radar_writer import WriteBehind, persist

logger = logging.getLogger("flushrisk.radar")

RADAR_DIR = "_radar"
SNAPSHOT = "latest.json"
STALE_BARS = 2
MODES = ("live", "replay", "simulated")
"""Where the radar's data come from: an exchange now, a stored history replayed, or the
simulator. Every surface (snapshot, /risk, pages, alerts, metrics) says which."""
"""A symbol whose newest bar closed more than this many bars ago is stale."""
SPARK_POINTS = 96
"""Points of the 24-hour sparkline in the snapshot (the last score of each slot)."""


def snapshot_path(data_dir: Path | str) -> Path:
    return Path(data_dir) / RADAR_DIR / SNAPSHOT


@dataclass
class ScoredBar:
    """One published score: what /risk shows for a symbol."""

    symbol: str
    time: pd.Timestamp
    probability: float
    risk_level: str
    drivers: list[dict[str, Any]]
    model: str
    label: str
    features_present: int
    warnings: list[str]
    warning_details: list[dict[str, str]] = field(default_factory=list)
    published_at: float = 0.0
    latency_s: float = 0.0
    price: float | None = None  # close of the scored bar
    bar: str = ""
    horizon: str = ""  # how far ahead the label looks, e.g. "1h"
    thresholds: dict[str, float] = field(default_factory=dict)
    has_drivers: bool = True
    """Whether ``drivers`` were computed: the radar computes them for the rows at or above the
    model's alert level; the others' come on demand (``/scores/{symbol}?drivers=1``)."""
    alert_level: str = "high"  # the model's alert rule: the level it alerts from
    calm_hours: float | None = None  # ... and only after this long without a squeeze (None: always)
    squeeze_running: bool | None = None
    """Did a squeeze of the model's label end within ``calm_hours`` before this bar (the model's
    alert rule is silent then: "squeeze under way")? Judged only at or above the alert level of
    a model with a calm rule (:mod:`serving.alert_rule`); None: not judged, or not known."""

    def alerting(self) -> bool:
        """Whether this score is an alert by its model's rule: at or above the alert level,
        and not while a squeeze of the label runs (unknown counts as not running, as the
        radar's alerts count it: :meth:`serving.alerts.AlertManager.observe`)."""
        return at_or_above(self.risk_level, self.alert_level) and self.squeeze_running is not True

    def window(self) -> dict[str, str] | None:
        """The window the probability covers (UTC): from the bar's close, ``horizon`` long."""
        if not self.bar or not self.horizon:
            return None
        step, horizon = _steps(self.bar, self.horizon)
        start = self.time + step
        return {"from": start.isoformat(), "until": (start + horizon).isoformat()}

    def record(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "probability": self.probability,
            "risk_level": self.risk_level,
            "drivers": to_json_text(self.drivers),
            "has_drivers": self.has_drivers,
            "model": self.model,
            "label": self.label,
            "features_present": self.features_present,
            "warnings": to_json_text(self.warnings),
        }


@functools.lru_cache(maxsize=64)
def _steps(bar: str, horizon: str) -> tuple[pd.Timedelta, pd.Timedelta]:
    """A bar name and a horizon as Timedeltas (parsed once, not for every symbol and bar)."""
    return parse_bar(bar), pd.Timedelta(horizon)


@dataclass
class RadarClock:
    """Radar time: wall time live; replay time advancing ``speed`` times faster in replay."""

    speed: float = 1.0
    origin: pd.Timestamp | None = None  # radar time at wall time ``wall_origin``
    wall_origin: float = field(default_factory=_time.time)

    def now(self) -> pd.Timestamp:
        wall = _time.time()
        if self.origin is None:
            return pd.Timestamp(wall, unit="s", tz="UTC")
        return self.origin + pd.Timedelta(seconds=(wall - self.wall_origin) * self.speed)

    def set(self, radar_time: pd.Timestamp) -> None:
        self.origin = radar_time
        self.wall_origin = _time.time()


def load_champions(
    symbols: list[str], model: str | None = None, skip_missing: bool = False
) -> dict[str, Any]:
    """Each symbol's champion Predictor, loaded and checked exactly as the service loads them
    (:mod:`serving.loader`: the champion index of the project, or FLUSHRISK_SERVE_MODEL).

    ``model`` (a BentoML tag) scores every symbol with one model (a pooled model, or a test).
    A symbol without a champion is an error naming the fix, never a silent skip; with
    ``skip_missing`` the others are returned as long as one symbol has a champion (the caller
    names the missing ones: :func:`missing_champions`).
    """
    from serving.loader import Wanted, load_all, load_checked, wanted_models
    from serving.state import symbol_key

    if model is not None:
        predictor = load_checked(Wanted(model, None))
        return {symbol: predictor for symbol in symbols}
    served = load_all(wanted_models())
    out: dict[str, Any] = {}
    missing = []
    for symbol in symbols:
        predictor = served.get(symbol_key(symbol)) or served.get("*")
        if predictor is None:
            missing.append(symbol)
        else:
            out[symbol] = predictor
    if missing and not (skip_missing and out):
        raise ModelNotFoundError(
            f"no champion model for {', '.join(missing)} (champions: "
            f"{', '.join(sorted(served)) or 'none'}): train and promote one "
            "(flushrisk train --symbol ... then flushrisk promote), or pass --model TAG to "
            "score every symbol with one model"
        )
    return out


class Publisher:
    """The snapshot file the service reads, and the watcher's own Prometheus gauges."""

    def __init__(
        self, data_dir: Path | str, bar: str, clock: RadarClock, mode: str = "live"
    ) -> None:
        self.path = snapshot_path(data_dir)
        self.bar = bar
        self.clock = clock
        self.mode = mode
        self.ended: dict[str, Any] | None = None
        self.symbols: dict[str, dict[str, Any]] = {}
        self.collector: dict[str, Any] = {"errors": 0, "gaps": 0, "source": "replay"}
        if self.path.exists():  # a restart keeps what was published before
            try:
                old = json.loads(self.path.read_text())
                if old.get("bar") == bar:
                    self.symbols = dict(old.get("symbols") or {})
            except (OSError, ValueError):
                logger.warning("ignoring an unreadable radar snapshot at %s", self.path)

    def publish(
        self,
        scored: list[ScoredBar],
        data_times: Mapping[str, pd.Timestamp],
        history: Mapping[str, deque] | None = None,
    ) -> None:
        for s in scored:
            recent = (history or {}).get(s.symbol) or ()
            alerting = s.alerting()
            self.symbols[s.symbol] = {
                "time": s.time.isoformat(),
                "probability": s.probability,
                "risk_level": s.risk_level,
                "drivers": s.drivers,
                "has_drivers": s.has_drivers,
                "model": s.model,
                "label": s.label,
                "features_present": s.features_present,
                "warnings": s.warning_details or [{"code": c, "message": c} for c in s.warnings],
                "change_1h": _change(recent, s.time, s.probability),
                "sparkline": _sparkline(recent),
                "mode": self.mode,
                "price": s.price,
                "horizon": s.horizon or None,
                "window": s.window(),
                "squeeze_running": s.squeeze_running,
                "alerting": alerting,
            }
            radar_metrics.PROBABILITY.labels(symbol=s.symbol).set(s.probability)
            radar_metrics.ALERTING.labels(symbol=s.symbol).set(1.0 if alerting else 0.0)
        for symbol, t in data_times.items():
            entry = self.symbols.setdefault(symbol, {})
            entry["data_time"] = t.isoformat()
        self.write()

    def end(self, reason: str) -> None:
        """A replay is over: the radar clock stops where it is, and readers are told why."""
        self.ended = {"at": self.clock.now().isoformat(), "reason": reason}
        self.clock.set(self.clock.now())
        self.clock.speed = 0.0

    def write(self) -> None:
        now = self.clock.now()
        body = {
            "clock": now.isoformat(),
            "written_at": _time.time(),
            "speed": self.clock.speed,
            "bar": self.bar,
            "mode": self.mode,
            "replay_ended": self.ended,
            "collector": self.collector,
            "symbols": self.symbols,
        }
        radar_metrics.set_mode(self.mode)
        write_text_atomic(self.path, json.dumps(body, separators=(",", ":"), default=str))
        step = parse_bar(self.bar)
        for symbol, entry in self.symbols.items():
            data_time = entry.get("data_time") or entry.get("time")
            if data_time:
                age = (now - (pd.Timestamp(data_time) + step)).total_seconds()
                radar_metrics.DATA_AGE.labels(symbol=symbol).set(max(age, 0.0))


def _change(recent: Any, t: pd.Timestamp, p: float) -> float | None:
    """Probability now minus one hour ago (the last score at or before t - 1h), if known."""
    target = t - pd.Timedelta(hours=1)
    before = None
    for when, prob in reversed(recent):
        if when <= target:
            before = prob
            break
    return None if before is None else float(p - before)


def _sparkline(recent: Any) -> dict[str, list]:
    """The last 24 h of scores, thinned to at most SPARK_POINTS (keeping the newest)."""
    points = list(recent)
    stride = max(1, -(-len(points) // SPARK_POINTS))
    points = points[::-1][::stride][::-1]
    return {
        "time": [t.isoformat() for t, _ in points],
        "probability": [round(float(p), 6) for _, p in points],
    }


class Radar:
    """The pipeline behind ``flushrisk watch``: one call per bar close."""

    def __init__(
        self,
        data_dir: Path | str,
        bar: str,
        predictors: Mapping[str, Any],
        engine: FeatureEngine | None = None,
        clock: RadarClock | None = None,
        on_scored: Callable[[list[ScoredBar]], None] | None = None,
        source: str = "radar",
        write_behind: bool = True,
        mode: str = "live",
    ) -> None:
        self.data_dir = Path(data_dir)
        self.bar = bar_name(parse_bar(bar))
        self.step = parse_bar(bar)
        self.store = MarketStore(self.data_dir)
        self.scores = ScoreStore(self.data_dir)
        self.predictors = {normalize_symbol(s): p for s, p in predictors.items()}
        self.engine = engine or make_engine(self.bar, loader=self._history)
        self.clock = clock or RadarClock()
        self.mode = mode
        self.publisher = Publisher(self.data_dir, self.bar, self.clock, mode)
        self.on_scored = on_scored
        self.source = source
        self.last_time: dict[str, pd.Timestamp] = {}
        self.counts_gaps = True
        self.recent: dict[str, deque] = {}
        self.writer = WriteBehind(self.data_dir, self.bar, source) if write_behind else None
        self._scorers: dict[int, _RadarScorer] = {}
        self.tape = RecentBars(self.step, seed=self._stored_bars)
        """The label's columns of each symbol's recent bars: is a squeeze running
        (:mod:`serving.alert_rule`)? Kept only for models with a calm alert rule."""
        self.skipped: dict[str, str] = {}
        """Symbols whose stored data is unreadable, with the reason: left out, the others go on."""

    def skip(self, symbol: str, err: Exception) -> None:
        """Leave a symbol with damaged stored data out of the radar (one log line, once)."""
        name = normalize_symbol(symbol)
        if name not in self.skipped:
            self.skipped[name] = str(err)
            logger.error("skipped: %s", err)
        self.predictors.pop(name, None)

    # -- start-up -------------------------------------------------------------------------
    def warm_up(
        self, symbols: list[str], score_since: pd.Timestamp | None = None
    ) -> dict[str, pd.Timestamp | None]:
        """Load each symbol's stored bars up to where scoring stopped into the feature engine.

        Returns, per symbol, the last bar that is stored *and* scored (None when nothing is
        stored): a source resumes after it. Bars and scores are written in that order, so a
        crash in between leaves stored bars without scores; they are scored again on restart
        (and merged, not duplicated, in the store). ``score_since`` (replay: its start) says
        from when bars must have scores even if none was ever written.
        """
        last: dict[str, pd.Timestamp | None] = {}
        for symbol in symbols:
            name = normalize_symbol(symbol)
            if name in self.skipped:
                continue
            try:
                last[name] = self._warm_up_one(name, score_since)
            except UnreadableDataError as err:
                self.skip(name, err)
        return last

    def _warm_up_one(self, name: str, score_since: pd.Timestamp | None) -> pd.Timestamp | None:
        """Seed one symbol's engine; return its last bar stored and scored (None: nothing)."""
        if self.bar not in self.store.bars(name):
            return None
        restored = self._restored(name, score_since)
        if restored is not None:
            return restored
        # only the last MIN_WINDOW (and a day of slack) is needed, not years of bars
        _, end = time_range(self.store.path(name, self.bar))
        stored = self.store.read(name, self.bar, start=end - MIN_WINDOW - pd.Timedelta(days=1))
        resume = stored.index[-1]
        scored = self.scores.read(name, self.bar, start=resume - MIN_WINDOW)
        if len(scored):
            resume = min(resume, scored.index[-1])
        elif score_since is not None:
            resume = min(resume, score_since - self.step)
        if resume < stored.index[0]:  # scoring stopped long before the store's end
            stored = self.store.read(name, self.bar, start=resume - MIN_WINDOW, end=resume)
        stored = stored[stored.index <= resume]
        if stored.empty:
            return None
        history = stored[stored.index > resume - MIN_WINDOW]
        self.engine.seed(name, history)
        self.last_time[name] = history.index[-1]
        day = scored[scored.index > history.index[-1] - pd.Timedelta(hours=24)]
        self.recent[name] = deque(zip(day.index, day["probability"].to_numpy(), strict=True))
        return history.index[-1]

    # -- the engine's state across restarts ---------------------------------------------
    def _state_path(self, name: str) -> Path:
        return self.data_dir / RADAR_DIR / "engine" / self.bar / f"{name}.state"

    def save_engine(self) -> int:
        """Write every symbol's streaming state (after its bars and scores are on disk), so a
        restart restores it in milliseconds instead of replaying 30 days of bars. Returns how
        many were written."""
        saved_state = getattr(self.engine, "saved_state", None)
        if saved_state is None:
            return 0
        written = 0
        for name in list(self.last_time):
            blob = saved_state(name)
            if blob is None:
                continue
            with atomic_path(self._state_path(name)) as tmp:
                tmp.write_bytes(blob)
            written += 1
        return written

    def _restored(self, name: str, score_since: pd.Timestamp | None) -> pd.Timestamp | None:
        """Warm a symbol up from its saved state and the stored bars after it (only those are
        read); None when there is no usable state (the caller seeds from the store)."""
        restore = getattr(self.engine, "restore", None)
        path = self._state_path(name)
        if restore is None or not path.exists():
            return None
        _, end = time_range(self.store.path(name, self.bar))
        scored = self.scores.read(name, self.bar, start=end - MIN_WINDOW)
        resume = end
        if len(scored):
            resume = min(resume, scored.index[-1])
        elif score_since is not None:
            resume = min(resume, score_since - self.step)
        try:
            last = restore(name, path.read_bytes())
        except OSError:
            return None
        if last is None or last > resume or resume - last >= MIN_WINDOW:
            return None  # saved before a rewind, or too long ago: a seed is cheaper and exact
        # from the state's own last bar: it must still be stored (else the store was rewound
        # or replaced: seed), and its month is read, so damaged stored data is found as a seed
        # would find it
        stored = self.store.read(name, self.bar, start=last, end=resume)
        if not len(stored) or stored.index[0] != last:
            return None
        catch_up = stored[stored.index > last]
        if len(catch_up):
            try:
                self.engine.update(name, catch_up)
            except FlushRiskError:
                return None
        t = catch_up.index[-1] if len(catch_up) else last
        self.last_time[name] = t
        day = scored[(scored.index > t - pd.Timedelta(hours=24)) & (scored.index <= t)]
        self.recent[name] = deque(zip(day.index, day["probability"].to_numpy(), strict=True))
        return t

    def _history(self, symbol: str, t: pd.Timestamp) -> pd.DataFrame:
        """The stored window ending at t (the feature engine re-seeds from it)."""
        if self.writer is not None:
            self.writer.flush()
        return self.store.read(symbol, self.bar, start=t - MIN_WINDOW + self.step, end=t)

    def _stored_bars(self, symbol: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        """Stored bars of [start, end]: what a symbol's tape starts from (bars the radar saw
        before this start, already on disk)."""
        return self.store.read(symbol, self.bar, start=start, end=end)

    @staticmethod
    def _rule(predictor: Any) -> tuple[Any, pd.Timedelta] | None:
        """The predictor's label and how much recent history its alert rule reads (None: no
        calm rule, or a label it cannot read), as its /predict answers read them."""
        parts = predictor.alert_parts
        return None if parts.spec is None else (parts.spec, parts.span)

    def _judge_running(self, scored: list[ScoredBar]) -> None:
        """Mark, for the scores at or above their model's alert level under a calm rule,
        whether a squeeze of the label is running (the only rows where it changes an alert)."""
        for s in scored:
            if s.calm_hours is None or not at_or_above(s.risk_level, s.alert_level):
                continue
            predictor = self.predictors.get(s.symbol)
            rule = None if predictor is None else self._rule(predictor)
            if rule is None:
                continue
            spec, span = rule
            frame = self.tape.frame(s.symbol, s.time, span)
            if frame is None or frame.index[-1] != s.time:
                continue
            s.squeeze_running = running_now(frame, predictor.model, self.step, spec)

    # -- one bar close --------------------------------------------------------------------
    def on_bars(
        self, bars: Mapping[str, pd.DataFrame], closed_at: float | None = None
    ) -> list[ScoredBar]:
        """Featurise, score and publish the bars that just closed; store bars and scores.

        ``bars`` maps a symbol to a frame of its new bar(s) (usually one row; more after a
        back-fill). A bar at or before the symbol's last processed bar is stored (merged) but
        not re-scored. ``closed_at`` is the wall time the bar closed, for the latency figure.
        """
        closed_at = _time.time() if closed_at is None else closed_at
        rows: dict[str, list[tuple[pd.Timestamp, np.ndarray, int]]] = {}
        self._prices: dict[tuple[str, pd.Timestamp], float] = {}
        data_times: dict[str, pd.Timestamp] = {}
        accepted: dict[str, pd.DataFrame] = {}
        fresh: dict[str, pd.DataFrame] = {}
        for symbol, frame in bars.items():
            name = normalize_symbol(symbol)
            if frame is None or frame.empty or name in self.skipped:
                continue
            accepted[name] = frame
            last = self.last_time.get(name)
            # usually every bar is new: no boolean indexing (400 of them a bar close add up)
            new = frame if last is None or frame.index[0] > last else frame[frame.index > last]
            if new.empty:
                continue
            if self.writer is None:
                persist(self.data_dir, self.bar, self.source, {name: frame}, [])
            self._count_gaps(name, last, new.index)
            fresh[name] = new
            predictor = self.predictors.get(name)
            rule = None if predictor is None else self._rule(predictor)
            if rule is not None:
                self.tape.append(name, new, rule[1], label_inputs(rule[0]))
        for name, features in self._features(fresh).items():
            new = fresh[name]
            if isinstance(features, UnreadableDataError):
                self.skip(name, features)
                accepted.pop(name, None)
                continue
            if isinstance(features, FlushRiskError):
                logger.error("%s: features not computed: %s", name, features)
                radar_metrics.COLLECTOR_ERRORS.labels(symbol=name, kind="features").inc()
                continue
            self.last_time[name] = new.index[-1]
            data_times[name] = new.index[-1]
            if "close" in new:
                at = new.columns.get_loc("close")
                self._prices.update(
                    ((name, t), float(new.iat[k, at])) for k, t in enumerate(new.index)
                )
            rows[name] = [
                (t, features[k], int(np.isfinite(features[k]).sum()))
                for k, t in enumerate(new.index)
            ]
        scored = self._score(rows)
        self._judge_running(scored)
        horizon = pd.Timedelta(hours=24)
        for s in scored:
            recent = self.recent.setdefault(s.symbol, deque())
            recent.append((s.time, s.probability))
            while recent and recent[0][0] <= s.time - horizon:
                recent.popleft()
        self.publisher.publish(scored, data_times, self.recent)
        done = _time.time()
        for s in scored:
            s.published_at = done
            s.latency_s = done - closed_at
        records = [{"symbol": s.symbol, **s.record()} for s in scored]
        if self.writer is not None:
            self.writer.submit(accepted, records)
        else:
            persist(self.data_dir, self.bar, self.source, {}, records)
        if self.on_scored is not None and scored:
            self.on_scored(scored)
        return scored

    def _features(self, fresh: Mapping[str, pd.DataFrame]) -> dict[str, Any]:
        """Feature rows of each symbol's new bars, or the FlushRiskError that stopped them:
        all symbols at once when the engine can (StreamingEngine.update_many), else one by one."""
        many = getattr(self.engine, "update_many", None)
        if many is not None:
            return many(dict(fresh))
        out: dict[str, Any] = {}
        for name, new in fresh.items():
            try:
                out[name] = self.engine.update(name, new)
            except FlushRiskError as err:
                out[name] = err
        return out

    def close(self, timeout: float | None = None) -> bool:
        """Flush everything pending to disk and write the final snapshot."""
        done = True
        if self.writer is not None:
            done = self.writer.close(timeout)
        self.publisher.write()
        if done:  # a state is saved only once the bars it has seen are stored
            try:
                self.save_engine()
            except OSError as err:
                logger.warning("streaming state not saved (the next start seeds): %s", err)
        return done

    def _count_gaps(self, symbol: str, last: pd.Timestamp | None, index: pd.DatetimeIndex) -> None:
        """Bars skipped between the last processed bar and the new ones: holes in the data
        (a live collector may still back-fill them into the store; they are not re-scored)."""
        if last is None:
            return
        expected = int((index[-1] - last) / self.step)
        missing = expected - len(index)
        if missing > 0:
            logger.warning(
                "%s: %d bar(s) missing before %s (recorded as a gap)", symbol, missing, index[0]
            )
            collector = self.publisher.collector
            collector["gaps_skipped"] = int(collector.get("gaps_skipped", 0)) + missing
            if self.counts_gaps:  # a live collector counts its own (and back-fills them)
                radar_metrics.GAPS.labels(symbol=symbol).inc(missing)
                collector["gaps"] = int(collector.get("gaps", 0)) + missing

    def _score(self, rows: Mapping[str, list]) -> list[ScoredBar]:
        """Score the new rows, all symbols of one model in one batch.

        Probabilities come from the booster's ordinary prediction for the whole batch, and
        tree-SHAP drivers only for the rows at or above the model's alert level (what
        ``flushrisk score --drivers top`` does, :class:`serving.batch.BatchScorer`): alerts
        fire only there, and SHAP for every symbol at every bar close was most of the radar's
        CPU. The other rows say ``has_drivers`` False; a page computes their drivers on demand
        (``/scores/{symbol}?drivers=1``). Floors, risk levels and counts of present features
        are the batch's numpy; warnings are /predict's own, built once per missing-input
        pattern (a row out of the training range gets its own, since they quote its values).
        """
        by_model: dict[int, list[tuple[str, pd.Timestamp, np.ndarray, int]]] = {}
        for symbol, items in rows.items():
            predictor = self.predictors.get(symbol)
            if predictor is None:
                continue
            for t, row, present in items:
                by_model.setdefault(id(predictor), []).append((symbol, t, row, present))
        out: list[ScoredBar] = []
        prices = getattr(self, "_prices", {})
        for items in by_model.values():
            predictor = self.predictors[items[0][0]]
            scorer = self._scorers.get(id(predictor))
            if scorer is None or scorer.predictor is not predictor:
                scorer = self._scorers[id(predictor)] = _RadarScorer(predictor)
            matrix = np.vstack([row for _, _, row, _ in items])
            covered = [self.engine.covered(symbol) for symbol, _, _, _ in items]
            for (symbol, t, _, _), answer in zip(items, scorer.answers(matrix, covered), strict=True):
                out.append(
                    ScoredBar(
                        symbol=symbol,
                        time=t,
                        price=prices.get((symbol, t)),
                        bar=self.bar,
                        **answer,
                    )
                )
        return out


class _RadarScorer:
    """One model's radar answers for a batch of feature rows (see :meth:`Radar._score`)."""

    def __init__(self, predictor: Any) -> None:
        from serving.batch import BatchScorer

        self.predictor = predictor
        self.batch = BatchScorer(predictor)
        self.model = f"{predictor.name}:{predictor.version}"
        self.label = predictor.info.label or ""
        self.horizon = _horizon(predictor)
        self.thresholds = {k: float(v) for k, v in (predictor.model.thresholds or {}).items()}
        rule = predictor.model.alert_rule
        self.alert_level, self.calm_hours = str(rule["level"]), rule["calm_hours"]
        self._seen = predictor.seen
        self._missing: dict[bytes, list[dict[str, str]]] = {}

    def answers(self, matrix: np.ndarray, covered: list[bool]) -> list[dict[str, Any]]:
        """Per row, the ScoredBar fields that come from the model (same order as rows)."""
        table = self.batch.score(matrix, None, drivers="top")
        probability = table["probability"].to_numpy(dtype=float)
        levels = table["risk_level"].tolist()
        has = table["has_drivers"].to_numpy(dtype=bool)
        texts = table["drivers"].to_numpy(dtype=object)
        present = table["features_present"].to_numpy(dtype=np.int64)
        codes = table["warnings"].to_numpy(dtype=object)
        floored = np.array([FLOORED_CODE in c for c in codes], dtype=bool)
        model_p = np.full(len(matrix), np.nan)
        if floored.any():  # the floor's warning quotes the model's own answer
            model_p[floored] = self.batch.probabilities(matrix[floored])
        out = []
        for i, row in enumerate(matrix):
            warnings = [] if codes[i] == "[]" else self._warnings(row, model_p[i], codes[i])
            if not covered[i]:
                warnings.insert(0, dict(_SHORT_WINDOW))
            drivers = json.loads(texts[i]) if has[i] else []
            out.append(
                {
                    "probability": float(probability[i]),
                    "risk_level": str(levels[i]),
                    "drivers": [d for d in drivers if d.get("value") is not None],
                    "has_drivers": bool(has[i]),
                    "model": self.model,
                    "label": self.label,
                    "features_present": int(present[i]),
                    "warnings": [w["code"] for w in warnings],
                    "warning_details": warnings,
                    "horizon": self.horizon,
                    "thresholds": self.thresholds,
                    "alert_level": self.alert_level,
                    "calm_hours": self.calm_hours,
                }
            )
        return out

    def _warnings(self, row: np.ndarray, model_p: float, codes: str) -> list[dict[str, str]]:
        """/predict's warnings of a row that has some (``codes``: their codes, as batch
        scoring gives them); a floored row's warning quotes ``model_p``, the model's answer."""
        if "out_of_training_range" in codes:  # quotes the row's values: its own words
            found = self.predictor.row_warnings(row, None)
        else:  # missing inputs only: the same words for every row with this pattern
            key = (np.isnan(row) & self._seen).tobytes()
            found = self._missing.get(key)
            if found is None:
                found = self._missing[key] = self.predictor.row_warnings(row, None)
            found = list(found)
        if FLOORED_CODE in codes:
            self.predictor.floor_probability(model_p, found)
        return [{"code": w.code, "message": w.message} for w in found]


_SHORT_WINDOW = {
    "code": "short_window",
    "message": "less than 30 days of bars are stored for this symbol: long-horizon "
    "features are computed from what there is",
}


def _horizon(predictor: Any) -> str:
    """The model's label horizon as a bar name ("1h"), or "" when the model does not say."""
    try:
        spec = predictor.info.label_spec or {}
        seconds = int(pd.Timedelta(spec.get("horizon") or "1h").total_seconds())
    except (AttributeError, TypeError, ValueError):
        return ""
    return f"{seconds // 3600}h" if seconds % 3600 == 0 else f"{seconds // 60}m"


__all__: list[str] = [
    "RADAR_DIR",
    "STALE_BARS",
    "Publisher",
    "Radar",
    "RadarClock",
    "ScoredBar",
    "load_champions",
    "snapshot_path",
]


def run_replay(
    radar: Radar,
    source: Any,
    speed: float,
    stop: threading.Event,
    max_bars: int | None = None,
    on_bar: Callable[[pd.Timestamp, list[ScoredBar]], None] | None = None,
    wall_clock: bool = False,
) -> int:
    """Release the source's bars through the radar until the end, ``stop`` or ``max_bars``.

    Returns the number of bar closes processed. Resumes after the last bar in the store.
    ``wall_clock``: the radar clock stays wall time and no bar is released before its real
    close: a replay of recent history catches up at ``speed`` (its old scores show as stale,
    as they are), then goes on one bar per bar, as a live watcher would.
    """
    from features.sources.live.replay import paced

    source.store_past(radar.store, on_unreadable=radar.skip)
    last = radar.warm_up(list(source.frames), score_since=source.start)
    times = source.bar_times(last, skip=radar.skipped)
    if max_bars is not None:
        times = times[:max_bars]
    step = parse_bar(radar.bar)
    if speed > 0 and times and not wall_clock:
        radar.clock.speed = speed
        radar.clock.set(times[0])  # the first bar closes one bar of replay time from now
    done = 0
    for t, closed_at in paced(times, step, speed, stop, not_before_close=wall_clock):
        if speed <= 0 and not wall_clock:
            radar.clock.set(t + step)
        bars = source.bars_at(t, last)
        scored = radar.on_bars(bars, closed_at=closed_at)
        for symbol in bars:
            last[symbol] = t
        done += 1
        if on_bar is not None:
            on_bar(t, scored)
    if not wall_clock:  # the replay clock stops with the replay
        radar.publisher.end("stopped" if stop.is_set() else "finished")
        radar.publisher.write()
    return done


__all__ += ["run_replay"]
