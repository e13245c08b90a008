"""The month-file store as it was before the Delta tables (issue 22), kept as the benchmark's
baseline: ``bench_store.py`` times today's append against this one in the same run.

Layout ``<dir>/month=YYYY-MM/part.parquet``; a write locks the dataset, reads each touched
month, merges in numpy, writes each month to a temp file and renames them into place. Only
what an append needs is kept (no migration, no stale-temp cleanup).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from filelock import FileLock

from features.schema import COLUMNS, canonicalize, validate_frame


def _month_of(times: pd.DatetimeIndex) -> np.ndarray:
    return np.asarray(pd.DatetimeIndex(times).tz_convert("UTC").strftime("%Y-%m"))


def _read_file(path: Path) -> pd.DataFrame:
    frame = pq.read_table(path).to_pandas()
    index = pd.DatetimeIndex(frame.pop("time"))
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    frame.index = index.as_unit("ns").rename("time")
    return frame


def _stage(frame: pd.DataFrame, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.pid{os.getpid()}.", suffix=".tmp",
                               dir=target.parent)
    os.close(fd)
    table = pa.Table.from_pandas(frame.rename_axis("time").reset_index(), preserve_index=False)
    dictionary = [f.name for f in table.schema if not pa.types.is_floating(f.type)]
    pq.write_table(table, tmp, compression="zstd", use_dictionary=dictionary)
    return Path(tmp)


def merge(directory: Path, frame: pd.DataFrame, combine, check=None) -> int:
    """The old merge_into_partitions: lock, read touched months, combine, stage, rename."""
    directory.mkdir(parents=True, exist_ok=True)
    keys = _month_of(frame.index)
    added = 0
    with FileLock(str(directory / ".lock")):
        staged = []
        for month in sorted(set(keys)):
            new = frame[keys == month]
            target = directory / f"month={month}" / "part.parquet"
            stored = _read_file(target) if target.is_file() else None
            merged = new if stored is None else combine(new, stored)
            if check is not None:
                check(merged, new)
            added += len(merged) - (0 if stored is None else len(stored))
            staged.append((_stage(merged, target), target))
        for tmp, target in staged:
            os.replace(tmp, target)
    return added


def merge_canonical(new: pd.DataFrame, stored: pd.DataFrame) -> pd.DataFrame:
    """The old market merge: new values win where present, stored values survive."""
    stored = canonicalize(stored)
    columns = [c for c in COLUMNS if c in new.columns or c in stored.columns]
    index = stored.index.union(new.index)
    values = np.full((len(index), len(columns)), np.nan)
    old_rows, new_rows = index.get_indexer(stored.index), index.get_indexer(new.index)
    for j, column in enumerate(columns):
        if column in stored:
            values[old_rows, j] = stored[column].to_numpy()
        if column in new:
            incoming = new[column].to_numpy()
            present = ~np.isnan(incoming)
            values[new_rows[present], j] = incoming[present]
    return pd.DataFrame(values, index=index.rename("time"), columns=columns)


def newer_row_wins(new: pd.DataFrame, stored: pd.DataFrame) -> pd.DataFrame:
    """The old scores merge."""
    merged = pd.concat([stored, new])
    return merged[~merged.index.duplicated(keep="last")].sort_index()


def write_market(directory: Path, frame: pd.DataFrame) -> int:
    """The old MarketStore.write for a frame whose bar is known: validate, merge, check."""
    new = validate_frame(frame, "bench")

    def check(merged: pd.DataFrame, added: pd.DataFrame) -> None:
        validate_frame(merged.loc[added.index], "bench")

    return merge(directory, new, merge_canonical, check)
