"""Importer for Binance USDⓈ-M public-archive files (``--format binance-archive``).

PATH is a directory (searched recursively, e.g. the tree ``flushrisk data fetch-archive``
writes, which mirrors ``data.binance.vision``) or a single file. Files are daily
(``BTCUSDT-5m-2024-01-01.zip``) or monthly (``BTCUSDT-5m-2024-01.zip``), ``.zip`` or ``.csv``,
with or without a header row. The file name gives the kind; the kline kinds share one naming
scheme and are told apart by their folder (``klines``, ``markPriceKlines``,
``indexPriceKlines``, ``premiumIndexKlines``; a kline file in no such folder is ``klines``).

========================  ===================================================================
kind                      columns, and what the canonical frame takes
========================  ===================================================================
klines                    open_time,open,high,low,close,volume,close_time,quote_volume,count,
                          taker_buy_volume,taker_buy_quote_volume,ignore -> OHLC, volume_usd
                          (quote volume, USDT), taker_buy_ratio (taker buy quote / quote)
markPriceKlines           same layout -> mark_price (close)
indexPriceKlines          same layout -> index_price (close)
premiumIndexKlines        same layout -> index_price = close / (1 + premium) when there is
                          no indexPriceKlines file
metrics (5 min)           create_time,symbol,sum_open_interest,sum_open_interest_value,
                          count_toptrader_long_short_ratio,sum_toptrader_long_short_ratio,
                          count_long_short_ratio,sum_taker_long_short_vol_ratio ->
                          open_interest_usd (sum_open_interest_value, USD), long_short_ratio
                          (count_long_short_ratio: all accounts; else the top traders'
                          account ratio), taker_buy_ratio = r / (1 + r) if klines lack it
fundingRate (monthly)     calc_time,funding_interval_hours,last_funding_rate -> funding_rate
bookDepth                 timestamp,percentage,depth,notional: cumulative notional within
                          ±1..5 % of mid, bid side negative -> bid/ask_depth_1/2pct_usd
========================  ===================================================================

The kline bar is the frame's bar; the other kinds are joined onto it without look-ahead:

- snapshot kinds (metrics, bookDepth) give each bar the last snapshot at or before the bar's
  close, and only if it is at most three source intervals old (15 min for metrics, 3 min for
  depth): an older value would be a stale level, so it stays missing;
- funding is settled every few hours: each bar gets the last settled rate at or before its
  close (the rate in force), normalised from its ``funding_interval_hours`` to per 8 hours,
  for at most 1.5 intervals. ``funding_rate`` is required in every row and must not be
  back-filled, so bars before the first settlement, or in a hole of the funding files (the
  current month's file is only published after the month ends), are left out and listed in
  ``frame.attrs["notes"]``.

Timestamps in s, ms or µs are told apart by magnitude, per value. Daily and monthly files may
overlap; rows that repeat identically are merged, conflicting ones are an error naming both files.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.bars import BARS, bar_name, parse_bar
from features.errors import DataError
from features.sources.tables import (
    as_of_closes,
    check_time_order,
    drop_unknown_funding,
    finish,
    funding_in_force,
    numeric_columns,
    parse_text_times,
    read_csv_source,
    require_source_columns,
)
from features.sources.units import epoch_to_datetime, funding_to_fraction, settlement_hours

KLINE_COLUMNS = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
)
METRICS_COLUMNS = (
    "create_time",
    "symbol",
    "sum_open_interest",
    "sum_open_interest_value",
    "count_toptrader_long_short_ratio",
    "sum_toptrader_long_short_ratio",
    "count_long_short_ratio",
    "sum_taker_long_short_vol_ratio",
)
FUNDING_COLUMNS = ("calc_time", "funding_interval_hours", "last_funding_rate")
BOOK_DEPTH_COLUMNS = ("timestamp", "percentage", "depth", "notional")

KLINE_KINDS = ("klines", "markPriceKlines", "indexPriceKlines", "premiumIndexKlines")
LAYOUTS: dict[str, tuple[str, ...]] = {
    **{kind: KLINE_COLUMNS for kind in KLINE_KINDS},
    "metrics": METRICS_COLUMNS,
    "fundingRate": FUNDING_COLUMNS,
    "bookDepth": BOOK_DEPTH_COLUMNS,
}
SNAPSHOT_MAX_AGE = {"metrics": pd.Timedelta(minutes=15), "bookDepth": pd.Timedelta(minutes=3)}
FUNDING_MAX_AGE_INTERVALS = 1.5

# Binance kline intervals (all of them, so that an unsupported one is named, not ignored).
_INTERVALS = (
    "1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1mo",
)
_NAME = re.compile(
    r"^(?P<symbol>[A-Z0-9]+)-(?P<kind>[A-Za-z0-9]+)-(?P<period>\d{4}-\d{2}(?:-\d{2})?)"
    r"\.(?P<ext>zip|csv)$"
)


@dataclass(frozen=True)
class ArchiveFile:
    """One archive file: its path, kind, symbol, kline interval (kline kinds) and period."""

    path: Path
    kind: str
    symbol: str
    interval: str | None
    period: str


def scan(path: Path) -> tuple[list[ArchiveFile], list[Path]]:
    """The archive files under ``path`` and the files that were not recognised."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or directory")
    candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    if path.is_dir():
        _refuse_outside(path, candidates)
    found: dict[tuple[str, str, str, str | None, str], ArchiveFile] = {}
    ignored = []
    for file in candidates:
        if file.name.endswith(".CHECKSUM") or file.name.startswith("."):
            continue
        match = _NAME.match(file.name)
        parsed = _classify(file, match) if match else None
        if parsed is None:
            ignored.append(file)
            continue
        # The same file unzipped beside its zip: read it once.
        key = (str(file.parent), parsed.kind, parsed.symbol, parsed.interval, parsed.period)
        if key not in found or file.suffix == ".csv":
            found[key] = parsed
    return sorted(found.values(), key=lambda f: (f.kind, f.period, str(f.path))), ignored


