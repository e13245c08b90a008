"""``flushrisk features build``: the labelled training windows of one symbol, as Parquet.

Reads the symbol from the market-data store at the requested bar, computes the features and
the label, keeps the labelled rows, and writes them (features, then a ``label`` column) to one
Parquet file, atomically. The :class:`~features.windows.WindowsMeta` (bar, signal groups, label
spec, time range, counts) is stored in the file's metadata (``DataFrame.attrs["flushrisk"]``
when read back with pandas) and printed as a summary.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import pydantic
import typer
from rich.table import Table

from features import LabelSpec, labelled_windows
from features.bars import bar_name, parse_bar
from features.errors import DataError
from features.label_defaults import DEFAULT_BTC_THRESHOLD_USD, resolve_threshold_usd
from features.labels import DEFAULT_OI_FRACTION, format_duration
from features.store import MarketStore, normalize_symbol, write_parquet_atomic
from training.cli.app import DataDirOption, console, features_app, resolve_data_dir

LABEL_COLUMN = "label"


class LabelKind(str, Enum):
    liquidation = "liquidation"
    proxy = "proxy"


def default_output(data_dir: Path, symbol: str, bar: str, kind: str) -> Path:
    """Where windows go unless --out says otherwise: beside the store, never inside a dataset."""
    return data_dir / "windows" / f"{normalize_symbol(symbol)}-{bar}-{kind}.parquet"


@features_app.command("build")
def build(
    symbol: Annotated[
        str | None, typer.Argument(help="Stored dataset, e.g. BTC (or use --symbols).")
    ] = None,
    label: Annotated[
        LabelKind,
        typer.Option(
            "--label", help="liquidation: long liquidations; proxy: price drop (no liquidations)."
        ),
    ] = LabelKind.liquidation,
    horizon: Annotated[str, typer.Option(help="Forward window of the label.")] = "1h",
    threshold_usd: Annotated[
        float | None,
        typer.Option(help="liquidation: absolute USD threshold (default: the quickstart's label, "
                     f"${DEFAULT_BTC_THRESHOLD_USD / 1e6:g}M on BTC scaled by market size for other symbols)."),
    ] = None,
    threshold_oi_fraction: Annotated[
        float | None,
        typer.Option(help=f"liquidation: threshold as a fraction of open interest (e.g. {DEFAULT_OI_FRACTION}) "
                     "instead of USD."),
    ] = None,
    k_vol: Annotated[
        float, typer.Option(help="proxy: drop in trailing-volatility units.")
    ] = LabelSpec.model_fields["k_vol"].default,
    vol_window: Annotated[
        str, typer.Option(help="proxy: trailing volatility window.")
    ] = format_duration(LabelSpec.model_fields["vol_window"].default),
    oi_drop_pct: Annotated[
        float | None, typer.Option(help="proxy: also require an OI drop of this many percent.")
    ] = None,
    bar: Annotated[
        str, typer.Option(help="Bar of the windows (resampled from finer data).")
    ] = "1h",
    stride: Annotated[
        str | None, typer.Option(help="Keep one row per STRIDE, e.g. 1h on 5m bars.")
    ] = None,
    data_dir: DataDirOption = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Output Parquet (default: DATA_DIR/windows/SYMBOL-BAR-LABEL.parquet)."
        ),
    ] = None,
    symbols: Annotated[
        str | None,
        typer.Option(
            "--symbols",
            help="Many symbols (A,B,... or 'all'): features of every stored month, partition by "
            "partition on Dask, to --out (default DATA_DIR/_features/SYMBOL/BAR/).",
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="--symbols: Dask scheduler address (default: a local cluster; "
            "'local-process' runs in this process without Dask)."
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option(help="--symbols: worker processes of the local cluster.", min=1)
    ] = 2,
) -> None:
    """Build the labelled windows of SYMBOL and write them to Parquet.

    With --symbols, build the features of many symbols instead (no labels), partition by
    partition on Dask; the result equals a single pass over each history, bit for bit.
    """
    data_dir = resolve_data_dir(data_dir)
    bar = bar_name(parse_bar(bar))
    if symbols is not None:
        _build_many(data_dir, symbols, bar, out, scheduler, workers)
        return
    if symbol is None:
        raise DataError("name a SYMBOL, or several with --symbols A,B,...")
    spec = _spec(
        kind=label.value,
        horizon=horizon,
        threshold_usd=resolve_threshold_usd(label.value, threshold_usd, threshold_oi_fraction, symbol),
        threshold_oi_fraction=threshold_oi_fraction,
        k_vol=k_vol,
        vol_window=vol_window,
        oi_drop_pct=oi_drop_pct,
    )
    frame = MarketStore(data_dir).read(symbol, bar=bar)
    with console.status(f"computing features and labels of {len(frame):,} {bar} bars"):
        X, y, meta = labelled_windows(frame, spec, stride=stride)
    table = X.assign(**{LABEL_COLUMN: y})
    table.attrs["flushrisk"] = {"symbol": normalize_symbol(symbol), **meta.model_dump(mode="json")}
    path = out if out is not None else default_output(data_dir, symbol, bar, spec.kind)
    write_parquet_atomic(table, path)
    _summary(symbol, spec, meta, path)


def _build_many(
    data_dir: Path, symbols: str, bar: str, out: Path | None, scheduler: str | None, workers: int
) -> None:
    from features.distributed import FEATURES_DIR, all_symbols, build_features_partitioned

    names = all_symbols(data_dir) if symbols.strip().lower() == "all" else [
        s for s in (part.strip() for part in symbols.split(",")) if s
    ]
    if not names:
        raise DataError(f"--symbols {symbols!r}: no symbols (stored: none in {data_dir})")
    target = out if out is not None else data_dir / FEATURES_DIR
    where = scheduler or f"a local Dask cluster of {workers} worker(s)"
    with console.status(f"building features of {len(names)} symbol(s) on {where}"):
        built = build_features_partitioned(
            data_dir, names, bar, target, scheduler=scheduler, workers=workers
        )
    table = Table(title=f"features ({bar}) -> {target}", title_justify="left")
    for column in ("symbol", "months", "rows"):
        table.add_column(column, justify="right" if column == "rows" else "left")
    for name in dict.fromkeys(b.symbol for b in built):
        mine = [b for b in built if b.symbol == name]
        months = [m for b in mine for m in b.months]
        table.add_row(name, f"{months[0]} .. {months[-1]}", f"{sum(b.rows for b in mine):,}")
    console.print(table)


def _spec(**fields: object) -> LabelSpec:
    """The label spec, with a validation failure turned into a one-line user error."""
    try:
        return LabelSpec(**{k: v for k, v in fields.items() if v is not None})
    except pydantic.ValidationError as err:
        problems = "; ".join(
            f"--{'-'.join(str(p) for p in e['loc']).replace('_', '-')}: {e['msg']}"
            for e in err.errors()
        )
        raise DataError(f"invalid label options: {problems}") from None


def _summary(symbol: str, spec: LabelSpec, meta, path: Path) -> None:
    table = Table(title=f"labelled windows: {normalize_symbol(symbol)}", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    table.add_row("label", spec.describe())
    table.add_row("bar", meta.bar + (f" (stride {meta.stride})" if meta.stride else ""))
    table.add_row("time range", f"{meta.start:%Y-%m-%d %H:%M} .. {meta.end:%Y-%m-%d %H:%M} UTC")
    table.add_row("rows", f"{meta.rows:,}")
    table.add_row("positives", f"{meta.positives:,}")
    table.add_row("base rate", f"{meta.base_rate:.3%}")
    table.add_row("groups present", ", ".join(meta.groups))
    table.add_row("features", str(len(meta.features)))
    console.print(table)
    console.print(f"written to {path}", soft_wrap=True, highlight=False)
