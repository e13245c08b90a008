"""Simulator speed and realism, measured, against baselines from the same run.

Speed: seconds and rows/s to simulate one symbol-year of 1-minute bars (525,600 rows,
validated canonical frame), against a numpy random walk of the same length turned into a
frame of the same 17 columns (the floor cost of producing that much data). The numba JIT
compile time is measured separately, in a subprocess with an empty numba cache. Target:
<= 10 s per symbol-year on one core.

Realism: the stylised-fact table of the simulator's issue (kurtosis, volatility clustering,
funding, OI growth, the liquidation distribution and the flush hazard ratios) for a year of
hourly BTC, seed by seed (11-15), beside the real data sets in ../shared/data and the built-in
real targets, with pass/fail per fact; plus the share of large long-squeeze hours per preset.

Run: ``.venv/bin/python benchmarks/bench_simulator.py [--repeats 3] [--seed 7] [--preset P]
[--skip-speed]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.timing import time_calls
from features.schema import COLUMNS, validate_frame
from features.sources.simulator import PRESETS, large_squeeze_hours, simulate, summary_stats
from features.sources.simulator.realism import FACTS, REFERENCES, stylised_facts
from features.sources.simulator.report import (
    failing,
    long_run_table,
    references_tables,
    seed_summary,
    seeds_table,
    simulated_facts,
)

OKX_FILE = ROOT.parent / "shared" / "data" / "okx_btc_usd_swap_1h.csv"
COINGLASS_FILE = ROOT.parent / "shared" / "data" / "coinglass_btc_1h_dev.csv"
YEAR_MINUTES = 365 * 1440
TARGET_SECONDS = 10.0

console = Console()

_COMPILE_SNIPPET = """
import time
t = time.perf_counter()
from features.sources.simulator import simulate
t_import = time.perf_counter()
simulate("BTC", days=1, bar="1h", seed=1)
t_first = time.perf_counter()
simulate("BTC", days=1, bar="1h", seed=1)
t_second = time.perf_counter()
print((t_first - t_import) - (t_second - t_first))
"""


def compile_seconds() -> float:
    """First-call overhead (JIT compile) in a fresh interpreter with an empty numba cache."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        out = subprocess.run(
            [sys.executable, "-c", _COMPILE_SNIPPET],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
    return float(out.stdout.strip().splitlines()[-1])


def random_walk_frame(rows: int, seed: int) -> pd.DataFrame:
    """The baseline: a geometric random walk and noise for every canonical column."""
    rng = np.random.default_rng(seed)
    close = 90_000 * np.exp(np.cumsum(rng.standard_normal(rows) * 7e-4))
    noise = rng.uniform(0.01, 0.99, (rows, len(COLUMNS) - 4))
    frame = pd.DataFrame(noise, columns=list(COLUMNS[4:]))
    frame["open"] = np.r_[close[0], close[:-1]]
    frame["high"] = np.maximum(frame["open"], close) * 1.0005
    frame["low"] = np.minimum(frame["open"], close) * 0.9995
    frame["close"] = close
    frame["index_price"] = close
    frame["mark_price"] = close
    frame["funding_rate"] = noise[:, 0] * 1e-4
    frame.index = pd.date_range("2025-01-01", periods=rows, freq="1min", tz="UTC", name="time")
    return validate_frame(frame[list(COLUMNS)], "random walk")


