"""Time-indexed datasets stored as month partitions: locked, atomic, partition-local merges.

A dataset is a directory ``<dir>/month=YYYY-MM/part.parquet`` holding one frame indexed by UTC
times (the index is stored as a ``time`` column). The market store keeps one dataset per
symbol and bar; any other time-indexed data (the scores dataset) can use the same helpers:

- :func:`merge_into_partitions` merges a frame into the dataset under the dataset's file lock,
  rewriting only the months the frame touches. The stored partition is read *under the lock*,
  so two writers never lose each other's rows. Every touched partition is first written to a
  temp file; only when all of them are written are they renamed into place, so a failure (a
  bad value, a full disk) leaves the dataset exactly as it was.
- :func:`read_partitions` reads a time range through ``pyarrow.dataset`` with a filter, opening
  only the months the range needs.
- :func:`clean_stale_temps` removes the temp files of writers that died mid-write (their pid is
  in the file name); a live writer's temp files are never touched.
"""

from __future__ import annotations

import errno
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from filelock import FileLock, Timeout

from features.atomic import TEMP_SUFFIX, temp_file_pid, temp_path
from features.errors import DataError

PART_FILE = "part.parquet"
LOCK_FILE = ".lock"
LOCK_TIMEOUT_S = 600.0
# A temp file without a writer pid in its name (older versions) is stale after this long.
ANONYMOUS_TEMP_MAX_AGE_S = 3600.0
_MONTH_DIR = re.compile(r"^month=(\d{4}-\d{2})$")

Combine = Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame]
Check = Callable[[pd.DataFrame, pd.DataFrame], None]


@dataclass(frozen=True)
class MergeResult:
    """What a merge did: the dataset's rows before and after, and the months it rewrote."""

    directory: Path
    rows_before: int
    rows_after: int
    months: tuple[str, ...]


def month_of(times: pd.DatetimeIndex) -> np.ndarray:
    """The partition key ('2024-01') of each UTC time."""
    return np.asarray(pd.DatetimeIndex(times).tz_convert("UTC").strftime("%Y-%m"))


def months(directory: Path) -> list[str]:
    """The stored month partitions of a dataset, oldest first."""
    if not directory.is_dir():
        return []
    found = []
    for child in directory.iterdir():
        match = _MONTH_DIR.match(child.name)
        if match and (child / PART_FILE).is_file():
            found.append(match.group(1))
    return sorted(found)


def partition_file(directory: Path, month: str) -> Path:
    return directory / f"month={month}" / PART_FILE


