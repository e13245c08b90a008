"""``flushrisk data simulate``: fill the store with simulated perpetual-futures markets.

The embedded default data source: no network, every signal group present, and true
liquidations as ground truth (see :mod:`features.sources.simulator` for the mechanism).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from features.atomic import write_text_atomic
from features.bars import bar_name, parse_bar
from features.errors import DataError
from features.sources.simulator import (
    PRESETS,
    base_asset,
    get_preset,
    load_config,
    simulate_markets,
)
from features.sources.simulator.calibrate import calibrate, config_overrides
from features.sources.simulator.config import SimConfig
from features.sources.simulator.realism import FACTS, fact, reference_facts
from features.sources.simulator.report import (
    calibration_table,
    failing,
    long_run_table,
    references_tables,
    seed_summary,
    seeds_table,
    simulated_facts,
    store_facts,
)

REPORT_SEED_COUNT = 5  # --report simulates seeds SEED..SEED+4
LONG_RUN_DAYS = 730.0  # and runs each for two years for the long-run facts
from features.store import MarketStore
from training.cli.app import DataDirOption, console, data_app, resolve_data_dir


def _symbols(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:
        raise DataError("--symbols needs at least one symbol, e.g. BTC,ETH")
    return names


def _print_report(names: list[str], cfg: SimConfig, days: float, seed: int, data_dir: Path) -> None:
    with console.status("measuring the stylised facts of the store's datasets"):
        stored, notes = store_facts(data_dir)
    for note in notes:
        console.print(note, highlight=False)
    references = [*reference_facts(), *stored]
    seeds = tuple(range(seed, seed + REPORT_SEED_COUNT))
    for name in names:
        with console.status(f"simulating {name} with seeds {seed}-{seeds[-1]}, 2 years each"):
            runs, sim, longs = simulated_facts(
                cfg, name, days=days, seeds=seeds, long_days=max(days, LONG_RUN_DAYS)
            )
        console.print(seeds_table(runs, f"{name}: realism per seed (x: outside the band)"))
        for table in references_tables(sim, references):
            console.print(table)
        console.print(long_run_table(longs))
        console.print(f"{name}: {seed_summary(runs)}", highlight=False)
        for ref in references:
            measured = ref.supported()
            missed = [f.label for f in FACTS if f.key in measured and f.label in failing(ref)]
            console.print(
                f"{ref.name}: {len(measured) - len(missed)} of {len(measured)} measurable "
                "facts in their band" + (f"; missed: {'; '.join(missed)}" if missed else ""),
                highlight=False,
            )
        bad = [str(r.seed) for r in longs if not r.ok()]
        console.print(
            f"{name}: long run {len(longs) - len(bad)} of {len(longs)} seeds in band"
            + (f" (outside: seeds {', '.join(bad)})" if bad else ""),
            highlight=False,
        )


def _price(value: float) -> str:
    return f"{value:,.0f}" if value >= 1000 else f"{value:.4g}"


@data_app.command("simulate")
def simulate_command(
    symbols: Annotated[
        str,
        typer.Option(
            "--symbols", "-s", help="Comma-separated symbols: BTC, ETH, SOL, or any name."
        ),
    ] = "BTC",
    days: Annotated[float, typer.Option(help="Days to simulate, from 2025-01-01 UTC.")] = 365,
    bar: Annotated[
        str, typer.Option(help="Bar of the stored frame: 1m, 5m, 15m, 30m or 1h.")
    ] = "1m",
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same data.")] = 7,
    preset: Annotated[
        str, typer.Option(help=f"Behaviour preset: {', '.join(PRESETS)}.")
    ] = "default",
    config: Annotated[
        Path | None,
        typer.Option(
            help="YAML/JSON overrides on top of --preset (or of the file's own 'preset')."
        ),
    ] = None,
    report: Annotated[
        bool,
        typer.Option(
            "--report",
            help="Write nothing; print the realism report: each symbol simulated with seeds "
            "SEED..SEED+4 (hourly; facts on the first --days, long-run facts over 2 years), "
            "each seed's pass/fail, and the simulator beside the real references and every "
            "dataset in the store, each with its pass/fail.",
        ),
    ] = False,
    calibrate_to: Annotated[
        str | None,
        typer.Option(
            "--calibrate-to",
            help="Fit the simulator to the stylised facts of this stored symbol (simulated "
            "method of moments) and write the fitted config to --out; stores nothing.",
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Where --calibrate-to writes the fitted YAML config.")
    ] = None,
    trials: Annotated[int, typer.Option(help="Most --calibrate-to trials.", min=1)] = 200,
    timeout: Annotated[
        float, typer.Option(help="Most seconds --calibrate-to searches.", min=1)
    ] = 240.0,
    data_dir: DataDirOption = None,
) -> None:
    """Simulate markets with leverage build-ups and liquidation cascades into the store.

    Several symbols are simulated together: they share a market factor (BTC's index, cascades
    included), so a BTC flush can set off flushes in the alts.
    """
    names = _symbols(symbols)
    bar = bar_name(parse_bar(bar))
    cfg = load_config(config, preset) if config is not None else get_preset(preset)
    for name in names:
        base_asset(name)  # fail on a bad name before simulating anything
    if calibrate_to is not None:
        if out is None:
            raise DataError("--calibrate-to needs --out CONFIG.yaml, where the fitted config goes")
        base_name = preset if config is None else "default"
        _calibrate(calibrate_to, cfg, base_name, out, trials, timeout, resolve_data_dir(data_dir))
        return
    if report:
        _print_report(names, cfg, days, seed, resolve_data_dir(data_dir))
        return
    store = MarketStore(resolve_data_dir(data_dir))
    paths: list[Path] = []

    table = Table(title=f"simulated ({preset if config is None else config}, seed {seed})")
    for col in ("symbol", "bar", "rows", "last bar", "close range", "long liq"):
        table.add_column(col, no_wrap=True)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("bars"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task(f"{','.join(names)} {bar}", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        frames = simulate_markets(
            names, days=days, bar=bar, seed=seed, config=cfg, progress=advance
        )
    for name, frame in frames.items():
        result = store.write(name, frame, source=f"simulator seed {seed}")
        paths.append(result.path)
        table.add_row(
            name,
            bar,
            str(len(frame)),
            f"{frame.index[-1]:%Y-%m-%d %H:%M}",
            f"{_price(frame['close'].min())} - {_price(frame['close'].max())}",
            f"${frame['long_liq_usd'].sum() / 1e6:,.0f}M",
        )
    console.print(table)
    for path in paths:
        console.print(f"wrote {path}", highlight=False, soft_wrap=True)


def _calibrate(
    symbol: str,
    cfg: SimConfig,
    preset: str,
    out: Path,
    trials: int,
    timeout: float,
    data_dir: Path,
) -> None:
    """Read -> fit -> report -> write the config."""
    frame = MarketStore(data_dir).read(symbol, "1h")
    with Progress(
        TextColumn("[bold]calibrating to " + base_asset(symbol)),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("trials, best score {task.fields[best]}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("fit", total=trials, best="-")

        def advance(done: int, best: float) -> None:
            progress.update(task, completed=done, best=f"{best:.2f}")

        result = calibrate(
            frame, symbol, cfg, trials=trials, timeout_seconds=timeout, progress=advance
        )
    console.print(calibration_table(result))
    console.print(result.reason, highlight=False, soft_wrap=True)
    for key, why in result.left_out.items():
        console.print(f"left out of the fit: {fact(key).label} ({why})", highlight=False)
    text = yaml.safe_dump(
        config_overrides(result.config, get_preset(preset), preset), sort_keys=False
    )
    write_text_atomic(out, f"# fitted by flushrisk data simulate --calibrate-to {symbol}\n{text}")
    console.print(
        f"{result.trials} trials in {result.seconds:.0f} s; wrote {out} "
        f"(use: flushrisk data simulate --config {out})",
        highlight=False,
        soft_wrap=True,
    )
