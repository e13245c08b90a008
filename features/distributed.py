"""Work over many symbols, partition by partition, on one machine or a Dask cluster.

The unit of work is a *task*: one symbol and a run of consecutive month partitions of its
stored dataset (``months_per_task`` of them). A task reads its months plus a ``margin`` of
history before the first one (:data:`features.MIN_WINDOW` by default), applies a function,
and keeps only its own months' rows. Because every feature depends on at most ``MIN_WINDOW`` of
history through start-independent rolling statistics, the result equals a single pass over the
whole history bit for bit, whatever the task boundaries.

One code path: :func:`map_partitions` runs the same task function in this process
(``scheduler="local-process"``, the baseline), on a local Dask cluster (the default), or on a
cluster at ``scheduler="tcp://host:8786"``. Results stay where they are made unless the caller
asks for them: a task's function writes its output (for example to a partitioned dataset) and
returns something small, so the universe is never in memory at once.

Batch scoring reuses :func:`map_partitions` with its own function (read features, score,
write); feature building is :func:`build_features_partitioned`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from features.bars import BARS, bar_name, parse_bar
from features.errors import DataError, UnreadableDataError
from features.partitioned import months, replace_months, table_version
from features.pipeline import MIN_WINDOW, build_features
from features.store import MarketStore, normalize_symbol

T = TypeVar("T")
LOCAL_PROCESS = "local-process"
"""The ``scheduler`` value that runs every task in this process, without Dask."""


@dataclass(frozen=True)
class Task:
    """One symbol and the months ``[start, end)`` of its dataset at ``bar``.

    ``version``: the Delta table version planned from; every task of a job reads that version,
    so a watcher appending meanwhile never gives one job two views of the data.
    """

    data_dir: str
    symbol: str
    bar: str
    start: pd.Timestamp
    end: pd.Timestamp
    version: int | None = None

    @property
    def months(self) -> list[str]:
        return list(pd.date_range(self.start, self.end, freq="MS", inclusive="left").strftime("%Y-%m"))


@dataclass(frozen=True)
class Skipped:
    """A symbol whose stored data could not be read: what a task returns instead of raising
    (with ``skip_unreadable``), so one damaged symbol never stops the others."""

    symbol: str
    path: str
    message: str


def plan(
    data_dir: Path | str,
    symbols: Sequence[str],
    bar: str,
    months_per_task: int = 12,
    skipped: list[Skipped] | None = None,
) -> list[Task]:
    """The tasks covering every stored month of each symbol, ``months_per_task`` at a time.

    Months come from the dataset the store reads ``bar`` from (a coarser bar is resampled from
    a finer stored one; month boundaries are bar boundaries at every bar). A symbol whose table
    cannot be opened is added to ``skipped`` when a list is given (else the error is raised).
    """
    if months_per_task < 1:
        raise DataError(f"months per task must be at least 1, got {months_per_task}")
    store = MarketStore(data_dir)
    wanted = bar_name(parse_bar(bar))
    tasks = []
    for symbol in symbols:
        name = normalize_symbol(symbol)
        stored = store.bars(name)
        usable = [b for b in stored if parse_bar(wanted) % parse_bar(b) == pd.Timedelta(0)]
        if not usable:
            have = ", ".join(stored) or "no data"
            raise DataError(f"{name}: cannot make {wanted} bars (stored: {have})")
        directory = store.path(name, usable[-1])
        try:
            version = table_version(directory)
            found = months(directory)
        except UnreadableDataError as err:
            if skipped is None:
                raise
            skipped.append(Skipped(name, err.path, str(err)))
            continue
        for i in range(0, len(found), months_per_task):
            chunk = found[i : i + months_per_task]
            start = pd.Timestamp(f"{chunk[0]}-01", tz="UTC")
            end = pd.Timestamp(f"{chunk[-1]}-01", tz="UTC") + pd.offsets.MonthBegin(1)
            tasks.append(Task(str(data_dir), name, wanted, start, end, version))
    return tasks


def read_task(task: Task, margin: pd.Timedelta = MIN_WINDOW) -> pd.DataFrame:
    """The task's bars plus ``margin`` of history before its first month.

    The worker reads the symbol's Delta table itself (at the planned version), opening only
    the months it needs.
    """
    last = task.end - pd.Timedelta(1, "ns")
    store = MarketStore(task.data_dir)
    return store.read(task.symbol, task.bar, task.start - margin, last, version=task.version)


def own_rows(task: Task, frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``frame`` inside the task's months (drops the margin)."""
    return frame[(frame.index >= task.start) & (frame.index < task.end)]


