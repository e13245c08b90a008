"""``flushrisk score``: the backtest of every bar of a stored history, as /predict would answer."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from features.store import MarketStore
from training.cli.app import (
    EXIT_SYMBOLS_SKIPPED,
    DataDirOption,
    app,
    console,
    print_skipped,
    resolve_data_dir,
)


class DriversChoice(str, Enum):
    top = "top"
    none = "none"
    all = "all"


@app.command("score")
def score(
    symbols: Annotated[str, typer.Option("--symbols", help="BTC,ETH,... or 'all' (every stored symbol).")] = "BTC",
    data_dir: DataDirOption = None,
    start: Annotated[str | None, typer.Option("--start", help="First bar to score (default: the first stored).")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Last bar to score (default: the last stored).")] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", help="Model to use instead of each symbol's champion: NAME/VERSION, NAME@ALIAS, run id or directory."),
    ] = None,
    bar: Annotated[str | None, typer.Option("--bar", help="Default: the model's bar.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Also write every score to this Parquet file.")] = None,
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="Dask scheduler address (tcp://host:8786); 'local-process' runs without Dask."),
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Workers of the local Dask cluster (8 symbols or more run on one).")
    ] = 2,
    write_scores: Annotated[
        bool, typer.Option("--write-scores/--no-write-scores", help="Store the scores in the scores dataset (for the radar and pages).")
    ] = True,
    mlflow_home: Annotated[Path | None, typer.Option("--mlflow-home", help="MLflow store (default: settings mlflow_home).")] = None,
    drivers: Annotated[
        DriversChoice,
        typer.Option("--drivers", help="Which bars get drivers (tree SHAP, ~30x the cost of the probability): "
                     "top = bars at or above the alert level, none, or all (every bar, /predict's answer to the bit)."),
    ] = DriversChoice.top,
) -> None:
    """Probability and risk level for every bar of a stored history, per symbol; drivers where asked.

    Symbols without a champion (or with damaged data) are named with the reason and skipped; the
    others are scored, and the command then exits 3 (0 when every symbol was scored).
    """
    from training.pooled import parse_symbols
    from training.score import ScoreRequest, score_job

    root = resolve_data_dir(data_dir)
    names = parse_symbols(symbols, MarketStore(root), bar)
    outcome = score_job(
        ScoreRequest(
            data_dir=root, symbols=names, bar=bar, start=start, end=end, model=model,
            mlflow_home=mlflow_home, out=out, write_scores=write_scores, scheduler=scheduler,
            workers=workers, drivers=drivers.value,
        )
    )
    table = Table(title="Scored", title_justify="left")
    for col in ("symbol", "bar", "model", "bars scored", "from", "to"):
        table.add_column(col, justify="right" if col == "bars scored" else "left")
    for symbol, s in outcome.symbols.items():
        table.add_row(symbol, s["bar"], s["model"], str(s["rows"]), str(s["start"])[:16], str(s["end"])[:16])
    console.print(table)
    if write_scores:
        console.print(f"scores stored under {root / '_scores'} (flushrisk serve shows them)", highlight=False)
    if out is not None:
        console.print(f"written to {out}", highlight=False)
    if outcome.skipped:
        print_skipped(outcome.skipped)
        raise typer.Exit(EXIT_SYMBOLS_SKIPPED)
