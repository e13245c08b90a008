"""The realism report: the simulator seed by seed, beside every real reference, with pass/fail.

``flushrisk data simulate --report`` and ``benchmarks/bench_simulator.py`` print it. Three
tables, each narrow enough for an 80-column terminal:

1. each seed's value of each fact against the band, marked when it misses (a mean of seeds
   can hide a seed that fails);
2. the real references (the built-in ones of :data:`.realism.REFERENCES` and every dataset
   in the user's store) beside the simulator's mean, each with its own pass/fail;
3. long-run facts of multi-year runs: the end/start price ratio after 1 and 2 years, and the
   month-to-month spread of a USD label's base rate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from rich import box
from rich.table import Table

from features.errors import DataError
from features.label_defaults import default_threshold_usd
from features.sources.simulator.calibrate import Calibration
from features.sources.simulator.config import SimConfig, base_asset
from features.sources.simulator.market import simulate
from features.sources.simulator.realism import (
    BOOT_REPS,
    FACTS,
    MONTHLY_CV_MAX,
    REAL_MONTHLY_CV,
    Fact,
    Facts,
    FactValue,
    mean_facts,
    passes,
    stylised_facts,
)

REPORT_SEEDS: tuple[int, ...] = (11, 12, 13, 14, 15)
# End/start price ratio a multi-year run must stay within: the preset states no drift, and
# BTC's volatility over two years (about 0.45 * sqrt(2) in log price, held in by the slow
# pull to the start level) puts 0.33-3 far outside noise, so a miss is a drift.
PRICE_RATIO_BAND = (1 / 3, 3.0)


@dataclass(frozen=True)
class LongRun:
    """One seed's long-run facts: price ratios and the monthly spread of a USD label."""

    seed: int
    ratio_1y: float
    ratio_2y: float
    label_usd: float
    base_rate: float
    monthly_cv: float  # within 4-month windows (as long as the real set), mean over windows
    monthly_cv_all: float  # over every month of the run

    def ok(self) -> bool:
        lo, hi = PRICE_RATIO_BAND
        ratios = [r for r in (self.ratio_1y, self.ratio_2y) if math.isfinite(r)]
        return all(lo <= r <= hi for r in ratios) and self.monthly_cv <= MONTHLY_CV_MAX


def label_usd(config: SimConfig, symbol: str) -> float:
    """The quickstart's USD label for a simulated symbol: $5M on BTC, scaled by size (the one
    definition in :mod:`features.label_defaults`, on this config's market sizes)."""
    return default_threshold_usd(symbol, config)


def long_run(frame: pd.DataFrame, seed: int, usd: float) -> LongRun:
    """Price ratios after 1 and 2 years (NaN when the run is shorter) and the monthly
    base-rate spread (coefficient of variation over whole months) of ``long liq >= usd``."""
    close = frame["close"]
    start = close.iloc[0]

    def ratio(days: int) -> float:
        pos = days * 24 - 1
        return float(close.iloc[pos] / start) if len(close) > pos else math.nan

    hit = (frame["long_liq_usd"] >= usd).astype(float)
    monthly = hit.groupby([frame.index.year, frame.index.month]).agg(["mean", "size"])
    monthly = monthly[monthly["size"] >= 24 * 28]["mean"].to_numpy()
    windows = [monthly[i : i + 4] for i in range(0, len(monthly) - 3, 4)]
    return LongRun(
        seed,
        ratio(365),
        ratio(730),
        usd,
        float(hit.mean()),
        float(np.mean([_cv(w) for w in windows])) if windows else _cv(monthly),
        _cv(monthly),
    )


def _cv(values: np.ndarray) -> float:
    """Coefficient of variation (sample std / mean); NaN for fewer than 2 values."""
    if len(values) < 2 or np.mean(values) <= 0:
        return math.nan
    return float(np.std(values, ddof=1) / np.mean(values))


def simulated_facts(
    config: SimConfig,
    symbol: str = "BTC",
    days: float = 365,
    seeds: Sequence[int] = REPORT_SEEDS,
    reps: int = BOOT_REPS,
    long_days: float = 0,
) -> tuple[list[Facts], Facts, list[LongRun]]:
    """Facts of one simulated symbol per seed (hourly bars, the first ``days``), their mean,
    and, with ``long_days``, each seed's long-run facts over that many days (the same run:
    a longer simulation begins with the shorter one, so both come from one pass)."""
    runs, longs = [], []
    usd = label_usd(config, symbol)
    for s in seeds:
        frame = simulate(symbol, days=max(days, long_days), bar="1h", seed=s, config=config)
        head = frame.iloc[: round(days * 24)]
        runs.append(stylised_facts(head, f"seed {s}", reps=reps, seed=s))
        if long_days:
            longs.append(long_run(frame, s, usd))
    label = f"sim {base_asset(symbol)} mean"[:13]
    return runs, mean_facts(runs, label), longs


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


def _value(fact: Fact, v: FactValue | None) -> str:
    return "n/a" if v is None or not v.ok else fact.fmt.format(v.value)


def _band(fact: Fact) -> str:
    return f"{fact.lo:.3g}-{fact.hi:.3g}"


def _marked(fact: Fact, v: FactValue | None) -> str:
    """The value, red with a cross when outside the band; 'n/a' when not measurable."""
    if v is None or not v.ok:
        return "[dim]n/a[/]"
    text = _value(fact, v)
    return text if passes(fact.key, v.value) else f"[red]{text}x[/]"


