"""Replay: drive the radar from a stored (or simulated) history as if it were live.

The history of each symbol is split at the replay start: the bars before it are the past (put
into the store when missing, so features start full), the bars from it on are released one bar
close at a time, ``speed`` times faster than real time (``speed=0``: as fast as possible).

Where the history comes from: a source store (``source_dir``) when it has the symbol, else the
simulator, seeded from the symbol's name so every run (and every restart) replays the same
market. Restarting continues after the last bar in the target store: nothing stored is lost or
written twice.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.bars import bar_name, parse_bar
from features.errors import DataError, UnreadableDataError
from features.store import MarketStore, normalize_symbol


@dataclass
class ReplayPlan:
    """What to replay: symbols, bar, how much past to store first, and how much to release."""

    symbols: list[str]
    bar: str = "1h"
    warm_days: float = 31.0
    days: float = 2.0
    preset: str = "default"
    seed: int | None = None
    source_dir: Path | None = None


def _seed_for(symbol: str, seed: int | None) -> int:
    return seed if seed is not None else zlib.crc32(normalize_symbol(symbol).encode()) % 100_000


class ReplaySource:
    """The full history of every symbol, and the bars after the replay start, in time order."""

    def __init__(self, plan: ReplayPlan) -> None:
        self.plan = plan
        self.bar = bar_name(parse_bar(plan.bar))
        self.step = parse_bar(plan.bar)
        if not plan.symbols:
            raise DataError("--replay needs at least one symbol, e.g. --replay BTC,ETH")
        self.frames = {normalize_symbol(s): self._history(s) for s in plan.symbols}
        starts = [f.index[0] for f in self.frames.values()]
        self.start = max(starts) + pd.Timedelta(days=plan.warm_days)
        for symbol, frame in self.frames.items():
            if frame.index[-1] < self.start:
                raise DataError(
                    f"{symbol}: the history ends at {frame.index[-1]}, before the replay start "
                    f"{self.start}; store more history or lower --warm-days"
                )

    @classmethod
    def of_frames(
        cls, frames: dict[str, pd.DataFrame], bar: str, start: pd.Timestamp
    ) -> ReplaySource:
        """Replay given histories from ``start`` (bars before it are the stored past)."""
        source = cls.__new__(cls)
        source.plan = ReplayPlan(symbols=list(frames), bar=bar)
        source.bar = bar_name(parse_bar(bar))
        source.step = parse_bar(bar)
        source.frames = {normalize_symbol(s): f for s, f in frames.items()}
        source.start = start
        return source

    def _history(self, symbol: str) -> pd.DataFrame:
        plan = self.plan
        if plan.source_dir is not None:
            source = MarketStore(plan.source_dir)
            if self.bar in source.bars(symbol):
                return source.read(symbol, self.bar)
        from features.sources.simulator import simulate

        return simulate(
            symbol,
            days=plan.warm_days + plan.days,
            bar=self.bar,
            seed=_seed_for(symbol, plan.seed),
            preset=plan.preset,
        )

    def store_past(
        self,
        store: MarketStore,
        on_unreadable: Callable[[str, UnreadableDataError], None] | None = None,
    ) -> None:
        """Put each symbol's bars before the replay start into the store, if it lacks them.

        ``on_unreadable(symbol, error)``: a symbol whose stored data is damaged is handed to
        it and left alone (the others go on); without it the error is raised.
        """
        for symbol, frame in self.frames.items():
            past = frame[frame.index < self.start]
            if past.empty:
                continue
            try:
                if self.bar in store.bars(symbol):
                    stored = store.read(symbol, self.bar, start=past.index[0], end=past.index[-1])
                    if len(stored) >= len(past):
                        continue
                store.write(symbol, past, source="replay", bar=self.bar)
            except UnreadableDataError as err:
                if on_unreadable is None:
                    raise
                on_unreadable(symbol, err)

    def bar_times(
        self, after: dict[str, pd.Timestamp | None], skip: Collection[str] = ()
    ) -> list[pd.Timestamp]:
        """Bar open times still to release, given the last stored bar of each symbol
        (``skip``: symbols left out, whose bars do not count)."""
        times: set[pd.Timestamp] = set()
        for symbol, frame in self.frames.items():
            if symbol in skip:
                continue
            last = after.get(symbol)
            floor = self.start if last is None else max(self.start, last + self.step)
            times.update(frame.index[frame.index >= floor])
        return sorted(times)

    def bars_at(
        self, t: pd.Timestamp, after: dict[str, pd.Timestamp | None]
    ) -> dict[str, pd.DataFrame]:
        """The bars opening at ``t`` that a symbol has not stored yet (a row or nothing)."""
        out = {}
        for symbol, frame in self.frames.items():
            last = after.get(symbol)
            if last is not None and t <= last:
                continue
            pos = frame.index.searchsorted(t)
            if pos < len(frame) and frame.index[pos] == t:
                out[symbol] = frame.iloc[pos : pos + 1]
        return out


def paced(
    times: list[pd.Timestamp],
    step: pd.Timedelta,
    speed: float,
    stop: threading.Event,
    not_before_close: bool = False,
) -> Iterator[tuple[pd.Timestamp, float]]:
    """Yield (bar open time, wall time of its close) at ``speed`` x real time until ``stop``.

    A bar closes at ``open + step`` of replay time; wall time advances ``step / speed`` per bar.
    ``speed`` 0 releases bars as fast as the pipeline takes them. ``not_before_close``: a bar
    is never released before its real close (``open + step`` in wall time), so a replay of
    history that runs into the present goes on at the pace of the clock, one bar per bar.
    """
    wall0 = time.time()
    for k, t in enumerate(times):
        due = wall0 + (k + 1) * step.total_seconds() / speed if speed > 0 else time.time()
        if not_before_close:
            due = max(due, (t + step).timestamp())
        while not stop.is_set():
            left = due - time.time()
            if left <= 0:
                break
            stop.wait(min(left, 0.5))
        if stop.is_set():
            return
        yield t, due


def continue_simulation(
    stored: pd.DataFrame,
    symbol: str,
    bar: str,
    days: float,
    seed: int,
    extra_days: float,
    preset: str = "default",
) -> pd.DataFrame | None:
    """The simulated market that ``stored`` came from, continued ``extra_days`` past its end.

    ``stored`` must end with the last bar of ``simulate(symbol, days, bar, seed, preset)``
    shifted in time (as the quickstart stores it). The simulator is prefix-stable (a longer run
    with the same seed begins with the same bars), so a longer run, shifted the same way, is
    that market going on. None when ``stored`` is not that simulation (its last bar differs):
    a continuation must never be spliced onto another market.
    """
    from features.sources.simulator import simulate

    if stored.empty:
        return None
    step = parse_bar(bar)
    longer = simulate(symbol, days=days + extra_days, bar=bar_name(step), seed=seed, preset=preset)
    last = longer.index[0] + pd.Timedelta(days=days) - step  # the last bar of the stored run
    if last not in longer.index:
        return None
    offset = stored.index[-1] - last
    longer.index = longer.index + offset
    mine = stored.iloc[-1][["open", "high", "low", "close"]].to_numpy(float)
    theirs = longer.loc[stored.index[-1], ["open", "high", "low", "close"]].to_numpy(float)
    if not np.allclose(mine, theirs, rtol=1e-9, equal_nan=True):
        return None
    return longer


__all__ = ["ReplayPlan", "ReplaySource", "continue_simulation", "paced"]