def speed(repeats: int, seed: int) -> None:
    compile_s = compile_seconds()
    simulate("BTC", days=1, bar="1m", seed=seed)  # load the compiled kernel
    sim = time_calls(lambda: simulate("BTC", days=365, bar="1m", seed=seed), repeats)
    sim_1h = time_calls(lambda: simulate("BTC", days=365, bar="1h", seed=seed), repeats)
    base = time_calls(lambda: random_walk_frame(YEAR_MINUTES, seed), repeats)
    table = Table(
        title=f"one symbol-year of 1-minute steps ({YEAR_MINUTES:,} minutes), {repeats} runs"
    )
    for col in ("what", "rows out", "seconds (best)", "seconds (median)", "rows/s", "vs baseline"):
        table.add_column(col, justify="right" if col != "what" else "left")
    best_base = min(base)
    for name, rows, times in (
        ("simulate(bar='1m')", YEAR_MINUTES, sim),
        ("simulate(bar='1h'), same minutes aggregated", YEAR_MINUTES // 60, sim_1h),
        ("baseline: numpy random walk + validate, 1m", YEAR_MINUTES, base),
    ):
        table.add_row(
            name,
            f"{rows:,}",
            f"{min(times):.3f}",
            f"{statistics.median(times):.3f}",
            f"{rows / min(times):,.0f}",
            f"{min(times) / best_base:.2f}x",
        )
    console.print(table)
    verdict = "OK" if min(sim) <= TARGET_SECONDS else "TOO SLOW"
    console.print(
        f"numba compile (cold cache, first call): {compile_s:.2f} s; "
        f"target <= {TARGET_SECONDS:.0f} s per symbol-year: {min(sim):.2f} s -> {verdict}",
        highlight=False,
    )


def _real_frames() -> list[tuple[str, pd.DataFrame]]:
    """The real data sets beside the project that the realism table can read."""
    from features.sources.coinglass import import_coinglass
    from features.sources.okx import import_okx_hourly

    out = []
    for name, path, reader in (
        ("Coinglass dev", COINGLASS_FILE, import_coinglass),
        ("OKX 1h", OKX_FILE, import_okx_hourly),
    ):
        if path.exists():
            out.append((name, reader(path)))
        else:
            console.print(f"[yellow]real data {path} absent: left out of the realism table[/]")
    return out


def realism(seeds: tuple[int, ...], preset: str, days: float) -> None:
    """The realism report: each seed, the references measured again from ../shared/data
    (compared with the figures built into the package), and the long-run facts."""
    cfg = PRESETS[preset]
    real = [stylised_facts(frame, name) for name, frame in _real_frames()]
    for ref in real:
        built_in = REFERENCES.get(ref.name, {})
        for key, figure in built_in.items():
            value = figure[0] if isinstance(figure, tuple) else figure
            if abs(ref.value(key) - value) > 0.02 * abs(value) + 0.002:
                console.print(
                    f"[yellow]{ref.name}: {key} measures {ref.value(key):.4g}, the package "
                    f"says {value:.4g}: update realism.REFERENCES[/]"
                )
    runs, sim, longs = simulated_facts(cfg, "BTC", days=days, seeds=seeds, long_days=730)
    console.print(seeds_table(runs, f"preset {preset!r}: realism per seed"))
    for table in references_tables(sim, real):
        console.print(table)
    console.print(long_run_table(longs))
    console.print(seed_summary(runs), highlight=False)
    for ref in real:
        missed = [f.label for f in FACTS if f.key in ref.supported() and f.label in failing(ref)]
        console.print(
            f"{ref.name}: {len(ref.supported()) - len(missed)} of {len(ref.supported())} "
            "measurable facts in band " + ("PASS" if not missed else f"FAIL: {missed}"),
            highlight=False,
        )
    bad = [r.seed for r in longs if not r.ok()]
    console.print(
        f"long run: {len(longs) - len(bad)} of {len(longs)} seeds in band "
        + ("PASS" if not bad else f"FAIL (seeds {bad})"),
        highlight=False,
    )

    presets = Table(title=f"large long-squeeze hours (long liq >= 0.3% of OI), BTC 1h, seed {seeds[0]}")
    for col in ("preset", "share of hours", "top-1% share of long liq", "annual vol", "kurtosis"):
        presets.add_column(col, justify="right" if col != "preset" else "left")
    for name in PRESETS:
        frame = simulate("BTC", days=days, bar="1h", seed=seeds[0], preset=name)
        s = summary_stats(frame)
        presets.add_row(
            name,
            f"{large_squeeze_hours(frame).mean():.2%}",
            f"{s['long_liq_top1pct_share']:.2f}",
            f"{s['annual_vol']:.2f}",
            f"{s['return_excess_kurtosis']:.1f}",
        )
    console.print(presets)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7, help="seed of the speed runs")
    parser.add_argument(
        "--seeds", default="11,12,13,14,15", help="seeds the realism report shows"
    )
    parser.add_argument("--preset", default="default", choices=list(PRESETS))
    parser.add_argument("--days", type=float, default=365, help="days per realism run")
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args()
    if not args.skip_speed:
        speed(args.repeats, args.seed)
    realism(tuple(int(s) for s in args.seeds.split(",")), args.preset, args.days)


if __name__ == "__main__":
    main()