def _refuse_outside(folder: Path, files: list[Path]) -> None:
    """Refuse files (symlinks) that resolve outside the folder given to import.

    A link to ``/etc/passwd`` named like an archive file was read, and a parse error printed
    its first line. The error names the links, never what they point at or hold.
    """
    root = folder.resolve()
    outside = [f for f in files if not f.resolve().is_relative_to(root)]
    if outside:
        names = ", ".join(str(f.relative_to(folder)) for f in outside[:5])
        more = f" and {len(outside) - 5} more" if len(outside) > 5 else ""
        raise DataError(
            f"{folder}: {len(outside)} file(s) resolve outside this folder (symbolic links): "
            f"{names}{more}; nothing was imported. Copy the files into the folder instead."
        )


def _classify(file: Path, match: re.Match[str]) -> ArchiveFile | None:
    kind, symbol, period = match["kind"], match["symbol"], match["period"]
    if kind in ("metrics", "fundingRate", "bookDepth"):
        return ArchiveFile(file, kind, symbol, None, period)
    if kind in _INTERVALS:
        folder = next((p.name for p in file.parents if p.name in KLINE_KINDS), "klines")
        return ArchiveFile(file, folder, symbol, kind, period)
    return None


def read_archive_csv(file: ArchiveFile) -> tuple[pd.DataFrame, str, bool]:
    """The CSV inside one archive file as text columns named by its layout.

    Returns the frame, a source label for messages and whether the file had a header row.
    """
    data, source = _file_bytes(file.path)
    layout = LAYOUTS[file.kind]
    first_line = data.lstrip().split(b"\n", 1)[0].decode("utf-8", errors="replace")
    cells = [c.strip().strip('"') for c in first_line.split(",")]
    header = any(c in layout for c in cells)
    if header:
        frame = read_csv_source(data, source, header=True)
        needed = [c for c in layout if c not in ("ignore", "symbol")]
        if file.kind == "metrics":
            needed = ["create_time", "sum_open_interest_value"]
        if file.kind == "fundingRate":
            needed = ["calc_time", "last_funding_rate"]
        require_source_columns(frame, needed, source)
    else:
        frame = read_csv_source(data, source, header=False, names=layout)
    return frame, source, header


