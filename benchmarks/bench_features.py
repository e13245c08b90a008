"""Speed and memory of the feature pipeline, against a baseline measured in the same run.

Targets (issue 4): one symbol-year of 1-minute bars (525,600 rows) builds in <= 5 s using
<= 2 GB, cost linear in rows; ``features_at`` on 30 days of hourly bars well inside the
serving budget (p99 <= 15 ms including HTTP).

    .venv/bin/python benchmarks/bench_features.py [--repeat 3] [--calls 500]

Prints rows/s at three sizes, the linearity ratio (seconds per row at the largest size over
the smallest), the peak extra RSS of the largest build, the ratio to a single pandas rolling
mean over the same rows (the baseline), and features_at latency percentiles.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from typing import Self

import numpy as np
from rich.console import Console
from rich.table import Table

from benchmarks.timing import time_calls
from features import MIN_WINDOW, build_features, features_at
from features.sources.simulator import simulate

SIZES = (52_560, 175_200, 525_600)  # 1-minute bars: 36.5 days, 4 months, one year
PAGE = 4096


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class PeakRss:
    """Samples the resident set size every 5 ms while a block runs."""

    def __enter__(self) -> Self:
        self.before = rss_bytes()
        self.peak = self.before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(0.005)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())

    @property
    def extra_mb(self) -> float:
        return (self.peak - self.before) / 2**20


def best_of(repeat: int, func) -> float:
    return min(time_calls(func, repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()
    console = Console()

    start = time.perf_counter()
    year = simulate("BTC", days=365, bar="1m", seed=7)
    console.print(f"simulated {len(year):,} 1m bars in {time.perf_counter() - start:.1f} s")

    start = time.perf_counter()
    build_features(year.iloc[:5_000])
    console.print(f"first call (numba compile or cache load): {time.perf_counter() - start:.2f} s")

    table = Table(title=f"build_features on 1-minute bars (best of {args.repeat})")
    for col in ("rows", "seconds", "rows/s", "baseline s", "x baseline"):
        table.add_column(col, justify="right")
    per_row = {}
    for n in SIZES:
        frame = year.iloc[:n]
        seconds = best_of(args.repeat, lambda f=frame: build_features(f))
        baseline = best_of(args.repeat, lambda f=frame: f["close"].rolling(60).mean())
        per_row[n] = seconds / n
        table.add_row(
            f"{n:,}",
            f"{seconds:.3f}",
            f"{n / seconds:,.0f}",
            f"{baseline:.4f}",
            f"{seconds / baseline:.0f}",
        )
    console.print(table)
    console.print(
        f"linearity: seconds/row at {SIZES[-1]:,} rows / at {SIZES[0]:,} rows = "
        f"{per_row[SIZES[-1]] / per_row[SIZES[0]]:.2f} (1.00 = linear)"
    )
    with PeakRss() as mem:
        X = build_features(year)
    console.print(
        f"peak extra RSS while building {len(year):,} rows: {mem.extra_mb:,.0f} MB "
        f"(output alone {X.memory_usage(index=True).sum() / 2**20:,.0f} MB; target <= 2048 MB)"
    )
    console.print(f"{SIZES[-1]:,} rows: {SIZES[-1] * per_row[SIZES[-1]]:.2f} s (target <= 5 s)")

    hourly = simulate("BTC", days=45, bar="1h", seed=7)
    window = hourly[hourly.index > hourly.index[-1] - MIN_WINDOW]
    features_at(window)
    wall, cpu = [], []
    for _ in range(args.calls):
        start, start_cpu = time.perf_counter(), time.thread_time()
        features_at(window)
        cpu.append(time.thread_time() - start_cpu)
        wall.append(time.perf_counter() - start)
    baseline = best_of(args.calls, lambda: window["close"].rolling(24).mean())
    ms, cpu_ms = np.array(wall) * 1e3, np.array(cpu) * 1e3
    console.print(
        f"features_at on {len(window)} 1h bars (MIN_WINDOW={MIN_WINDOW}) over {args.calls} calls: "
        f"wall p50 {np.percentile(ms, 50):.2f} ms, p99 {np.percentile(ms, 99):.2f} ms; "
        f"CPU p50 {np.percentile(cpu_ms, 50):.2f} ms, p99 {np.percentile(cpu_ms, 99):.2f} ms "
        f"(wall includes waiting for a core on a shared machine); baseline (one pandas rolling "
        f"mean on the window) {baseline * 1e3:.3f} ms; budget p99 <= 15 ms incl. HTTP"
    )


if __name__ == "__main__":
    main()
