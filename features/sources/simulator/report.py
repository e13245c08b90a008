"""The realism table: the simulator (mean of three seeds) beside real data and the real targets.

``flushrisk data simulate --report`` and ``benchmarks/bench_simulator.py`` print it, so that a
user sees, fact by fact, where the simulator stands against the issue's real figures and
against every dataset of their own store, and which facts a dataset cannot support.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from rich.table import Table

from features.errors import DataError
from features.sources.simulator.calibrate import Calibration
from features.sources.simulator.config import SimConfig
from features.sources.simulator.market import simulate
from features.sources.simulator.realism import (
    BOOT_REPS,
    FACTS,
    Fact,
    Facts,
    FactValue,
    mean_facts,
    passes,
    stylised_facts,
)

REPORT_SEEDS: tuple[int, ...] = (11, 12, 13)


def simulated_facts(
    config: SimConfig,
    symbol: str = "BTC",
    days: float = 365,
    seeds: Sequence[int] = REPORT_SEEDS,
    reps: int = BOOT_REPS,
) -> tuple[list[Facts], Facts]:
    """Facts of one simulated symbol per seed (hourly bars), and their mean over the seeds."""
    runs = [
        stylised_facts(
            simulate(symbol, days=days, bar="1h", seed=s, config=config),
            f"seed {s}",
            reps=reps,
            seed=s,
        )
        for s in seeds
    ]
    label = f"simulated {symbol} (mean of seeds {', '.join(map(str, seeds))})"
    return runs, mean_facts(runs, label)


def store_facts(data_dir: Path, reps: int = BOOT_REPS) -> tuple[list[Facts], list[str]]:
    """Facts of every symbol in a store (finest stored bar, read at 1h), plus skip notes."""
    from features.store import MarketStore

    store = MarketStore(data_dir)
    out: list[Facts] = []
    notes: list[str] = []
    if not Path(data_dir).is_dir():
        return out, [f"no store at {data_dir}"]
    for symbol in sorted({d.symbol for d in store.datasets()}):
        try:
            frame = store.read(symbol, "1h")
            out.append(stylised_facts(frame, f"{symbol} (store)", reps=reps))
        except DataError as err:
            notes.append(f"{symbol}: skipped ({err})")
    return out, notes


def _cell(fact: Fact, v: FactValue | None, show_ci: bool) -> str:
    if v is None or not v.ok:
        return "n/a" if v is None else f"n/a: {v.missing}"
    text = fact.fmt.format(v.value)
    if show_ci and v.ci is not None and all(math.isfinite(c) for c in v.ci):
        text += f" ({fact.fmt.format(v.ci[0])}-{fact.fmt.format(v.ci[1])})"
    return text


def realism_table(sim: Facts, others: Sequence[Facts] = (), title: str | None = None) -> Table:
    """Fact by fact: the issue's real figures, the target band, the simulator and pass/fail.

    The simulator's cell shows the mean over seeds with the seeds' min-max in brackets; a
    real dataset's hazard ratios show their 90 % block-bootstrap CI.
    """
    table = Table(title=title or f"stylised facts: {sim.name} vs real markets")
    table.add_column("stylised fact")
    table.add_column("real (issue)", justify="right")
    table.add_column("target", justify="right")
    table.add_column(sim.name, justify="right")
    table.add_column("pass", justify="center")
    for other in others:
        table.add_column(other.name, justify="right")
    for fact in FACTS:
        v = sim.values.get(fact.key)
        verdict = (
            "[green]pass[/]" if v is not None and passes(fact.key, v.value) else "[red]FAIL[/]"
        )
        row = [
            fact.label,
            fact.real,
            f"{fact.fmt.format(fact.lo)} to {fact.fmt.format(fact.hi)}",
            _cell(fact, v, show_ci=True),
            verdict,
        ]
        row += [_cell(fact, o.values.get(fact.key), show_ci=fact.hazard) for o in others]
        table.add_row(*row)
    return table


def failing(sim: Facts) -> list[str]:
    """Labels of the facts the simulator misses."""
    return [f.label for f in FACTS if not passes(f.key, sim.value(f.key))]


def calibration_table(result: Calibration) -> Table:
    """Each fact: real, simulated before and after the fit, and whether the real value now
    falls in the 90 % interval one dataset of its length shows under the fitted simulator."""
    table = Table(title=f"calibration to {result.symbol}: real vs simulated (mean of seeds)")
    for col in ("stylised fact", "real", "before", "after", "90 % interval", "match"):
        table.add_column(col, justify="left" if col == "stylised fact" else "right")
    for f in FACTS:
        if f.key not in result.fitted_keys:
            why = result.left_out.get(f.key, "not fitted")
            table.add_row(f.label, f"n/a: {why}", "", "", "", "left out")
            continue
        after = result.after.value(f.key)
        half = result.ci_half.get(f.key, math.nan)
        interval = (
            f"{f.fmt.format(after - half)} to {f.fmt.format(after + half)}"
            if math.isfinite(half)
            else "n/a"
        )
        table.add_row(
            f.label,
            _cell(f, result.real.values[f.key], show_ci=f.hazard),
            _cell(f, result.before.values.get(f.key), show_ci=False),
            _cell(f, result.after.values.get(f.key), show_ci=False),
            interval,
            "[green]yes[/]" if result.matched(f.key) else "[red]no[/]",
        )
    return table
