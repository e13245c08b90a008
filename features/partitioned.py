"""Time-indexed datasets as Delta Lake tables partitioned by month (delta-rs).

A dataset is a Delta table in ``<dir>``: the frame's UTC time index is the ``time`` column
(microseconds), ``month`` ('2024-01') is the partition column, and ``_delta_log/`` holds its
versions. The market store keeps one table per symbol and bar; the scores dataset and the
features output use the same helpers. delta-rs does the hard parts:

- **one commit per write**, whatever the number of months it touches: a crash or a full disk
  leaves the previous version or the new one, never a mix;
- upserts as a ``MERGE`` on bar time (rows are never duplicated);
- versions (history, time travel), compaction (``optimize``) and ``vacuum``;
- partition pruning on reads (only the months a range needs are opened).

What this module adds, because delta-rs does not do it:

- the conversions (time index <-> ``time`` column, the ``month`` key);
- a writer lock per dataset on this machine, so local writers queue instead of failing each
  other's commits, and so the lock holder may remove the data files a killed or failed writer
  left behind uncommitted (delta-rs leaves them; they are never part of a version). Commit
  conflicts with writers elsewhere are retried;
- one clear error per damaged file: :class:`features.errors.UnreadableDataError` names the
  symbol and the file;
- migration of the earlier layout (``month=YYYY-MM/part.parquet`` files, no ``_delta_log``).
"""

from __future__ import annotations

import errno
import json
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, WriterProperties, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError
from filelock import FileLock, Timeout

from features.errors import DataError, UnreadableDataError

MONTH = "month"
TIME = "time"
LOG_DIR = "_delta_log"
LOCK_FILE = ".lock"
LEGACY_PART = "part.parquet"
LOCK_TIMEOUT_S = 600.0
COMMIT_RETRIES = 8
VACUUM_RETENTION_HOURS = 168
"""Files a newer version replaced are kept a week, so older versions stay readable that long."""
TABLE_CONFIG: dict[str, str | None] = {
    # A checkpoint every 10 commits keeps opening a table fast after thousands of appends.
    "delta.checkpointInterval": "10",
    "delta.logRetentionDuration": f"interval {VACUUM_RETENTION_HOURS} hours",
    "delta.deletedFileRetentionDuration": f"interval {VACUUM_RETENTION_HOURS} hours",
}
_WRITER = WriterProperties(compression="ZSTD")
_MONTH_DIR = "month="

Check = Callable[[pd.DataFrame, pd.DataFrame], None]
How = Literal["coalesce", "replace"]


@dataclass(frozen=True)
class MergeResult:
    """What a write did: rows before and after, the months it touched and the new version."""

    directory: Path
    rows_before: int
    rows_after: int
    months: tuple[str, ...]
    version: int | None = None


def month_of(times: pd.DatetimeIndex) -> np.ndarray:
    """The partition key ('2024-01') of each UTC time."""
    # numpy months, and text only for each distinct month (strftime per row is ~3 us a row)
    months_ = pd.DatetimeIndex(times).tz_convert("UTC").tz_localize(None).to_numpy("datetime64[M]")
    distinct, inverse = np.unique(months_, return_inverse=True)
    return np.array([str(m) for m in distinct], dtype=object)[inverse.reshape(-1)]


def is_table(directory: Path | str) -> bool:
    """True when ``directory`` holds a Delta table (it has a ``_delta_log``)."""
    return (Path(directory) / LOG_DIR).is_dir()


def _symbol(directory: Path) -> str:
    """Datasets live in ``<root>/<SYMBOL>/<bar>``: the symbol is the parent folder's name."""
    return directory.parent.name


def open_table(directory: Path | str, version: int | None = None) -> DeltaTable | None:
    """The Delta table in ``directory`` (at ``version``), None when there is none yet."""
    directory = Path(directory)
    _ensure_current_layout(directory)
    if not is_table(directory):
        return None
    try:
        return DeltaTable(str(directory), version=version)
    except TableNotFoundError:
        return None
    except (DeltaError, OSError, ValueError) as err:
        if version is not None and "version" in str(err).lower():
            raise DataError(f"{directory}: no version {version} ({_reason(err)})") from None
        raise UnreadableDataError(_symbol(directory), directory / LOG_DIR, _reason(err)) from None