def _file_bytes(path: Path) -> tuple[bytes, str]:
    """The CSV bytes of a .csv file or of the single CSV inside a .zip, failing clearly."""
    if path.suffix == ".csv":
        try:
            return path.read_bytes(), str(path)
        except OSError as err:
            raise DataError(f"{path}: cannot read the file ({err.strerror})") from None
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty (0 bytes), not a zip archive")
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.namelist() if m.lower().endswith(".csv")]
            if len(members) != 1:
                raise DataError(
                    f"{path}: expected exactly one .csv inside the zip, found {archive.namelist()}"
                )
            return archive.read(members[0]), f"{path}:{members[0]}"
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as err:
        raise DataError(f"{path}: corrupt or truncated zip archive ({err})") from None


def import_binance_archive(path: Path, bar: str | None = None) -> pd.DataFrame:
    """Read a directory (or one file) of Binance USDⓈ-M archive files into one canonical frame.

    ``bar`` picks the kline interval when the directory holds several.
    """
    path = Path(path)
    files, ignored = scan(path)
    if not files:
        raise DataError(
            f"{path}: no Binance archive files found (expected names like "
            "BTCUSDT-5m-2024-01-01.zip, BTCUSDT-metrics-2024-01-01.zip, "
            "BTCUSDT-fundingRate-2024-01.zip)"
        )
    symbols = sorted({f.symbol for f in files})
    if len(symbols) > 1:
        raise DataError(f"{path}: files of several symbols {symbols}; import one symbol at a time")
    interval = _choose_interval(files, bar, path)
    step = parse_bar(interval)
    by_kind: dict[str, list[ArchiveFile]] = {}
    for f in files:
        if f.interval is None or f.interval == interval:
            by_kind.setdefault(f.kind, []).append(f)
    if "klines" not in by_kind:
        raise DataError(
            f"{path}: no klines files at {interval} (prices are required); "
            f"found kinds {sorted(by_kind)}"
        )
    klines = _combine(by_kind["klines"], _read_klines, path)
    _check_spacing(klines.index, step, by_kind["klines"][0].path)
    frame = _price_frame(klines)
    for kind, column in (("markPriceKlines", "mark_price"), ("indexPriceKlines", "index_price")):
        if kind in by_kind:
            frame[column] = _combine(by_kind[kind], _read_klines, path)["close"].reindex(
                frame.index
            )
    if "index_price" not in frame and "premiumIndexKlines" in by_kind:
        premium = _combine(by_kind["premiumIndexKlines"], _read_klines, path)["close"]
        frame["index_price"] = frame["close"] / (1.0 + premium.reindex(frame.index))
    if "fundingRate" not in by_kind:
        raise DataError(
            f"{path}: no fundingRate files (funding_rate is required); download the monthly "
            "BTCUSDT-fundingRate-YYYY-MM.zip files too"
        )
    funding = _combine(by_kind["fundingRate"], _read_funding, path)
    frame["funding_rate"] = funding_in_force(funding, frame.index + step, FUNDING_MAX_AGE_INTERVALS)
    frame, notes = drop_unknown_funding(
        frame,
        f"{path} ({symbols[0]} {interval})",
        f"{funding.index[0]} .. {funding.index[-1]}",
    )
    if "metrics" in by_kind:
        metrics = as_of_closes(
            _combine(by_kind["metrics"], _read_metrics, path),
            frame.index,
            step,
            SNAPSHOT_MAX_AGE["metrics"],
        )
        frame["open_interest_usd"] = metrics["open_interest_usd"]
        frame["long_short_ratio"] = metrics["long_short_ratio"]
        if "taker_buy_ratio" not in frame or frame["taker_buy_ratio"].isna().all():
            frame["taker_buy_ratio"] = metrics["taker_buy_ratio"]
    if "bookDepth" in by_kind:
        depth = _combine(by_kind["bookDepth"], _read_book_depth, path)
        depth = as_of_closes(depth, frame.index, step, SNAPSHOT_MAX_AGE["bookDepth"])
        for column in depth.columns:
            frame[column] = depth[column]
    frame.index.name = "time"
    out = finish(frame, f"{path} ({symbols[0]} {interval})")
    if ignored:
        notes.append(
            f"{len(ignored)} file(s) not in a known archive layout were ignored, e.g. {ignored[0]}"
        )
    out.attrs["notes"] = notes
    return out