def run_task(
    func: Callable[[pd.DataFrame, Task], T],
    task: Task,
    margin: pd.Timedelta,
    skip_unreadable: bool = False,
) -> T | Skipped:
    """Read a task with its margin and apply ``func(frame_with_margin, task)``.

    ``func`` must itself keep only the task's own rows (:func:`own_rows`) of what it computes.
    With ``skip_unreadable``, a damaged file of the symbol gives a :class:`Skipped` result
    instead of an exception (no worker error log, no traceback, the other tasks go on).
    """
    try:
        return func(read_task(task, margin), task)
    except UnreadableDataError as err:
        if not skip_unreadable:
            raise
        return Skipped(normalize_symbol(task.symbol), err.path, str(err))


def map_partitions(
    func: Callable[[pd.DataFrame, Task], T],
    data_dir: Path | str,
    symbols: Sequence[str],
    bar: str,
    *,
    margin: pd.Timedelta = MIN_WINDOW,
    months_per_task: int = 12,
    scheduler: str | None = None,
    workers: int = 2,
    client: Any | None = None,
    skip_unreadable: bool = False,
) -> list[T]:
    """Apply ``func(frame_with_margin, task)`` to every (symbol, months) task; return the results.

    ``func`` gets the task's bars at ``bar`` preceded by ``margin`` of history and must return
    something small (a row count, a path, a summary): write big outputs from inside ``func``.
    ``scheduler``: ``None`` starts a LocalCluster of ``workers`` processes (one thread each),
    an address (``tcp://host:8786``) uses that cluster, ``"local-process"`` runs here without
    Dask; ``client``, a connected ``distributed.Client``, is reused as it is. Results come
    back in task order. A task's DataError reaches the caller as is; with ``skip_unreadable``
    a symbol whose stored data is damaged gives :class:`Skipped` results (after the others).
    """
    skipped: list[Skipped] | None = [] if skip_unreadable else None
    tasks = plan(data_dir, symbols, bar, months_per_task, skipped)
    if client is not None:
        results = _submit(client, func, tasks, margin, skip_unreadable)
    elif scheduler == LOCAL_PROCESS:
        results = [run_task(func, task, margin, skip_unreadable) for task in tasks]
    else:
        with dask_client(scheduler, workers) as started:
            results = _submit(started, func, tasks, margin, skip_unreadable)
    return [*results, *(skipped or [])]


def _submit(
    client: Any,
    func: Callable[[pd.DataFrame, Task], T],
    tasks: list[Task],
    margin: pd.Timedelta,
    skip_unreadable: bool = False,
) -> list[T]:
    n = len(tasks)
    futures = client.map(
        run_task, [func] * n, tasks, [margin] * n, [skip_unreadable] * n, pure=False
    )
    return client.gather(futures)


