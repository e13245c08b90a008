"""Append cost of the Delta-table store against the month-file store it replaced (issue 22).

The radar appends one bar per symbol at each bar close, to the market data and to the scores.
Issue 22's budget: today's append (a 1-minute bar to a 30-day 1-minute dataset, ~16 ms per
symbol on an idle machine) may at most double with the Delta tables. Measured in the same run,
interleaved call by call so both see the same machine load:

* baseline: the month-file store (``benchmarks/legacy_store.py``: lock, read the month,
  merge, write a temp file, rename), market data and scores;
* now: ``MarketStore.write`` and ``ScoreStore.write`` (one Delta ``MERGE`` commit each), first
  right after a compaction, then with the small files ``--appends`` appends leave (what the
  watcher's automatic compaction bounds), and per bar when the write-behind batches 5 bars.

PASS when the median Delta append (market + scores) is at most 2x the baseline's.

    python benchmarks/bench_store.py [--days 30] [--appends 60]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import legacy_store
from features.partitioned import compact, file_count
from features.scores import ScoreStore
from features.sources.simulator import simulate
from features.store import MarketStore

TARGET_RATIO = 2.0


def time_calls(call: Callable[[], object], n: int) -> list[tuple[float, float]]:
    """(wall, CPU) seconds of each of ``n`` calls: CPU counts every thread of this process
    (delta-rs writes on its own threads), and is what a loaded, shared machine distorts least."""
    out = []
    for _ in range(n):
        wall, cpu = time.perf_counter(), time.process_time()
        call()
        out.append((time.perf_counter() - wall, time.process_time() - cpu))
    return out


def _ms(samples: list[tuple[float, float]], per: int = 1) -> tuple[float, float]:
    arr = np.asarray(samples) / per
    return float(np.median(arr[:, 0]) * 1e3), float(np.median(arr[:, 1]) * 1e3)


def _load() -> str:
    return f"load {os.getloadavg()[0]:.2f}"


def _scores_frame(index: pd.DatetimeIndex) -> pd.DataFrame:
    return pd.DataFrame(
        {"probability": 0.01, "risk_level": "low",
         "drivers": '[{"feature":"x","text":"' + "y" * 300 + '"}]', "model": "m:1",
         "label": "long liquidations", "features_present": 60, "warnings": "[]"},
        index=index,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=float, default=30)
    parser.add_argument("--appends", type=int, default=60)
    args = parser.parse_args()

    frame = simulate("BTC", days=args.days + 1, bar="1m", seed=3)
    past = frame[frame.index < frame.index[-1] - pd.Timedelta(hours=12)]
    past = past[past.index > past.index[-1] - pd.Timedelta(days=args.days)]
    new = frame[frame.index > past.index[-1]]
    need = 2 * args.appends + 20
    assert len(new) >= need, "not enough bars to append"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store, scores = MarketStore(root / "delta"), ScoreStore(root / "delta")
        store.write("A", past, bar="1m")
        scores.write("A", "1m", _scores_frame(past.index))
        old_market, old_scores = root / "old" / "A" / "1m", root / "old" / "_scores" / "A" / "1m"
        legacy_store.write_market(old_market, past)
        legacy_store.merge(old_scores, scores.read("A", "1m"), legacy_store.newer_row_wins)
        compact(store.path("A", "1m"))
        compact(scores.path("A", "1m"))
        rows = iter(range(len(new)))
        row_scores = _scores_frame(new.index)

        def old_append() -> None:
            k = next(rows)
            legacy_store.write_market(old_market, new.iloc[[k]])
            legacy_store.merge(old_scores, scores_validated(row_scores.iloc[[k]]),
                               legacy_store.newer_row_wins)

        def new_append() -> None:
            k = next(rows)
            store.write("A", new.iloc[[k]], bar="1m")
            scores.write("A", "1m", row_scores.iloc[[k]])

        old_t, new_t = [], []
        for _ in range(args.appends):  # interleaved: both see the same load
            old_t += time_calls(old_append, 1)
            new_t += time_calls(new_append, 1)
        files = file_count(store.path("A", "1m"))
        grown = time_calls(new_append, 5)
        compact(store.path("A", "1m"))
        compact(scores.path("A", "1m"))
        start = next(rows)
        batches = iter(range(start, start + 25, 5))

        def batched() -> None:
            k = next(batches)
            store.write("A", new.iloc[k : k + 5], bar="1m")
            scores.write("A", "1m", row_scores.iloc[k : k + 5])

        batch = time_calls(batched, 5)

    (old_wall, old_cpu), (new_wall, new_cpu) = _ms(old_t), _ms(new_t)
    print(f"append 1 bar of market data + its score to a {args.days:g}-day 1-minute dataset "
          f"(median of {args.appends}, interleaved; {os.cpu_count()} cores):")
    print(f"  {'':44s} {'wall ms':>9s} {'CPU ms':>9s}")
    rows = [
        ("month files (before issue 22, baseline)", old_wall, old_cpu),
        ("Delta tables (now), per symbol", new_wall, new_cpu),
        (f"Delta with {files} small files in the month", *_ms(grown)),
        ("Delta, write-behind batch of 5 bars, per bar", *_ms(batch, per=5)),
    ]
    for name, wall, cpu in rows:
        print(f"  {name:44s} {wall:9.1f} {cpu:9.1f}   ({_load()})")
    for what, ratio in (("wall", new_wall / old_wall), ("CPU", new_cpu / old_cpu)):
        verdict = "PASS" if ratio <= TARGET_RATIO else "FAIL"
        print(f"ratio Delta / month files ({what}): {ratio:.2f}x (target <= {TARGET_RATIO:g}x): {verdict}")


def scores_validated(frame: pd.DataFrame) -> pd.DataFrame:
    """The old ScoreStore.write validated before merging, as the new one does (the rows as
    the dataset stores them, as a frame)."""
    import pyarrow as pa

    from features.scores import _validated

    index, columns = _validated(frame, "bench")
    out = pa.table(columns).to_pandas()
    out.index = index
    return out


if __name__ == "__main__":
    main()