def _choose_interval(files: list[ArchiveFile], bar: str | None, path: Path) -> str:
    intervals = sorted({f.interval for f in files if f.kind == "klines" and f.interval})
    if bar is not None:
        wanted = bar_name(parse_bar(bar))
        if wanted not in intervals:
            raise DataError(
                f"{path}: no klines at {wanted}; the directory has {intervals or 'none'}"
            )
        return wanted
    if not intervals:
        raise DataError(f"{path}: no klines files (prices are required)")
    if len(intervals) > 1:
        raise DataError(f"{path}: klines at several intervals {intervals}; choose one with --bar")
    if intervals[0] not in BARS:
        raise DataError(
            f"{path}: klines interval {intervals[0]} is not a supported bar ({', '.join(BARS)})"
        )
    return intervals[0]


def _combine(files: list[ArchiveFile], reader, path: Path) -> pd.DataFrame:
    """Read files of one kind, merge overlapping files, and fail on conflicting rows."""
    parts = []
    for file in files:
        part = reader(file)
        part["_file"] = str(file.path)
        parts.append(part)
    frame = pd.concat(parts).sort_index(kind="stable")
    if not frame.index.has_duplicates:
        return frame.drop(columns="_file")
    flat = frame.reset_index()
    values = [c for c in flat.columns if c != "_file"]
    distinct = flat.drop_duplicates(subset=values)
    conflict = distinct.duplicated(subset=["time"], keep=False)
    if conflict.any():
        first_time = distinct.loc[conflict, "time"].iloc[0]
        named = sorted(set(distinct.loc[distinct["time"] == first_time, "_file"]))
        raise DataError(
            f"{path}: conflicting rows for {first_time} in {named}: the same time with "
            "different values"
        )
    return distinct.drop(columns="_file").set_index("time")


def _read_klines(file: ArchiveFile) -> pd.DataFrame:
    raw, source, header = read_archive_csv(file)
    cols = [c for c in KLINE_COLUMNS[1:6] if c in raw.columns]
    extra = [c for c in ("quote_volume", "taker_buy_quote_volume") if c in raw.columns]
    stamps = numeric_columns(raw, ["open_time"], source, required=["open_time"], header=header)
    times = epoch_to_datetime(stamps["open_time"], source=source, column="open_time")
    check_time_order(times, source, header=header)
    numbers = numeric_columns(raw, [*cols, *extra], source, required=cols, header=header)
    numbers.index = times.rename("time")
    return numbers


def _price_frame(klines: pd.DataFrame) -> pd.DataFrame:
    frame = klines[["open", "high", "low", "close"]].copy()
    if "quote_volume" in klines:
        frame["volume_usd"] = klines["quote_volume"]
        if "taker_buy_quote_volume" in klines:
            ratio = klines["taker_buy_quote_volume"] / klines["quote_volume"]
            frame["taker_buy_ratio"] = ratio.where(klines["quote_volume"] > 0).clip(0, 1)
    return frame


def _check_spacing(index: pd.DatetimeIndex, step: pd.Timedelta, example: Path) -> None:
    if len(index) > 1:
        smallest = pd.Timedelta(int(np.diff(index.asi8).min()), "ns")
        if smallest != step:
            raise DataError(
                f"{example.parent}: klines named {bar_name(step)} are {smallest} apart; "
                "the file name and the data disagree"
            )
    off = index.asi8 % step.value != 0
    if off.any():
        raise DataError(f"{example.parent}: kline open time {index[off][0]} is not on the bar grid")


