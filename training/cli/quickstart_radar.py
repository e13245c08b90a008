"""The quickstart's radar: a replay watcher beside the server, over the simulated symbol.

It is the pipeline of ``flushrisk watch --replay`` (:class:`serving.radar.Radar` driven by
:func:`serving.radar.run_replay`), run in a thread of the quickstart process so that Ctrl-C or
SIGTERM stops it with the server and leaves no process behind. What a user sees is honest:

* catch-up: the last ``catch_up_days`` of the simulated history are scored quickly
  (``bars_per_second``), each score stored at its own bar's time. The radar clock is wall
  time, so ``/risk`` marks these scores stale (their data is hours old) until the replay
  reaches the present;
* then live: the simulated market goes on past the stored history
  (:func:`features.sources.live.replay.continue_simulation`), one bar at each real bar close,
  never a bar before it has closed. When the continuation runs out, the radar stops and its
  last score turns stale, as a stopped watcher's would.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from features.bars import parse_bar
from features.errors import DataError
from features.partitioned import time_range
from features.pipeline import MIN_WINDOW
from features.scores import ScoreStore
from features.store import MarketStore, normalize_symbol
from training.cli.app import console

logger = logging.getLogger("flushrisk.quickstart")


@dataclass
class QuickstartRadar:
    """Replays the quickstart's simulated symbol through the radar, in a background thread."""

    data_dir: Path
    symbol: str
    predictor: Any
    days: float  # how the stored history was simulated (to continue the same market)
    seed: int
    catch_up_days: float = 2.0
    bars_per_second: float = 1.0
    live_days: float = 7.0
    bar: str = "1h"
    quiet: bool = False
    stop_event: threading.Event = field(default_factory=threading.Event)
    error: str | None = None
    bars_done: int = 0
    source: Any = None
    description: str = ""
    _thread: threading.Thread | None = None
    _radar: Any = None
    _caught_up: bool = False

    def prepare(self) -> str:
        """Build the radar and its source; say (for the console) what will be replayed."""
        from features.sources.live.replay import ReplaySource, continue_simulation
        from serving.radar import Radar, RadarClock

        step = parse_bar(self.bar)
        name = normalize_symbol(self.symbol)
        store = MarketStore(self.data_dir)
        _, end = time_range(store.path(name, self.bar))
        if end is None:
            raise DataError(f"no {self.bar} bars of {name} in {self.data_dir} to replay")
        since = end - MIN_WINDOW - pd.Timedelta(days=self.catch_up_days + 1)
        stored = store.read(name, self.bar, start=since)
        frame = continue_simulation(stored, name, self.bar, self.days, self.seed, self.live_days)
        live = frame is not None
        if frame is None:  # not the quickstart's own simulation: replay what is stored
            frame = stored
        now = pd.Timestamp.now(tz="UTC")
        start = max(now.floor(step) - pd.Timedelta(days=self.catch_up_days), stored.index[0] + step)
        self.source = ReplaySource.of_frames({name: frame}, self.bar, start)
        self._radar = Radar(
            self.data_dir,
            self.bar,
            {name: self.predictor},
            clock=RadarClock(),
            source="quickstart simulation (replay)",
        )
        then = (
            f"then one simulated bar at each {self.bar} close for {self.live_days:g} days"
            if live
            else f"up to the stored history's end ({frame.index[-1]:%Y-%m-%d %H:%M} UTC)"
        )
        scored = ScoreStore(self.data_dir).read(name, self.bar, start=start)
        since = (
            f"the bars after {scored.index[-1]:%Y-%m-%d %H:%M} UTC (scored before)"
            if len(scored)
            else f"the bars from {start:%Y-%m-%d %H:%M} UTC"
        )
        self.description = (
            f"replaying SIMULATED {name} data: {since} at {self.bars_per_second:g} a second "
            f"up to now (scores of past bars keep their bar time and show as stale until the "
            f"replay reaches now), {then}"
        )
        return self.description

    def start(self) -> None:
        if self._radar is None:
            self.prepare()
        self._thread = threading.Thread(
            target=self._run, name="flushrisk-quickstart-radar", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        from serving.radar import run_replay

        speed = self.bars_per_second * parse_bar(self.bar).total_seconds()
        try:
            run_replay(
                self._radar,
                self.source,
                speed,
                self.stop_event,
                on_bar=self._on_bar,
                wall_clock=True,
            )
        except Exception as err:  # the server keeps serving; the console says why
            self.error = str(err)
            logger.exception("the quickstart radar stopped")
            console.print(f"[red]radar stopped: {err}[/]", highlight=False)

    def _on_bar(self, t: pd.Timestamp, scored: list[Any]) -> None:
        self.bars_done += 1
        step = parse_bar(self.bar)
        live = (t + 2 * step).timestamp() >= time.time()
        if self.quiet or not scored or (not live and self._caught_up):
            return
        s = scored[0]
        if live and not self._caught_up:
            self._caught_up = True
            console.print(
                f"[bold]radar:[/] caught up with now after {self.bars_done} simulated bars; "
                f"from here one bar at each {self.bar} close",
                highlight=False,
                soft_wrap=True,
            )
        if live:
            console.print(
                f"radar: simulated {s.symbol} bar {t:%Y-%m-%d %H:%M} UTC scored "
                f"{s.probability:.3f} ({s.risk_level})",
                highlight=False,
            )

    def stop(self, timeout: float = 60.0) -> bool:
        """Stop after the bar in hand and flush bars and scores to disk; True when all landed."""
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout)
        return self._radar.close(timeout=timeout) if self._radar is not None else True


__all__ = ["QuickstartRadar"]
