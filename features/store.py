"""The Parquet market-data store: one dataset per symbol and bar under a data directory.

Layout: ``<data_dir>/<SYMBOL>/<bar>.parquet``. Writes are atomic (temp file in the same
directory, then rename), and a write merges with what is stored: overlapping rows are updated
where the new data has values, never duplicated, and existing rows are never lost. Reading at
a coarser bar than stored resamples; see :func:`resample`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.atomic import atomic_path
from features.bars import BARS, bar_name, infer_bar, parse_bar
from features.errors import DataError
from features.schema import SIGNAL_GROUPS, canonicalize, validate_frame

_FIRST = {"open": "first"}
_MAX = {"high": "max"}
_MIN = {"low": "min"}
_SUM = {c: "sum" for c in ("volume_usd", *SIGNAL_GROUPS["liquidations"])}


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


def normalize_symbol(symbol: str) -> str:
    """A filesystem-safe, upper-case dataset name: 'btc/usdt:usdt' -> 'BTC-USDT-USDT'."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", symbol.strip()).strip("-").upper()
    if not name:
        raise DataError(f"invalid symbol {symbol!r}")
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
    """Canonical market frames on disk, merged on write and resampled on read."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path(self, symbol: str, bar: str) -> Path:
        return self.root / normalize_symbol(symbol) / f"{bar_name(parse_bar(bar))}.parquet"

    def write(
        self, symbol: str, frame: pd.DataFrame, source: str = "frame", bar: str | None = None
    ) -> WriteResult:
        """Validate ``frame`` and merge it into the dataset of its bar.

        New values win where they exist; stored values survive where the new frame has none.
        Nothing is written unless the merged result validates. ``bar`` is inferred from the
        frame unless given (a fetcher writing a one-row page knows its bar).
        """
        new = validate_frame(frame, source)
        if bar is not None:
            bar = bar_name(parse_bar(bar))
        elif len(new) > 1:
            bar = bar_name(infer_bar(new.index))
        else:
            bar = self._single_row_bar(symbol)
        _check_grid(new.index, parse_bar(bar), source)
        path = self.path(symbol, bar)
        old = self._load(path) if path.exists() else None
        rows_before = 0 if old is None else len(old)
        merged = new if old is None else new.combine_first(old)
        merged = validate_frame(merged, f"{source} merged into {path}")
        write_parquet_atomic(merged, path)
        return WriteResult(path=path, rows_before=rows_before, rows_after=len(merged))

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
    ) -> pd.DataFrame:
        """The stored frame at ``bar`` (the finest stored bar by default), from start to end.

        A coarser bar than any stored one is resampled from the finest stored bar it divides.
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
        frame = self._load(self.path(symbol, source_bar))
        if start is not None:
            frame = frame[frame.index >= _utc(start)]
        if end is not None:
            frame = frame[frame.index <= _utc(end)]
        return resample(frame, wanted, source_bar) if wanted != source_bar else frame

    def bars(self, symbol: str) -> list[str]:
        """Stored bars for a symbol, finest first."""
        folder = self.root / normalize_symbol(symbol)
        names = {p.stem for p in folder.glob("*.parquet")} if folder.is_dir() else set()
        return [b for b in BARS if b in names]

    def datasets(self) -> list[DatasetInfo]:
        """Every stored dataset with its row count and time range (read from Parquet metadata)."""
        infos = []
        for path in sorted(self.root.glob("*/*.parquet")):
            if path.stem not in BARS:
                continue
            try:
                index = pd.read_parquet(path, columns=[]).index
            except (OSError, ValueError) as err:
                raise DataError(f"{path}: unreadable Parquet dataset ({err})") from err
            infos.append(
                DatasetInfo(
                    symbol=path.parent.name,
                    bar=path.stem,
                    path=path,
                    rows=len(index),
                    start=index[0] if len(index) else None,
                    end=index[-1] if len(index) else None,
                )
            )
        return infos

    @staticmethod
    def _load(path: Path) -> pd.DataFrame:
        try:
            return canonicalize(pd.read_parquet(path))
        except (OSError, ValueError) as err:
            raise DataError(f"{path}: unreadable Parquet dataset ({err})") from err


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


__all__ = ["DatasetInfo", "MarketStore", "WriteResult", "normalize_symbol", "resample"]