def months(directory: Path | str) -> list[str]:
    """The month partitions of the dataset's current version, oldest first."""
    table = open_table(directory)
    if table is None:
        return []
    return sorted({p[MONTH] for p in table.partitions()})


# -- writing -----------------------------------------------------------------------------------
@contextmanager
def dataset_lock(directory: Path, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the dataset's writer lock (one local writer at a time; the OS frees a dead one's)."""
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
    how: How = "coalesce",
    check: Check | None = None,
    timeout: float = LOCK_TIMEOUT_S,
    metadata: dict[str, str] | None = None,
) -> MergeResult:
    """Upsert a time-indexed frame into the dataset in one commit (a ``MERGE`` on ``time``).

    ``how="coalesce"``: at a stored time, new values win where present and stored values
    survive where the new frame has none; ``how="replace"``: the new row replaces the stored
    one whole. New times are inserted; nothing is ever duplicated. ``check(merged, new)`` may
    raise to refuse the write before anything is written (``merged``: the rows at the new
    times as they would be stored). ``metadata`` is recorded with the commit (its history).
    """
    directory = Path(directory)
    if frame.empty:
        raise DataError(f"{directory}: nothing to write (no rows)")
    refuse = None
    if check is not None:
        def refuse(stored: pd.DataFrame | None) -> None:
            merged = frame if stored is None else _combined(frame, stored.reindex(frame.index), how)
            check(merged, frame)
    return _upsert(directory, to_arrow(frame), pd.DatetimeIndex(frame.index), how, refuse,
                   timeout, metadata)


def merge_columns_into_partitions(
    directory: Path | str,
    index: pd.DatetimeIndex,
    columns: dict[str, pa.Array],
    how: How = "coalesce",
    metadata: dict[str, str] | None = None,
) -> MergeResult:
    """:func:`merge_into_partitions` for rows already as Arrow columns (no pandas round trip).

    ``index``: the rows' UTC times; ``columns``: one Arrow array per column, in index order.
    The scores dataset writes this way: a backtest's rows go from numpy to Arrow once.
    """
    directory = Path(directory)
    if len(index) == 0:
        raise DataError(f"{directory}: nothing to write (no rows)")
    return _upsert(directory, table_of(index, columns), index, how, None, LOCK_TIMEOUT_S, metadata)


def _upsert(
    directory: Path,
    source: pa.Table,
    index: pd.DatetimeIndex,
    how: How,
    refuse: Callable[[pd.DataFrame | None], None] | None,
    timeout: float,
    metadata: dict[str, str] | None,
) -> MergeResult:
    """The merge of ``source`` (rows at ``index``) in one commit; ``refuse(stored rows at
    those times, None when there is no table yet)`` may raise before anything is written."""
    touched = tuple(sorted(set(pc.unique(source.column(MONTH)).to_pylist())))

    def upsert(table: DeltaTable | None) -> MergeResult:
        if table is None:
            if refuse is not None:
                refuse(None)
            _create(directory, source, metadata)
            return MergeResult(directory, 0, len(index), touched, 0)
        before = count_rows(directory, table)
        columns = None if refuse is not None else []
        stored = _read(table, directory, index.min(), index.max(), columns)
        overlap = stored.index.intersection(index)
        if refuse is not None:
            refuse(stored)
        if overlap.empty:
            # Only new bar times (the radar's appends): a plain append commit, no MERGE scan.
            # Safe under the lock: no local writer can add these times meanwhile.
            write_deltalake(
                table, _reader(source), mode="append", schema_mode="merge",
                writer_properties=_WRITER, commit_properties=_commit(metadata),
            )
            return MergeResult(directory, before, before + len(index), touched, table.version() + 1)
        metrics = _merge(table, source, touched, how, metadata)
        inserted = int(metrics.get("num_target_rows_inserted", 0))
        return MergeResult(directory, before, before + inserted, touched, table.version())

    return _committed(directory, upsert, timeout)


def replace_months(
    directory: Path | str, frame: pd.DataFrame, metadata: dict[str, str] | None = None
) -> MergeResult:
    """Replace the months ``frame`` covers with its rows, in one commit (rebuilt outputs)."""
    directory = Path(directory)
    source = to_arrow(frame)
    touched = tuple(sorted(set(source.column(MONTH).to_pylist())))
    keys = ", ".join(f"'{m}'" for m in touched)

    def overwrite(table: DeltaTable | None) -> MergeResult:
        if table is None:
            _create(directory, source, metadata)
            return MergeResult(directory, 0, len(frame), touched, 0)
        before = count_rows(directory, table)
        write_deltalake(
            table, _reader(source), mode="overwrite", predicate=f"{MONTH} IN ({keys})",
            schema_mode="merge", writer_properties=_WRITER, commit_properties=_commit(metadata),
        )
        return MergeResult(directory, before, count_rows(directory), touched, table.version() + 1)

    return _committed(directory, overwrite)


def _committed(
    directory: Path,
    write: Callable[[DeltaTable | None], MergeResult],
    timeout: float = LOCK_TIMEOUT_S,
) -> MergeResult:
    """Run ``write`` on the current table under the lock; retry when a commit conflicts."""
    with dataset_lock(directory, timeout), _cleaning_up(directory):
        for attempt in range(COMMIT_RETRIES):
            table = open_table(directory)
            try:
                return write(table)
            except CommitFailedError:  # a writer elsewhere committed first: again, on top
                time.sleep(0.05 * (attempt + 1))
            except DeltaError as err:
                if table is None and "exist" in str(err).lower():
                    continue  # created meanwhile by a writer elsewhere: write into it
                raise _write_error(err, directory, table) from None
    raise DataError(
        f"{directory}: {COMMIT_RETRIES} commits in a row conflicted with other writers; the "
        "stored data is unchanged, run the command again"
    )


def _create(directory: Path, source: pa.Table, metadata: dict[str, str] | None) -> None:
    write_deltalake(
        str(directory), _reader(source), partition_by=[MONTH], mode="error", configuration=TABLE_CONFIG,
        writer_properties=_WRITER, commit_properties=_commit(metadata),
    )


def _commit(metadata: dict[str, str] | None) -> CommitProperties:
    return CommitProperties(custom_metadata=dict(metadata or {}), max_commit_retries=COMMIT_RETRIES)


def _merge(
    table: DeltaTable, source: pa.Table, touched: tuple[str, ...], how: How,
    metadata: dict[str, str] | None,
) -> dict[str, Any]:
    keys = ", ".join(f"'{m}'" for m in touched)
    merger = table.merge(
        _reader(source),
        predicate=f"t.{MONTH} IN ({keys}) AND t.{MONTH} = s.{MONTH} AND t.{TIME} = s.{TIME}",
        source_alias="s",
        target_alias="t",
        merge_schema=True,
        writer_properties=_WRITER,
        commit_properties=_commit(metadata),
    )
    stored = set(table.schema().to_arrow().names)
    values = [c for c in source.column_names if c not in (TIME, MONTH)]
    if how == "replace":
        updates = {_q(c): f"s.{_q(c)}" for c in values}
    else:
        updates = {
            _q(c): f"coalesce(s.{_q(c)}, t.{_q(c)})" if c in stored else f"s.{_q(c)}"
            for c in values
        }
    return merger.when_matched_update(updates).when_not_matched_insert_all().execute()


STREAM_ROWS = 65_536


def _reader(source: pa.Table) -> pa.RecordBatchReader:
    """The rows as a stream, as delta-rs consumes them (a failure mid-stream fails the write)."""
    return pa.RecordBatchReader.from_batches(source.schema, _batches(source))


def _batches(source: pa.Table) -> Iterator[pa.RecordBatch]:
    yield from source.to_batches(max_chunksize=STREAM_ROWS)


def _q(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _combined(new: pd.DataFrame, stored: pd.DataFrame, how: How) -> pd.DataFrame:
    """The rows at the new times as the merge will store them (for ``check``)."""
    if how == "replace" or stored.empty:
        return new
    return new.combine_first(stored)[list(dict.fromkeys([*new.columns, *stored.columns]))]


def to_arrow(frame: pd.DataFrame) -> pa.Table:
    """A time-indexed frame as the table's rows: ``time`` (us, UTC), the columns, ``month``."""
    body = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    columns = {}
    for name in body.column_names:
        column = body.column(name)
        columns[name] = column.cast(pa.float64()) if pa.types.is_null(column.type) else column
    return table_of(pd.DatetimeIndex(frame.index), columns)


