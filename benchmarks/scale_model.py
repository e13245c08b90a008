"""The model's scale section of bench_scale: pooled vs per-symbol models.

- ``pooled``: one pooled model on simulated BTC, ETH and SOL against one model per symbol, on
  the same out-of-fold rows of each symbol (the folds are cut by time over the same span), with
  the evaluation protocol's day-block bootstrap: each model's PR-AUC with its 90 % CI and the
  paired difference pooled - per-symbol with its CI, per symbol and over all rows; plus the
  training time and peak memory of each.

Run through ``benchmarks/bench_scale.py --only pooled`` (or this file); batch scoring's section
is in bench_scale.py.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from features import LabelSpec, labelled_windows, make_label_strength
from features.sources.simulator import simulate
from training.fit import TrainConfig, run_walk_forward
from training.pooled import pooled_windows, run_pooled_walk_forward
from training.protocol import protocol_report
from training.walkforward import WalkForwardConfig

SYMBOLS = ("BTC", "ETH", "SOL")


def _peak():
    from benchmarks.bench_scale import PeakMemory

    return PeakMemory()


def _gb(n: float) -> str:
    return f"{n / 2**30:.2f} GB"


def _ci(values: list[float | None]) -> str:
    return "[n/a]" if values[0] is None else f"[{values[0]:+.3f}, {values[1]:+.3f}]"


def pooled_vs_symbol(days: float = 365, seed: int = 21, folds: int = 5, seeds: int = 1) -> dict[str, float]:
    """Pooled against per-symbol PR-AUC on the same rows, with CIs; time and peak memory."""
    print(f"\n== pooled vs per-symbol: simulated {','.join(SYMBOLS)} x {days:g} days of 1h bars, "
          f"seed {seed}, {folds} folds ==")
    spec = LabelSpec()
    frames = {s: simulate(s, days=days, bar="1h", seed=seed + k) for k, s in enumerate(SYMBOLS)}
    config = TrainConfig(walk_forward=WalkForwardConfig(n_folds=folds), seeds=seeds,
                         baselines=("logistic", "persistence"))
    bar = pd.Timedelta("1h")
    single: dict[str, pd.Series] = {}
    with _peak() as memory:
        started = time.perf_counter()
        for s, frame in frames.items():
            X, y, _ = labelled_windows(frame, spec)
            strength = make_label_strength(frame, spec).reindex(X.index)
            wf = run_walk_forward(X, y, bar, config, strength=strength)
            single[s] = pd.Series(wf.predictions["model"], index=wf.index)
            single[s + ":logistic"] = pd.Series(wf.predictions["logistic"], index=wf.index)
        single_s = time.perf_counter() - started
    single_peak = memory.peak
    with _peak() as memory:
        started = time.perf_counter()
        pw = pooled_windows(frames, spec)
        wf, symbols = run_pooled_walk_forward(pw, bar, config)
        pooled_s = time.perf_counter() - started
    pooled_peak = memory.peak
    print(f"training: per-symbol {single_s:.0f} s (peak {_gb(single_peak)}), pooled {pooled_s:.0f} s "
          f"(peak {_gb(pooled_peak)})")
    rows = []
    all_p, all_s, all_y, all_t = [], [], [], []
    for s in SYMBOLS:
        mask = symbols == s
        pooled = pd.Series(wf.predictions["model"][mask], index=wf.index[mask])
        y = pd.Series(wf.y[mask], index=wf.index[mask])
        common = pooled.index.intersection(single[s].index)
        report = protocol_report(
            {"pooled": pooled[common].to_numpy(), "per_symbol": single[s][common].to_numpy(),
             "logistic": single[s + ":logistic"][common].to_numpy()},
            y[common].to_numpy(), common, bar, 0.5, model="pooled",
        )
        rows.append((s, len(common), int(y[common].sum()), report))
        all_p.append(pooled[common].to_numpy())
        all_s.append(single[s][common].to_numpy())
        all_y.append(y[common].to_numpy())
        all_t.append(common)
    print(f"{'symbol':>7} {'rows':>6} {'pos':>4}  {'pooled PR-AUC [90% CI]':>26}  "
          f"{'per-symbol PR-AUC [90% CI]':>28}  {'pooled - per-symbol [90% CI]':>30}")
    for s, n, pos, report in rows:
        m = report["metrics"]
        d = report["differences"]["per_symbol"]["pr_auc"]
        print(f"{s:>7} {n:>6} {pos:>4}  {m['pooled']['pr_auc']:.3f} {_ci(m['pooled']['ci']['pr_auc']):>18}  "
              f"{m['per_symbol']['pr_auc']:.3f} {_ci(m['per_symbol']['ci']['pr_auc']):>20}  "
              f"{d['value']:+.3f} {_ci(d['ci']):>20}")
    # over all symbols' rows at once (a day block holds every symbol's hours of that day)
    index = pd.DatetimeIndex(np.concatenate([t.asi8 for t in all_t])).tz_localize("UTC")
    order = np.argsort(index.asi8, kind="stable")
    total = protocol_report(
        {"pooled": np.concatenate(all_p)[order], "per_symbol": np.concatenate(all_s)[order]},
        np.concatenate(all_y)[order], index[order], bar, 0.5, model="pooled",
    )
    d = total["differences"]["per_symbol"]["pr_auc"]
    m = total["metrics"]
    print(f"{'all':>7} {len(index):>6} {int(np.concatenate(all_y).sum()):>4}  "
          f"{m['pooled']['pr_auc']:.3f} {_ci(m['pooled']['ci']['pr_auc']):>18}  "
          f"{m['per_symbol']['pr_auc']:.3f} {_ci(m['per_symbol']['ci']['pr_auc']):>20}  "
          f"{d['value']:+.3f} {_ci(d['ci']):>20}")
    lo = d["ci"][0]
    verdict = ("pooled wins" if lo is not None and lo > 0 else
               "per-symbol wins" if d["ci"][1] is not None and d["ci"][1] < 0 else "no clear winner")
    print(f"verdict: {verdict} (pooled - per-symbol {d['value']:+.3f}, 90% CI {_ci(d['ci'])})")
    return {"difference": d["value"], "single_s": single_s, "pooled_s": pooled_s}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pooled-days", type=float, default=365)
    args = parser.parse_args(argv)
    pooled_vs_symbol(args.pooled_days)


if __name__ == "__main__":
    main()