def _table(title: str, first: Sequence[str]) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0))
    table.add_column(first[0], no_wrap=True)
    table.add_column(first[1], justify="right", no_wrap=True)
    return table


def seeds_table(runs: Sequence[Facts], title: str | None = None) -> Table:
    """Each seed's value of each fact; a miss is red and marked with x."""
    table = _table(title or "realism per seed (x: outside the band)", ("fact", "band"))
    for run in runs:
        table.add_column(run.name.replace("seed ", "s"), justify="right", no_wrap=True)
    for f in FACTS:
        table.add_row(f.label, _band(f), *[_marked(f, r.values.get(f.key)) for r in runs])
    table.add_row(
        "[bold]facts in band[/]", "",
        *[f"[bold]{len(FACTS) - len(failing(r))}/{len(FACTS)}[/]" for r in runs],
    )
    return table


REFS_PER_TABLE = 2  # reference columns per table, so that it fits 80 columns


def references_tables(sim: Facts, references: Sequence[Facts]) -> list[Table]:
    """The simulator beside every reference, two references per table (80 columns)."""
    chunks = [references[i : i + REFS_PER_TABLE] for i in range(0, len(references), REFS_PER_TABLE)]
    return [references_table(sim, chunk) for chunk in chunks or [()]]


def references_table(sim: Facts, references: Sequence[Facts], title: str | None = None) -> Table:
    """The simulator's mean beside each real reference, every value marked against the band."""
    table = _table(title or "simulator vs real references (x: outside the band)", ("fact", "band"))
    for col in (sim, *references):
        table.add_column(_short(col.name), justify="right", no_wrap=True)
    for f in FACTS:
        cells = [_marked(f, col.values.get(f.key)) for col in (sim, *references)]
        table.add_row(f.label, _band(f), *cells)
    table.add_row(
        "[bold]in band / measured[/]", "",
        *[f"[bold]{_score(col)}[/]" for col in (sim, *references)],
    )
    return table


def _short(name: str, width: int = 13) -> str:
    return name if len(name) <= width else name[: width - 1] + "."


def _score(facts: Facts) -> str:
    measured = facts.supported()
    good = [k for k in measured if passes(k, facts.value(k))]
    return f"{len(good)}/{len(measured)}"


def long_run_table(runs: Sequence[LongRun], title: str | None = None) -> Table:
    """Per seed: end/start price after 1 and 2 years, and the USD label's monthly spread."""
    lo, hi = PRICE_RATIO_BAND
    usd = runs[0].label_usd if runs else math.nan
    table = Table(
        title=title or f"long run (label: long liq >= ${usd / 1e6:.3g}M in the hour)",
        box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1),
    )
    for col in ("seed", "price 1y", "price 2y", "base rate", "CV 4 mo", "CV all", "pass"):
        table.add_column(col, justify="right", no_wrap=True)
    for r in runs:
        table.add_row(
            str(r.seed),
            "n/a" if not math.isfinite(r.ratio_1y) else f"{r.ratio_1y:.2f}",
            "n/a" if not math.isfinite(r.ratio_2y) else f"{r.ratio_2y:.2f}",
            f"{r.base_rate:.1%}",
            f"{r.monthly_cv:.2f}",
            f"{r.monthly_cv_all:.2f}",
            "[green]pass[/]" if r.ok() else "[red]FAIL[/]",
        )
    table.caption = (
        f"band: end/start price {lo:.2f}-{hi:.0f}; CV of the monthly base rate within "
        f"4-month windows <= {MONTHLY_CV_MAX:.2f} (real $5M label: {REAL_MONTHLY_CV:.2f} "
        "over its 4 months)"
    )
    return table


def failing(sim: Facts) -> list[str]:
    """Labels of the facts the simulator misses."""
    return [f.label for f in FACTS if not passes(f.key, sim.value(f.key))]


def seed_summary(runs: Sequence[Facts]) -> str:
    """One line: how many seeds pass every fact, and which facts fail on which seeds."""
    bad = {r.name: failing(r) for r in runs}
    good = [n for n, miss in bad.items() if not miss]
    text = f"{len(good)} of {len(runs)} seeds pass all {len(FACTS)} facts"
    misses = [f"{n}: {', '.join(m)}" for n, m in bad.items() if m]
    return text + (f"; misses: {'; '.join(misses)}" if misses else "")


def calibration_table(result: Calibration) -> Table:
    """Each fact: real, the default preset and the fitted config on held-out seeds (mean),
    and whether each meets the real value (within the 90 % interval one dataset of its
    length shows under that config)."""
    table = _table(
        f"calibration to {result.symbol}: held-out seeds (y: meets the real value)",
        ("fact", "real"),
    )
    for col in ("default", "fitted"):
        table.add_column(col, justify="right", no_wrap=True)
    for f in FACTS:
        if f.key not in result.fitted_keys:
            table.add_row(f.label, "[dim]n/a[/]", "", "[dim]left out[/]")
            continue
        default = result.default.values.get(f.key) if result.default is not None else None
        table.add_row(
            f.label,
            _value(f, result.real.values[f.key]),
            _value(f, default) + (" y" if result.default_matched(f.key) else "  "),
            _value(f, result.after.values.get(f.key)) + (" y" if result.matched(f.key) else "  "),
        )
    table.add_row(
        "[bold]facts met[/]", "", f"[bold]{result.default_met()}[/]", f"[bold]{result.met()}[/]"
    )
    return table
