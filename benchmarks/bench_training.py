"""Training quality under the evaluation protocol, and speed: prints figures, never asserts.

0. The REAL development set (../shared/data/coinglass_btc_1h_dev.csv, imported with the Coinglass
   importer; skipped with a message when absent): label long liquidations >= $5M within 1 h (the
   hidden evaluation's), walk-forward with ``--real-min-train`` days (default 30) before the first
   of ``--real-folds`` (default 6) test folds, so the folds include the January/February 2026
   crash. Every data set prints: the two verdict lines (PR-AUC against the best baseline, onsets
   warned at equal alert budget against the best baseline, each with its CI), the period each
   fold tests, model and every baseline with CIs, and the event study with every predictor at its
   own threshold for the model's alert budget (onsets warned with the CI of the model's
   difference, false alarms = alert hours with no squeeze within the horizon, per week).
1. Simulated symbol-years (default BTC seeds 7, 8, 9; hourly; the label of the hidden real-data
   evaluation's form, ``--label liquidation --threshold-usd X --horizon 1h``): for each seed
   the protocol's table (model and every baseline with day-block bootstrap 90 % CIs, equal-mass
   ECE, calibration slope, the model's paired PR-AUC gap to each baseline with its CI), the
   verdict line, the booster-seed spread, and the onset/continuation event study with false
   alarms per week. Then the POOLED verdict over the seeds' out-of-fold rows (each seed's days
   kept as separate bootstrap blocks). Target (issue 9): the model beats the best baseline on
   every seed, with the CI of the difference above zero on the pooled seeds.
2. The shared OKX hourly data with the proxy label (skipped with a message when
   ../shared/data is absent): the same table, verdict and event study; the public flush list
   only for its days inside the data.
   ``--label-context`` runs 1 and 2 with benchmarks/label_context.py's columns added to the
   features (an experiment that did not win, so the model does not use them; see that module).
3. Speed: walk-forward train + evaluate (+ final model) on one symbol-year of 5-minute windows;
   the time of one logistic-baseline fit is printed beside it as a same-run reference.
4. ``--transfer``: the sim-to-real transfer section of benchmarks/transfer.py (its ``main()``),
   when that module exists.

The simulated label: long liquidations of at least ``BENCH_THRESHOLD_USD`` = $5M within 1 h.
The hidden evaluation scores ``flushrisk train --label liquidation --threshold-usd 5e6 --horizon
1h`` on real data where that label has a 5.4 % base rate. The threshold is chosen by base rate
only, never by a model's score: $1.75M gave 5.44 % on the default preset while the simulator
drifted down; once it kept its scale (issue 20) it was re-derived ONCE: $5.0M gives 5.4 % over BTC
seeds 7 and 11-14 (365 days hourly), the real evaluation's own threshold. The same value is used
for every seed. The earlier label (0.30 % of open interest) gave a 0.5-0.8 % base rate.
``--threshold-usd 0`` runs the share-of-OI label instead.

Run:  .venv/bin/python benchmarks/bench_training.py [--seeds 7,8,9] [--days 365] [--onset 6h]
      [--skip-real] [--real-min-train 30] [--real-folds 6] [--skip-okx] [--skip-speed] [--transfer] [--booster-seeds 3] [--bootstrap 200] [--threshold-usd 5e6] [--label-context]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/label_context.py

from features import LabelSpec, labelled_windows
from features.sources.simulator import simulate
from models.baselines import LogisticBaseline
from training.cli.quickstart import SIMULATED_BTC_THRESHOLD_USD
from training.events import load_events
from training.fit import (
    TrainConfig,
    WalkForwardResult,
    evaluation_report,
    fit_final_model,
    run_walk_forward,
)
from training.jobs import (
    events_section,
    fold_periods,
    lead_with_onsets,
    read_persistence,
    read_strength,
    with_alert_rule,
)
from training.protocol import ProtocolConfig, protocol_report

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
# Chosen once: about the real liquidation data's 5.4 % base rate on the default preset (see above).
BENCH_THRESHOLD_USD = SIMULATED_BTC_THRESHOLD_USD  # the quickstart trains on the same label
CI_METRICS = (("pr_auc", "PR-AUC", "{:.3f}"), ("roc_auc", "ROC-AUC", "{:.3f}"),
              ("brier_skill", "BSS", "{:+.3f}"), ("log_loss", "log loss", "{:.4f}"))


def _ci(value: float | None, ci: list | None, fmt: str) -> str:
    if value is None or not np.isfinite(value):
        return "n/a"
    text = fmt.format(value)
    if ci and ci[0] is not None:
        text += f" [{fmt.format(ci[0])}, {fmt.format(ci[1])}]"
    return text


def protocol_table(report: dict, title: str) -> None:
    """Verdict lines first, the folds' periods, then one row per predictor with CIs, ECE, slope
    and the paired gap (n/a where a figure is undefined, e.g. a constant's ROC or slope)."""
    print(f"\n{title}")
    for k, line in enumerate(report["verdict"].get("lines") or [report["verdict"]["text"]]):
        print(f"  {'VERDICT:' if k == 0 else '        '} {line}")
    for f in (report.get("setup") or {}).get("fold_periods") or []:
        print(f"  fold {f['fold']} tests {f['test_from'][:16]} .. {f['test_to'][:16]} ({f['test_rows']} rows, "
              f"{f['test_positives']} positives)")
    names = [n for n in report if isinstance(report[n], dict) and "pr_auc" in report[n]]
    header = (f"  {'predictor':<12}" + "".join(f"{h:>24}" for _, h, _ in CI_METRICS)
              + f"{'ECE(eq-mass)':>13}{'slope':>7}{'model-this PR-AUC':>26}")
    print(header)
    for n in names:
        m = report[n]
        ci = m.get("ci") or {}
        gap = (m.get("vs_model") or {}).get("pr_auc")
        gap_text = "" if gap is None else _ci(gap["value"], gap["ci"], "{:+.3f}")
        slope = m.get("calibration_slope")
        print(f"  {n:<12}" + "".join(f"{_ci(m.get(k), ci.get(k), f):>24}" for k, _, f in CI_METRICS)
              + f"{m.get('ece', float('nan')):>13.4f}"
              + f"{('n/a' if slope is None or not np.isfinite(slope) else f'{slope:.2f}'):>7}{gap_text:>26}")
    seeds = (report.get("protocol") or {}).get("seeds")
    if seeds and seeds.get("n", 0) > 1:
        s, d = seeds["pr_auc"], seeds["pr_auc_minus_best_baseline"]
        print(f"  booster seeds: {seeds['n']}: model PR-AUC mean {s['mean']:.3f} (sd {s['std']:.3f}, range "
              f"{s['min']:.3f} to {s['max']:.3f}); margin over the best baseline mean {d['mean']:+.3f} "
              f"(range {d['min']:+.3f} to {d['max']:+.3f})")


def events_table(events: dict) -> None:
    equal = events.get("equal_budget") or {}
    print(f"  event study ({events['source']}): {events['events_total']} events, {events['onsets']} onsets, "
          f"{events['continuations']} continuations (onset: no squeeze in the {events['onset_window_hours']:g} h "
          f"before); warned = an alert in the {events['lookback_hours']:g} h up to it; {events['weeks']:.1f} weeks; "
          "every predictor at the model's alert budget (own threshold, chosen on its training rows)")
    print(f"  {'predictor':<12}{'onsets warned':>16}{'continuations':>16}{'alert hours':>13}"
          f"{'false alarm h/wk':>18}{'model-this onsets [90% CI]':>34}")
    for name, m in events["predictors"].items():
        on = "-" if m["onset_hit_rate"] is None else f"{m['onset_hits']}/{events['onsets']} ({m['onset_hit_rate']:.0%})"
        co = ("-" if m["continuation_hit_rate"] is None
              else f"{m['continuation_hits']}/{events['continuations']} ({m['continuation_hit_rate']:.0%})")
        d = (equal.get("differences") or {}).get(name)
        gap = "" if d is None else _ci(d["value"] * 100, [None if v is None else v * 100 for v in d["ci"]],
                                       "{:+.1f}") + " pts"
        share = m.get("alert_share")
        print(f"  {name:<12}{on:>16}{co:>16}{('-' if share is None else f'{share:.1%}'):>13}"
              f"{m['false_alarms_per_week']:>18.1f}{gap:>34}")
    print(f"  {events['summary']}")
    same = events.get("same_rule")
    if same:
        print("  every predictor under the model's calm-hour rule (silent while a squeeze runs, its cut on its own "
              "calm training rows), onsets warned: " + ", ".join(
                  f"{k} {v}/{same['onsets']} ({(same['alert_share'].get(k) or 0):.1%} of hours)"
                  for k, v in same["onset_hits"].items()))
    public = events.get("public")
    if public and public["inside_data"]:
        for day in public["days"]:
            lead = "no alert" if day["lead_time_hours"] is None else f"first alert {day['lead_time_hours']:.0f} h before"
            print(f"  public list {day['date']}: onset {day['onset'][:16]}, max p in 6 h before "
                  f"{day['max_p_lookback']:.3f}, {lead}")
    elif public:
        print(f"  public list: none of its {public['listed']} days fall inside these rows")


def evaluate(frame: pd.DataFrame, spec: LabelSpec, bar: str, config: TrainConfig, title: str,
             public: pd.DataFrame | None, context: bool = False) -> tuple[dict, WalkForwardResult]:
    X, y, meta = labelled_windows(frame, spec)
    if context:  # the experiment of benchmarks/label_context.py: model and logistic see the columns
        from label_context import label_context_names, with_label_context

        X = with_label_context(X, frame, spec)
        title += f"; WITH label-context columns {list(label_context_names(spec))}"
    strength = read_strength(frame, spec, X.index)
    started = time.perf_counter()
    load = os.getloadavg()[0]
    wf = run_walk_forward(X, y, pd.Timedelta(bar), config, strength=strength, label_kind=spec.kind,
                          persistence=read_persistence(frame, spec, X.index))
    with_alert_rule(wf, frame, spec, X.index)  # the model alerts in calm hours only, as trained models do
    report = evaluation_report(wf, config.protocol)
    report["setup"] = {"fold_periods": fold_periods(wf)}
    report["events"] = events_section(wf, public, frame, spec, protocol=config.protocol)
    lead_with_onsets(report)
    seconds = time.perf_counter() - started
    protocol_table(report, f"{title}; label: {spec.describe()}; {meta.rows} rows, base rate {meta.base_rate:.4f}, "
                           f"{len(wf.folds)} folds, {len(wf.y)} out-of-fold rows ({int(wf.y.sum())} positives), "
                           f"{config.seeds} booster seed(s), walk-forward {seconds:.0f} s "
                           f"(load average {load:.1f} before, {os.getloadavg()[0]:.1f} after)")
    events_table(report["events"])
    return report, wf


def real(config: TrainConfig, min_train_days: float, folds: int, threshold_usd: float) -> None:
    """The real development set: walk-forward whose folds include the January/February crash."""
    path = SHARED / "coinglass_btc_1h_dev.csv"
    if not path.exists():
        print(f"\n0. real development set: skipped, {path} is absent")
        return
    from features.sources.coinglass import import_coinglass

    frame = import_coinglass(path)
    spec = LabelSpec(kind="liquidation", horizon="1h", threshold_usd=threshold_usd)
    walk = config.walk_forward.model_copy(update={"n_folds": folds, "min_train": pd.Timedelta(days=min_train_days)})
    evaluate(frame, spec, "1h", config.model_copy(update={"walk_forward": walk}),
             f"0. REAL Coinglass BTC hourly {frame.index[0]:%Y-%m-%d} .. {frame.index[-1]:%Y-%m-%d} "
             f"(--min-train {min_train_days:g} days, {folds} folds)", load_events())


def pooled(results: dict[int, WalkForwardResult], config: TrainConfig) -> dict:
    """The protocol on every seed's out-of-fold rows at once; each seed's days stay separate
    bootstrap blocks (the seeds share calendar dates, so each is shifted by 10 years)."""
    shift = pd.Timedelta(days=3660)
    index = pd.DatetimeIndex(np.concatenate([
        (wf.index + k * shift).as_unit("ns").asi8 for k, wf in enumerate(results.values())
    ])).tz_localize("UTC")
    order = np.argsort(index.asi8, kind="mergesort")
    first = next(iter(results.values()))
    predictions = {n: np.concatenate([wf.predictions[n] for wf in results.values()])[order] for n in first.predictions}
    y = np.concatenate([wf.y for wf in results.values()])[order]
    thresholds = np.concatenate([wf.model_alert_thresholds for wf in results.values()])[order]
    return protocol_report(predictions, y, index[order], first.bar, thresholds, config=config.protocol)


def simulated(symbol: str, seeds: list[int], days: int, spec: LabelSpec, config: TrainConfig,
              context: bool = False) -> None:
    results: dict[int, WalkForwardResult] = {}
    summary = []
    for seed in seeds:
        frame = simulate(symbol, days=days, bar="1h", seed=seed)
        report, wf = evaluate(frame, spec, "1h", config, f"1. simulated {symbol}, {days} days hourly, seed {seed}", None,
                              context)
        results[seed] = wf
        summary.append((seed, report["verdict"]))
    print(f"\n1. summary over {len(seeds)} simulated {symbol} symbol-years")
    for seed, v in summary:
        print(f"  seed {seed}: " + v["text"].replace("\n", "\n          "))
    if len(results) > 1:
        pool = pooled(results, config)
        v = pool["verdict"]
        wins = sum(s[1]["difference"] is not None and s[1]["difference"] > 0 for s in summary)
        print(f"  POOLED ({len(results)} seeds, {pool['bootstrap']['rows']} rows, {pool['bootstrap']['blocks']} day blocks): "
              f"{v['text']}")
        print(f"  target: beats the best baseline on every seed ({wins}/{len(summary)} by point estimate) and the "
              f"pooled CI above zero ({'yes' if v['beats'] else 'no'}): {'MET' if wins == len(summary) and v['beats'] else 'NOT met'}")


def okx(spec: LabelSpec, config: TrainConfig, context: bool = False) -> None:
    path = SHARED / "okx_btc_usd_swap_1h.csv"
    if not path.exists():
        print(f"\n2. OKX: skipped, {path} is absent")
        return
    from features.sources.okx import import_okx_hourly

    frame = import_okx_hourly(path)
    proxy = LabelSpec(kind="proxy", onset=spec.onset)
    evaluate(frame, proxy, "1h", config, "2. OKX BTC-USD-SWAP hourly (real data, no liquidations)", load_events(),
             context)


def speed(seed: int, spec: LabelSpec, config: TrainConfig) -> None:
    frame = simulate("BTC", days=365, bar="5m", seed=seed)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    X, y, meta = labelled_windows(frame, spec)
    strength = read_strength(frame, spec, X.index)
    t_windows = time.perf_counter() - started
    t0 = time.perf_counter()
    wf = run_walk_forward(X, y, pd.Timedelta("5m"), config, strength=strength)
    t_wf = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = evaluation_report(wf, config.protocol)
    t_protocol = time.perf_counter() - t0
    t0 = time.perf_counter()
    fit_final_model(X, y, wf, config, {"symbol": "BTC", "bar": "5m"}, spec.to_dict(), strength=strength)
    t_final = time.perf_counter() - t0
    total = time.perf_counter() - started
    t0 = time.perf_counter()
    LogisticBaseline().fit(X, y).predict_proba(X)
    t_logistic = time.perf_counter() - t0
    print(f"\n3. speed: {len(X)} 5-minute windows ({meta.positives} positives), {len(wf.folds)} folds, "
          f"{config.seeds} booster seed(s), os.cpu_count()={os.cpu_count()}, load average before "
          f"{load_before:.2f}, after {os.getloadavg()[0]:.2f} (shared machine)")
    print(f"  features+labels {t_windows:.1f} s, walk-forward (model seeds + 5 baselines) {t_wf:.1f} s, "
          f"protocol report (bootstrap) {t_protocol:.1f} s, final model {t_final:.1f} s, total {total:.1f} s")
    print(f"  reference: one logistic-baseline fit on all rows {t_logistic:.1f} s (total = {total / t_logistic:.1f}x)")
    print(f"  {report['verdict']['text']}")


def transfer() -> None:
    path = Path(__file__).resolve().parent / "transfer.py"
    if not path.exists():
        print("\n4. transfer: benchmarks/transfer.py is not there yet")
        return
    spec = importlib.util.spec_from_file_location("transfer", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    print("\n4. sim-to-real transfer (benchmarks/transfer.py)")
    module.main()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="7,8,9", help="simulator seeds")
    parser.add_argument("--symbol", default="BTC")
    parser.add_argument("--days", type=int, default=365, help="simulated days per seed")
    parser.add_argument("--onset", default=None, help="use the onset label, e.g. 6h")
    parser.add_argument("--threshold-usd", type=float, default=BENCH_THRESHOLD_USD,
                        help="simulated label: long liquidations >= this many USD within 1 h (0: 0.30 %% of OI)")
    parser.add_argument("--booster-seeds", type=int, default=3)
    parser.add_argument("--bootstrap", type=int, default=200, help="day-block bootstrap resamples")
    parser.add_argument("--seed", type=int, default=7, help="simulator seed of the speed benchmark")
    parser.add_argument("--label-context", action="store_true",
                        help="experiment: add benchmarks/label_context.py's columns (not part of the model)")
    parser.add_argument("--skip-real", action="store_true")
    parser.add_argument("--real-min-train", type=float, default=30.0,
                        help="real set: days before the first test fold (the folds then include the crash)")
    parser.add_argument("--real-folds", type=int, default=6)
    parser.add_argument("--real-threshold-usd", type=float, default=5e6)
    parser.add_argument("--skip-sim", action="store_true")
    parser.add_argument("--skip-okx", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--transfer", action="store_true", help="run benchmarks/transfer.py main()")
    args, rest = parser.parse_known_args()
    np.seterr(all="ignore")
    config = TrainConfig(seeds=args.booster_seeds, protocol=ProtocolConfig(resamples=args.bootstrap))
    spec = LabelSpec(kind="liquidation", horizon="1h", threshold_usd=args.threshold_usd or None, onset=args.onset)
    if not args.skip_real:
        real(config, args.real_min_train, args.real_folds, args.real_threshold_usd)
    if not args.skip_sim:
        simulated(args.symbol, [int(v) for v in args.seeds.split(",") if v.strip()], args.days, spec, config,
                  args.label_context)
    if not args.skip_okx:
        okx(spec, config, args.label_context)
    if not args.skip_speed:
        speed(args.seed, spec, config)
    if args.transfer:
        sys.argv = [sys.argv[0], *rest]
        transfer()
    print(f"\ncommand: {' '.join([Path(sys.executable).name, *sys.argv])}")


if __name__ == "__main__":
    main()
