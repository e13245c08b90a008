"""``flushrisk data import|fetch|fetch-archive|list|inspect``: getting market data into the store.

Every command reads and writes the Parquet store under ``--data-dir`` (default: the
``FLUSHRISK_DATA_DIR`` setting, ``./data``). Imports and fetches validate before they write, so
a bad file leaves the store exactly as it was.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from features.bars import bar_name, infer_bar, parse_bar
from features.errors import DataError
from features.schema import COLUMNS, SIGNAL_GROUPS, find_gaps, signal_groups
from features.store import MarketStore
from training.cli.app import DataDirOption, console, data_app, resolve_data_dir


class ImportFormat(str, Enum):
    coinglass = "coinglass"
    okx_hourly = "okx-hourly"
    binance_archive = "binance-archive"
    csv = "csv"


class Exchange(str, Enum):
    binanceusdm = "binanceusdm"
    bybit = "bybit"
    okx = "okx"


DataDir = DataDirOption


def _store(data_dir: Path | None) -> MarketStore:
    return MarketStore(resolve_data_dir(data_dir))


def _ts(value: pd.Timestamp | None) -> str:
    return "-" if value is None or pd.isna(value) else value.strftime("%Y-%m-%d %H:%M")


@data_app.command("import")
def import_(
    path: Annotated[
        Path, typer.Argument(help="File (or, for binance-archive, directory) to import.")
    ],
    layout: Annotated[ImportFormat, typer.Option("--format", "-f", help="Layout of PATH.")],
    symbol: Annotated[str, typer.Option("--symbol", "-s", help="Dataset name, e.g. BTC.")],
    data_dir: DataDir = None,
    mapping: Annotated[
        Path | None, typer.Option("--mapping", help="csv: YAML/JSON column mapping and units.")
    ] = None,
    map_: Annotated[
        list[str] | None,
        typer.Option("--map", help="csv: CANONICAL=SOURCE column, repeatable (close=last)."),
    ] = None,
    time_column: Annotated[str | None, typer.Option(help="csv: the bar-open-time column.")] = None,
    time_unit: Annotated[
        str | None, typer.Option(help="csv: auto|iso|s|ms|us|ns for the time column.")
    ] = None,
    funding_unit: Annotated[
        str | None, typer.Option(help="csv: fraction|percent|bps|auto for the funding column.")
    ] = None,
    funding_interval_hours: Annotated[
        float | None, typer.Option(help="csv: hours the funding rate is quoted for (default 8).")
    ] = None,
    scale: Annotated[
        list[str] | None,
        typer.Option(
            "--scale", help="csv: CANONICAL=FACTOR multiplier, e.g. open_interest_usd=100."
        ),
    ] = None,
    ohlc_from_close: Annotated[
        bool | None, typer.Option(help="csv: build open/high/low from a single close price.")
    ] = None,
    bar: Annotated[
        str | None,
        typer.Option(help="binance-archive: kline interval to use if there are several."),
    ] = None,
) -> None:
    """Import a data file into the store (merged with what is stored, never duplicated)."""
    from features.sources import import_path

    fmt = layout.value
    csv_flags = {
        "columns": map_,
        "time": time_column,
        "time_unit": time_unit,
        "funding_unit": funding_unit,
        "funding_interval_hours": funding_interval_hours,
        "scale": scale,
        "ohlc_from_close": ohlc_from_close,
    }
    options = _import_options(fmt, mapping, csv_flags, bar, path)
    frame = import_path(path, fmt, **options)
    store = _store(data_dir)
    result = store.write(symbol, frame, source=str(path))
    bar_used = result.path.stem
    gaps = find_gaps(frame.index, bar_used)
    table = Table(title=f"imported {path}", show_header=False, title_justify="left")
    table.add_row("format", fmt)
    table.add_row("dataset", f"{result.path.parent.name} {bar_used}  ({result.path})")
    table.add_row("rows in file", f"{len(frame):,}")
    table.add_row("time range", f"{_ts(frame.index[0])} .. {_ts(frame.index[-1])} UTC")
    table.add_row(
        "gaps in file", f"{len(gaps):,} ({int(gaps['missing_bars'].sum()):,} missing bars)"
    )
    table.add_row("signal groups", ", ".join(signal_groups(frame)))
    table.add_row(
        "store rows",
        f"{result.rows_before:,} -> {result.rows_after:,} (+{result.rows_added:,} new)",
    )
    console.print(table)
    for note in frame.attrs.get("notes", []):
        console.print(f"[yellow]note:[/] {note}")


def _import_options(
    fmt: str, mapping: Path | None, csv_flags: dict[str, Any], bar: str | None, path: Path
) -> dict[str, Any]:
    """The importer's options, refusing those that do not apply to the format."""
    options: dict[str, Any] = {}
    csv_given = mapping is not None or any(v not in (None, []) for v in csv_flags.values())
    if fmt == "csv":
        options["mapping"] = _csv_mapping(mapping, csv_flags, path)
    elif csv_given:
        raise DataError("--mapping, --map, --time-column, ... apply only to --format csv")
    if bar is not None:
        if fmt != "binance-archive":
            raise DataError("--bar applies only to --format binance-archive")
        options["bar"] = bar
    return options


