"""The market-data store: one Delta Lake table per symbol and bar under a data directory.

Layout: ``<data_dir>/<SYMBOL>/<bar>/`` is a Delta table partitioned by ``month`` (see
:mod:`features.partitioned`). A write is one ``MERGE`` on bar time, one commit whatever the
months it touches: overlapping rows are updated where the new data has values, never
duplicated, and existing rows are never lost, even with several writers at once; a crash leaves
the previous version or the new one. Reads with a time range open only the months they need,
and remember the table version they read (:attr:`MarketStore.read_versions`, the lineage a
training run logs). Reading at a coarser bar than stored resamples; see :func:`resample`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.atomic import atomic_path
from features.bars import BARS, bar_name, infer_bar, parse_bar
from features.errors import DataError, UnreadableDataError
from features.partitioned import (
    count_rows,
    dataset_lock,
    is_table,
    legacy_months,
    merge_into_partitions,
    migrate_month_files,
    read_partitions,
    read_versioned,
    time_range,
)
from features.schema import SIGNAL_GROUPS, canonicalize, validate_frame

_FIRST = {"open": "first"}
_MAX = {"high": "max"}
_MIN = {"low": "min"}
_SUM = {c: "sum" for c in ("volume_usd", "spot_volume_usd", *SIGNAL_GROUPS["liquidations"])}


def _aggregation(column: str) -> str:
    """How a column combines when bars merge: prices first/max/min/last, flows sum, levels last."""
    for table in (_FIRST, _MAX, _MIN, _SUM):
        if column in table:
            return table[column]
    return "last"


@dataclass(frozen=True)
class DatasetInfo:
    """One stored dataset, as ``flushrisk data list`` shows it."""

    symbol: str
    bar: str
    path: Path
    rows: int
    start: pd.Timestamp | None
    end: pd.Timestamp | None


@dataclass(frozen=True)
class WriteResult:
    """What a write did: rows before, rows after, and how many timestamps were new."""

    path: Path
    rows_before: int
    rows_after: int

    @property
    def rows_added(self) -> int:
        return self.rows_after - self.rows_before


SYMBOL_MAX_LENGTH = 64
# A dataset name: letters, digits, '_', '-' and single dots, starting and ending with a letter
# or digit. Nothing that a file system reads as a path ('..', '.', '/', '\\').
_DATASET_NAME = re.compile(r"^[A-Z0-9](?:[A-Z0-9_-]|\.(?!\.))*(?<=[A-Z0-9])$")
# A ccxt market ('BTC/USDT:USDT') becomes 'BTC-USDT-USDT'.
_CCXT_MARKET = re.compile(r"^([A-Za-z0-9]+)/([A-Za-z0-9]+)(?::([A-Za-z0-9]+))?$")


def normalize_symbol(symbol: str) -> str:
    """The upper-case dataset name of a symbol: 'btc' -> 'BTC', 'btc/usdt:usdt' -> 'BTC-USDT-USDT'.

    Strict, because the name becomes a directory: anything that could leave the data directory
    or fail on the file system ('..', '.', path separators, over-long names) is refused with a
    message, before anything is created on disk.
    """
    text = str(symbol).strip()
    market = _CCXT_MARKET.match(text)
    name = "-".join(p for p in market.groups() if p) if market else text
    name = name.upper()
    if len(name) > SYMBOL_MAX_LENGTH or not _DATASET_NAME.match(name):
        shown = text if len(text) <= 40 else text[:40] + "..."
        why = (
            f"longer than {SYMBOL_MAX_LENGTH} characters"
            if len(name) > SYMBOL_MAX_LENGTH
            else "use letters, digits, '-', '_' and single dots, starting and ending with a "
            "letter or digit (a ccxt market such as BTC/USDT:USDT is fine too)"
        )
        raise DataError(f"invalid symbol {shown!r}: {why}")
    return name


def resample(
    frame: pd.DataFrame, bar: str | pd.Timedelta, source_bar: str | pd.Timedelta | None = None
) -> pd.DataFrame:
    """Aggregate a canonical frame to a coarser bar.

    Prices take first/max/min/last, volume and liquidations sum, open interest, funding, depth
    and ratios take the last value, and the taker buy ratio is volume-weighted. Only complete
    bins are kept: a bin with a missing sub-bar would understate its sums, so it becomes a gap.
    ``source_bar`` is the frame's bar when the caller knows it (the store does): inferred from
    the index, a gappy 5m frame whose rows are 15m apart would pass for 15m data, and its
    incomplete hourly bins for complete ones.
    """
    target = parse_bar(bar)
    if source_bar is not None:
        source = parse_bar(source_bar)
    else:
        source = infer_bar(frame.index) if len(frame) > 1 else target
    if target == source:
        return frame
    if target < source or target % source != pd.Timedelta(0):
        raise DataError(
            f"cannot resample {bar_name(source)} bars to {bar_name(target)}: "
            "the target bar must be a multiple of the stored bar"
        )
    work = frame.copy()
    how = {c: _aggregation(c) for c in work.columns}
    if "taker_buy_ratio" in work and "volume_usd" in work:
        # Volume-weighted: sum the taker buy volume, then divide by the summed volume.
        work["_weight"] = work["volume_usd"].where(work["taker_buy_ratio"].notna())
        work["taker_buy_ratio"] = work["taker_buy_ratio"] * work["volume_usd"]
        how["taker_buy_ratio"] = how["_weight"] = "sum"
    grouped = work.resample(target, label="left", closed="left")
    out = grouped.agg(how)
    if "_weight" in out:
        weight = out.pop("_weight")
        out["taker_buy_ratio"] = (out["taker_buy_ratio"] / weight).where(weight > 0)
    complete = grouped["close"].count() == int(target / source)
    for col in _SUM:
        if col in out:
            # resample().sum() turns an all-missing bin into 0; keep it missing instead.
            out[col] = out[col].where(grouped[col].count() > 0)
    return out[complete].rename_axis("time")


def write_parquet_atomic(frame: pd.DataFrame, path: Path) -> None:
    """Write Parquet to a temp file beside ``path`` and rename it into place."""
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, engine="pyarrow", compression="zstd")


class MarketStore:
    """Canonical market frames on disk, merged on write and resampled on read.

    Older stores (one ``<SYMBOL>/<bar>.parquet`` file per dataset, or the month files of
    ``<SYMBOL>/<bar>/month=YYYY-MM/part.parquet``) are migrated to Delta tables on first use;
    see :meth:`migrate`. ``read_versions`` maps ``SYMBOL/bar`` to the table version each read
    saw (a training run logs it as its data lineage).
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise DataError(
                f"the data directory {self.root} is a file, not a directory; point --data-dir "
                "(or FLUSHRISK_DATA_DIR) at a directory"
            )
        self._migrated = False
        self.read_versions: dict[str, int] = {}

    def path(self, symbol: str, bar: str) -> Path:
        """The dataset directory of a symbol and bar (``<root>/<SYMBOL>/<bar>``)."""
        return self.root / normalize_symbol(symbol) / bar_name(parse_bar(bar))

    def write(
        self, symbol: str, frame: pd.DataFrame, source: str = "frame", bar: str | None = None
    ) -> WriteResult:
        """Validate ``frame`` and merge it into the dataset of its bar.

        New values win where they exist; stored values survive where the new frame has none.
        One commit (a ``MERGE`` on bar time) whatever the months it touches; concurrent writers
        never lose rows, and nothing is written unless every merged row validates.
        ``bar`` is inferred from the frame unless given (a fetcher writing a one-row page knows
        its bar).
        """
        directory = self.path(symbol, bar or "1m")  # validates the symbol before anything else
        self._ensure_migrated()
        new = validate_frame(frame, source)
        if bar is not None:
            bar = bar_name(parse_bar(bar))
        elif len(new) > 1:
            bar = bar_name(infer_bar(new.index, source))
        else:
            bar = self._single_row_bar(symbol)
        _check_grid(new.index, parse_bar(bar), source)
        directory = directory.parent / bar
        where = f"{source} merged into {directory}"

        def check(merged: pd.DataFrame, added: pd.DataFrame) -> None:
            # Stored rows were valid when written; only rows the new frame touches can change.
            validate_frame(merged.loc[added.index], where)

        result = merge_into_partitions(directory, new, check=check, metadata={"source": str(source)})
        return WriteResult(path=directory, rows_before=result.rows_before, rows_after=result.rows_after)

    def _single_row_bar(self, symbol: str) -> str:
        bars = self.bars(symbol)
        if len(bars) != 1:
            raise DataError(
                f"cannot tell the bar of a single-row frame for {symbol}; store at least 2 rows"
            )
        return bars[0]

    def read(
        self,
        symbol: str,
        bar: str | None = None,
        start: str | pd.Timestamp | None = None,
        end: str | pd.Timestamp | None = None,
        version: int | None = None,
    ) -> pd.DataFrame:
        """The stored frame at ``bar`` (the finest stored bar by default), from start to end.

        Only the month partitions the range needs are read. A coarser bar than any stored one
        is resampled from the finest stored bar it divides. ``version`` reads an earlier
        version of the table (``flushrisk data history`` lists them). A damaged file raises
        :class:`features.errors.UnreadableDataError` naming the symbol and the file.
        """
        stored = self.bars(symbol)
        if not stored:
            have = ", ".join(sorted({d.symbol for d in self.datasets()})) or "none"
            raise DataError(f"no data for {symbol!r} in {self.root} (stored symbols: {have})")
        wanted = stored[0] if bar is None else bar_name(parse_bar(bar))
        usable = [b for b in stored if parse_bar(wanted) % parse_bar(b) == pd.Timedelta(0)]
        if not usable:
            raise DataError(
                f"{symbol} is stored at {stored}; cannot make {wanted} bars from them"
            )
        source_bar = usable[-1]  # the coarsest stored bar that divides the target
        first = None if start is None else _utc(start)
        last = None if end is None else _utc(end)
        stored_frame, version = read_versioned(
            self.path(symbol, source_bar), first, last, version=version
        )
        if version is not None:
            self.read_versions[f"{normalize_symbol(symbol)}/{source_bar}"] = version
        frame = canonicalize(stored_frame)
        out = resample(frame, wanted, source_bar) if wanted != source_bar else frame
        if version is not None:
            out.attrs[DATA_VERSIONS] = {f"{normalize_symbol(symbol)}/{source_bar}": version}
        return out

    def bars(self, symbol: str) -> list[str]:
        """Stored bars for a symbol, finest first."""
        self._ensure_migrated()
        folder = self.root / normalize_symbol(symbol)
        return [b for b in BARS if _stored(folder / b)]

    def datasets(self) -> list[DatasetInfo]:
        """Every stored dataset with its row count and time range (from Parquet metadata)."""
        self._ensure_migrated()
        infos = []
        if not self.root.is_dir():
            return infos
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
            for bar in BARS:
                directory = folder / bar
                if not _stored(directory):
                    continue
                try:
                    start, end = time_range(directory)
                    rows = count_rows(directory)
                except UnreadableDataError:  # listed, so a job names it when it skips it
                    start = end = None
                    rows = 0
                infos.append(
                    DatasetInfo(
                        symbol=folder.name, bar=bar, path=directory, rows=rows, start=start,
                        end=end,
                    )
                )
        return infos

    def migrate(self) -> list[DatasetInfo]:
        """Move every older dataset into a Delta table; return the datasets that were migrated.

        A single-file dataset (``<SYMBOL>/<bar>.parquet``) is merged into its table (its values
        win over rows already there), every one of its timestamps is checked to be in the
        table, and only then is the old file removed. A month-file dataset becomes a table in
        one commit (see :func:`features.partitioned.migrate_month_files`).
        """
        migrated = []
        if not self.root.is_dir():
            return migrated
        for directory in sorted({p.parent.parent for p in self.root.glob("*/*/month=*/part.parquet")}):
            if directory.name in BARS and migrate_month_files(directory):
                migrated.append(self._info(directory))
        for legacy in sorted(self.root.glob("*/*.parquet")):
            if legacy.stem not in BARS or not legacy.is_file():
                continue
            directory = legacy.parent / legacy.stem
            with dataset_lock(directory):
                if not legacy.exists():  # another process migrated it meanwhile
                    continue
                _migrate_file(legacy, directory)
            migrated.append(self._info(directory))
        self._migrated = True
        return migrated

    @staticmethod
    def _info(directory: Path) -> DatasetInfo:
        return DatasetInfo(
            symbol=directory.parent.name, bar=directory.name, path=directory,
            rows=count_rows(directory), start=None, end=None,
        )

    def _ensure_migrated(self) -> None:
        if not self._migrated:
            self.migrate()