@contextmanager
def dask_client(scheduler: str | None, workers: int = 2) -> Iterator[Any]:
    """A Dask client: to the cluster at ``scheduler``, or to a new LocalCluster of processes."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as err:
            raise DataError(f"cannot reach the Dask scheduler at {scheduler} ({err})") from None
        try:
            yield client
        finally:
            client.close()
        return
    import dask

    # Dask's nanny sets MALLOC_TRIM_THRESHOLD_ in its workers, which turns off glibc's adaptive
    # mmap threshold: every large numpy array is then a fresh mmap with page faults, and the
    # feature kernels ran 4x the CPU time of one process. Keep the thread limits, drop that.
    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
    environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    # Each worker's statistical profiler samples every thread's stack every 10 ms for the
    # dashboard's profile page; batch tasks of half a second each do not need it.
    settings = {
        "distributed.nanny.pre-spawn-environ": environ,
        "distributed.worker.profile.enabled": False,
    }
    with dask.config.set(settings), LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",  # a free port, never a fixed one (8787 may be taken)
        memory_limit="2GiB",
        silence_logs=logging.ERROR,
    ) as cluster, Client(cluster) as client:
        client.run(warm_up)
        yield client


def warm_up() -> None:
    """Load the feature code (and its compiled kernels) in a worker before it gets tasks.

    Also keeps Arrow to one CPU thread in the worker: a worker runs one task at a time on one
    core beside the others, and Arrow's own pool (one thread per core) only made the workers
    contend for the cores when they read Parquet at the same moment.
    """
    import pyarrow as pa

    pa.set_cpu_count(1)
    frame = pd.DataFrame(
        {"open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "funding_rate": 0.0},
        index=pd.date_range("2024-01-01", periods=3, freq="1h", tz="UTC", name="time"),
    )
    build_features(frame)


# -- feature building --------------------------------------------------------------------------
FEATURES_DIR = "_features"
"""Where ``flushrisk features build --symbols`` writes: ``<data_dir>/_features/<SYMBOL>/<bar>``."""


def features_directory(out: Path | str, symbol: str, bar: str) -> Path:
    return Path(out) / normalize_symbol(symbol) / bar_name(parse_bar(bar))


@dataclass(frozen=True)
class BuiltPartition:
    """What one task wrote: rows of features per symbol and months."""

    symbol: str
    months: tuple[str, ...]
    rows: int


def _build_and_write(out: str) -> Callable[[pd.DataFrame, Task], BuiltPartition]:
    def build(frame: pd.DataFrame, task: Task) -> BuiltPartition:
        features = own_rows(task, build_features(frame, task.bar))
        if not features.empty:
            # A rebuilt month replaces the stored one (features are a pure function of the bars).
            replace_months(features_directory(out, task.symbol, task.bar), features)
        return BuiltPartition(task.symbol, tuple(task.months), len(features))

    return build


def build_features_partitioned(
    data_dir: Path | str,
    symbols: Sequence[str],
    bar: str,
    out: Path | str,
    *,
    months_per_task: int = 12,
    scheduler: str | None = None,
    workers: int = 2,
    client: Any | None = None,
) -> list[BuiltPartition]:
    """Build the features of every stored month of ``symbols`` into ``out`` (partitioned).

    Each task is built with :func:`features.build_features` on its months plus a MIN_WINDOW
    margin, so the result equals ``build_features`` on each whole history, bit for bit.
    Output: a Delta table per symbol in ``<out>/<SYMBOL>/<bar>`` partitioned by month (read
    with :func:`features.partitioned.read_partitions`), one commit per task.
    """
    return map_partitions(
        _build_and_write(str(out)),
        data_dir,
        symbols,
        bar,
        months_per_task=months_per_task,
        scheduler=scheduler,
        workers=workers,
        client=client,
    )


def all_symbols(data_dir: Path | str) -> list[str]:
    """Every symbol with a stored dataset."""
    return sorted({d.symbol for d in MarketStore(data_dir).datasets()})


__all__ = [
    "BARS",
    "FEATURES_DIR",
    "LOCAL_PROCESS",
    "BuiltPartition",
    "Skipped",
    "Task",
    "all_symbols",
    "build_features_partitioned",
    "dask_client",
    "features_directory",
    "map_partitions",
    "own_rows",
    "plan",
    "read_task",
]