def _csv_mapping(mapping: Path | None, flags: dict[str, Any], path: Path) -> Any:
    """The csv importer's mapping: the file's, then the flags on top."""
    import math

    from features.sources.csv_mapped import load_mapping, parse_pairs

    factors = {}
    for key, value in parse_pairs(flags["scale"], "--scale").items():
        try:
            factors[key] = float(value)
        except ValueError:
            factors[key] = math.nan
        if not math.isfinite(factors[key]) or factors[key] == 0:
            raise DataError(
                f"--scale {key}={value[:40]}: the factor must be a finite, non-zero number "
                f"such as 100 or 0.001 (importing {path})"
            )
    overrides = {**flags, "columns": parse_pairs(flags["columns"], "--map"), "scale": factors}
    try:
        return load_mapping(mapping).merged(**overrides)
    except ValueError as err:  # pydantic's ValidationError
        raise DataError(f"invalid csv options: {err}") from None


@data_app.command("fetch")
def fetch(
    exchange: Annotated[Exchange, typer.Option(help="ccxt exchange id.")],
    symbol: Annotated[str, typer.Option(help="ccxt market symbol, e.g. BTC/USDT:USDT.")],
    since: Annotated[str, typer.Option(help="First bar (UTC date or time).")],
    until: Annotated[
        str | None, typer.Option(help="Last bar (default: the last complete bar).")
    ] = None,
    bar: Annotated[str, typer.Option(help="Bar: 1m, 5m, 15m, 30m or 1h.")] = "5m",
    name: Annotated[
        str | None, typer.Option(help="Dataset name (default: the symbol, e.g. BTC-USDT-USDT).")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Fetch candles, funding, open interest and long/short ratio through ccxt (pages, resumes)."""
    from features.sources.fetch_ccxt import fetch_to_store

    store = _store(data_dir)
    step = parse_bar(bar)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[at]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(f"{exchange.value} {symbol}", total=None, at="")

        def on_chunk(report) -> None:
            first = report.resumed_from or report.start
            total = int((report.end - first) / step) + 1
            done = 0 if report.last_stored is None else int((report.last_stored - first) / step) + 1
            progress.update(task, total=total, completed=done, at=_ts(report.last_stored))

        report = fetch_to_store(
            store, exchange.value, symbol, since, until, bar=bar, name=name, on_chunk=on_chunk
        )
    table = Table(
        title=f"fetched {exchange.value} {symbol} -> {report.dataset} {report.bar}",
        title_justify="left",
    )
    table.add_column("item")
    table.add_column("value")
    table.add_row("range asked", f"{_ts(report.start)} .. {_ts(report.end)} UTC")
    if report.resumed_from is not None:
        table.add_row("resumed from", _ts(report.resumed_from))
    table.add_row("rows written", f"{report.rows_written:,} in {report.chunks} chunk(s)")
    for stream, status in sorted(report.streams.items()):
        table.add_row(stream, status)
    console.print(table)
    for note in report.notes:
        console.print(f"[yellow]note:[/] {note}")


@data_app.command("fetch-archive")
def fetch_archive_cmd(
    symbol: Annotated[str, typer.Option(help="Binance symbol, e.g. BTCUSDT.")],
    since: Annotated[str, typer.Option(help="First day (UTC).")],
    until: Annotated[str, typer.Option(help="Last day (UTC).")],
    dest: Annotated[
        Path | None,
        typer.Option(help="Where to mirror the files (default: <data-dir>/raw/binance-archive)."),
    ] = None,
    interval: Annotated[str, typer.Option(help="Kline interval.")] = "5m",
    kind: Annotated[
        list[str] | None,
        typer.Option(
            "--kind", help="Only these kinds (repeatable): klines, metrics, fundingRate, ..."
        ),
    ] = None,
    base_url: Annotated[
        str | None, typer.Option(help="Archive server (default: data.binance.vision).")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Download Binance USDⓈ-M archive files, verifying each .CHECKSUM, skipping files present."""
    from features.sources.fetch_archive import BASE_URL, KINDS, fetch_archive
    from features.sources.fetch_ccxt import to_utc

    target = dest if dest is not None else _store(data_dir).root / "raw" / "binance-archive"
    kinds = tuple(kind) if kind else KINDS
    with Progress(
        TextColumn("[bold]{task.description}"),
        TextColumn("{task.fields[file]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(f"binance archive {symbol}", total=None, file="")
        report = fetch_archive(
            symbol,
            to_utc(since, "--since"),
            to_utc(until, "--until"),
            target,
            interval=interval,
            kinds=kinds,
            base_url=base_url or BASE_URL,
            on_file=lambda rel, outcome: progress.update(task, file=f"{outcome} {rel}"),
        )
    console.print(
        f"{len(report.downloaded)} downloaded and verified, {len(report.skipped)} already present, "
        f"{len(report.missing)} not in the archive -> {target}"
    )
    for url in report.missing[:10]:
        console.print(f"  [yellow]not in the archive:[/] {url}")
    console.print(
        f"import with: flushrisk data import {target} --format binance-archive --symbol ..."
    )


@data_app.command("list")
def list_(data_dir: DataDir = None) -> None:
    """List the stored datasets."""
    store = _store(data_dir)
    infos = store.datasets()
    if not infos:
        console.print(f"no datasets in {store.root}")
        return
    table = Table(title=f"datasets in {store.root}", title_justify="left")
    for col in ("symbol", "bar", "rows", "start (UTC)", "end (UTC)", "path"):
        table.add_column(col, justify="right" if col == "rows" else "left")
    for info in infos:
        table.add_row(
            info.symbol, info.bar, f"{info.rows:,}", _ts(info.start), _ts(info.end), str(info.path)
        )
    console.print(table)


@data_app.command("migrate")
def migrate(data_dir: DataDir = None) -> None:
    """Move older datasets (month files, or single <SYMBOL>/<bar>.parquet files) into Delta tables.

    Every command does this on first use; run it to do it now. No row is lost: old files are
    removed only once all of their rows are in the table.
    """
    store = _store(data_dir)
    moved = store.migrate()
    if not moved:
        console.print(f"nothing to migrate in {store.root}", highlight=False)
        return
    for info in moved:
        console.print(
            f"migrated {info.symbol} {info.bar}: {info.rows:,} rows -> {info.path}",
            highlight=False,
            markup=False,
        )


@data_app.command("inspect")
def inspect(
    symbol: Annotated[str, typer.Argument(help="Dataset name, e.g. BTC.")],
    bar: Annotated[
        str | None, typer.Option(help="Only this bar (resampled when coarser than stored).")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Show rows, time range, bar, gaps, signal groups and per-column coverage and ranges."""
    store = _store(data_dir)
    bars = [bar_name(parse_bar(bar))] if bar else store.bars(symbol)
    if not bars:
        store.read(symbol)  # raises the "no data" error listing the stored symbols
    for b in bars:
        _inspect_one(store, symbol, b)


def _inspect_one(store: MarketStore, symbol: str, bar: str) -> None:
    frame = store.read(symbol, bar=bar)
    stored = bar in store.bars(symbol)
    title = f"{symbol.upper()} {bar}" + ("" if stored else " (resampled from a finer bar)")
    if frame.empty:
        console.print(f"{title}: no rows")
        return
    gaps = find_gaps(frame.index, bar)
    expected = int((frame.index[-1] - frame.index[0]) / parse_bar(bar)) + 1
    summary = Table(title=title, show_header=False, title_justify="left")
    summary.add_row(
        "rows", f"{len(frame):,} of {expected:,} bars in range ({len(frame) / expected:.1%})"
    )
    summary.add_row("time range", f"{_ts(frame.index[0])} .. {_ts(frame.index[-1])} UTC")
    summary.add_row(
        "bar",
        bar
        + ("" if len(frame) < 2 or infer_bar(frame.index) == parse_bar(bar) else " (irregular)"),
    )
    missing = int(gaps["missing_bars"].sum()) if len(gaps) else 0
    summary.add_row("gaps", f"{len(gaps):,} gap(s), {missing:,} missing bar(s)")
    if len(gaps):
        largest = gaps.sort_values("missing_bars", ascending=False).head(3)
        summary.add_row(
            "largest gaps",
            "; ".join(
                f"{_ts(r.start)} .. {_ts(r.end)} ({r.missing_bars} bars)"
                for r in largest.itertuples()
            ),
        )
    groups = signal_groups(frame)
    summary.add_row("signal groups", ", ".join(groups))
    absent = [g for g in SIGNAL_GROUPS if g not in groups]
    summary.add_row("absent groups", ", ".join(absent) or "none")
    from features.sources.live.collector import recorded_history  # the radar's recorder

    for name, value in recorded_history(store.root, symbol, frame):
        summary.add_row(name, value)
    console.print(summary)

    columns = Table(title=f"{title}: columns", title_justify="left")
    for col, justify in (
        ("column", "left"),
        ("group", "left"),
        ("coverage", "right"),
        ("min", "right"),
        ("max", "right"),
        ("first value at", "left"),
    ):
        columns.add_column(col, justify=justify)
    group_of = {c: g for g, cols in SIGNAL_GROUPS.items() for c in cols}
    for col in COLUMNS:
        if col not in frame:
            continue
        values = frame[col]
        count = int(values.notna().sum())
        if count == 0:
            columns.add_row(col, group_of.get(col, "context"), "0.0%", "-", "-", "-")
            continue
        columns.add_row(
            col,
            group_of.get(col, "context"),
            f"{count / len(frame):.1%}",
            _num(values.min()),
            _num(values.max()),
            _ts(values.first_valid_index()),
        )
    console.print(columns)


def _num(value: float) -> str:
    if not np.isfinite(value):
        return str(value)
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-3 or magnitude >= 1e9):
        return f"{value:.4g}"
    return f"{value:,.6g}"