@dataclass(frozen=True)
class StoredTable:
    """One Delta table of a data directory: market data, scores or features of a symbol."""

    kind: str
    symbol: str
    bar: str
    path: Path


def dataset_tables(root: Path | str) -> list[StoredTable]:
    """Every Delta table under a data directory (market data, ``_scores``, ``_features``)."""
    root = Path(root)
    out = []
    for kind, base in (("market", root), ("scores", root / "_scores"), ("features", root / "_features")):
        if not base.is_dir():
            continue
        for folder in sorted(p for p in base.iterdir() if p.is_dir() and p.name[0] not in "_."):
            out.extend(
                StoredTable(kind, folder.name, bar, folder / bar)
                for bar in BARS
                if is_table(folder / bar)
            )
    return out


DATA_VERSIONS = "data_versions"
"""``frame.attrs`` key of a read frame: ``{"SYMBOL/bar": table version}`` (its lineage)."""


def data_versions(*frames: pd.DataFrame) -> dict[str, int]:
    """The table versions these frames were read from, ``SYMBOL/bar`` -> version."""
    out: dict[str, int] = {}
    for frame in frames:
        out.update(frame.attrs.get(DATA_VERSIONS, {}))
    return out


def lineage_tags(versions: dict[str, int]) -> dict[str, str]:
    """MLflow tags of a run's data lineage: ``data_version.BTC.1h`` -> ``"12"``."""
    return {f"data_version.{key.replace('/', '.')}": str(v) for key, v in sorted(versions.items())}


