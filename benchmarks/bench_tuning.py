"""Does `flushrisk train --tune N` earn its place? Tuned against untuned under the protocol.

For each simulated symbol-year (default preset, BTC seeds 7, 8, 9, 365 days hourly, the same
label as benchmarks/bench_training.py: long liquidations >= its BENCH_THRESHOLD_USD in 1 h):

* the untuned walk-forward (the defaults) and the tuned one (training.tuning on the first
  outer fold's training rows, then the same folds with the chosen parameters), both with the
  protocol's booster seeds and bootstrap;
* per model: out-of-fold PR-AUC with its 90 % CI, and the paired gap to the best baseline with
  its CI (the verdict); then tuned - untuned PR-AUC on the same rows with its paired CI;
* the time of tuning and of each walk-forward, and the chosen parameters.

Then the same figures pooled over the seeds (each seed's days are separate bootstrap blocks).
Rule (issue 9): tuning becomes the default only if it wins on average and loses clearly nowhere.
Prints figures, never asserts.

Run:  .venv/bin/python benchmarks/bench_tuning.py [--seeds 7,8,9] [--days 365] [--trials 30]
      [--timeout 600] [--booster-seeds 3] [--bootstrap 200] [--okx]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_training as bt

from features import LabelSpec, labelled_windows
from features.sources.simulator import simulate
from training.fit import MODEL, TrainConfig, WalkForwardResult, run_walk_forward
from training.jobs import read_persistence, read_strength
from training.protocol import ProtocolConfig, protocol_report
from training.tuning import TuneConfig, tune_walk_forward

UNTUNED = "untuned"


def _gap(report: dict, name: str) -> str:
    d = report["differences"][name]["pr_auc"]
    return bt._ci(d["value"], d["ci"], "{:+.3f}")


def summary(report: dict) -> str:
    m = report["metrics"][MODEL]
    v = report["verdict"]
    seeds = report.get("seeds") or {}
    spread = ""
    if seeds.get("n", 0) > 1:
        s = seeds["pr_auc"]
        spread = f"; {seeds['n']} booster seeds mean {s['mean']:.3f} ({s['min']:.3f}..{s['max']:.3f})"
    return (f"PR-AUC {bt._ci(m['pr_auc'], (m.get('ci') or {}).get('pr_auc'), '{:.3f}')}, "
            f"- best baseline {v['best_baseline']} {bt._ci(v['difference'], v['ci'], '{:+.3f}')} "
            f"[{v['status']}]{spread}")


def reports(untuned: WalkForwardResult, tuned: WalkForwardResult, protocol: ProtocolConfig) -> dict[str, dict]:
    """The protocol for each model against the (shared) baselines, and tuned vs untuned paired."""
    baselines = {n: p for n, p in untuned.predictions.items() if n != MODEL}
    args = (untuned.y, untuned.index, untuned.bar, untuned.thresholds)
    return {
        UNTUNED: protocol_report({MODEL: untuned.predictions[MODEL], **baselines}, *args,
                                 seed_predictions=untuned.seed_predictions or None, config=protocol),
        "tuned": protocol_report({MODEL: tuned.predictions[MODEL], **baselines}, *args,
                                 seed_predictions=tuned.seed_predictions or None, config=protocol),
        "paired": protocol_report({MODEL: tuned.predictions[MODEL], UNTUNED: untuned.predictions[MODEL]},
                                  *args, config=protocol),
    }


def print_reports(r: dict[str, dict], title: str) -> None:
    print(f"\n{title}")
    print(f"  untuned: {summary(r[UNTUNED])}")
    print(f"  tuned:   {summary(r['tuned'])}")
    print(f"  tuned - untuned PR-AUC (paired, same rows): {_gap(r['paired'], UNTUNED)}")


def one(frame: pd.DataFrame, spec: LabelSpec, config: TrainConfig, objectives: list[TuneConfig],
        title: str) -> dict[str, tuple[WalkForwardResult, WalkForwardResult, dict]]:
    """The untuned walk-forward once, then one tuned walk-forward per tuning objective."""
    X, y, meta = labelled_windows(frame, spec)
    strength = read_strength(frame, spec, X.index)
    persistence = read_persistence(frame, spec, X.index)
    bar = pd.Timedelta("1h")
    cache: dict[str, Any] = {}

    def untuned_wf() -> WalkForwardResult:
        if "wf" not in cache:
            t0 = time.perf_counter()
            cache["wf"] = run_walk_forward(X, y, bar, config, strength=strength, label_kind=spec.kind,
                                           persistence=persistence)
            print(f"  untuned walk-forward {time.perf_counter() - t0:.0f} s (with the baselines)")
        return cache["wf"]

    print(f"\n{title}; {meta.rows} rows, base rate {meta.base_rate:.4f}")
    out = {}
    for options in objectives:
        t0 = time.perf_counter()
        tuning = tune_walk_forward(X, y, config, strength, options)
        t_tune = time.perf_counter() - t0
        guard = tuning.guard
        guard_text = "" if guard is None else (
            f"; guard: trial {guard['trial']} - defaults {guard['difference']:+.4f} "
            f"[{guard['ci'][0]:+.4f}, {guard['ci'][1]:+.4f}] {'clear' if guard['clear'] else 'NOT clear'}")
        if tuning.best.number == 0:
            print(f"  objective {options.objective}: defaults kept ({tuning.summary()}{guard_text}); the tuned "
                  f"model IS the untuned one (same config, deterministic): gap 0 by construction; tuning "
                  f"{t_tune:.0f} s, {len(tuning.trials)} trials")
            out[options.objective] = None
            continue
        untuned = untuned_wf()
        tuned_config = tuning.apply(config).model_copy(update={"baselines": ()})  # the baselines are shared
        t0 = time.perf_counter()
        tuned = run_walk_forward(X, y, bar, tuned_config, strength=strength, label_kind=spec.kind)
        t_tuned = time.perf_counter() - t0
        if not tuned.index.equals(untuned.index):
            raise RuntimeError("tuned and untuned walk-forwards scored different rows")
        tuned = replace(tuned, predictions={**untuned.predictions, MODEL: tuned.predictions[MODEL]})
        r = reports(untuned, tuned, config.protocol)
        print_reports(r, f"  objective {options.objective}:")
        best = tuning.best
        print(f"  {tuning.summary()}; stopped by {tuning.stopped_by}{guard_text}")
        print("  chosen: " + ("the defaults (trial 0)" if best.number == 0 else
                              ", ".join(f"{k}={v:.3g}" for k, v in {**best.params, 'blend': best.blend}.items())))
        print(f"  time: tuning {t_tune:.0f} s ({len(tuning.trials)} trials, "
              f"{sum(t.state == 'pruned' for t in tuning.trials)} pruned), tuned walk-forward {t_tuned:.0f} s "
              f"(without baselines); load average {os.getloadavg()[0]:.1f}")
        out[options.objective] = (untuned, tuned, r)
    return out


def pooled(results: dict[int, tuple[WalkForwardResult, WalkForwardResult]], protocol: ProtocolConfig) -> dict:
    config = TrainConfig(protocol=protocol)
    pool_u = bt.pooled({k: u for k, (u, _) in results.items()}, config)
    pool_t = bt.pooled({k: t for k, (_, t) in results.items()}, config)
    both = {k: replace(t, predictions={MODEL: t.predictions[MODEL], UNTUNED: u.predictions[MODEL]})
            for k, (u, t) in results.items()}
    return {UNTUNED: pool_u, "tuned": pool_t, "paired": bt.pooled(both, config)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="7,8,9")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--timeout", type=float, default=600.0, help="tuning timeout per data set, seconds")
    parser.add_argument("--booster-seeds", type=int, default=3)
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--threshold-usd", type=float, default=bt.BENCH_THRESHOLD_USD)
    parser.add_argument("--objective", default="pr_auc", help="pr_auc, log_loss or both: pr_auc,log_loss")
    parser.add_argument("--no-guard", action="store_true", help="take the best trial even when not clearly better")
    parser.add_argument("--okx", action="store_true", help="also the shared OKX hourly data, proxy label")
    args = parser.parse_args()
    np.seterr(all="ignore")
    protocol = ProtocolConfig(resamples=args.bootstrap)
    config = TrainConfig(seeds=args.booster_seeds, protocol=protocol)
    objectives = [TuneConfig(trials=args.trials, timeout=args.timeout, objective=o.strip(), guard=not args.no_guard)
                  for o in args.objective.split(",") if o.strip()]
    spec = LabelSpec(kind="liquidation", horizon="1h", threshold_usd=args.threshold_usd or None)
    print(f"label: {spec.describe()}; tuning: {args.objective}, guard {'off' if args.no_guard else 'on'}, {args.trials} trials, timeout {args.timeout:g} s, "
          f"{objectives[0].inner_folds} inner folds; booster seeds {args.booster_seeds}; os.cpu_count()={os.cpu_count()}")
    results: dict[str, dict[int, tuple]] = {o.objective: {} for o in objectives}
    kept = {o.objective: 0 for o in objectives}  # seeds where tuning kept the defaults (gap 0)
    for seed in [int(s) for s in args.seeds.split(",") if s.strip()]:
        frame = simulate("BTC", days=args.days, bar="1h", seed=seed)
        for objective, outcome in one(frame, spec, config, objectives,
                                      f"simulated BTC seed {seed}, {args.days} days hourly").items():
            if outcome is None:
                kept[objective] += 1
            else:
                results[objective][seed] = outcome
    for objective, per_seed in results.items():
        if kept[objective]:
            print(f"\nobjective {objective}: the defaults were kept on {kept[objective]} seed(s) (gap 0 there)")
        if len(per_seed) < 2:
            continue
        gaps = [r["paired"]["differences"][UNTUNED]["pr_auc"] for _, _, r in per_seed.values()]
        wins = sum(d["value"] > 0 for d in gaps)
        losses = sum(d["ci"][1] is not None and d["ci"][1] < 0 for d in gaps)
        p = pooled({k: (u, t) for k, (u, t, _) in per_seed.items()}, protocol)
        print_reports(p, f"POOLED over {len(per_seed)} seeds, objective {objective}")
        d = p["paired"]["differences"][UNTUNED]["pr_auc"]
        keep = d["value"] > 0 and losses == 0
        print(f"  tuned ahead on {wins}/{len(per_seed)} seeds, clearly behind (CI below zero) on {losses}; "
              f"pooled gap {d['value']:+.3f}: {'KEEP as default' if keep else 'keep as an OPTION only'}")
    if args.okx:
        path = bt.SHARED / "okx_btc_usd_swap_1h.csv"
        if not path.exists():
            print(f"\nOKX: skipped, {path} is absent")
        else:
            from features.sources.okx import import_okx_hourly

            one(import_okx_hourly(path), LabelSpec(kind="proxy"), config, objectives,
                "OKX BTC-USD-SWAP hourly, proxy label")
    print(f"\ncommand: {' '.join([Path(sys.executable).name, *sys.argv])}")


if __name__ == "__main__":
    main()