@contextmanager
def dataset_lock(directory: Path, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the dataset's file lock: one writer at a time, across processes.

    The OS releases the lock when its holder dies, so a killed writer never blocks the next.
    """
    _make_dir(directory)
    lock = _lock_for(directory / LOCK_FILE)
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise DataError(
            f"{directory}: another writer has held this dataset for over {timeout:.0f} s; "
            "try again when it has finished"
        ) from None
    try:
        yield
    finally:
        lock.release()


_LOCKS: dict[str, FileLock] = {}


def _lock_for(path: Path) -> FileLock:
    """One lock object per lock file and process, so a holder may re-enter (migration does)."""
    key = str(path.resolve())
    if key not in _LOCKS:
        _LOCKS[key] = FileLock(key)
    return _LOCKS[key]


def merge_into_partitions(
    directory: Path | str,
    frame: pd.DataFrame,
    combine: Combine | None = None,
    check: Check | None = None,
    timeout: float = LOCK_TIMEOUT_S,
) -> MergeResult:
    """Atomically merge a time-indexed frame into the month partitions of ``directory``.

    ``frame`` is indexed by unique UTC times. Under the dataset's lock, for each month the frame
    touches, the stored partition is read and combined with the new rows by
    ``combine(new, stored)`` (default: new values win where present, stored values survive
    where the new frame has none, rows are never duplicated). ``check(merged, new)`` may raise
    to refuse a merge (it sees each merged month and the new rows of that month). Untouched
    months are not read or rewritten. Either every touched month is replaced or none is.
    """
    directory = Path(directory)
    if frame.empty:
        raise DataError(f"{directory}: nothing to write (no rows)")
    combine = combine or _new_wins
    keys = month_of(frame.index)
    with dataset_lock(directory, timeout):
        clean_stale_temps(directory)
        rows_before = count_rows(directory)
        staged: list[tuple[Path, Path]] = []
        delta = 0
        try:
            for month in sorted(set(keys)):
                new = frame[keys == month]
                target = partition_file(directory, month)
                stored = read_file(target) if target.is_file() else None
                merged = new if stored is None else combine(new, stored)
                if check is not None:
                    check(merged, new)
                delta += len(merged) - (0 if stored is None else len(stored))
                staged.append((_stage(merged, target), target))
            for tmp, target in staged:
                os.replace(tmp, target)
        finally:
            for tmp, _ in staged:
                if tmp.exists():
                    tmp.unlink()
    return MergeResult(directory, rows_before, rows_before + delta, tuple(sorted(set(keys))))


def _new_wins(new: pd.DataFrame, stored: pd.DataFrame) -> pd.DataFrame:
    return new.combine_first(stored)


def _stage(frame: pd.DataFrame, target: Path) -> Path:
    """Write ``frame`` to a temp file beside ``target``; a full disk leaves nothing behind."""
    _make_dir(target.parent)
    tmp = temp_path(target)
    table = pa.Table.from_pandas(
        frame.rename_axis("time").reset_index(), preserve_index=False
    )
    # Dictionary encoding helps text columns (risk levels, model names) but not floats, where
    # trying it and falling back made a write six times slower and the file larger.
    dictionary = [f.name for f in table.schema if not pa.types.is_floating(f.type)]
    try:
        pq.write_table(table, tmp, compression="zstd", use_dictionary=dictionary)
    except OSError as err:
        if tmp.exists():
            tmp.unlink()
        raise _write_error(err, target) from None
    return tmp


def _write_error(err: OSError, target: Path) -> DataError:
    if err.errno in (errno.ENOSPC, errno.EDQUOT) or "No space left" in str(err):
        return DataError(
            f"{target.parent}: no space left on the disk while writing; the stored data is "
            "unchanged. Free some space and run the command again"
        )
    reason = err.strerror or str(err)
    return DataError(f"{target.parent}: cannot write ({reason}); the stored data is unchanged")


def _make_dir(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise DataError(f"{directory}: a file is in the way of the data directory") from None
    except NotADirectoryError:
        raise DataError(
            f"{directory}: part of this path is a file, not a directory; check --data-dir"
        ) from None
    except OSError as err:
        raise _write_error(err, directory / PART_FILE) from None


def read_file(path: Path) -> pd.DataFrame:
    """One partition file as a frame indexed by ``time``."""
    try:
        table = pq.read_table(path)
    except (OSError, ValueError, pa.ArrowException) as err:
        raise DataError(f"{path}: unreadable Parquet partition ({err})") from None
    return _to_frame(table)


def read_partitions(
    directory: Path | str,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """The dataset's rows with ``start <= time <= end``, opening only the months needed."""
    directory = Path(directory)
    wanted = months(directory)
    if start is not None:
        wanted = [m for m in wanted if m >= month_of(pd.DatetimeIndex([start]))[0]]
    if end is not None:
        wanted = [m for m in wanted if m <= month_of(pd.DatetimeIndex([end]))[0]]
    files = [str(partition_file(directory, m)) for m in wanted]
    if not files:
        return pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC", name="time").as_unit("ns"))
    try:
        schemas = [pq.read_schema(f) for f in files]
        schema = pa.unify_schemas(schemas, promote_options="permissive")
        dataset = ds.dataset(files, schema=schema, format="parquet")
        condition = None
        if start is not None:
            condition = ds.field("time") >= pa.scalar(start, type=schema.field("time").type)
        if end is not None:
            upper = ds.field("time") <= pa.scalar(end, type=schema.field("time").type)
            condition = upper if condition is None else condition & upper
        if columns is not None:
            columns = ["time", *[c for c in columns if c in schema.names and c != "time"]]
        table = dataset.to_table(columns=columns, filter=condition)
    except (OSError, ValueError, pa.ArrowException) as err:
        raise DataError(f"{directory}: unreadable Parquet dataset ({err})") from None
    return _to_frame(table).sort_index()


def _to_frame(table: pa.Table) -> pd.DataFrame:
    frame = table.to_pandas()
    index = pd.DatetimeIndex(frame.pop("time"))
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    frame.index = index.as_unit("ns").rename("time")
    return frame


def count_rows(directory: Path) -> int:
    """Rows in the dataset, from the Parquet footers (no data is read)."""
    total = 0
    for month in months(directory):
        path = partition_file(directory, month)
        try:
            total += pq.read_metadata(path).num_rows
        except (OSError, pa.ArrowException) as err:
            raise DataError(f"{path}: unreadable Parquet partition ({err})") from None
    return total


def time_range(directory: Path) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """First and last stored time (reads only the time column of the first and last months)."""
    stored = months(directory)
    if not stored:
        return None, None
    first = read_partitions(directory, *_month_bounds(stored[0]), columns=[]).index
    last = read_partitions(directory, *_month_bounds(stored[-1]), columns=[]).index
    return (first[0] if len(first) else None, last[-1] if len(last) else None)


def _month_bounds(month: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    begin = pd.Timestamp(f"{month}-01", tz="UTC")
    return begin, begin + pd.offsets.MonthBegin(1) - pd.Timedelta(1, "ns")


def clean_stale_temps(directory: Path) -> list[Path]:
    """Remove temp files left by writers that died mid-write; return what was removed.

    A temp file names its writer's pid; it is stale when that process no longer exists. A
    temp file of a live process is kept (it may be writing right now).
    """
    removed = []
    if not directory.is_dir():
        return removed
    for tmp in directory.rglob(f".*{TEMP_SUFFIX}"):
        pid = temp_file_pid(tmp)
        if pid is None:
            try:
                stale = time.time() - tmp.stat().st_mtime > ANONYMOUS_TEMP_MAX_AGE_S
            except FileNotFoundError:
                continue
        else:
            stale = not _alive(pid)
        if stale:
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


__all__ = [
    "MergeResult",
    "clean_stale_temps",
    "count_rows",
    "dataset_lock",
    "merge_into_partitions",
    "months",
    "read_partitions",
    "time_range",
]