def _stored(directory: Path) -> bool:
    """A dataset is stored there: a Delta table, or month files still to migrate."""
    return is_table(directory) or (directory.is_dir() and bool(legacy_months(directory)))


def _migrate_file(legacy: Path, directory: Path) -> None:
    """Merge one single-file dataset into its table (lock held), then remove the file."""
    try:
        old = canonicalize(pd.read_parquet(legacy))
    except (OSError, ValueError) as err:
        raise DataError(f"{legacy}: unreadable Parquet dataset, not migrated ({err})") from None
    for stale in legacy.parent.glob(f".{legacy.name}.*.tmp"):
        stale.unlink(missing_ok=True)
    if not old.empty:
        # The lock is already held: the merge re-enters the same lock.
        old = old[~old.index.duplicated(keep="last")].sort_index()
        merge_into_partitions(directory, old, metadata={"source": f"migration from {legacy.name}"})
        kept = read_partitions(directory, columns=[]).index
        lost = old.index.difference(kept)
        if len(lost):
            raise DataError(
                f"{legacy}: migration would lose {len(lost)} row(s) (first {lost[0]}); the old "
                "file is kept"
            )
    legacy.unlink()


def _check_grid(index: pd.DatetimeIndex, step: pd.Timedelta, source: str) -> None:
    """Every timestamp must be a bar open time of ``step`` (so merges and resampling line up)."""
    off = index.asi8 % step.value != 0
    if off.any():
        raise DataError(
            f"{source}: {int(off.sum())} timestamp(s) not on the {bar_name(step)} bar grid, first "
            f"{index[off][0]}"
        )
    if len(index) > 1 and (pd.Series(index).diff().dropna() < step).any():
        raise DataError(f"{source}: rows closer together than the {bar_name(step)} bar")


def _utc(value: str | pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


__all__ = [
    "DATA_VERSIONS",
    "DatasetInfo",
    "MarketStore",
    "StoredTable",
    "WriteResult",
    "data_versions",
    "dataset_tables",
    "lineage_tags",
    "normalize_symbol",
    "resample",
]