def _times(raw: pd.DataFrame, column: str, source: str, header: bool) -> pd.DatetimeIndex:
    """Text ('2024-01-01 00:05:00') or epoch timestamps, whichever the file has."""
    values = raw[column]
    if pd.to_numeric(values.head(5), errors="coerce").notna().all():
        stamps = numeric_columns(raw, [column], source, required=[column], header=header)[column]
        return epoch_to_datetime(stamps, source=source, column=column)
    return parse_text_times(values, source, column, header)


def _read_funding(file: ArchiveFile) -> pd.DataFrame:
    raw, source, header = read_archive_csv(file)
    times = _times(raw, "calc_time", source, header)
    check_time_order(times, source, header=header)
    cols = [c for c in ("funding_interval_hours", "last_funding_rate") if c in raw.columns]
    numbers = numeric_columns(raw, cols, source, required=cols, header=header)
    numbers.index = times.rename("time")
    if "funding_interval_hours" in numbers:
        hours = numbers["funding_interval_hours"]
    else:  # older files: the interval is the spacing between settlements
        hours = settlement_hours(times)
    bad = ~(hours > 0)
    if bad.any():
        raise DataError(f"{source}: funding_interval_hours must be > 0, got {hours[bad].iloc[0]}")
    rate = funding_to_fraction(
        numbers["last_funding_rate"], "fraction", source, "last_funding_rate", interval_hours=hours
    )
    return pd.DataFrame({"funding_rate": rate, "interval_hours": hours}, index=numbers.index)


def _read_metrics(file: ArchiveFile) -> pd.DataFrame:
    raw, source, header = read_archive_csv(file)
    times = _times(raw, "create_time", source, header)
    cols = [c for c in METRICS_COLUMNS[2:] if c in raw.columns]
    numbers = numeric_columns(raw, cols, source, header=header)
    numbers.index = times.rename("time")
    out = pd.DataFrame(index=numbers.index)
    out["open_interest_usd"] = numbers["sum_open_interest_value"]
    ratio = numbers.get("count_long_short_ratio")
    fallback = numbers.get("count_toptrader_long_short_ratio")
    if ratio is None or ratio.isna().all():
        ratio = fallback
    out["long_short_ratio"] = ratio if ratio is not None else np.nan
    taker = numbers.get("sum_taker_long_short_vol_ratio")
    out["taker_buy_ratio"] = taker / (1.0 + taker) if taker is not None else np.nan
    # The archive's metrics rows are not in time order: sort, but keep duplicates for _combine.
    return out.sort_index(kind="stable")


def _read_book_depth(file: ArchiveFile) -> pd.DataFrame:
    raw, source, header = read_archive_csv(file)
    times = _times(raw, "timestamp", source, header)
    numbers = numeric_columns(
        raw, ["percentage", "notional"], source, required=["percentage", "notional"], header=header
    )
    numbers.index = times.rename("time")
    numbers["percentage"] = numbers["percentage"].round(2)
    wanted = numbers[numbers["percentage"].isin([-2.0, -1.0, 1.0, 2.0])]
    if wanted.empty:
        raise DataError(f"{source}: no ±1 % or ±2 % depth rows (column 'percentage')")
    flat = wanted.reset_index().drop_duplicates()
    clash = flat.duplicated(subset=["time", "percentage"], keep=False)
    if clash.any():
        first = flat[clash].iloc[0]
        raise DataError(
            f"{source}: two different depth rows for {first['time']} at {first['percentage']} %"
        )
    table = flat.pivot(index="time", columns="percentage", values="notional").sort_index()
    names = {
        -1.0: "bid_depth_1pct_usd",
        1.0: "ask_depth_1pct_usd",
        -2.0: "bid_depth_2pct_usd",
        2.0: "ask_depth_2pct_usd",
    }
    table = table.rename(columns=names)
    table.columns.name = None
    return table[[c for c in names.values() if c in table.columns]]