def table_of(index: pd.DatetimeIndex, columns: dict[str, pa.Array | pa.ChunkedArray]) -> pa.Table:
    """The table's rows from their times and Arrow columns: ``time`` (us, UTC), the columns,
    ``month``."""
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    times = pa.array(index.as_unit("us").asi8, type=pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    return pa.table({TIME: times, **columns, MONTH: pa.array(month_of(index), type=pa.string())})


@contextmanager
def _cleaning_up(directory: Path) -> Iterator[None]:
    """Remove what crashed writers left before a write, and what a failed write left after.

    Runs under the dataset's lock: no other local writer is mid-write, so any data file the
    table's log never mentions is a leftover (of a killed writer, or of this one's failure).
    """
    if str(directory) not in _SWEPT:
        remove_leftovers(directory)
        _SWEPT.add(str(directory))
    try:
        yield
    except BaseException:
        with suppress(Exception):
            remove_leftovers(directory)
        raise


_SWEPT: set[str] = set()


def remove_leftovers(directory: Path | str, min_age_s: float = 0.0) -> list[Path]:
    """Delete files a write left uncommitted (data files no version mentions, temp commits).

    Call it only with the dataset's lock held (or no writer running): a live writer's data
    files are not mentioned until it commits. ``min_age_s`` spares files younger than that.
    """
    directory = Path(directory)
    if not is_table(directory):
        return []
    mentioned = _mentioned_files(directory)
    now = time.time()
    removed = []
    for path in directory.rglob("*"):
        relative = path.relative_to(directory).as_posix()
        if not path.is_file() or relative == LOCK_FILE or relative in mentioned:
            continue
        if relative.startswith(f"{LOG_DIR}/"):
            leftover = _temp_log(path)
        else:  # an uncommitted data file, an object-store staging file or an old temp file
            leftover = path.suffix in (".parquet", ".tmp") or "#" in path.name
        with suppress(FileNotFoundError):
            if leftover and now - path.stat().st_mtime >= min_age_s:
                path.unlink()
                removed.append(path)
    for folder in sorted(directory.glob(f"{_MONTH_DIR}*"), reverse=True):
        with suppress(OSError):
            folder.rmdir()  # only succeeds when empty
    return removed


def _temp_log(path: Path) -> bool:
    """A commit file delta-rs was writing when it stopped (never a version)."""
    return path.name.startswith("_commit_") or path.suffix == ".tmp"


def _mentioned_files(directory: Path) -> set[str]:
    """Every data file the log still mentions: the latest checkpoint's adds and tombstones,
    and what the commits after it add or remove (bounded: a checkpoint every 10 commits)."""
    log = directory / LOG_DIR
    found: set[str] = set()
    after = -1
    try:
        after = int(json.loads((log / "_last_checkpoint").read_text())["version"])
        for part in log.glob(f"{after:020d}.checkpoint*.parquet"):
            actions = pq.read_table(part, columns=["add", "remove"])
            for kind in ("add", "remove"):
                paths = pa.compute.struct_field(actions.column(kind), "path").to_pylist()
                found.update(_unquote(p) for p in paths if p)
    except (OSError, ValueError, KeyError, pa.ArrowException):
        found.clear()
        after = -1
    for entry in log.glob("*.json"):
        if not entry.stem.isdigit() or int(entry.stem) <= after:
            continue
        with suppress(OSError, ValueError), entry.open() as lines:
            for line in lines:
                action = json.loads(line)
                for kind in ("add", "remove"):
                    if kind in action:
                        found.add(_unquote(action[kind]["path"]))
    return found


def sweep_if_idle(directory: Path | str) -> None:
    """Remove leftovers once per process, when no local writer holds the dataset right now.

    Readers call it too, so the files of a writer killed mid-write go at the next use of the
    dataset, not only at the next write.
    """
    directory = Path(directory)
    key = str(directory)
    if key in _SWEPT or not is_table(directory):
        return
    lock = _lock_for(directory / LOCK_FILE)
    try:
        lock.acquire(timeout=0)
    except (Timeout, OSError):
        return  # a writer is at work (or the folder is read-only): leave it to the writer
    try:
        with suppress(OSError, DataError):
            remove_leftovers(directory)
        _SWEPT.add(key)
    finally:
        lock.release()


def _unquote(path: str) -> str:
    from urllib.parse import unquote

    return unquote(path)


def _write_error(err: Exception, directory: Path, table: DeltaTable | None) -> DataError:
    text = str(err)
    if "No space left" in text or f"os error {errno.ENOSPC}" in text:
        return DataError(
            f"{directory}: no space left on the disk while writing; the stored data is "
            "unchanged. Free some space and run the command again"
        )
    if table is not None and _looks_unreadable(text):
        return _find_damage(table, directory, err)
    return DataError(f"{directory}: cannot write ({_reason(err)}); the stored data is unchanged")


def _looks_unreadable(text: str) -> bool:
    text = text.lower()
    return any(k in text for k in ("parquet", "not found", "no such file", "magic", "corrupt", "eof"))


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
        raise _write_error(err, directory, None) from None


# -- reading -----------------------------------------------------------------------------------
def read_partitions(
    directory: Path | str,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    columns: list[str] | None = None,
    version: int | None = None,
) -> pd.DataFrame:
    """The dataset's rows with ``start <= time <= end``, opening only the months needed."""
    return read_versioned(directory, start, end, columns, version)[0]


def read_versioned(
    directory: Path | str,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    columns: list[str] | None = None,
    version: int | None = None,
) -> tuple[pd.DataFrame, int | None]:
    """:func:`read_partitions` and the table version it read (None: no table yet)."""
    directory = Path(directory)
    table = open_table(directory, version)
    if table is None:
        return _empty_frame(), None
    sweep_if_idle(directory)
    return _read(table, directory, start, end, columns), table.version()


def _read(
    table: DeltaTable,
    directory: Path,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    columns: list[str] | None = None,
) -> pd.DataFrame:
    wanted = _months_between(table, start, end)
    if wanted == []:
        return _empty_frame()
    # Files are chosen from the log: by month, then by the min/max statistics of ``time``
    # (an append's read of its own bars opens one small file, not the month's many).
    pruning: list[tuple[str, str, Any]] = [] if wanted is None else [(MONTH, "in", wanted)]
    if start is not None:
        pruning.append((TIME, ">=", _utc(start).ceil("us").to_pydatetime()))
    if end is not None:
        pruning.append((TIME, "<=", _utc(end).floor("us").to_pydatetime()))
    try:
        dataset = table.to_pyarrow_dataset(file_pruning_predicate=pruning or None)
    except (DeltaError, OSError, ValueError) as err:
        raise UnreadableDataError(_symbol(directory), directory / LOG_DIR, _reason(err)) from None
    schema = dataset.schema
    condition = None
    if start is not None:  # stored times are whole microseconds
        condition = ds.field(TIME) >= _micros(_utc(start).ceil("us"), schema)
    if end is not None:
        upper = ds.field(TIME) <= _micros(_utc(end).floor("us"), schema)
        condition = upper if condition is None else condition & upper
    names = [n for n in schema.names if n != MONTH]
    if columns is not None:
        names = [TIME, *[c for c in columns if c in schema.names and c not in (TIME, MONTH)]]
    try:
        out = dataset.to_table(columns=names, filter=condition)
    except (OSError, ValueError, pa.ArrowException) as err:
        raise _find_damage(table, directory, err, dataset) from None
    return _to_frame(_in_time_order(out))


def _in_time_order(table: pa.Table) -> pa.Table:
    """The rows sorted by time, in Arrow (files come in log order, not time order).

    Months do not overlap, so sorting each record batch (usually already in order) and then
    putting the batches in order of their first time copies only the batches out of order; a
    stable sort of the whole table when batches overlap.
    """
    batches = [_batch_in_order(b) for b in table.to_batches() if b.num_rows]
    batches.sort(key=lambda b: b.column(TIME)[0].value)
    table = pa.Table.from_batches(batches, schema=table.schema)
    if not _increasing(table.column(TIME)):
        table = table.take(pc.sort_indices(table, sort_keys=[(TIME, "ascending")]))
    return table.combine_chunks()


def _batch_in_order(batch: pa.RecordBatch) -> pa.RecordBatch:
    if _increasing(batch.column(TIME)):
        return batch
    return batch.take(pc.sort_indices(batch, sort_keys=[(TIME, "ascending")]))


def _increasing(times: pa.Array | pa.ChunkedArray) -> bool:
    values = times.cast(pa.int64()).to_numpy()
    return bool((values[1:] >= values[:-1]).all())


def _micros(ts: pd.Timestamp, schema: pa.Schema) -> pa.Scalar:
    return pa.scalar(ts.value // 1000, type=pa.timestamp("us", tz="UTC")).cast(schema.field(TIME).type)


def _months_between(
    table: DeltaTable, start: pd.Timestamp | None, end: pd.Timestamp | None
) -> list[str] | None:
    """The stored months in [start, end]; None for "all of them" (no bound given)."""
    if start is None and end is None:
        return None
    stored = sorted({p[MONTH] for p in table.partitions()})
    lo = None if start is None else month_of(pd.DatetimeIndex([start]))[0]
    hi = None if end is None else month_of(pd.DatetimeIndex([end]))[0]
    return [m for m in stored if (lo is None or m >= lo) and (hi is None or m <= hi)]


def _find_damage(
    table: DeltaTable, directory: Path, err: Exception, dataset: ds.Dataset | None = None
) -> UnreadableDataError:
    """Read file by file to name the damaged one (only after a read has failed)."""
    dataset = dataset if dataset is not None else table.to_pyarrow_dataset()
    for fragment in dataset.get_fragments():
        try:
            fragment.to_table()
        except (OSError, ValueError, pa.ArrowException) as bad:
            path = Path(fragment.path)
            path = path if path.is_absolute() else directory / path
            return UnreadableDataError(_symbol(directory), path, _reason(bad))
    return UnreadableDataError(_symbol(directory), directory, _reason(err))


def _reason(err: Exception) -> str:
    text = " ".join(str(err).split())
    return text if len(text) <= 200 else text[:200] + "..."


def _to_frame(table: pa.Table) -> pd.DataFrame:
    frame = table.to_pandas()
    index = pd.DatetimeIndex(frame.pop(TIME))
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    frame.index = index.as_unit("ns").rename(TIME)
    return frame


def _empty_frame() -> pd.DataFrame:
    return pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC", name=TIME).as_unit("ns"))


def _add_actions(table: DeltaTable) -> pa.Table:
    return pa.table(table.get_add_actions(flatten=True))


def count_rows(directory: Path | str, table: DeltaTable | None = None) -> int:
    """Rows in the dataset's current version, from the log's file statistics (no data read)."""
    table = table if table is not None else open_table(directory)
    if table is None:
        return 0
    return int(pa.compute.sum(_add_actions(table).column("num_records")).as_py() or 0)


def time_range(directory: Path | str) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """First and last stored time, from the log's file statistics (no data read)."""
    table = open_table(directory)
    if table is None:
        return None, None
    actions = _add_actions(table)
    if actions.num_rows == 0:
        return None, None
    if "min.time" in actions.column_names and actions.column("min.time").null_count == 0:
        lo = pa.compute.min(actions.column("min.time")).as_py()
        hi = pa.compute.max(actions.column("max.time")).as_py()
        return _utc(lo), _utc(hi)
    index = _read(table, Path(directory), columns=[]).index
    return (index[0], index[-1]) if len(index) else (None, None)


def _utc(value: Any) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).as_unit("ns")


# -- versions, compaction ----------------------------------------------------------------------
def table_version(directory: Path | str) -> int | None:
    """The dataset's current version (None: no table)."""
    table = open_table(directory)
    return None if table is None else table.version()


def table_history(directory: Path | str, limit: int | None = None) -> list[dict[str, Any]]:
    """The dataset's commits, newest first: version, time, operation, rows added, metadata."""
    table = open_table(directory)
    if table is None:
        return []
    out = []
    for commit in table.history(limit):
        metrics = commit.get("operationMetrics") or {}
        out.append(
            {
                "version": int(commit.get("version", -1)),
                "time": pd.Timestamp(int(commit.get("timestamp", 0)), unit="ms", tz="UTC"),
                "operation": str(commit.get("operation", "")),
                "rows_added": metrics.get("num_added_rows", metrics.get("num_target_rows_inserted")),
                "files_added": metrics.get("num_added_files", metrics.get("numFilesAdded")),
                "files_removed": metrics.get("num_removed_files", metrics.get("numFilesRemoved")),
                "source": commit.get("source") or commit.get("writer") or "",
            }
        )
    return out


def take_back(directory: Path | str, since: int | None, job: str) -> bool:
    """Undo the commits of ``job`` made after version ``since`` (None: before the table).

    Only when every later commit carries ``job`` in its metadata (nobody else wrote since):
    the table is restored to ``since`` in one commit (or removed, when the job made it).
    The dataset's lock is held meanwhile. Returns False when it
    could not be done, so the caller can say so.
    """
    directory = Path(directory)
    try:
        with dataset_lock(directory):
            table = open_table(directory)
            if table is None:
                return True
            later = [c for c in table.history() if since is None or int(c["version"]) > since]
            if not later:
                return True
            if any(c.get("job") != job for c in later):
                return False
            if since is None:  # the job made the table: remove it whole (rename, then delete)
                trash = directory.with_name(f".{directory.name}.taken-back-{job}")
                directory.rename(trash)
                shutil.rmtree(trash, ignore_errors=True)
            else:
                table.restore(since, commit_properties=_commit({"job": job, "source": "taken back"}))
            return True
    except (DeltaError, OSError, DataError):
        return False


@dataclass(frozen=True)
class CompactResult:
    """What a compaction did to one dataset."""

    directory: Path
    files_before: int
    files_after: int
    vacuumed: int
    version: int | None


def compact(
    directory: Path | str,
    months_only: list[str] | None = None,
    retention_hours: int = VACUUM_RETENTION_HOURS,
    vacuum: bool = True,
) -> CompactResult:
    """Merge small files into large ones (one commit), then vacuum files no version needs.

    ``months_only`` limits compaction to those partitions (the watcher compacts the month it
    appends to). Vacuum removes files replaced more than ``retention_hours`` ago: versions
    older than that can no longer be read.
    """
    directory = Path(directory)
    with dataset_lock(directory):
        table = open_table(directory)
        if table is None:
            return CompactResult(directory, 0, 0, 0, None)
        remove_leftovers(directory)
        before = _add_actions(table).num_rows
        filters = None if not months_only else [(MONTH, "in", list(months_only))]
        try:
            table.optimize.compact(
                partition_filters=filters, writer_properties=_WRITER,
                commit_properties=_commit({"source": "compaction"}),
            )
            vacuumed = 0
            if vacuum:
                vacuumed = len(
                    table.vacuum(
                        retention_hours=retention_hours, dry_run=False,
                        enforce_retention_duration=False,
                    )
                )
        except (DeltaError, OSError) as err:
            raise _write_error(err, directory, table) from None
        table = open_table(directory)
        after = _add_actions(table).num_rows if table is not None else 0
        return CompactResult(directory, before, after, vacuumed, table.version() if table else None)


def file_count(directory: Path | str, month: str | None = None) -> int:
    """Data files in the current version (of one month when given)."""
    table = open_table(directory)
    if table is None:
        return 0
    actions = _add_actions(table)
    if month is None:
        return actions.num_rows
    return int(pa.compute.sum(pa.compute.equal(actions.column(f"partition.{MONTH}"), month)).as_py() or 0)


# -- the earlier layout ------------------------------------------------------------------------
_CURRENT: set[str] = set()


def _ensure_current_layout(directory: Path) -> None:
    """Convert a month-file dataset (no ``_delta_log``) to a table, once per process."""
    key = str(directory)
    if key in _CURRENT:
        return
    if any(directory.glob(f"{_MONTH_DIR}*/{LEGACY_PART}")):
        migrate_month_files(directory)
    _CURRENT.add(key)


def legacy_months(directory: Path) -> list[Path]:
    """The ``month=YYYY-MM/part.parquet`` files of the earlier layout in ``directory``."""
    return sorted(directory.glob(f"{_MONTH_DIR}*/{LEGACY_PART}"))


def migrate_month_files(directory: Path | str) -> int:
    """Turn the earlier month files of ``directory`` into a Delta table; return the rows moved.

    Everything is written in one commit and counted before the old files are removed: a crash
    before the commit leaves the old files (migrated again next time), a crash after it leaves
    the table plus old files that the next run removes.
    """
    directory = Path(directory)
    _CURRENT.add(str(directory))  # no recursion through open_table
    with dataset_lock(directory):
        files = legacy_months(directory)
        if not files:
            return 0
        if is_table(directory):  # committed before a crash: only the old files are left
            _remove_legacy(directory, files)
            return 0
        try:
            schema = pa.unify_schemas([pq.read_schema(f) for f in files], promote_options="permissive")
            old = ds.dataset([str(f) for f in files], schema=schema, format="parquet").to_table()
        except (OSError, ValueError, pa.ArrowException) as err:
            raise DataError(
                f"{directory}: an old-layout month file is unreadable, not migrated ({_reason(err)})"
            ) from None
        frame = _to_frame(old).sort_index()
        frame = frame[~frame.index.duplicated(keep="last")]
        if frame.empty:
            _remove_legacy(directory, files)
            return 0
        try:
            _create(directory, to_arrow(frame), {"source": "migration from month files"})
        except (DeltaError, OSError) as err:
            remove_leftovers(directory)
            raise _write_error(err, directory, None) from None
        if count_rows(directory, DeltaTable(str(directory))) != len(frame):
            raise DataError(f"{directory}: migration would lose rows; the old files are kept")
        _remove_legacy(directory, files)
        return len(frame)


def _remove_legacy(directory: Path, files: list[Path]) -> None:
    for path in files:
        path.unlink(missing_ok=True)
        for stale in path.parent.glob(f".{LEGACY_PART}.*.tmp"):
            stale.unlink(missing_ok=True)


__all__ = [
    "CompactResult",
    "MergeResult",
    "compact",
    "count_rows",
    "dataset_lock",
    "file_count",
    "is_table",
    "merge_into_partitions",
    "migrate_month_files",
    "months",
    "open_table",
    "read_partitions",
    "read_versioned",
    "remove_leftovers",
    "replace_months",
    "sweep_if_idle",
    "table_history",
    "table_version",
    "take_back",
    "time_range",
]
