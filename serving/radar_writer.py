"""Write-behind persistence for the radar: bars and scores go to disk in a low-priority process.

Publishing a score must not wait for Parquet merges (appending a bar to a month partition of
1-minute data rewrites it), and on one core a writer *thread* would also steal the scoring
thread's interpreter lock. So a child process, running at a lower CPU priority, does the
writes: the radar sends each bar close's bars and score records through a queue and goes on.

* Pending bars and scores of a symbol are merged in one write: a slow disk makes the writer
  batch more, not fall further behind.
* Bars are written before their scores, so a score is never on disk without its bar.
* A failed write is logged and retried with backoff; nothing pending is dropped. A bar the
  store refuses (invalid) is logged and skipped, never retried forever.
* Every :data:`COMPACT_EVERY` writes to a symbol, its market and scores tables are compacted
  (the many one-bar files of appends merged into one per month) and vacuumed, so reads and
  appends stay fast on a watcher that runs for months.
* If the radar dies, the writer exits; what it had not written is re-read by the source on
  restart (replay) or back-filled (live): the radar resumes after the last bar stored *and*
  scored.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import signal
import time
from pathlib import Path
from typing import Any

import pandas as pd

logger = logging.getLogger("flushrisk.radar.writer")

_STOP = "stop"
WRITER_NICE = 10
COMPACT_EVERY = 60
"""Writes to one symbol between automatic compactions (an hour of 1-minute bars)."""


def persist(
    data_dir: Path | str,
    bar: str,
    source: str,
    bars: dict[str, pd.DataFrame],
    records: list[dict[str, Any]],
) -> None:
    """Merge bars into the market store, then score records into the scores dataset."""
    from features.errors import FlushRiskError, UnreadableDataError
    from features.scores import ScoreStore
    from features.store import MarketStore

    store = MarketStore(data_dir)
    for name, frame in bars.items():
        frame = frame[~frame.index.duplicated(keep="last")].sort_index()
        try:
            store.write(name, frame, source=source, bar=bar)
        except FlushRiskError as err:  # a bad bar is refused, never retried forever
            logger.error("%s: bar not stored: %s", name, err)
    by_symbol: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_symbol.setdefault(record["symbol"], []).append(record)
    scores = ScoreStore(data_dir)
    for symbol, rows in by_symbol.items():
        frame = pd.DataFrame(rows).drop(columns="symbol").set_index("time")
        try:
            scores.write(symbol, bar, frame, metadata={"source": source})
        except UnreadableDataError as err:  # damaged for good: never retried, others go on
            logger.error("%s: scores not stored: %s", symbol, err)


class AutoCompact:
    """Compact a symbol's market and scores tables after every ``every`` writes to it."""

    def __init__(self, data_dir: Path | str, bar: str, every: int = COMPACT_EVERY) -> None:
        self.data_dir, self.bar, self.every = Path(data_dir), bar, every
        self.writes: dict[str, int] = {}

    def note(self, bars: dict[str, pd.DataFrame], records: list[dict[str, Any]]) -> list[str]:
        """Count one write per symbol written; compact those due. Returns the compacted."""
        done = []
        for symbol in sorted({*bars, *(r["symbol"] for r in records)}):
            self.writes[symbol] = self.writes.get(symbol, 0) + 1
            if self.writes[symbol] >= self.every:
                self.writes[symbol] = 0
                self.compact(symbol)
                done.append(symbol)
        return done

    def compact(self, symbol: str) -> None:
        from features.errors import FlushRiskError
        from features.partitioned import compact, is_table
        from features.scores import ScoreStore
        from features.store import MarketStore

        for path in (
            MarketStore(self.data_dir).path(symbol, self.bar),
            ScoreStore(self.data_dir).path(symbol, self.bar),
        ):
            if not is_table(path):
                continue
            try:
                compact(path)
            except (FlushRiskError, OSError) as err:  # the data is intact; try again later
                logger.warning("%s: compaction of %s skipped: %s", symbol, path, err)


def _coalesce(jobs: list[tuple[dict, list]]) -> tuple[dict[str, pd.DataFrame], list[dict]]:
    bars: dict[str, list[pd.DataFrame]] = {}
    records: list[dict] = []
    for job_bars, job_records in jobs:
        for symbol, frame in job_bars.items():
            bars.setdefault(symbol, []).append(frame)
        records.extend(job_records)
    return {s: pd.concat(f) if len(f) > 1 else f[0] for s, f in bars.items()}, records


def _writer_main(jobs: Any, done: Any, data_dir: str, bar: str, source: str, parent: int) -> None:
    # Ctrl-C reaches every process of the terminal's group; the radar answers it by sending
    # _STOP once its last bar is queued, so the writer must not die (with a traceback, and
    # before flushing) on the same SIGINT.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        os.nice(WRITER_NICE)
    except OSError:
        pass
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    compactor = AutoCompact(data_dir, bar)
    while True:
        try:
            first = jobs.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent:  # the radar died: nothing more will come
                return
            continue
        batch = [first]
        while True:
            try:
                batch.append(jobs.get_nowait())
            except queue.Empty:
                break
        stop = any(job == _STOP for job in batch)
        work = [job for job in batch if job != _STOP]
        if work:
            bars, records = _coalesce(work)
            delay = 0.5
            while True:
                try:
                    persist(data_dir, bar, source, bars, records)
                    break
                except Exception as err:  # noqa: BLE001 - never lose the bars: retry until the disk is back
                    logger.error("writing bars and scores failed (%s); retrying in %.0f s", err, delay)
                    time.sleep(delay)
                    delay = min(delay * 2, 30.0)
            with done.get_lock():
                done.value += len(work)
            compactor.note(bars, records)
        if stop:
            return


class WriteBehind:
    """The radar's side of the writer process: submit, flush, close."""

    def __init__(self, data_dir: Path | str, bar: str, source: str) -> None:
        ctx = mp.get_context("spawn")
        self.jobs = ctx.Queue()
        self.done = ctx.Value("q", 0)
        self.submitted = 0
        self.process = ctx.Process(
            target=_writer_main,
            args=(self.jobs, self.done, str(data_dir), bar, source, os.getpid()),
            name="flushrisk-radar-writer",
            daemon=True,
        )
        self.process.start()

    @property
    def pending(self) -> int:
        return self.submitted - int(self.done.value)

    def submit(self, bars: dict[str, pd.DataFrame], records: list[dict[str, Any]]) -> None:
        self.submitted += 1
        self.jobs.put((bars, records))

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted is on disk; False on timeout or a dead writer."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.pending > 0:
            if not self.process.is_alive():
                logger.error("the writer process died with %d bar close(s) unwritten", self.pending)
                return False
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def close(self, timeout: float | None = None) -> bool:
        done = self.flush(timeout)
        self.jobs.put(_STOP)
        self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()
        return done


__all__ = ["COMPACT_EVERY", "AutoCompact", "WriteBehind", "persist"]
